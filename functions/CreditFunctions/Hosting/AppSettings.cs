namespace CreditFunctions.Hosting;

/// <summary>The settings the app reads, with their local defaults (see local.settings.sample.json).</summary>
public sealed record AppSettings
{
    /// <summary>The storage connection string (<c>AzureWebJobsStorage</c>); defaults to Azurite on its default ports.
    /// Null when the storage is reached by identity (<c>AzureWebJobsStorage__accountName</c> and the like, see
    /// <see cref="StorageAccount"/>) rather than by a connection string.</summary>
    public string? StorageConnectionString { get; init; } = DevelopmentStorage;

    /// <summary>The development storage connection string.</summary>
    public const string DevelopmentStorage = "UseDevelopmentStorage=true";

    /// <summary>The port the Functions host asks the custom handler to listen on; null when no host is present
    /// (local-host mode).</summary>
    public int? CustomHandlerPort { get; init; }

    /// <summary>The port of a local run; 7071 as in the Functions tools.</summary>
    public int LocalPort { get; init; } = 7071;

    /// <summary>Where a local run's Azurite keeps its data, relative to the repository root.</summary>
    public string LocalStorageFolder { get; init; } = ".azurite";

    /// <summary>True when the Functions host started the process.</summary>
    public bool IsUnderFunctionsHost => CustomHandlerPort is not null;

    /// <summary>Reads the settings from configuration (app settings or environment variables).</summary>
    public static AppSettings From(IConfiguration configuration)
    {
        var defaults = new AppSettings();
        return new AppSettings
        {
            StorageConnectionString = configuration["AzureWebJobsStorage"] is { Length: > 0 } storage
                ? storage
                : (configuration.GetSection("AzureWebJobsStorage").Exists() ? null : defaults.StorageConnectionString),
            CustomHandlerPort = int.TryParse(configuration["FUNCTIONS_CUSTOMHANDLER_PORT"], out var port) ? port : null,
            LocalPort = int.TryParse(configuration["CREDITFUNCTIONS_LOCAL_PORT"], out var local) ? local : defaults.LocalPort,
            LocalStorageFolder = configuration["CREDITFUNCTIONS_LOCAL_STORAGE_FOLDER"] is { Length: > 0 } folder ? folder : defaults.LocalStorageFolder,
        };
    }
}
