using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using Microsoft.DurableTask.Client;

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

    /// <summary>True when the member's spend limit refused it (<see cref="Available"/> is then what is left of the limit).</summary>
    public bool SpendLimited { get; init; }
}

/// <summary>The Idempotency-Key was used before with another request: nothing was started, held or charged.</summary>
public sealed class IdempotencyKeyReusedException() : Exception("The Idempotency-Key was used with another request.");

/// <summary>
/// Starts waterfalls: checks the balance (402 before any provider is called), holds a bulk run's maximum cost, and
/// starts the orchestration idempotently (the instance id derives from the team and the caller's idempotency key). A
/// single reveal runs in the request through <see cref="WaterfallEngine"/>: an orchestration would add its own start,
/// checkpoints and polling to an answer the caller waits for, for no durability a retried request does not already give.
/// </summary>
public sealed class WaterfallService(LedgerService ledger, EnrichmentSettingsStore settings, ContactStore contacts, WaterfallEngine engine,
    TimeProvider clock)
{
    /// <summary>Most people in one bulk request.</summary>
    public const int PeopleMax = 1000;

    /// <summary>Starts a run for <paramref name="people"/> and returns its run id. With the same
    /// <paramref name="idempotencyKey"/> again, returns the first run's id and starts nothing.</summary>
    /// <exception cref="WaterfallRefusedException">The team's available balance is below the run's maximum cost.</exception>
    public async Task<string> StartAsync(DurableTaskClient durable, string teamId, string userId, IReadOnlyList<PersonInput> people, IReadOnlyList<string> data,
        ChargePlan plan, string? webhookUrl, string? idempotencyKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(durable);
        ArgumentNullException.ThrowIfNull(people);
        ArgumentNullException.ThrowIfNull(data);
        var runId = idempotencyKey is null
            ? Guid.NewGuid().ToString("N")
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(teamId + "\n" + idempotencyKey)))[..32];
        var instanceId = WaterfallRun.InstanceIdFor(teamId, runId);
        var persons = people.Select((p, i) => new WaterfallPerson(i, WaterfallPerson.IdFor(p), p.Normalize())).ToList();
        // The reads a start needs do not depend on each other: one round trip instead of four (a repeated key wastes
        // three reads, and starts nothing).
        var fingerprint = Fingerprint(persons.Select(p => p.Input), data, plan, webhookUrl);
        var existing = durable.GetInstanceAsync(instanceId, getInputsAndOutputs: true, cancellationToken);
        var teamSettings = settings.GetAsync(teamId, cancellationToken);
        await Task.WhenAll(existing, teamSettings).ConfigureAwait(false);
        if (await existing.ConfigureAwait(false) is { } started)
        {
            return started.ReadInputAs<WaterfallRun>()?.RequestFingerprint == fingerprint ? runId : throw new IdempotencyKeyReusedException();
        }
        var team = await teamSettings.ConfigureAwait(false);
        // From the first hold on, the start runs to its end whatever the client does: a disconnect must neither leave
        // holds without a run nor a run half-scheduled.
        var holds = await HoldAsync(teamId, userId, runId, persons.Count, data, plan, CancellationToken.None).ConfigureAwait(false);
        var run = new WaterfallRun
        {
            RunId = runId, TeamId = teamId, UserId = userId, Data = data, People = persons, Plan = plan, HoldIds = holds, WebhookUrl = webhookUrl,
            EmailProviders = team.EmailProviders, MobileProviders = team.MobileProviders, Verifier = team.Verifier, VerifyEmails = team.VerifyEmails,
            RequestFingerprint = fingerprint,
        };
        try
        {
            await durable.ScheduleNewOrchestrationInstanceAsync(WaterfallFunctions.OrchestratorName, run, new Microsoft.DurableTask.StartOrchestrationOptions { InstanceId = instanceId },
                CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            // Not started: nothing may stay held for a run that will never release it. A concurrent start of the same
            // key that did start uses the same holds (their keys are the run's), so release only when none runs.
            if (await durable.GetInstanceAsync(instanceId, cancellation: CancellationToken.None).ConfigureAwait(false) is null)
            {
                await ReleaseAsync(teamId, userId, holds.Values).ConfigureAwait(false);
            }
            throw;
        }
        return runId;
    }

    /// <summary>
    /// A single person's waterfall, in the request: 402 (<see cref="WaterfallRefusedException"/>) before any provider
    /// when the balance is short of what is not owned yet; charges directly (no hold). With the same
    /// <paramref name="idempotencyKey"/> again, the charges answer their first result and move nothing.
    /// </summary>
    public async Task<(string RunId, PersonResult Person)> RevealAsync(string teamId, string userId, PersonInput person, IReadOnlyList<string> data,
        string? idempotencyKey, CancellationToken cancellationToken, ChargePlan? plan = null)
    {
        ArgumentNullException.ThrowIfNull(person);
        plan ??= ChargePlan.Reveal;
        // Each route keeps its own keys: the same caller key on a reveal and a dialer look-up are two requests.
        var (claimPrefix, chargePrefix) = plan == ChargePlan.Dialer ? ("dialer:", "dl") : ("reveal:", "rv");
        var runId = idempotencyKey is null
            ? Guid.NewGuid().ToString("N")
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(teamId + "\n" + idempotencyKey)))[..32];
        var who = new WaterfallPerson(0, WaterfallPerson.IdFor(person), person.Normalize());
        if (idempotencyKey is not null
            && !(await contacts.ClaimRequestAsync(teamId, claimPrefix + idempotencyKey, Fingerprint([who.Input], data, plan, null), cancellationToken)
                .ConfigureAwait(false)).Same)
        {
            throw new IdempotencyKeyReusedException();
        }
        (who, var known) = await engine.ResolveAsync(teamId, who, cancellationToken).ConfigureAwait(false);
        var teamSettings = settings.GetAsync(teamId, cancellationToken);
        var contact = contacts.GetAsync(teamId, who.PersonId, cancellationToken);
        var balances = ledger.GetBalancesAsync(teamId, cancellationToken);
        await Task.WhenAll(teamSettings, contact, balances).ConfigureAwait(false);
        var stored = await contact.ConfigureAwait(false);
        CheckBalance(stored, await balances.ConfigureAwait(false), data, plan);
        var team = await teamSettings.ConfigureAwait(false);
        var run = new WaterfallRun
        {
            RunId = runId, TeamId = teamId, UserId = userId, Data = data, People = [who], Plan = plan,
            EmailProviders = team.EmailProviders, MobileProviders = team.MobileProviders, Verifier = team.Verifier, VerifyEmails = team.VerifyEmails,
        };
        // The settings and the contact just read are the engine's too: no second read on the answer's path.
        var result = await engine.RunOneAsync(run, team, who, known, stored, $"{chargePrefix}:{teamId}:{runId}", cancellationToken).ConfigureAwait(false);
        return (runId, result);
    }

    /// <summary>What a single look-up of <paramref name="data"/> for <paramref name="person"/> would cost, without calling
    /// a provider or charging: 0 for what the team owns, else the price (charged only if found).</summary>
    public async Task<IReadOnlyList<(string Data, string Action, bool Owned, Credits AtMost)>> QuoteAsync(string teamId, PersonInput person,
        IReadOnlyList<string> data, ChargePlan plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(person);
        var who = new WaterfallPerson(0, WaterfallPerson.IdFor(person), person.Normalize());
        (who, _) = await engine.ResolveAsync(teamId, who, cancellationToken).ConfigureAwait(false);
        var stored = await contacts.GetAsync(teamId, who.PersonId, cancellationToken).ConfigureAwait(false);
        return [.. data.Select(item =>
        {
            var owned = item == WaterfallData.Email ? stored?.Email is not null : stored?.Mobile is not null;
            return (item, plan.For(item).Action, owned, owned ? Credits.Zero : Price(plan, item));
        })];
    }

    /// <summary>Voids what is left of <paramref name="holdIds"/> (idempotent per hold).</summary>
    public async Task ReleaseAsync(string teamId, string userId, IEnumerable<string> holdIds)
    {
        ArgumentNullException.ThrowIfNull(holdIds);
        foreach (var hold in holdIds)
        {
            await ledger.VoidHoldAsync(new VoidRequest(teamId, userId, hold, $"release:{hold}")).ConfigureAwait(false);
        }
    }

    /// <summary>The run's state, or null when the team has no such run.</summary>
    public static Task<OrchestrationMetadata?> GetAsync(DurableTaskClient durable, string teamId, string runId, CancellationToken cancellationToken) =>
        IsRunId(runId) ? (durable ?? throw new ArgumentNullException(nameof(durable))).GetInstanceAsync(WaterfallRun.InstanceIdFor(teamId, runId), getInputsAndOutputs: true, cancellationToken) : Task.FromResult<OrchestrationMetadata?>(null);

    /// <summary>What makes two requests the same request: the people as normalised, the data, the plan and the webhook.</summary>
    private static string Fingerprint(IEnumerable<PersonInput> people, IReadOnlyList<string> data, ChargePlan plan, string? webhookUrl) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(new { people, data, plan, webhookUrl }, JsonSerializerOptions.Web)));

    private static bool IsRunId(string runId) => runId is { Length: 32 } && runId.All(char.IsAsciiHexDigitLower);

    private static void CheckBalance(ContactRecord? contact, IReadOnlyList<BalanceView> balances, IReadOnlyList<string> data,
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
            if (result.Status == LedgerStatus.ExistsWithDifferentParameters)
            {
                // Another request with this key (and other people) placed the run's hold first.
                throw new IdempotencyKeyReusedException();
            }
            if (result.Status is LedgerStatus.InsufficientCredits or LedgerStatus.SpendLimitReached)
            {
                // Nothing half-done: release what this request already held.
                foreach (var hold in placed)
                {
                    await ledger.VoidHoldAsync(new VoidRequest(teamId, userId, hold, $"release:{hold}")).ConfigureAwait(false);
                }
                var available = maximum - (result.Shortfall ?? Credits.Zero);
                throw new WaterfallRefusedException(WaterfallData.CreditType(item), maximum, available)
                {
                    SpendLimited = result.Status == LedgerStatus.SpendLimitReached,
                };
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

    /// <summary>The catalog price of a hit for <paramref name="data"/> under <paramref name="plan"/>.</summary>
    internal static Credits Price(ChargePlan plan, string data)
    {
        var (feature, action) = plan.For(data);
        return Catalog.Default.Find(feature, action)?.Price ?? throw new InvalidOperationException($"The catalog has no action {feature}/{action}.");
    }
}
