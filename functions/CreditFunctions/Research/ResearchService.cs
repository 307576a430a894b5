using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;

namespace CreditFunctions.Research;

/// <summary>A research summary as stored for a team: one row per subject in the team's partition of the contact store.</summary>
public sealed class ResearchRecord : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary><c>person</c> or <c>company</c>.</summary>
    public string Kind { get; set; } = string.Empty;

    /// <summary>Who or what was researched, as the team named it.</summary>
    public string Subject { get; set; } = string.Empty;

    /// <summary>The summary.</summary>
    public string Summary { get; set; } = string.Empty;

    /// <summary>Which provider wrote it.</summary>
    public string Provider { get; set; } = string.Empty;

    /// <summary>When it was bought.</summary>
    public DateTimeOffset ResearchedAt { get; set; }

    /// <summary>How many times this subject was bought (each purchase its own charge key).</summary>
    public int Generation { get; set; }

    /// <summary>The charge line of the purchase.</summary>
    public string? ChargeId { get; set; }
}

/// <summary>The outcome of a research request.</summary>
/// <param name="Status"><c>researched</c> (bought now), <c>stored</c> (a summary of the last 30 days, free),
/// <c>not_found</c> (nothing charged), <c>insufficient_credits</c> or <c>spend_limit_reached</c> (nothing charged, no provider asked).</param>
/// <param name="Kind"><c>person</c> or <c>company</c>.</param>
/// <param name="Summary">The summary, when there is one.</param>
/// <param name="Provider">Who wrote it.</param>
/// <param name="ResearchedAt">When it was bought.</param>
/// <param name="Credits">What this request charged.</param>
/// <param name="ChargeId">The charge line, when this request charged.</param>
public sealed record ResearchResult(string Status, string Kind, string? Summary, string? Provider, DateTimeOffset? ResearchedAt, decimal Credits, string? ChargeId);

/// <summary>The provider could not be reached or failed: nothing was charged; retry later.</summary>
public sealed class ResearchUnavailableException(string message) : Exception(message);

