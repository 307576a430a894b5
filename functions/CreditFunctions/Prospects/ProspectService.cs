using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;

namespace CreditFunctions.Prospects;

/// <summary>A lead of a request: the team's contact by id, or a person by identifiers (resolved through the contact identity).</summary>
public sealed record LeadInput(string? ContactId, PersonInput? Person);

/// <summary>What to do with the leads.</summary>
/// <param name="Type"><c>add_to_list</c>, <c>export_to_crm</c> or <c>add_to_sequence</c>.</param>
/// <param name="TargetId">The list or the sequence.</param>
/// <param name="TargetName">Its name (for the usage lines' description).</param>
public sealed record ProspectAction(string Type, string? TargetId = null, string? TargetName = null)
{
    /// <summary>Add the leads to a list.</summary>
    public const string AddToList = "add_to_list";

    /// <summary>Push the leads to the team's CRM.</summary>
    public const string ExportToCrm = "export_to_crm";

    /// <summary>Enroll the leads in a sequence.</summary>
    public const string AddToSequence = "add_to_sequence";

    /// <summary>The known types.</summary>
    public static IReadOnlyList<string> Types { get; } = [AddToList, ExportToCrm, AddToSequence];

    /// <summary>The catalog action a lead's email is charged under when this action comes first.</summary>
    public string CatalogAction => Type switch
    {
        AddToList => "add_to_list",
        ExportToCrm => "crm_export",
        _ => "sequence_enrollment",
    };

    /// <summary>How the usage line's description names it.</summary>
    public string Describe() => Type switch
    {
        AddToList => $"added to list '{TargetName}'",
        ExportToCrm => "exported to CRM",
        _ => $"added to sequence '{TargetName}'",
    };
}

/// <summary>What one action did for one lead.</summary>
/// <param name="Type">The action.</param>
/// <param name="Status"><c>added</c>, <c>already_member</c>, <c>enrolled</c>, <c>already_enrolled</c>, <c>skipped_no_email</c>,
/// <c>exported</c>, <c>updated</c> (the CRM had the lead), <c>failed</c> (the CRM was unreachable; exporting again costs
/// nothing, the email is owned now), or for a dry run <c>would_apply</c>.</param>
/// <param name="TargetId">The list or the sequence.</param>
/// <param name="CrmId">The CRM's record id.</param>
public sealed record ActionOutcome(string Type, string Status, string? TargetId = null, long? CrmId = null);

/// <summary>One lead's outcome.</summary>
/// <param name="Index">Its position in the request.</param>
/// <param name="ContactId">The team's contact.</param>
/// <param name="Status"><c>enriched</c> (its email found and bought now), <c>owned</c> (the team had it: 0 credits),
/// <c>not_found</c> (no email found: 0 credits, the actions still apply but a sequence), <c>unknown_contact</c> (no such
/// contact id in the team: nothing done); a dry run says <c>owned</c> or <c>would_enrich</c>.</param>
/// <param name="Email">The lead's email.</param>
/// <param name="Credits">What this lead cost (a dry run: at most).</param>
/// <param name="Actions">What each action did.</param>
public sealed record LeadOutcome(int Index, string? ContactId, string Status, string? Email, decimal Credits, IReadOnlyList<ActionOutcome> Actions);

/// <summary>The outcome of a request.</summary>
public sealed record ProspectResult(bool DryRun, decimal Credits, IReadOnlyList<LeadOutcome> Leads);

/// <summary>A list or sequence the request names is not the team's: nothing was done.</summary>
public sealed class ProspectTargetNotFoundException(string field, string message) : Exception(message)
{
    /// <summary>The request field naming it.</summary>
    public string Field { get; } = field;
}

