using CreditFunctions.Durable;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>Input of <see cref="LookupOwnedActivity"/>.</summary>
public sealed record OwnedQuery(string TeamId, string PersonId, string Data);

/// <summary>Data the team already owns, from its contact store.</summary>
public sealed record OwnedData(string Value, string? Provider, string? Verification);

/// <summary>Input of <see cref="AskProviderActivity"/>.</summary>
public sealed record ProviderQuestion(string TeamId, string Provider, string Capability, PersonInput Person);

/// <summary>A provider's answer as the orchestration records it: <c>hit</c> (with the value), <c>miss</c> or <c>error</c>.</summary>
public sealed record ProviderAnswer(string Outcome, string? Value = null, string? Detail = null);

/// <summary>Input of <see cref="VerifyEmailActivity"/>.</summary>
public sealed record VerifyQuestion(string TeamId, string Verifier, string Email);

/// <summary>Input of <see cref="ChargeHitActivity"/>: the accepted hit to charge and record.</summary>
public sealed record HitToCharge(string TeamId, string UserId, string Feature, string Action, string PersonId, string? Name, string Data,
    string Value, string Provider, string? Verification, string? HoldId, string RunId);

/// <summary>What the ledger said about a hit.</summary>
public sealed record ChargeAnswer(string Status, decimal Credits, string? LineId);

/// <summary>Input of <see cref="ReleaseHoldsActivity"/>.</summary>
public sealed record HoldsToRelease(string TeamId, string UserId, IReadOnlyList<string> HoldIds);

/// <summary>Input of <see cref="SendWebhookActivity"/>.</summary>
public sealed record WebhookDelivery(string TeamId, string Url, string Body, string RunId);

/// <summary>The activity names, registered in <see cref="WaterfallSetup"/>.</summary>
public static class WaterfallActivityNames
{
    /// <summary>Reads owned data from the contact store.</summary>
    public const string LookupOwned = "Waterfall.LookupOwned";

    /// <summary>Asks one provider.</summary>
    public const string AskProvider = "Waterfall.AskProvider";

    /// <summary>Verifies one email.</summary>
    public const string Verify = "Waterfall.Verify";

    /// <summary>Charges an accepted hit and records it.</summary>
    public const string ChargeHit = "Waterfall.ChargeHit";

    /// <summary>Releases what is left of a run's holds.</summary>
    public const string ReleaseHolds = "Waterfall.ReleaseHolds";

    /// <summary>Posts the signed results to the run's webhook.</summary>
    public const string SendWebhook = "Waterfall.SendWebhook";

    /// <summary>How old the team's settings (its own provider keys) read by a provider step may be: a run asks a
    /// provider once per step, and a read per step was one storage round trip in four of a step's.</summary>
    public static TimeSpan SettingsMaxAge { get; } = TimeSpan.FromSeconds(5);
}

/// <summary>Reads what the team already owns of a person (no provider is called for it).</summary>
public sealed class LookupOwnedActivity(ContactStore contacts) : TaskActivity<OwnedQuery, OwnedData?>
{
    /// <inheritdoc />
    public override async Task<OwnedData?> RunAsync(TaskActivityContext context, OwnedQuery input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var contact = await contacts.GetAsync(input.TeamId, input.PersonId).ConfigureAwait(false);
        return input.Data == WaterfallData.Email
            ? contact?.Email is { } email ? new OwnedData(email, contact.EmailProvider, contact.EmailVerification) : null
            : contact?.Mobile is { } mobile ? new OwnedData(mobile, contact.MobileProvider, null) : null;
    }
}

/// <summary>Asks one provider for one capability (the provider layer retries, honours 429 and skips open circuits).</summary>
public sealed class AskProviderActivity(ProviderCaller providers, EnrichmentSettingsStore settings) : TaskActivity<ProviderQuestion, ProviderAnswer>
{
    /// <inheritdoc />
    public override async Task<ProviderAnswer> RunAsync(TaskActivityContext context, ProviderQuestion input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var team = await settings.GetRecentAsync(input.TeamId, WaterfallActivityNames.SettingsMaxAge, context.CancellationToken).ConfigureAwait(false);
        var outcome = await providers.LookupAsync(input.Provider, input.Capability, input.Person, settings.ResolveKey(input.TeamId, team, input.Provider),
            context.CancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            ProviderHit hit => new ProviderAnswer("hit", input.Capability == ProviderCapabilities.Email ? hit.Data.Email : hit.Data.Phone),
            ProviderMiss => new ProviderAnswer("miss"),
            ProviderFailed failed => new ProviderAnswer("error", Detail: failed.Kind.ToString()),
            _ => new ProviderAnswer("error", Detail: "UnexpectedAnswer"),
        };
    }
}

