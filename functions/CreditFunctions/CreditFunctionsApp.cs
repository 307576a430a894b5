using Azure.Data.Tables;
using CreditFunctions.Alerts;
using CreditFunctions.Api;
using CreditFunctions.Auth;
using CreditFunctions.CsvJobs;
using CreditFunctions.Forms;
using CreditFunctions.Hosting;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Prospects;
using CreditFunctions.Research;
using CreditFunctions.Usage;
using CreditFunctions.Tracking;
using CreditFunctions.Visitors;
using CreditFunctions.Waterfall;

namespace CreditFunctions;

/// <summary>The composition root: one line per feature. <c>Program.cs</c> calls it on the Functions worker; the dev
/// host calls the same method, so both run the same services.</summary>
public static class CreditFunctionsApp
{
    /// <summary>
    /// Registers the app's services (no I/O here): the storage clients of <c>AzureWebJobsStorage</c>, the API's
    /// front door, teams and keys, the ledger (with the <c>plan-grants</c> timer's work), low-balance alerts, the
    /// waterfall, lists, sequences and CRM exports, CSV jobs, forms, website visitors, contact tracking, the usage page, telemetry, and a start-up step that creates the app's tables, queues and containers. Settings are read from <paramref name="configuration"/>.
    /// </summary>
    public static IServiceCollection AddCreditFunctions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var settings = AppSettings.From(configuration);
        services.AddSingleton(settings);
        services.AddStorageClients(StorageAccount.From(configuration));
        // First of the hosted services: they start in order, and the demo seed needs the tables.
        services.AddHostedService<StorageSetup>();
        services.AddSingleton<ApiGate>();
        services.AddPlatform(configuration);
        services.AddAuth(configuration, settings);
        services.AddLedger(configuration, AuthOptions.From(configuration, settings).SeedDemoTeam);
        services.AddAlerts(configuration);
        services.AddResearch();
        services.AddWaterfall(configuration, LocalSecretsKeyFile(settings));
        services.AddProspects(configuration);
        services.AddCsvJobs(configuration);
        services.AddForms(configuration);
        services.AddVisitors(configuration);
        services.AddUsagePage();
        services.AddTracking(configuration);
        services.AddObservability(configuration);
        return services;
    }

    /// <summary>The settings that name the queues of the app's queue triggers and the schedule of the tracking scan's timer
    /// (<c>%Setting%</c>, which the host must resolve), with each one's default: a local run and the deployment set them.</summary>
    public static IReadOnlyDictionary<string, string> TriggerSettingDefaults { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [AlertOptions.QueueSetting] = AlertOptions.DefaultQueue,
        [FormOptions.QueueSetting] = FormOptions.DefaultQueue,
        [VisitorOptions.QueueSetting] = VisitorOptions.DefaultQueue,
        [TrackingOptions.ScheduleSetting] = TrackingOptions.DefaultSchedule,
    };

    // A local run keeps a generated secrets key next to Azurite's data, so stored team keys survive restarts.
    internal static string? LocalSecretsKeyFile(AppSettings settings) =>
        !settings.IsLocalStorage || RepositoryRoot.Find() is not { } root ? null : Path.Combine(root, settings.LocalStorageFolder, "secrets.key");

    /// <summary>The app's storage clients, shared by every feature.</summary>
    private static IServiceCollection AddStorageClients(this IServiceCollection services, StorageAccount account)
    {
        services.AddSingleton(account);
        services.AddSingleton(account.CreateTables());
        services.AddSingleton(account.CreateQueues());
        services.AddSingleton(account.CreateBlobs());
        return services;
    }

    /// <summary>Creates the app's tables when the worker starts (before the first invocation).</summary>
    private sealed class StorageSetup(LedgerService ledger, ContactStore contacts, Azure.Storage.Queues.QueueServiceClient queues, AlertOptions alerts,
        CsvJobStore csvJobs, CsvJobProcessor csvProcessor, FormStore forms, FormOptions formOptions, VisitorOptions visitors, ListExportService listExports,
        TrackingStore tracking) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await ledger.InitializeAsync(cancellationToken).ConfigureAwait(false);
            await contacts.Table.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
            await queues.GetQueueClient(alerts.QueueName).CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            await csvJobs.Table.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
            await csvProcessor.InitializeAsync(cancellationToken).ConfigureAwait(false);
            await listExports.InitializeAsync(cancellationToken).ConfigureAwait(false);
            await forms.Table.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
            await queues.GetQueueClient(formOptions.QueueName).CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            await queues.GetQueueClient(visitors.QueueName).CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            await tracking.Table.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
