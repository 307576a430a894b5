using CreditFunctions.Auth;
using CreditFunctions.AzureStorage.Emulator;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Hosting;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;

namespace CreditFunctions;

/// <summary>The composition root: one line per feature, used by <c>Program.cs</c> and by tests alike.</summary>
public static class CreditFunctionsApp
{
    /// <summary>
    /// Builds the server, not yet started. Settings come from <paramref name="settings"/> first, then environment
    /// variables, then (for a local run) <c>local.settings.json</c>. A local run on the development storage starts
    /// Azurite when none listens (stopped with the app). Port 0 (<c>CREDITFUNCTIONS_LOCAL_PORT=0</c>) binds a free
    /// port; after start, <see cref="WebApplication.Urls"/> holds the real address.
    /// </summary>
    /// <param name="args">Command-line arguments, as ASP.NET Core reads them.</param>
    /// <param name="settings">Settings that win over every other source (tests pass storage and table names here).</param>
    /// <param name="console">Where a local run prints its start-up banner (with the demo keys); default standard output.</param>
    /// <param name="cancellationToken">Cancels starting Azurite.</param>
    public static async Task<WebApplication> BuildAsync(string[] args, IReadOnlyDictionary<string, string?>? settings = null,
        TextWriter? console = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        if (builder.Configuration["FUNCTIONS_CUSTOMHANDLER_PORT"] is null)
        {
            builder.Configuration.AddLocalSettings(AzuriteProcess.FindRepositoryRoot());
        }
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        var appSettings = AppSettings.From(builder.Configuration);
        builder.WebHost.UseUrls($"http://127.0.0.1:{appSettings.CustomHandlerPort ?? appSettings.LocalPort}");

        var azurite = await LocalStorage.EnsureRunningAsync(appSettings, cancellationToken);
        builder.Services.AddLocalStorageLifetime(azurite);
        var sandbox = await builder.Configuration.StartSandboxWhenNeededAsync(appSettings.IsUnderFunctionsHost, cancellationToken);
        builder.Services.AddSandboxLifetime(sandbox);
        var storage = azurite?.ConnectionString ?? appSettings.StorageConnectionString;
        builder.Services.AddSingleton(appSettings);
        builder.Services.AddSingleton(new TableServiceClient(storage));
        builder.Services.AddAuth(builder.Configuration, appSettings);
        builder.Services.AddLedger(builder.Configuration, AuthOptions.From(builder.Configuration, appSettings).SeedDemoTeam);
        builder.Services.AddWaterfall(builder.Configuration, LocalSecretsKeyFile(appSettings));
        builder.Services.AddDurableRuntime(builder.Configuration, appSettings, storage, registry => registry.AddWaterfall());

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapHealth();
        app.MapApiV1()
            .MapAuthEndpoints()
            .MapLedgerEndpoints()
            .MapWaterfallEndpoints();
        await app.Services.GetRequiredService<LedgerService>().InitializeAsync(cancellationToken);
        await app.Services.InitializeWaterfallAsync(cancellationToken);
        await app.Services.InitializeDurableAsync(cancellationToken);
        app.PrintBannerOnStart(azurite, console ?? Console.Out);
        return app;
    }

    // A local run keeps a generated secrets key next to Azurite's data, so stored team keys survive restarts.
    private static string? LocalSecretsKeyFile(AppSettings settings) =>
        settings.IsUnderFunctionsHost || AzuriteProcess.FindRepositoryRoot() is not { } root
            ? null
            : Path.Combine(root, settings.LocalStorageFolder, "secrets.key");
}
