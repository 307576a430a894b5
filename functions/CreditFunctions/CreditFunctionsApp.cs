using CreditFunctions.Auth;
using CreditFunctions.AzureStorage.Emulator;
using CreditFunctions.Hosting;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Triggers;
using CreditFunctions.Triggers.LocalHost;
using CreditFunctions.Waterfall;

namespace CreditFunctions;

/// <summary>How <see cref="CreditFunctionsApp.BuildAsync(string[], CreditFunctionsAppOptions, CancellationToken)"/> builds the app.</summary>
public sealed record CreditFunctionsAppOptions
{
    /// <summary>Settings that win over every other source (tests pass storage and table names here).</summary>
    public IReadOnlyDictionary<string, string?>? Settings { get; init; }

    /// <summary>Where a local run prints its start-up banner (with the demo keys); default standard output.</summary>
    public TextWriter? Console { get; init; }

    /// <summary>Runs after the features have registered their services and functions: tests declare test-only
    /// functions or replace the <see cref="TimeProvider"/> here.</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }
}

/// <summary>The composition root: one line per feature, used by <c>Program.cs</c> and by tests alike.</summary>
public static class CreditFunctionsApp
{
    /// <summary>The name of the HTTP function that the Functions host forwards every <c>/api/*</c> request through.</summary>
    public const string ApiFunctionName = "api";

    /// <summary>
    /// Builds the server, not yet started. Settings come from <paramref name="settings"/> first, then environment
    /// variables, then (for a local run) <c>local.settings.json</c>, then <c>host.json</c>. A local run on the
    /// development storage starts Azurite when none listens (stopped with the app). Port 0
    /// (<c>CREDITFUNCTIONS_LOCAL_PORT=0</c>) binds a free port; after start, <see cref="WebApplication.Urls"/> holds the
    /// real address.
    /// </summary>
    /// <param name="args">Command-line arguments, as ASP.NET Core reads them.</param>
    /// <param name="settings">Settings that win over every other source (tests pass storage and table names here).</param>
    /// <param name="console">Where a local run prints its start-up banner (with the demo keys); default standard output.</param>
    /// <param name="cancellationToken">Cancels starting Azurite.</param>
    public static Task<WebApplication> BuildAsync(string[] args, IReadOnlyDictionary<string, string?>? settings = null,
        TextWriter? console = null, CancellationToken cancellationToken = default) =>
        BuildAsync(args, new CreditFunctionsAppOptions { Settings = settings, Console = console }, cancellationToken);

    /// <summary>Builds the server, not yet started, as <see cref="BuildAsync(string[], IReadOnlyDictionary{string, string}, TextWriter, CancellationToken)"/>
    /// does, with the hooks of <paramref name="options"/>.</summary>
    public static async Task<WebApplication> BuildAsync(string[] args, CreditFunctionsAppOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(args);
        var repositoryRoot = AzuriteProcess.FindRepositoryRoot();
        LocalHostOptions.AddHostJson(builder.Configuration, repositoryRoot);
        if (builder.Configuration["FUNCTIONS_CUSTOMHANDLER_PORT"] is null)
        {
            builder.Configuration.AddLocalSettings(repositoryRoot);
        }
        if (options.Settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(options.Settings);
        }
        var appSettings = AppSettings.From(builder.Configuration);
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = DurableHosting.DefaultSettings(appSettings.IsUnderFunctionsHost),
        });
        builder.WebHost.UseUrls($"http://127.0.0.1:{appSettings.CustomHandlerPort ?? appSettings.LocalPort}");
        builder.AddObservability(appSettings);

        var azurite = await LocalStorage.EnsureRunningAsync(appSettings, cancellationToken);
        builder.Configuration.UseStartedStorage(appSettings, azurite);
        builder.Services.AddLocalStorageLifetime(azurite);
        var sandbox = await builder.Configuration.StartSandboxWhenNeededAsync(appSettings.IsUnderFunctionsHost, cancellationToken);
        builder.Services.AddSandboxLifetime(sandbox);
        builder.Services.AddSingleton(appSettings);
        builder.Services.AddStorageClients(StorageAccount.From(builder.Configuration));
        AddFeatures(builder.Services, builder.Configuration, appSettings);
        options.ConfigureServices?.Invoke(builder.Services);
        builder.Services.AddLocalHost(builder.Configuration, appSettings);

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapHealth();
        app.MapFunctions();
        app.MapApiV1()
            .MapAuthEndpoints()
            .MapLedgerEndpoints()
            .MapWaterfallEndpoints();
        await app.Services.GetRequiredService<LedgerService>().InitializeAsync(cancellationToken);
        await app.Services.InitializeWaterfallAsync(cancellationToken);
        await app.Services.InitializeDurableAsync(cancellationToken);
        app.PrintBannerOnStart(azurite, options.Console ?? System.Console.Out);
        return app;
    }

    /// <summary>The functions the app declares, read without building the server or touching storage (for
    /// <c>functions generate</c>).</summary>
    public static FunctionsCatalog DeclaredFunctions(IConfiguration? configuration = null)
    {
        configuration ??= new ConfigurationBuilder().Build();
        var services = new ServiceCollection();
        AddFeatures(services, configuration, AppSettings.From(configuration));
        return FunctionsCatalog.From(services);
    }

    /// <summary>The features, each registering its services and declaring its functions: no I/O happens here.</summary>
    private static void AddFeatures(IServiceCollection services, IConfiguration configuration, AppSettings settings)
    {
        services.AddHttpFunction(ApiFunctionName);
        services.AddAuth(configuration, settings);
        services.AddLedger(configuration, AuthOptions.From(configuration, settings).SeedDemoTeam);
        services.AddWaterfall(configuration, LocalSecretsKeyFile(settings));
        services.AddDurableRuntime(configuration, settings, registry => registry.AddWaterfall());
    }

    // A local run keeps a generated secrets key next to Azurite's data, so stored team keys survive restarts.
    private static string? LocalSecretsKeyFile(AppSettings settings) =>
        settings.IsUnderFunctionsHost || AzuriteProcess.FindRepositoryRoot() is not { } root
            ? null
            : Path.Combine(root, settings.LocalStorageFolder, "secrets.key");
}
