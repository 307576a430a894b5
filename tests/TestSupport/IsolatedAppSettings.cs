namespace CreditFunctions.TestSupport;

/// <summary>
/// The settings that run the real app on the shared test Azurite without touching any other test's data: tables,
/// queues, a task hub and a host id of its own, the timers off (a test turns on what it needs), no demo team, quiet
/// logs, a fixed secrets key, and a sandbox address that refuses connections (tests that need vendors pass their own).
/// </summary>
public static class IsolatedAppSettings
{
    /// <summary>A fresh set of names for one app; the caller adds or replaces what its tests need.</summary>
    public static Dictionary<string, string?> For(AzuriteFixture azurite)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        return new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["AzureWebJobsStorage"] = azurite.ConnectionString,
            ["CREDITFUNCTIONS_TEAMS_TABLE"] = AzuriteFixture.NewName("teams"),
            ["CREDITFUNCTIONS_LEDGER_TABLE"] = AzuriteFixture.NewName("ledger"),
            ["CREDITFUNCTIONS_DEMO_SEED"] = "false",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:Console:LogLevel:Default"] = "None",
            ["AzureFunctionsJobHost__extensions__durableTask__hubName"] = AzuriteFixture.NewName("hub"),
            ["AzureWebJobs.plan-grants.Disabled"] = "true",
            // The upload trigger polls a container every app shares: only the CSV tests turn it on, each under a host id of its own.
            ["AzureWebJobs.csv-upload.Disabled"] = "true",
            ["AzureFunctionsWebHost:hostid"] = AzuriteFixture.NewName("host"),
            ["CREDITFUNCTIONS_CSVJOBS_TABLE"] = AzuriteFixture.NewName("csvjobs"),
            ["CREDITFUNCTIONS_ENRICHMENT_TABLE"] = AzuriteFixture.NewName("enrich"),
            ["CREDITFUNCTIONS_ALERTS_QUEUE"] = AzuriteFixture.NewName("alerts"),
            ["CREDITFUNCTIONS_INBOUND_TABLE"] = AzuriteFixture.NewName("inbound"),
            ["CREDITFUNCTIONS_FORMS_QUEUE"] = AzuriteFixture.NewName("forms"),
            ["CREDITFUNCTIONS_VISITORS_QUEUE"] = AzuriteFixture.NewName("visitors"),
            ["CREDITFUNCTIONS_TRACKING_TABLE"] = AzuriteFixture.NewName("tracking"),
            // Scans start through the API in tests; the timer is off unless a test turns it on.
            ["CREDITFUNCTIONS_TRACKING_SCAN_SCHEDULE"] = "0 0 3 * * *",
            ["AzureWebJobs.tracking-scan.Disabled"] = "true",
            ["CREDITFUNCTIONS_SECRETS_KEY"] = Convert.ToBase64String(new byte[32]),
            ["CREDITFUNCTIONS_SANDBOX_URL"] = "http://127.0.0.1:9",
        };
    }
}
