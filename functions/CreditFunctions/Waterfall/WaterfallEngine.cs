using CreditFunctions.Ledger;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>
/// The waterfall for some people, as plain code (no orchestration): for each person and each data asked for, (1) data
/// the team owns is returned and recorded as a 0-credit line without asking any provider; (2) otherwise the team's
/// providers are asked in order, an email hit is verified (<c>invalid</c> counts as a miss, <c>catch_all</c> is
/// accepted and labelled), and the first accepted hit is charged and stored; (3) no hit costs nothing.
/// </summary>
/// <remarks>
/// At-least-once: a chunk may run again after a crash or a retry. Every charge carries a key made from the caller's
/// key prefix, the person's index and the data, so a repeat charges nothing more and answers the first result (its
/// data may come from another provider the second time; what was charged stays what it was).
/// </remarks>
public sealed class WaterfallEngine(LedgerService ledger, ContactStore contacts, ContactIdentity identity, ProviderCaller providers,
    EnrichmentSettingsStore settings, TimeProvider clock)
{
    /// <summary>People of one chunk looked up at once; each person's providers are asked one after another.</summary>
    public const int PeopleInFlightMax = 32;

    /// <summary>How old the team's settings (its own provider keys) read during a run may be.</summary>
    public static TimeSpan SettingsMaxAge { get; } = TimeSpan.FromSeconds(5);

    /// <summary>Tests set this to fail right after the ledger charged a hit, as a crash would (return true to fail).</summary>
    internal static Func<string, bool>? FailAfterChargeForTests { get; set; }

    /// <summary>Runs <paramref name="people"/> of <paramref name="run"/>, at most <see cref="PeopleInFlightMax"/> at once.
    /// Charge keys start with <paramref name="chargeKeyPrefix"/>.</summary>
    public async Task<IReadOnlyList<PersonResult>> RunAsync(WaterfallRun run, IReadOnlyList<WaterfallPerson> people, string chargeKeyPrefix,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(people);
        var team = await settings.GetRecentAsync(run.TeamId, SettingsMaxAge, cancellationToken).ConfigureAwait(false);
        var results = new PersonResult[people.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, people.Count),
            new ParallelOptions { MaxDegreeOfParallelism = PeopleInFlightMax, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var (person, known) = await ResolveAsync(run.TeamId, people[i], ct).ConfigureAwait(false);
                var contact = await contacts.GetAsync(run.TeamId, person.PersonId, ct).ConfigureAwait(false);
                results[i] = await RunPersonAsync(run, team, person, known, contact, chargeKeyPrefix, ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
        return results;
    }

    /// <summary>The same person however the request spells them: a known identifier picks the team's contact. Also
    /// which of the request's identifiers the index knows already.</summary>
    public async Task<(WaterfallPerson Person, IReadOnlySet<string> Known)> ResolveAsync(string teamId, WaterfallPerson person, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(person);
        var match = await identity.ResolveAsync(teamId, ContactIdentity.IdentifiersOf(person.Input), cancellationToken).ConfigureAwait(false);
        return (match.PersonId is { } id ? person with { PersonId = id } : person, match.Known);
    }

    /// <summary>
    /// One person, already resolved (<see cref="ResolveAsync"/>), whose team settings and stored contact the caller has just read (a reveal reads them to check the
    /// balance before any provider is called): the same as <see cref="RunAsync"/> for that person, without reading them
    /// again. Charge keys start with <paramref name="chargeKeyPrefix"/>.
    /// </summary>
    public Task<PersonResult> RunOneAsync(WaterfallRun run, EnrichmentSettings team, WaterfallPerson person, IReadOnlySet<string> knownIdentifiers,
        ContactRecord? contact, string chargeKeyPrefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(team);
        ArgumentNullException.ThrowIfNull(person);
        ArgumentNullException.ThrowIfNull(knownIdentifiers);
        return RunPersonAsync(run, team, person, knownIdentifiers, contact, chargeKeyPrefix, cancellationToken);
    }

    private async Task<PersonResult> RunPersonAsync(WaterfallRun run, EnrichmentSettings team, WaterfallPerson person, IReadOnlySet<string> known,
        ContactRecord? contact, string prefix, CancellationToken ct)
    {
        var email = run.Data.Contains(WaterfallData.Email) ? FindAsync(run, team, person, contact, WaterfallData.Email, prefix, ct) : Task.FromResult<DataResult?>(null);
        var mobile = run.Data.Contains(WaterfallData.Mobile) ? FindAsync(run, team, person, contact, WaterfallData.Mobile, prefix, ct) : Task.FromResult<DataResult?>(null);
        var (emailResult, mobileResult) = (await email.ConfigureAwait(false), await mobile.ConfigureAwait(false));
        // What was learned about the contact is linked to it, so the next request that brings any of it finds it.
        // Only what the index did not know: a contact seen again costs no write.
        var learned = ContactIdentity.IdentifiersOf(person.Input, emailResult?.Value, mobileResult?.Value).Where(id => !known.Contains(id)).ToList();
        if (learned.Count > 0)
        {
            await identity.LinkAsync(run.TeamId, person.PersonId, learned, ct).ConfigureAwait(false);
        }
        return new PersonResult(person.Index, person.PersonId, emailResult, mobileResult);
    }

    private async Task<DataResult?> FindAsync(WaterfallRun run, EnrichmentSettings team, WaterfallPerson person, ContactRecord? contact, string data,
        string prefix, CancellationToken ct)
    {
        var key = $"{prefix}:{person.Index}:{data}";
        var owned = data == WaterfallData.Email
            ? contact?.Email is { } e ? (Value: e, contact.EmailProvider, contact.EmailVerification) : default
            : contact?.Mobile is { } m ? (Value: m, contact.MobileProvider, (string?)null) : default;
        var holdId = run.HoldIds?.GetValueOrDefault(WaterfallData.CreditType(data));
        if (owned.Value is not null)
        {
            // Rule 2: owned data costs nothing; the ledger still records a 0-credit line for the action. The charge has
            // the very parameters a hit's would (hold included), so when this step bought the data itself in an attempt
            // that crashed after charging, the ledger answers that first purchase and the result says "found", once.
            var line = await ChargeAsync(run, person, data, owned.Value, owned.Item2 ?? "owned", owned.Item3, holdId, key, ct).ConfigureAwait(false);
            return line.Status == "found"
                ? new DataResult { Status = "found", Value = owned.Value, Provider = owned.Item2, Verification = owned.Item3, Credits = line.Credits, LineId = line.LineId }
                : new DataResult { Status = "already_owned", Value = owned.Value, Provider = owned.Item2, Verification = owned.Item3, LineId = line.LineId };
        }

        var tried = new List<ProviderAttempt>();
        var capability = WaterfallData.Capability(data);
        foreach (var provider in data == WaterfallData.Email ? run.EmailProviders : run.MobileProviders)
        {
            var outcome = await providers.LookupAsync(provider, capability, person.Input, settings.ResolveKey(run.TeamId, team, provider), run.TeamId, ct).ConfigureAwait(false);
            if (outcome is not ProviderHit hit || (capability == ProviderCapabilities.Email ? hit.Data.Email : hit.Data.Phone) is not { } value)
            {
                tried.Add(new ProviderAttempt(provider, outcome switch
                {
                    ProviderMiss or ProviderHit => "miss",
                    _ => "error",
                }, (outcome as ProviderFailed)?.Kind.ToString()));
                continue;
            }
            string? verification = null;
            if (data == WaterfallData.Email && run.VerifyEmails && run.Verifier is { } verifier)
            {
                var verdict = await providers.VerifyEmailAsync(verifier, value, settings.ResolveKey(run.TeamId, team, verifier), run.TeamId, ct).ConfigureAwait(false);
                verification = verdict is ProviderVerified verified ? VerificationName(verified.Status) : "unknown";
                if (verification == "invalid")
                {
                    tried.Add(new ProviderAttempt(provider, "invalid", verification));
                    continue;
                }
            }
            tried.Add(new ProviderAttempt(provider, "hit", verification));
            // The email or number found may be a known contact's: then it is that contact, whose data the team may own.
            var subject = ContactIdentity.ForFound(data, value) is { } found
                && (await identity.ResolveAsync(run.TeamId, [found], ct).ConfigureAwait(false)).PersonId is { } owner && owner != person.PersonId
                ? person with { PersonId = owner }
                : person;
            var charge = await ChargeAsync(run, subject, data, value, provider, verification, holdId, key, ct).ConfigureAwait(false);
            return charge.Status is "found" or "already_owned"
                ? new DataResult { Status = charge.Status, Value = value, Provider = provider, Verification = verification, Credits = charge.Credits, LineId = charge.LineId, Tried = tried }
                : new DataResult { Status = charge.Status, Tried = tried };
        }
        return new DataResult { Status = "not_found", Tried = tried };
    }

    /// <summary>Charges an accepted hit (the ledger records ownership in the same transaction, so owned data costs a
    /// 0-credit line) and records the data with its provenance.</summary>
    private async Task<(string Status, decimal Credits, string? LineId)> ChargeAsync(WaterfallRun run, WaterfallPerson person, string data, string value,
        string provider, string? verification, string? holdId, string key, CancellationToken ct)
    {
        var (feature, action) = run.Plan.For(data);
        var name = person.Input.FullName ?? $"{person.Input.FirstName} {person.Input.LastName}".Trim();
        var result = await ledger.ChargeAsync(new ChargeRequest(run.TeamId, run.UserId, feature, action, key)
        {
            SubjectId = person.PersonId,
            Description = (run.ChargeDescriptions?.GetValueOrDefault(data) ?? (name.Length == 0 ? $"{data} of {person.PersonId}" : $"{data} of {name}"))
                + (run.ChargeContext is { } context ? " — " + context : string.Empty),
            RelatedRecord = run.RelatedRecord ?? "waterfall:" + run.RunId,
            HoldId = holdId,
            RollUp = run.RollUpCharges && holdId is not null,
        }).ConfigureAwait(false);
        if (FailAfterChargeForTests?.Invoke(person.PersonId) == true)
        {
            throw new IOException("Injected failure after the charge (as if the worker died).");
        }
        if (result.Status is LedgerStatus.Charged or LedgerStatus.AlreadyOwned)
        {
            var lineId = result.Status == LedgerStatus.Charged ? result.LineId : null;
            var now = clock.GetUtcNow();
            var recorded = data == WaterfallData.Email
                ? contacts.RecordEmailAsync(run.TeamId, person.PersonId, name.Length == 0 ? null : name, value, provider, verification, lineId, now, ct)
                : contacts.RecordMobileAsync(run.TeamId, person.PersonId, name.Length == 0 ? null : name, value, provider, lineId, now, ct);
            await recorded.ConfigureAwait(false);
        }
        return (StatusName(result.Status), result.Status == LedgerStatus.Charged ? result.Amount.Value : 0m, result.LineId);
    }

    /// <summary>The API name of a verification status.</summary>
    public static string VerificationName(EmailVerificationStatus status) => status switch
    {
        EmailVerificationStatus.Valid => "valid",
        EmailVerificationStatus.CatchAll => "catch_all",
        EmailVerificationStatus.Invalid => "invalid",
        _ => "unknown",
    };

    private static string StatusName(LedgerStatus status) => status switch
    {
        LedgerStatus.Charged => "found",
        LedgerStatus.AlreadyOwned => "already_owned",
        LedgerStatus.InsufficientCredits => "insufficient_credits",
        LedgerStatus.SpendLimitReached => "spend_limit_reached",
        _ => "charge_refused:" + status,
    };
}
