using Azure.Data.Tables;
using CreditFunctions.Platform;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>Registers the waterfall: contact store and settings (one table, partition = team), the service, re-verification
/// the engine and the webhook sender; the orchestrator and activities are functions (<see cref="WaterfallFunctions"/>).</summary>
public static class WaterfallSetup
{
    /// <summary>The setting naming the enrichment table (contacts and settings); <c>enrichment</c> by default.</summary>
    public const string TableSetting = "CREDITFUNCTIONS_ENRICHMENT_TABLE";

    /// <summary>The enrichment table's name from <paramref name="configuration"/>.</summary>
    public static string TableName(IConfiguration configuration) =>
        configuration?[TableSetting] is { Length: > 0 } name ? name : "enrichment";

    /// <summary>Adds the waterfall's services. <paramref name="localKeyFile"/> keeps a generated secrets key for a local run.</summary>
    public static IServiceCollection AddWaterfall(this IServiceCollection services, IConfiguration configuration, string? localKeyFile)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var tableName = TableName(configuration);
        services.AddProviders(configuration);
        services.AddSingleton(sp => new ContactStore(sp.GetRequiredService<TableServiceClient>().GetTableClient(tableName)));
        services.AddSingleton(sp => new EnrichmentSettingsStore(sp.GetRequiredService<TableServiceClient>().GetTableClient(tableName),
            sp.GetRequiredService<ProviderCatalog>(), SecretProtector.From(configuration, localKeyFile), configuration));
        services.AddSingleton<ContactIdentity>();
        services.AddSingleton<WaterfallEngine>();
        services.AddSingleton<WaterfallService>();
        services.AddSingleton<ReverifyService>();
        services.AddSingleton(sp => new WebhookSender(
            new HttpClient(sp.GetRequiredService<EgressGuard>().CreateHandler()) { Timeout = TimeSpan.FromSeconds(10) },
            sp.GetRequiredService<EgressGuard>(), sp.GetRequiredService<EnrichmentSettingsStore>(), sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
