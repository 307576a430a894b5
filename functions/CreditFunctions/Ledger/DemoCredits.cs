using System.Globalization;
using CreditFunctions.Auth;

namespace CreditFunctions.Ledger;

/// <summary>
/// On a local run with the demo team, puts the demo team on the <c>demo</c> plan (100 credits of every type a month)
/// and grants this month's allocation at once, so the README walkthrough has credits to spend; the
/// <c>plan-grants</c> timer grants the following months. Idempotent per month, so restarts grant nothing more.
/// </summary>
internal sealed class DemoCredits(TeamStore teams, PlanGrants grants, TimeProvider clock) : IHostedService
{
    public const string PlanId = "demo";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await teams.SetPlanAsync(DemoSeed.TeamId, PlanId, cancellationToken).ConfigureAwait(false);
        await grants.GrantAsync(DemoSeed.TeamId, PlanId, clock.GetUtcNow().ToString("yyyy-MM", CultureInfo.InvariantCulture)).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
