namespace CreditFunctions.Hosting;

/// <summary>The settings the app reads about where it runs (see local.settings.sample.json).</summary>
public sealed record AppSettings
{
    /// <summary>The development storage connection string.</summary>
    public const string DevelopmentStorage = "UseDevelopmentStorage=true";

    /// <summary>True when the storage account is the local emulator (Azurite's well-known development account): a
    /// local run, under the dev host or Core Tools. Local conveniences (the demo team, a generated secrets key) are on
    /// by default only then, so they can never touch a real account by accident.</summary>
    public bool IsLocalStorage { get; init; }

    /// <summary>Where a local run's Azurite keeps its data, relative to the repository root.</summary>
    public string LocalStorageFolder { get; init; } = ".azurite";

    /// <summary>Reads the settings from configuration (app settings or environment variables).</summary>
    public static AppSettings From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var storage = configuration["AzureWebJobsStorage"];
        return new AppSettings
        {
            IsLocalStorage = storage is { Length: > 0 }
                && (storage.Contains(DevelopmentStorage, StringComparison.OrdinalIgnoreCase)
                    || storage.Contains("AccountName=devstoreaccount1", StringComparison.OrdinalIgnoreCase)
                    || storage.Contains("127.0.0.1", StringComparison.Ordinal)),
            LocalStorageFolder = configuration["CREDITFUNCTIONS_LOCAL_STORAGE_FOLDER"] is { Length: > 0 } folder ? folder : ".azurite",
        };
    }
}
