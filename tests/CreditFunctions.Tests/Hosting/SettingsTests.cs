using System.Text.Json;
using CreditFunctions.Hosting;
using Microsoft.Extensions.Configuration;

namespace CreditFunctions.Tests.Hosting;

public sealed class SettingsTests
{
    // Every setting the app and the local run read by name.
    private static readonly string[] s_settings =
    [
        "AzureWebJobsStorage", "CREDITFUNCTIONS_LOCAL_STORAGE_FOLDER", "CREDITFUNCTIONS_TEAMS_TABLE",
        "CREDITFUNCTIONS_LEDGER_TABLE", "CREDITFUNCTIONS_KEY_CACHE_SECONDS", "CREDITFUNCTIONS_SESSION_MINUTES", "CREDITFUNCTIONS_DEMO_SEED", "CREDITFUNCTIONS_ENRICHMENT_TABLE",
        "CREDITFUNCTIONS_CSVJOBS_TABLE",
        "CREDITFUNCTIONS_INBOUND_TABLE", "CREDITFUNCTIONS_FORMS_QUEUE", "CREDITFUNCTIONS_VISITORS_QUEUE", "CREDITFUNCTIONS_TRUSTED_PROXIES",
        "CREDITFUNCTIONS_TRACKING_TABLE", "CREDITFUNCTIONS_TRACKING_SCAN_SCHEDULE",
        "CREDITFUNCTIONS_SECRETS_KEY", "CREDITFUNCTIONS_SECRETS_KEY_PREVIOUS", "CREDITFUNCTIONS_EGRESS_ALLOW", "CREDITFUNCTIONS_CRM_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_METRIC_EXPORT_INTERVAL",
    ];

    private static string Root => RepositoryRoot.Find() ?? throw new InvalidOperationException("Run from the repository.");

    [Fact]
    public void Every_setting_the_app_reads_is_in_the_local_settings_sample_and_the_README()
    {
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "local.settings.sample.json")));
        var values = sample.RootElement.GetProperty("Values");
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));

        Assert.Equal("dotnet-isolated", values.GetProperty("FUNCTIONS_WORKER_RUNTIME").GetString());
        Assert.Equal("UseDevelopmentStorage=true", values.GetProperty("AzureWebJobsStorage").GetString());
        Assert.All(s_settings, name =>
        {
            Assert.True(values.TryGetProperty(name, out _), $"{name} is not in local.settings.sample.json");
            Assert.Contains($"`{name}`", readme, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Identity_based_storage_is_read_from_the_account_name_the_way_the_host_reads_it()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage:accountName"] = "creditfunctionsprod",
        }).Build();

        var account = StorageAccount.From(configuration);

        Assert.Null(account.ConnectionString);
        Assert.NotNull(account.Credential);
        Assert.Equal(new Uri("https://creditfunctionsprod.queue.core.windows.net"), account.QueueEndpoint);
        Assert.Equal(new Uri("https://creditfunctionsprod.table.core.windows.net"), account.TableEndpoint);
        Assert.False(AppSettings.From(configuration).IsLocalStorage);
    }

    [Fact]
    public void A_connection_string_is_used_as_it_is_and_no_connection_at_all_means_the_local_emulator()
    {
        var keyed = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        }).Build();
        var none = new ConfigurationBuilder().Build();

        Assert.NotNull(StorageAccount.From(keyed).ConnectionString);
        Assert.Null(StorageAccount.From(keyed).Credential);
        Assert.False(AppSettings.From(keyed).IsLocalStorage);
        Assert.Equal(AppSettings.DevelopmentStorage, StorageAccount.From(none).ConnectionString);
    }

    [Fact]
    public void A_bad_identity_endpoint_is_an_error_naming_the_setting()
    {
        var bad = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage:blobServiceUri"] = "http://not-https",
        }).Build();

        Assert.Contains("AzureWebJobsStorage__blobServiceUri", Assert.Throws<InvalidOperationException>(() => StorageAccount.From(bad)).Message, StringComparison.Ordinal);
    }
}
