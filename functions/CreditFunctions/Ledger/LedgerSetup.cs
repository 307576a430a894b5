using CreditFunctions.Auth;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Ledger;

/// <summary>Registers the ledger.</summary>
public static class LedgerSetup
{
    /// <summary>The ledger's options from configuration (<c>CREDITFUNCTIONS_LEDGER_TABLE</c>).</summary>
    public static LedgerOptions Options(IConfiguration configuration) => new()
    {
        TableName = configuration["CREDITFUNCTIONS_LEDGER_TABLE"] is { Length: > 0 } table ? table : new LedgerOptions().TableName,
    };

    /// <summary>Adds <see cref="LedgerService"/> on the app's <see cref="TableServiceClient"/> with the embedded catalog,
    /// the plans and the <c>plan-grants</c> timer function (<see cref="PlanGrants"/>, daily at 00:05 UTC).
    /// Settings: <c>CREDITFUNCTIONS_LEDGER_TABLE</c> (default <c>ledger</c>). With <paramref name="grantDemoCredits"/>
    /// (a local run that seeds the demo team) the demo team is put on the <c>demo</c> plan and gets this month's
    /// allocation at start.</summary>
    public static IServiceCollection AddLedger(this IServiceCollection services, IConfiguration configuration, bool grantDemoCredits)
    {
        var options = Options(configuration);
        services.AddSingleton(options);
        services.AddSingleton(Catalog.Default);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new LedgerService(sp.GetRequiredService<TableServiceClient>(), sp.GetRequiredService<Catalog>(), options,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<LedgerService>>(), sp.GetService<ILowBalanceAlertSink>()));
        services.AddSingleton(PlanCatalog.Default);
        services.AddSingleton<PlanGrants>();
        if (grantDemoCredits)
        {
            services.AddHostedService<DemoCredits>();
        }
        return services;
    }
}
