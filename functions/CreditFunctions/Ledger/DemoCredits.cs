using System.Globalization;
using CreditFunctions.Auth;

namespace CreditFunctions.Ledger;

/// <summary>
/// On a local run with the demo team, grants the demo team a monthly plan allocation of every credit type
/// (100 each, expiring at the end of the month), so the README walkthrough has credits to spend. Idempotent per
/// month by its key, so restarts grant nothing more.
/// </summary>
internal sealed class DemoCredits(LedgerService ledger, TimeProvider clock) : IHostedService
{
    public static readonly Credits MonthlyAmount = Credits.FromDecimal(100);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var month = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var period = month.ToString("yyyy-MM", CultureInfo.InvariantCulture);
        foreach (var creditType in ledger.Catalog.CreditTypes)
        {
            await ledger.GrantAsync(PlanAllocation.For(DemoSeed.TeamId, period, creditType, MonthlyAmount)).ConfigureAwait(false);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
