using CreditFunctions;
using CreditFunctions.Auth;
using CreditFunctions.Hosting;
using CreditFunctions.Providers;
using DevHost;
using DevHost.Azurite;
using Microsoft.Extensions.Configuration;

// The local run: `dotnet run --project functions/LocalRun` serves the app through the dev host (Azurite and the sandbox
// vendors started when not running, the demo team seeded); `-- teams|keys|credits|operators|secrets ...` runs an operator command.
var configuration = LocalConfiguration.Build();
if (OperatorCommands.Handles(args))
{
    await using var azurite = await LocalConfiguration.EnsureAzuriteAsync(configuration);
    return await OperatorCommands.RunAsync(args, configuration, Console.Out, Console.Error);
}

await using var sandbox = configuration[ProviderCatalog.SandboxUrlSetting] is { Length: > 0 } ? null : await SandboxProcess.StartAsync();
var settings = sandbox?.AppSettings.Where(s => configuration[s.Key] is null or "").ToDictionary(s => s.Key, s => (string?)s.Value) ?? [];
// The demo posts webhooks to the sandbox's inbox on 127.0.0.1: its origin, and nothing else on loopback, passes the
// egress guard (unless the allow-list is set explicitly).
if (configuration[CreditFunctions.Platform.EgressGuard.AllowSetting] is null or ""
    && (sandbox?.BaseAddress ?? (Uri.TryCreate(configuration[ProviderCatalog.SandboxUrlSetting], UriKind.Absolute, out var configured) ? configured : null)) is { } sandboxUrl)
{
    settings[CreditFunctions.Platform.EgressGuard.AllowSetting] = sandboxUrl.GetLeftPart(UriPartial.Authority);
}
// Queue triggers name their queues by settings, as in Azure; the local run gives each its default.
foreach (var (name, queue) in CreditFunctionsApp.TriggerSettingDefaults.Where(q => configuration[q.Key] is null or ""))
{
    settings[name] = queue;
}
return await DevHostCommand.RunAsync(args, new DevHostOptions
{
    AppAssembly = typeof(CreditFunctionsApp).Assembly,
    ConfigureAppServices = (config, services) => services.AddCreditFunctions(config),
    Settings = settings,
    OnStarted = (host, _) =>
    {
        LocalBanner.Write(Console.Out, host.Services, host.BaseAddress, sandbox?.BaseAddress);
        return Task.CompletedTask;
    },
});

/// <summary>What the local run reads and starts before the dev host: the same sources the dev host reads.</summary>
internal static class LocalConfiguration
{
    /// <summary>Environment variables over <c>local.settings.json</c>'s <c>Values</c>.</summary>
    public static IConfiguration Build()
    {
        var builder = new ConfigurationBuilder();
        if (RepositoryRoot.Find() is { } root && Path.Combine(root, "local.settings.json") is var path && File.Exists(path))
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            if (json.RootElement.TryGetProperty("Values", out var values))
            {
                builder.AddInMemoryCollection(values.EnumerateObject()
                    .Where(p => p.Value.ValueKind == System.Text.Json.JsonValueKind.String)
                    .Select(p => new KeyValuePair<string, string?>(p.Name, p.Value.GetString())));
            }
        }
        return builder.AddEnvironmentVariables().Build();
    }

    /// <summary>Starts Azurite (with the local run's data folder) when the development storage is configured and nothing listens.</summary>
    public static async Task<AzuriteProcess?> EnsureAzuriteAsync(IConfiguration configuration)
    {
        var storage = configuration["AzureWebJobsStorage"];
        if (storage is { Length: > 0 } && !storage.Contains(AppSettings.DevelopmentStorage, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        if (await AzuriteProcess.IsListeningAsync(10002))
        {
            return null;
        }
        var root = RepositoryRoot.Find() ?? Directory.GetCurrentDirectory();
        return await AzuriteProcess.StartAsync(new AzuriteOptions
        {
            InMemory = false, DataFolder = Path.Combine(root, AppSettings.From(configuration).LocalStorageFolder), BlobPort = 10000, QueuePort = 10001, TablePort = 10002,
        });
    }
}
