using System.Security.Cryptography;
using System.Text;
using CreditFunctions.Durable;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>Why a waterfall could not start: nothing was started, held or charged.</summary>
public sealed class WaterfallRefusedException(string creditType, Credits needed, Credits available)
    : Exception($"Not enough {creditType} credits: {needed.Value} needed, {available.Value} available.")
{
    /// <summary>The short balance.</summary>
    public string CreditType { get; } = creditType;

    /// <summary>What the request can cost at most.</summary>
    public Credits Needed { get; } = needed;

    /// <summary>What was available.</summary>
    public Credits Available { get; } = available;
}

/// <summary>
/// Starts waterfalls: checks the balance (402 before any provider is called), holds a bulk run's maximum cost, and
/// starts the orchestration idempotently (the instance id derives from the team and the caller's idempotency key).
/// </summary>
public sealed class WaterfallService(DurableTaskClient durable, LedgerService ledger, EnrichmentSettingsStore settings, ContactStore contacts,
    TimeProvider clock)
{
    /// <summary>Most people in one bulk request.</summary>
    public const int PeopleMax = 1000;

    /// <summary>Starts a run for <paramref name="people"/> and returns its run id. With the same
    /// <paramref name="idempotencyKey"/> again, returns the first run's id and starts nothing.</summary>
    /// <exception cref="WaterfallRefusedException">The team's available balance is below the run's maximum cost.</exception>
    public async Task<string> StartAsync(string teamId, string userId, IReadOnlyList<PersonInput> people, IReadOnlyList<string> data, ChargePlan plan,
        string? webhookUrl, string? idempotencyKey, bool bulk, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(people);
        ArgumentNullException.ThrowIfNull(data);
        var runId = idempotencyKey is null
            ? Guid.NewGuid().ToString("N")
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(teamId + "\n" + idempotencyKey)))[..32];
        var instanceId = WaterfallRun.InstanceIdFor(teamId, runId);
        var persons = people.Select((p, i) => new WaterfallPerson(i, WaterfallPerson.IdFor(p), p.Normalize())).ToList();
        // The reads a start needs do not depend on each other: one round trip instead of four (a repeated key wastes
        // three reads, and starts nothing).
        var existing = durable.GetInstanceAsync(instanceId, cancellationToken: cancellationToken);
        var teamSettings = settings.GetAsync(teamId, cancellationToken);
        var contact = bulk ? Task.FromResult<ContactRecord?>(null) : contacts.GetAsync(teamId, persons[0].PersonId, cancellationToken);
        var balances = bulk ? Task.FromResult<IReadOnlyList<BalanceView>>([]) : ledger.GetBalancesAsync(teamId, cancellationToken);
        await Task.WhenAll(existing, teamSettings, contact, balances).ConfigureAwait(false);
        if (await existing.ConfigureAwait(false) is not null)
        {
            return runId;
        }
        var team = await teamSettings.ConfigureAwait(false);
        var holds = bulk ? await HoldAsync(teamId, userId, runId, persons.Count, data, plan, cancellationToken).ConfigureAwait(false)
            : CheckBalance(await contact.ConfigureAwait(false), await balances.ConfigureAwait(false), data, plan);
        var run = new WaterfallRun
        {
            RunId = runId, TeamId = teamId, UserId = userId, Data = data, People = persons, Plan = plan, HoldIds = holds, WebhookUrl = webhookUrl,
            EmailProviders = team.EmailProviders, MobileProviders = team.MobileProviders, Verifier = team.Verifier, VerifyEmails = team.VerifyEmails,
        };
        await durable.ScheduleNewOrchestrationInstanceAsync(WaterfallOrchestrator.Name, run, new StartOrchestrationOptions { InstanceId = instanceId }, cancellationToken)
            .ConfigureAwait(false);
        return runId;
    }

    /// <summary>The run's state, or null when the team has no such run.</summary>
    public Task<OrchestrationMetadata?> GetAsync(string teamId, string runId, CancellationToken cancellationToken) =>
        IsRunId(runId) ? durable.GetInstanceAsync(WaterfallRun.InstanceIdFor(teamId, runId), getInputsAndOutputs: true, cancellationToken) : Task.FromResult<OrchestrationMetadata?>(null);

    /// <summary>Waits up to <paramref name="timeout"/> for the run to finish; null when it is still running.</summary>
    public async Task<OrchestrationMetadata?> WaitAsync(string teamId, string runId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            return await durable.WaitForInstanceCompletionAsync(WaterfallRun.InstanceIdFor(teamId, runId), true, limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static bool IsRunId(string runId) => runId is { Length: 32 } && runId.All(char.IsAsciiHexDigitLower);

    private static IReadOnlyDictionary<string, string>? CheckBalance(ContactRecord? contact, IReadOnlyList<BalanceView> balances, IReadOnlyList<string> data,
        ChargePlan plan)
    {
        foreach (var item in data)
        {
            var owned = item == WaterfallData.Email ? contact?.Email is not null : contact?.Mobile is not null;
            if (owned)
            {
                continue;
            }
            var price = Price(plan, item);
            var available = balances.FirstOrDefault(b => b.CreditType == WaterfallData.CreditType(item))?.Available ?? Credits.Zero;
            if (available < price)
            {
                throw new WaterfallRefusedException(WaterfallData.CreditType(item), price, available);
            }
        }
        return null;
    }

    private async Task<IReadOnlyDictionary<string, string>> HoldAsync(string teamId, string userId, string runId, int count, IReadOnlyList<string> data,
        ChargePlan plan, CancellationToken cancellationToken)
    {
        var holds = new Dictionary<string, string>(StringComparer.Ordinal);
        var placed = new List<string>();
        foreach (var item in data)
        {
            var (feature, action) = plan.For(item);
            var maximum = Price(plan, item) * count;
            var result = await ledger.PlaceHoldAsync(new HoldRequest(teamId, userId, feature, action, maximum, clock.GetUtcNow().AddDays(1), $"wf-hold:{runId}:{item}")
            {
                Description = $"Waterfall of {count} people ({item})", RelatedRecord = "waterfall:" + runId,
            }).ConfigureAwait(false);
            if (result.Status == LedgerStatus.InsufficientCredits)
            {
                // Nothing half-done: release what this request already held.
                foreach (var hold in placed)
                {
                    await ledger.VoidHoldAsync(new VoidRequest(teamId, userId, hold, $"release:{hold}")).ConfigureAwait(false);
                }
                var available = maximum - (result.Shortfall ?? Credits.Zero);
                throw new WaterfallRefusedException(WaterfallData.CreditType(item), maximum, available);
            }
            if (result.HoldId is null)
            {
                throw new InvalidOperationException($"The hold for {item} was refused: {result.Status}.");
            }
            holds[WaterfallData.CreditType(item)] = result.HoldId;
            placed.Add(result.HoldId);
        }
        return holds;
    }

    private static Credits Price(ChargePlan plan, string data)
    {
        var (feature, action) = plan.For(data);
        return Catalog.Default.Find(feature, action)?.Price ?? throw new InvalidOperationException($"The catalog has no action {feature}/{action}.");
    }
}