/// <summary>
/// AI research on a person or a company: a research provider writes a summary, charged 1 <c>ai_research</c> credit
/// (*AI research* / *Person research* or *Company research*) only when it returns one. The same subject again within
/// <see cref="StoredFor"/> answers the stored summary at no cost and calls no provider, unless a refresh is asked for.
/// A person is the team's contact (the contact identity resolves their identifiers), a company its domain.
/// </summary>
/// <remarks>
/// Each purchase of a subject is a generation; its charge's key is the team, the subject and the generation, so two
/// requests racing for the same subject charge once (the second's charge answers the first's), and a stored summary
/// is written only over the generation it was read at.
/// </remarks>
public sealed class ResearchService(ContactStore contacts, WaterfallEngine engine, ProviderCaller providers, EnrichmentSettingsStore settings,
    LedgerService ledger, TimeProvider clock)
{
    /// <summary>How long a summary is answered again for free.</summary>
    public static readonly TimeSpan StoredFor = TimeSpan.FromDays(30);

    /// <summary>The research provider of the catalog.</summary>
    public const string Provider = "sagewise";

    private const string RowPrefix = "r|";

    /// <summary>What researching the subject would cost now, without calling a provider or charging.</summary>
    public async Task<(string Kind, bool Stored, Credits AtMost)> QuoteAsync(string teamId, PersonInput subject, bool company, bool refresh, CancellationToken ct)
    {
        var (kind, rowKey, _) = await SubjectAsync(teamId, subject, company, ct).ConfigureAwait(false);
        var stored = await contacts.Table.GetEntityOrNullAsync<ResearchRecord>(teamId, rowKey, ct).ConfigureAwait(false);
        var fresh = stored is not null && !refresh && clock.GetUtcNow() - stored.ResearchedAt < StoredFor;
        return (kind, fresh, fresh ? Credits.Zero : Price(kind));
    }

    /// <summary>Researches the subject (see the class remarks).</summary>
    /// <exception cref="ResearchUnavailableException">The provider failed; nothing was charged.</exception>
    /// <exception cref="IdempotencyKeyReusedException">The caller's key came with another request.</exception>
    public async Task<ResearchResult> ResearchAsync(string teamId, string userId, PersonInput subject, bool company, bool refresh, string? idempotencyKey,
        CancellationToken ct)
    {
        var (kind, rowKey, subjectId) = await SubjectAsync(teamId, subject, company, ct).ConfigureAwait(false);
        var fingerprint = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(new { kind, subjectId, refresh })));
        if (idempotencyKey is not null)
        {
            var claim = await contacts.ClaimRequestAsync(teamId, "research:" + idempotencyKey, fingerprint, ct).ConfigureAwait(false);
            if (!claim.Same)
            {
                throw new IdempotencyKeyReusedException();
            }
            if (claim.StoredResult is { } first)
            {
                // The same request again: its first answer, no provider call, nothing charged again.
                return JsonSerializer.Deserialize<ResearchResult>(first, JsonSerializerOptions.Web)!;
            }
        }
        var result = await ResearchOnceAsync(teamId, userId, subject, kind, rowKey, subjectId, refresh, ct).ConfigureAwait(false);
        if (idempotencyKey is not null && result.Status is not ("insufficient_credits" or "spend_limit_reached"))
        {
            await contacts.SaveRequestResultAsync(teamId, "research:" + idempotencyKey, JsonSerializer.Serialize(result, JsonSerializerOptions.Web), ct)
                .ConfigureAwait(false);
        }
        return result;
    }

    private async Task<ResearchResult> ResearchOnceAsync(string teamId, string userId, PersonInput subject, string kind, string rowKey, string subjectId,
        bool refresh, CancellationToken ct)
    {
        var stored = await contacts.Table.GetEntityOrNullAsync<ResearchRecord>(teamId, rowKey, ct).ConfigureAwait(false);
        var now = clock.GetUtcNow();
        if (stored is not null && !refresh && now - stored.ResearchedAt < StoredFor)
        {
            return new ResearchResult("stored", kind, stored.Summary, stored.Provider, stored.ResearchedAt, 0m, null);
        }
        var price = Price(kind);
        var balance = (await ledger.GetBalancesAsync(teamId, ct).ConfigureAwait(false)).FirstOrDefault(b => b.CreditType == "ai_research");
        if ((balance?.Available ?? Credits.Zero) < price)
        {
            return new ResearchResult("insufficient_credits", kind, null, null, null, 0m, null);
        }
        // The member's limit is checked before the provider too (the charge checks it again, in its commit).
        if ((await ledger.GetMemberLimitsAsync(teamId, userId, ct).ConfigureAwait(false)).FirstOrDefault(l => l.CreditType == "ai_research") is { } limit
            && limit.Left < price)
        {
            return new ResearchResult("spend_limit_reached", kind, null, null, null, 0m, null);
        }
        var team = await settings.GetAsync(teamId, ct).ConfigureAwait(false);
        var outcome = await providers.LookupAsync(Provider, ProviderCapabilities.Research, subject, settings.ResolveKey(teamId, team, Provider), teamId, ct)
            .ConfigureAwait(false);
        switch (outcome)
        {
            case ProviderFailed failed:
                throw new ResearchUnavailableException($"The research provider failed ({failed.Kind}); nothing was charged.");
            case not ProviderHit:
                return new ResearchResult("not_found", kind, null, Provider, null, 0m, null);
        }
        var hit = (ProviderHit)outcome;
        var generation = (stored?.Generation ?? 0) + 1;
        var charge = await ledger.ChargeAsync(new ChargeRequest(teamId, userId, "ai_research", kind == "company" ? "company_research" : "person_research",
            $"research:{teamId}:{subjectId}:{generation}")
        {
            Description = $"Research on {Describe(kind, subject)}",
        }).ConfigureAwait(false);
        if (charge.Status is LedgerStatus.InsufficientCredits or LedgerStatus.SpendLimitReached)
        {
            return new ResearchResult(charge.Status == LedgerStatus.SpendLimitReached ? "spend_limit_reached" : "insufficient_credits", kind, null, null, null, 0m, null);
        }
        if (charge.Status is not (LedgerStatus.Charged or LedgerStatus.AlreadyOwned))
        {
            throw new ResearchUnavailableException($"The research could not be charged ({charge.Status}); nothing was stored.");
        }
        var record = new ResearchRecord
        {
            PartitionKey = teamId, RowKey = rowKey, Kind = kind, Subject = Describe(kind, subject), Summary = hit.Data.Summary!, Provider = Provider,
            ResearchedAt = now, Generation = generation, ChargeId = charge.LineId,
        };
        try
        {
            if (stored is null)
            {
                await contacts.Table.AddEntityAsync(record, ct).ConfigureAwait(false);
            }
            else
            {
                await contacts.Table.UpdateEntityAsync(record, stored.ETag, TableUpdateMode.Replace, ct).ConfigureAwait(false);
            }
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            // A request racing this one (its charge answered by ours, under the same key) stored this generation first:
            // answer what it stored, and whichever of the two paid says so.
            var winner = await contacts.Table.GetEntityOrNullAsync<ResearchRecord>(teamId, rowKey, ct).ConfigureAwait(false);
            return new ResearchResult(charge.Replayed ? "stored" : "researched", kind, winner?.Summary ?? record.Summary, Provider,
                winner?.ResearchedAt ?? now, charge.Replayed ? 0m : charge.Amount.Value, charge.Replayed ? null : charge.LineId);
        }
        return new ResearchResult(charge.Replayed ? "stored" : "researched", kind, record.Summary, Provider, now, charge.Replayed ? 0m : charge.Amount.Value,
            charge.Replayed ? null : charge.LineId);
    }

    private async Task<(string Kind, string RowKey, string SubjectId)> SubjectAsync(string teamId, PersonInput subject, bool company, CancellationToken ct)
    {
        string subjectId;
        if (company)
        {
            subjectId = "company:" + subject.Normalize().CompanyDomain;
        }
        else
        {
            var who = new WaterfallPerson(0, WaterfallPerson.IdFor(subject), subject.Normalize());
            (who, _) = await engine.ResolveAsync(teamId, who, ct).ConfigureAwait(false);
            subjectId = "person:" + who.PersonId;
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(subjectId)).AsSpan(0, 16));
        return (company ? "company" : "person", RowPrefix + hash, hash);
    }

    private static Credits Price(string kind) =>
        Catalog.Default.Find("ai_research", kind == "company" ? "company_research" : "person_research")?.Price
            ?? throw new InvalidOperationException("The catalog has no AI research action.");

    private static string Describe(string kind, PersonInput subject) => kind == "company"
        ? subject.Normalize().CompanyDomain ?? "a company"
        : string.Join(' ', new[] { subject.FirstName, subject.LastName }.Where(n => !string.IsNullOrWhiteSpace(n))) is { Length: > 0 } name
            ? name + (subject.CompanyDomain is { Length: > 0 } d ? " (" + d + ")" : string.Empty)
            : subject.LinkedInUrl ?? subject.Email ?? "a person";
}
