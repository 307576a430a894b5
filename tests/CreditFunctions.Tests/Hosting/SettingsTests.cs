using System.Text.Json;
using CreditFunctions.AzureStorage.Emulator;
using CreditFunctions.Hosting;
using Microsoft.Extensions.Configuration;

namespace CreditFunctions.Tests.Hosting;

public sealed class SettingsTests
{
    // Every setting the app reads by name (the host's own FUNCTIONS_CUSTOMHANDLER_PORT is set by the host, never by hand).
    private static readonly string[] s_settings =
    [
        "AzureWebJobsStorage", "CREDITFUNCTIONS_LOCAL_PORT", "CREDITFUNCTIONS_LOCAL_STORAGE_FOLDER", "CREDITFUNCTIONS_TEAMS_TABLE",
        "CREDITFUNCTIONS_LEDGER_TABLE", "CREDITFUNCTIONS_KEY_CACHE_SECONDS", "CREDITFUNCTIONS_DEMO_SEED", "CREDITFUNCTIONS_LOCALHOST",
        "CREDITFUNCTIONS_LOCALHOST_TABLE", "CREDITFUNCTIONS_LOCALHOST_BLOB_QUEUE", "CREDITFUNCTIONS_LOCALHOST_BLOB_SCAN_SECONDS",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_METRIC_EXPORT_INTERVAL",
    ];

    private static string Root => AzuriteProcess.FindRepositoryRoot() ?? throw new InvalidOperationException("Run from the repository.");

    [Fact]
    public void Every_setting_the_app_reads_is_in_the_local_settings_sample_and_the_README()
    {
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "local.settings.sample.json")));
        var values = sample.RootElement.GetProperty("Values");
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));

        Assert.Equal("Custom", values.GetProperty("FUNCTIONS_WORKER_RUNTIME").GetString());
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

        Assert.Null(account.Connection.SharedKey);
        Assert.NotNull(account.Credential);
        Assert.Equal(new Uri("https://creditfunctionsprod.queue.core.windows.net"), account.Connection.QueueEndpoint);
        Assert.Equal(new Uri("https://creditfunctionsprod.table.core.windows.net"), account.Connection.TableEndpoint);
        Assert.Null(AppSettings.From(configuration).StorageConnectionString);
    }

    [Fact]
    public void A_connection_string_with_a_key_uses_the_key_and_no_connection_at_all_is_an_error_naming_the_setting()
    {
        var keyed = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true" }).Build();
        var none = new ConfigurationBuilder().Build();

        Assert.NotNull(StorageAccount.From(keyed).Connection.SharedKey);
        Assert.Null(StorageAccount.From(keyed).Credential);
        Assert.Contains("AzureWebJobsStorage", Assert.Throws<InvalidOperationException>(() => StorageAccount.From(none)).Message, StringComparison.Ordinal);
    }
}