/// <summary>
/// The prospecting actions: adding leads to lists and sequences and exporting them to the CRM, alone or combined. A
/// lead's email is bought once (DOMAIN rules 2, 3 and 6): a lead whose email the team owns costs nothing and asks no
/// provider; any other is looked up through the team's email waterfall and costs 1 email credit, under the first action
/// of the request, only when an email is found — whichever actions are combined.
/// </summary>
/// <remarks>
/// A request holds what it can cost at most (1 per lead not owned) before any provider is asked: short, it is 402
/// and nothing is held, asked or written. Charges are drawn from the hold, which is voided at the end on every path.
/// Charge keys derive from the request's idempotency key, so a retried request (or one whose process died) answers the
/// first charges; with a key, the first outcome is stored and answered again.
/// </remarks>
public sealed class ProspectService(ProspectStore store, ContactStore contacts, WaterfallEngine engine, EnrichmentSettingsStore settings,
    LedgerService ledger, CrmClient crm, TimeProvider clock)
{
    /// <summary>Most leads in one request (the request waits for the lookups).</summary>
    public const int LeadsMax = 500;

    /// <summary>The catalog feature of lists, sequences and CRM exports.</summary>
    public const string Feature = "prospecting";

    /// <summary>Applies <paramref name="actions"/> to <paramref name="leads"/> (see the class remarks).</summary>
    /// <exception cref="ProspectTargetNotFoundException">A list or sequence is not the team's.</exception>
    /// <exception cref="WaterfallRefusedException">The balance (or the member's limit) is short of the maximum; nothing was done.</exception>
    /// <exception cref="IdempotencyKeyReusedException">The key came with another request.</exception>
    /// <exception cref="CrmUnavailableException">A CRM export was asked and no CRM is configured.</exception>
    public async Task<ProspectResult> ApplyAsync(string teamId, string userId, IReadOnlyList<LeadInput> leads, IReadOnlyList<ProspectAction> actions, bool dryRun,
        string? idempotencyKey, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(leads);
        ArgumentNullException.ThrowIfNull(actions);
        var named = await NameTargetsAsync(teamId, actions, ct).ConfigureAwait(false);
        if (named.Any(a => a.Type == ProspectAction.ExportToCrm) && !crm.Configured)
        {
            throw new CrmUnavailableException("No CRM is configured; nothing was charged.");
        }
        var fingerprint = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(new { leads, actions = named.Select(a => (a.Type, a.TargetId)) },
            JsonSerializerOptions.Web)));
        var requestId = idempotencyKey is null ? Guid.NewGuid().ToString("N") : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(teamId + "\n" + idempotencyKey)))[..32];
        if (idempotencyKey is not null && !dryRun)
        {
            var claim = await contacts.ClaimRequestAsync(teamId, "prospects:" + idempotencyKey, fingerprint, ct).ConfigureAwait(false);
            if (!claim.Same)
            {
                throw new IdempotencyKeyReusedException();
            }
            if (claim.StoredResult is { } stored)
            {
                return JsonSerializer.Deserialize<ProspectResult>(stored, JsonSerializerOptions.Web)!;
            }
        }
        var resolved = await ResolveAsync(teamId, leads, ct).ConfigureAwait(false);
        var toBuy = resolved.Count(r => r.Known && r.Contact?.Email is null && r.Person is not null);
        if (dryRun)
        {
            return new ProspectResult(true, toBuy, [.. resolved.Select(r => new LeadOutcome(r.Index, r.ContactId,
                !r.Known ? "unknown_contact" : r.Contact?.Email is not null ? "owned" : r.Person is null ? "not_found" : "would_enrich",
                r.Contact?.Email, r.Known && r.Contact?.Email is null && r.Person is not null ? 1m : 0m,
                r.Known ? [.. named.Select(a => new ActionOutcome(a.Type, "would_apply", a.TargetId))] : []))]);
        }

        var first = named[0];
        var run = new WaterfallRun
        {
            RunId = "pa-" + requestId, TeamId = teamId, UserId = userId, Data = [WaterfallData.Email], People = [],
            Plan = new ChargePlan(Feature, first.CatalogAction, first.CatalogAction),
            RelatedRecord = "prospects:" + requestId,
        };
        var result = await BuyEmailsAsync(run, resolved, toBuy, string.Join(", ", named.Select(a => a.Describe())), ct).ConfigureAwait(false);
        var outcomes = await ApplyActionsAsync(teamId, userId, resolved, result, named, ct).ConfigureAwait(false);
        var answer = new ProspectResult(false, outcomes.Sum(o => o.Credits), outcomes);
        if (idempotencyKey is not null)
        {
            await contacts.SaveRequestResultAsync(teamId, "prospects:" + idempotencyKey, JsonSerializer.Serialize(answer, JsonSerializerOptions.Web), ct)
                .ConfigureAwait(false);
        }
        return answer;
    }

    /// <summary>The leads resolved to the team's contacts: a contact id must be the team's; a person resolves through the
    /// contact identity (a new person gets the id the waterfall will keep them under).</summary>
    internal async Task<IReadOnlyList<ResolvedLead>> ResolveAsync(string teamId, IReadOnlyList<LeadInput> leads, CancellationToken ct)
    {
        var resolved = new ResolvedLead[leads.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, leads.Count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (i, token) =>
        {
            var lead = leads[i];
            if (lead.Person is null)
            {
                var stored = await contacts.GetAsync(teamId, lead.ContactId!, token).ConfigureAwait(false);
                resolved[i] = new ResolvedLead(i, lead.ContactId!, stored is not null, null, stored, new HashSet<string>());
                return;
            }
            var who = new WaterfallPerson(i, WaterfallPerson.IdFor(lead.Person), lead.Person.Normalize());
            (who, var identifiers) = await engine.ResolveAsync(teamId, who, token).ConfigureAwait(false);
            resolved[i] = new ResolvedLead(i, who.PersonId, true, who, await contacts.GetAsync(teamId, who.PersonId, token).ConfigureAwait(false), identifiers);
        }).ConfigureAwait(false);
        return resolved;
    }

    /// <summary>
    /// Runs the email waterfall for the leads with identifiers (owned ones cost a 0-credit line and ask no provider),
    /// charged under <paramref name="run"/>'s plan and drawn from a hold of <paramref name="toBuy"/> credits; returns the
    /// result per lead index. The hold is voided on every path.
    /// </summary>
    internal async Task<IReadOnlyDictionary<int, PersonResult>> BuyEmailsAsync(WaterfallRun run, IReadOnlyList<ResolvedLead> leads, int toBuy, string context,
        CancellationToken ct)
    {
        var people = leads.Where(l => l.Person is not null).Select(l => l.Person!).ToList();
        if (people.Count == 0)
        {
            return new Dictionary<int, PersonResult>();
        }
        string? holdId = null;
        if (toBuy > 0)
        {
            holdId = await HoldAsync(run, WaterfallData.Email, toBuy, context, ct).ConfigureAwait(false);
        }
        try
        {
            var team = await settings.GetRecentAsync(run.TeamId, WaterfallEngine.SettingsMaxAge, ct).ConfigureAwait(false);
            run = run with
            {
                People = people, HoldIds = holdId is null ? null : new Dictionary<string, string> { ["email"] = holdId },
                EmailProviders = team.EmailProviders, MobileProviders = team.MobileProviders, Verifier = team.Verifier, VerifyEmails = team.VerifyEmails,
                ChargeContext = context,
            };
            return await RunResolvedAsync(run, team, leads, $"{run.RunId}:{run.TeamId}", ct).ConfigureAwait(false);
        }
        finally
        {
            if (holdId is not null)
            {
                await ledger.VoidHoldAsync(new VoidRequest(run.TeamId, run.UserId, holdId, "release:" + holdId)).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The waterfall for the leads with identifiers, on what <see cref="ResolveAsync"/> read already (the contact
    /// identity and the stored contact are not read again), at most <see cref="WaterfallEngine.PeopleInFlightMax"/> at
    /// once; charge keys start with <paramref name="chargeKeyPrefix"/> and end with the lead's index.</summary>
    internal async Task<IReadOnlyDictionary<int, PersonResult>> RunResolvedAsync(WaterfallRun run, EnrichmentSettings team, IReadOnlyList<ResolvedLead> leads,
        string chargeKeyPrefix, CancellationToken ct)
    {
        var results = new System.Collections.Concurrent.ConcurrentDictionary<int, PersonResult>();
        await Parallel.ForEachAsync(leads.Where(l => l.Person is not null),
            new ParallelOptions { MaxDegreeOfParallelism = WaterfallEngine.PeopleInFlightMax, CancellationToken = ct }, async (lead, token) =>
                results[lead.Index] = await engine.RunOneAsync(run, team, lead.Person!, lead.KnownIdentifiers, lead.Contact, chargeKeyPrefix, token)
                    .ConfigureAwait(false)).ConfigureAwait(false);
        return results;
    }

    /// <summary>Holds <paramref name="count"/> credits of <paramref name="data"/> for <paramref name="run"/>.</summary>
    /// <exception cref="WaterfallRefusedException">The balance or the member's limit is short: nothing held.</exception>
    internal async Task<string> HoldAsync(WaterfallRun run, string data, int count, string context, CancellationToken ct)
    {
        var (feature, action) = run.Plan.For(data);
        var amount = new Credits(count * Credits.Scale);
        var hold = await ledger.PlaceHoldAsync(new HoldRequest(run.TeamId, run.UserId, feature, action, amount, clock.GetUtcNow().AddHours(1),
            $"{run.RunId}:hold:{data}")
        {
            Description = $"{count} leads at most ({context})", RelatedRecord = run.RelatedRecord,
        }).ConfigureAwait(false);
        return hold.Status switch
        {
            LedgerStatus.HoldPlaced => hold.HoldId!,
            LedgerStatus.SpendLimitReached => throw new WaterfallRefusedException(WaterfallData.CreditType(data), amount, hold.SpendLimit ?? Credits.Zero)
            {
                SpendLimited = true,
            },
            LedgerStatus.InsufficientCredits => throw new WaterfallRefusedException(WaterfallData.CreditType(data), amount,
                hold.AvailableAfter ?? amount - (hold.Shortfall ?? amount)),
            _ => throw new InvalidOperationException($"The hold was not placed ({hold.Status})."),
        };
    }

    private async Task<IReadOnlyList<ProspectAction>> NameTargetsAsync(string teamId, IReadOnlyList<ProspectAction> actions, CancellationToken ct)
    {
        var named = new List<ProspectAction>(actions.Count);
        for (var i = 0; i < actions.Count; i++)
        {
            var action = actions[i];
            if (action.Type == ProspectAction.ExportToCrm)
            {
                named.Add(action);
                continue;
            }
            var kind = action.Type == ProspectAction.AddToList ? CollectionKind.List : CollectionKind.Sequence;
            var target = await store.GetAsync(teamId, kind, action.TargetId ?? string.Empty, ct).ConfigureAwait(false)
                ?? throw new ProspectTargetNotFoundException(actions.Count == 1 ? "id" : $"actions[{i}]",
                    $"No {(kind == CollectionKind.List ? "list" : "sequence")} '{action.TargetId}' in this team.");
            named.Add(action with { TargetName = target.Name });
        }
        return named;
    }

    private async Task<IReadOnlyList<LeadOutcome>> ApplyActionsAsync(string teamId, string userId, IReadOnlyList<ResolvedLead> leads,
        IReadOnlyDictionary<int, PersonResult> bought, IReadOnlyList<ProspectAction> actions, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var views = leads.Select(lead =>
        {
            if (!lead.Known)
            {
                return new LeadView(lead, "unknown_contact", null, 0m);
            }
            var email = bought.GetValueOrDefault(lead.Index)?.Email;
            return email switch
            {
                { Status: "found", Credits: > 0 } => new LeadView(lead, "enriched", email.Value, email.Credits),
                { Status: "found" or "already_owned" } => new LeadView(lead, "owned", email.Value, 0m),
                _ when lead.Contact?.Email is { } owned => new LeadView(lead, "owned", owned, 0m),
                _ => new LeadView(lead, "not_found", null, 0m),
            };
        }).ToList();
        var crmResults = new Dictionary<string, CrmPushResult>(StringComparer.Ordinal);
        var crmFailed = false;
        if (actions.Any(a => a.Type == ProspectAction.ExportToCrm))
        {
            var pushed = views.Where(v => v.Status != "unknown_contact").Select(v => ToCrm(v.Lead, v.Email)).DistinctBy(c => c.ExternalId).ToList();
            try
            {
                crmResults = new Dictionary<string, CrmPushResult>(await crm.PushAsync(pushed, ct).ConfigureAwait(false), StringComparer.Ordinal);
            }
            catch (CrmUnavailableException)
            {
                crmFailed = true;
            }
        }
        var outcomes = new LeadOutcome[views.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, views.Count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (i, token) =>
        {
            var (lead, status, email, credits) = views[i];
            var done = new List<ActionOutcome>(actions.Count);
            if (status != "unknown_contact")
            {
                foreach (var action in actions)
                {
                    done.Add(action.Type switch
                    {
                        ProspectAction.ExportToCrm => crmFailed || !crmResults.TryGetValue(lead.ContactId, out var pushed)
                            ? new ActionOutcome(action.Type, "failed")
                            : new ActionOutcome(action.Type, pushed.Created ? "exported" : "updated", CrmId: pushed.Id),
                        ProspectAction.AddToSequence when email is null => new ActionOutcome(action.Type, "skipped_no_email", action.TargetId),
                        _ => new ActionOutcome(action.Type,
                            await store.AddMemberAsync(teamId, action.TargetId!, Member(lead, email, userId, now), token).ConfigureAwait(false)
                                ? (action.Type == ProspectAction.AddToList ? "added" : "enrolled")
                                : (action.Type == ProspectAction.AddToList ? "already_member" : "already_enrolled"),
                            action.TargetId),
                    });
                }
            }
            outcomes[i] = new LeadOutcome(lead.Index, lead.ContactId, status, email, credits, done);
        }).ConfigureAwait(false);
        return outcomes;
    }

    private sealed record LeadView(ResolvedLead Lead, string Status, string? Email, decimal Credits);

    private static MemberRow Member(ResolvedLead lead, string? email, string userId, DateTimeOffset now) => new()
    {
        ContactId = lead.ContactId, Name = NameOf(lead), Email = email, AddedAt = now, AddedBy = userId,
        InputJson = lead.Person is { } p ? JsonSerializer.Serialize(p.Input, JsonSerializerOptions.Web) : null,
    };

    private static CrmContact ToCrm(ResolvedLead lead, string? email) =>
        new(lead.ContactId, email, lead.Person?.Input.FirstName, lead.Person?.Input.LastName, lead.Person?.Input.CompanyDomain, lead.Contact?.Mobile);

    internal static string? NameOf(ResolvedLead lead) =>
        lead.Person?.Input is { } p ? (p.FullName ?? $"{p.FirstName} {p.LastName}".Trim()) is { Length: > 0 } name ? name : null : lead.Contact?.Name;
}

/// <summary>A lead resolved to the team's contact.</summary>
/// <param name="Index">Its position in the request.</param>
/// <param name="ContactId">The contact id.</param>
/// <param name="Known">False for a contact id the team does not have.</param>
/// <param name="Person">The person to look up (null for a lead given by contact id: only what the team has).</param>
/// <param name="Contact">The team's record of the contact.</param>
/// <param name="KnownIdentifiers">Which of the lead's identifiers the contact identity knows already.</param>
internal sealed record ResolvedLead(int Index, string ContactId, bool Known, WaterfallPerson? Person, ContactRecord? Contact,
    IReadOnlySet<string> KnownIdentifiers);