/// <summary>Verifies an email with the verifier.</summary>
public sealed class VerifyEmailActivity(ProviderCaller providers, EnrichmentSettingsStore settings) : TaskActivity<VerifyQuestion, ProviderAnswer>
{
    /// <inheritdoc />
    public override async Task<ProviderAnswer> RunAsync(TaskActivityContext context, VerifyQuestion input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var team = await settings.GetRecentAsync(input.TeamId, WaterfallActivityNames.SettingsMaxAge, context.CancellationToken).ConfigureAwait(false);
        var outcome = await providers.VerifyEmailAsync(input.Verifier, input.Email, settings.ResolveKey(input.TeamId, team, input.Verifier), context.CancellationToken)
            .ConfigureAwait(false);
        return outcome switch
        {
            ProviderVerified verified => new ProviderAnswer("verified", Detail: VerificationName(verified.Status)),
            ProviderFailed failed => new ProviderAnswer("error", Detail: failed.Kind.ToString()),
            _ => new ProviderAnswer("verified", Detail: "unknown"),
        };
    }

    /// <summary>The API name of a verification status.</summary>
    public static string VerificationName(EmailVerificationStatus status) => status switch
    {
        EmailVerificationStatus.Valid => "valid",
        EmailVerificationStatus.CatchAll => "catch_all",
        EmailVerificationStatus.Invalid => "invalid",
        _ => "unknown",
    };
}

/// <summary>
/// Charges an accepted hit through the ledger and records the data with its provenance. The idempotency key is the
/// activity's step key, so a retried or redelivered activity charges once; the ledger records ownership in the same
/// transaction, so data the team already owns costs a 0-credit line.
/// </summary>
public sealed class ChargeHitActivity(LedgerService ledger, ContactStore contacts, TimeProvider clock) : TaskActivity<HitToCharge, ChargeAnswer>
{
    /// <summary>Tests set this to fail the activity right after the ledger charged, as a crash would.</summary>
    internal static Func<HitToCharge, bool>? FailAfterChargeForTests { get; set; }

    /// <inheritdoc />
    public override async Task<ChargeAnswer> RunAsync(TaskActivityContext context, HitToCharge input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        var result = await ledger.ChargeAsync(new ChargeRequest(input.TeamId, input.UserId, input.Feature, input.Action, "wf:" + context.StepKey)
        {
            SubjectId = input.PersonId,
            Description = input.Name is null ? $"{input.Data} of {input.PersonId}" : $"{input.Data} of {input.Name}",
            RelatedRecord = "waterfall:" + input.RunId,
            HoldId = input.HoldId,
        }).ConfigureAwait(false);
        if (FailAfterChargeForTests?.Invoke(input) == true && context.Attempt == 1 && context.DeliveryCount == 1)
        {
            throw new IOException("Injected failure after the charge (as if the worker died).");
        }
        if (result.Status is LedgerStatus.Charged or LedgerStatus.AlreadyOwned)
        {
            var now = clock.GetUtcNow();
            if (input.Data == WaterfallData.Email)
            {
                await contacts.RecordEmailAsync(input.TeamId, input.PersonId, input.Name, input.Value, input.Provider, input.Verification,
                    result.Status == LedgerStatus.Charged ? result.LineId : null, now).ConfigureAwait(false);
            }
            else
            {
                await contacts.RecordMobileAsync(input.TeamId, input.PersonId, input.Name, input.Value, input.Provider,
                    result.Status == LedgerStatus.Charged ? result.LineId : null, now).ConfigureAwait(false);
            }
        }
        return new ChargeAnswer(StatusName(result.Status), result.Status == LedgerStatus.Charged ? result.Amount.Value : 0m, result.LineId);
    }

    private static string StatusName(LedgerStatus status) => status switch
    {
        LedgerStatus.Charged => "found",
        LedgerStatus.AlreadyOwned => "already_owned",
        LedgerStatus.InsufficientCredits => "insufficient_credits",
        _ => "charge_refused:" + status,
    };
}

/// <summary>Releases what is left of a run's holds (voiding a partly drawn hold releases only the rest).</summary>
public sealed class ReleaseHoldsActivity(LedgerService ledger) : TaskActivity<HoldsToRelease, int>
{
    /// <inheritdoc />
    public override async Task<int> RunAsync(TaskActivityContext context, HoldsToRelease input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var released = 0;
        foreach (var hold in input.HoldIds)
        {
            var result = await ledger.VoidHoldAsync(new VoidRequest(input.TeamId, input.UserId, hold, $"release:{hold}")).ConfigureAwait(false);
            released += result.Status == LedgerStatus.HoldVoided ? 1 : 0;
        }
        return released;
    }
}

/// <summary>Posts a run's results to its webhook, signed; a non-2xx answer throws so the orchestration retries.</summary>
public sealed class SendWebhookActivity(WebhookSender sender) : TaskActivity<WebhookDelivery, int>
{
    /// <inheritdoc />
    public override Task<int> RunAsync(TaskActivityContext context, WebhookDelivery input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        return sender.SendAsync(input.TeamId, input.Url, input.Body, context.StepKey, context.CancellationToken);
    }
}
