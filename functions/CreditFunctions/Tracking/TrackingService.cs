using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;

namespace CreditFunctions.Tracking;

/// <summary>One contact to track: a contact id of the team's contact store, or a person's identifiers.</summary>
public sealed record TrackItem(string? ContactId, PersonInput? Person);

/// <summary>What a track request did.</summary>
/// <param name="Requested">Distinct contacts in the request.</param>
/// <param name="Tracked">Contacts this request started tracking (one credit held for each).</param>
/// <param name="AlreadyTracked">Contacts that were tracked already (nothing more held).</param>
/// <param name="ContactIds">The request's contacts, in request order.</param>
/// <param name="TrackingCreditsHeld">What the team's tracking holds in all after the request.</param>
public sealed record TrackResult(int Requested, int Tracked, int AlreadyTracked, IReadOnlyList<string> ContactIds, decimal TrackingCreditsHeld);

/// <summary>What an untrack did.</summary>
/// <param name="Untracked">Contacts no longer tracked.</param>
/// <param name="CreditsFreed">Tracking credits released.</param>
public sealed record UntrackResult(int Untracked, decimal CreditsFreed);

/// <summary>A track request was refused as a whole: nothing was held.</summary>
public sealed class TrackRefusedException(string problem, string message, decimal missing) : Exception(message)
{
    /// <summary><c>insufficient-credits</c> or <c>spend-limit-reached</c>.</summary>
    public string Problem { get; } = problem;

    /// <summary>Tracking credits missing.</summary>
    public decimal Missing { get; } = missing;
}

/// <summary>A contact id the team's contact store does not hold.</summary>
public sealed class UnknownContactException(string field, string contactId) : Exception($"{field}: no contact '{contactId}'")
{
    /// <summary>The field naming it.</summary>
    public string Field { get; } = field;
}

/// <summary>
/// Contact tracking (DOMAIN rule 7): each tracked contact holds one tracking credit in the team's standing hold of
/// <c>contact_tracking/track_contact</c> for as long as it is tracked; untracking frees it at once.
/// </summary>
/// <remarks>
/// Order of the steps of a track request, and what a crash between them leaves: (1) the key's fingerprint is claimed
/// (a different request with the key is refused before anything happens); (2) each new contact's row is inserted as
/// <c>pending</c> under the request's key (an insert: of two racing requests for one contact only one claims it, and the
/// other counts it as already tracked); (3) the standing hold grows by the number of rows this request claimed, in one
/// idempotent ledger operation keyed by the request (all or nothing: a short balance deletes the claims and answers 402);
/// (4) the claims become <c>tracked</c>. A crash before (3) leaves pending rows that track nothing and hold nothing; a
/// crash after (3) leaves them pending with their credits held: the same request retried with its key finds its claims
/// and the ledger's stored result, and finishes (4). A request never retried is finished by the team's next scan
/// (<see cref="FinishClaimsAsync"/>): its claims older than <see cref="ClaimGrace"/> ask the ledger again with the
/// request's own key, user and count, so a hold that was placed answers its first result, one that was not is placed now
/// (402 lets the claims go), and the claims become <c>tracked</c>. An untrack marks its rows <c>untracking</c> in transactions of at
/// most 100 rows, each under a batch key; releases each batch's count from the hold with that key; then deletes them. A
/// crash between leaves <c>untracking</c> rows, which the next untrack or scan of the team finishes with the same keys.
/// </remarks>
public sealed class TrackingService(TrackingStore store, ContactStore contacts, ContactIdentity identity, LedgerService ledger, TimeProvider clock)
{
    /// <summary>Most contacts one request may track.</summary>
    public const int ContactsPerRequestMax = 10_000;

    /// <summary>The catalog feature of tracking.</summary>
    public const string Feature = "contact_tracking";

    /// <summary>The catalog action whose standing hold reserves the credits.</summary>
    public const string Action = "track_contact";

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    private const int Parallelism = 32;

    /// <summary>How long an interrupted untrack waits before another request or a scan finishes it.</summary>
    public static readonly TimeSpan UntrackGrace = TimeSpan.FromMinutes(1);

    /// <summary>How long a track request's claims may stay pending before the scan finishes them (the request itself takes
    /// seconds from its claims to its hold).</summary>
    public static readonly TimeSpan ClaimGrace = TimeSpan.FromMinutes(10);

    /// <summary>Tests set this to make a track request stop right after its hold, as a crash would (return true to stop).</summary>
    internal static Func<string, bool>? CrashAfterHoldForTests { get; set; }

    /// <summary>What the team's tracking holds now.</summary>
    public async Task<decimal> HeldAsync(string teamId, CancellationToken ct) => (await ledger.GetStandingHoldAsync(teamId, Action, ct).ConfigureAwait(false)).Value;

    /// <summary>Tracks <paramref name="items"/> (validated by the caller), all or nothing (see the class remarks).</summary>
    /// <exception cref="TrackRefusedException">The balance (or the member's limit, or <paramref name="maxCredits"/>) cannot hold the new contacts.</exception>
    /// <exception cref="UnknownContactException">A contact id is not the team's.</exception>
    /// <exception cref="IdempotencyKeyReusedException">The key was used for other contacts.</exception>
    public async Task<TrackResult> TrackAsync(string teamId, string userId, IReadOnlyList<TrackItem> items, string? idempotencyKey, CancellationToken ct,
        Credits? maxCredits = null)
    {
        var ids = new string[items.Count];
        var people = new PersonInput?[items.Count];
        var newContacts = new System.Collections.Concurrent.ConcurrentDictionary<string, (PersonInput Person, IReadOnlyList<string> Identifiers)>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(Enumerable.Range(0, items.Count), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (i, token) =>
        {
            (ids[i], people[i], var unknown) = await ResolveAsync(teamId, items[i], $"contacts[{i}]", token).ConfigureAwait(false);
            if (unknown is not null)
            {
                newContacts.TryAdd(ids[i], (people[i]!, unknown));
            }
        }).ConfigureAwait(false);
        await CreateContactsAsync(teamId, [.. newContacts], ct).ConfigureAwait(false);
        var distinct = new Dictionary<string, PersonInput?>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Length; i++)
        {
            distinct.TryAdd(ids[i], people[i]);
        }
        var key = idempotencyKey ?? "auto:" + Guid.NewGuid().ToString("N");
        var fingerprint = TrackingStore.Hash(string.Join(',', distinct.Keys.Order(StringComparer.Ordinal)));
        var (same, stored) = await store.ClaimRequestAsync(teamId, key, fingerprint, ct).ConfigureAwait(false);
        if (!same)
        {
            throw new IdempotencyKeyReusedException();
        }
        if (stored is not null)
        {
            return JsonSerializer.Deserialize<TrackResult>(stored, s_json)!;
        }
        await store.RememberTeamAsync(teamId, ct).ConfigureAwait(false);

        var claimed = await ClaimAsync(teamId, userId, key, distinct, ct).ConfigureAwait(false);
        if (maxCredits is { } max && claimed.Count > max.Value)
        {
            // A job never spends more than its maxCredits: nothing is held, the claims are let go.
            await ReleaseClaimsAsync(claimed, ct).ConfigureAwait(false);
            await store.Table.DeleteEntityAsync(teamId, "r|" + TrackingStore.Hash(key), ETag.All, ct).ConfigureAwait(false);
            throw new TrackRefusedException("quote-exceeds-max-credits",
                $"Tracking {claimed.Count} more contacts holds {claimed.Count} tracking credits, above the request's maxCredits ({max}). Nothing was held.",
                claimed.Count - max.Value);
        }
        if (claimed.Count > 0)
        {
            var held = await HoldWithRetriesAsync(TrackHold(teamId, userId, key, claimed.Count), ct).ConfigureAwait(false);
            if (held.Status is LedgerStatus.InsufficientCredits or LedgerStatus.SpendLimitReached)
            {
                await ReleaseClaimsAsync(claimed, ct).ConfigureAwait(false);
                await store.Table.DeleteEntityAsync(teamId, "r|" + TrackingStore.Hash(key), ETag.All, ct).ConfigureAwait(false);
                var missing = held.Shortfall?.Value ?? claimed.Count;
                throw new TrackRefusedException(held.Status == LedgerStatus.SpendLimitReached ? "spend-limit-reached" : "insufficient-credits",
                    $"Tracking {claimed.Count} more contacts holds {claimed.Count} tracking credits; {missing} are missing. Nothing was held.", missing);
            }
            if (held.Status != LedgerStatus.HoldPlaced)
            {
                throw new LedgerUnavailableException($"The tracking hold was not placed ({held.Status}).", null);
            }
            if (CrashAfterHoldForTests?.Invoke(teamId) == true)
            {
                throw new IOException("Injected failure after the tracking hold (as if the worker died).");
            }
            var now = clock.GetUtcNow();
            await store.SubmitAsync([.. claimed.Select(row =>
            {
                row.State = TrackingStates.Tracked;
                row.TrackedAt ??= now;
                return new TableTransactionAction(TableTransactionActionType.UpdateMerge, row, ETag.All);
            })], ct).ConfigureAwait(false);
        }
        var result = new TrackResult(distinct.Count, claimed.Count, distinct.Count - claimed.Count, [.. ids.Distinct(StringComparer.Ordinal)],
            await HeldAsync(teamId, ct).ConfigureAwait(false));
        await store.SaveRequestResultAsync(teamId, key, JsonSerializer.Serialize(result, s_json), ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>The standing hold's growth for the <paramref name="count"/> contacts a request claimed: keyed by the request, so
    /// asking again (a retry, or the scan finishing an interrupted request) answers the first result.</summary>
    private static StandingHoldRequest TrackHold(string teamId, string userId, string key, int count) =>
        new(teamId, userId, Feature, Action, Credits.FromDecimal(count), "tracking:track:" + TrackingStore.Hash(teamId + "|" + key))
        {
            Description = count == 1 ? "Tracked 1 contact" : $"Tracked {count} contacts",
        };

    /// <summary>
    /// Finishes the track requests that stopped between their claims and their end (a crash) and were not retried: per
    /// request, its claims older than <see cref="ClaimGrace"/> ask the ledger again with the request's key, user and
    /// count. A hold placed before answers its first result (or, when some claims were already marked tracked, says the
    /// key exists with other parameters: placed too); one never placed is placed now. Either way the claims become
    /// <c>tracked</c>; a balance that can no longer hold them lets them go, and nothing is held.
    /// </summary>
    public async Task FinishClaimsAsync(string teamId, CancellationToken ct)
    {
        var before = clock.GetUtcNow() - ClaimGrace;
        var left = new List<TrackedContactRow>();
        await foreach (var row in store.AllAsync(teamId, TrackingStates.Pending, ct).ConfigureAwait(false))
        {
            if (row.ClaimedAt < before && row.ClaimKey is not null)
            {
                left.Add(row);
            }
        }
        foreach (var request in left.GroupBy(r => (Key: r.ClaimKey!, User: r.ClaimedBy ?? "system")))
        {
            var claims = request.ToList();
            var held = await HoldWithRetriesAsync(TrackHold(teamId, request.Key.User, request.Key.Key, claims.Count), ct).ConfigureAwait(false);
            if (held.Status is LedgerStatus.HoldPlaced or LedgerStatus.ExistsWithDifferentParameters)
            {
                var now = clock.GetUtcNow();
                foreach (var row in claims)
                {
                    (row.State, row.TrackedAt) = (TrackingStates.Tracked, row.TrackedAt ?? now);
                }
                await store.SubmitAsync([.. claims.Select(row => new TableTransactionAction(TableTransactionActionType.UpdateMerge, row, ETag.All))], ct)
                    .ConfigureAwait(false);
            }
            else if (held.Status is LedgerStatus.InsufficientCredits or LedgerStatus.SpendLimitReached)
            {
                await ReleaseClaimsAsync(claims, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Places the hold, asking again with the same key when the ledger's outcome was unknown (the key makes the
    /// retry answer the first result if it did commit), so a request without a key of its own does not leave its claims
    /// pending on a passing storage error.</summary>
    private async Task<LedgerResult> HoldWithRetriesAsync(StandingHoldRequest hold, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ledger.AdjustStandingHoldAsync(hold).ConfigureAwait(false);
            }
            catch (LedgerUnavailableException) when (attempt < 4)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The contact id of an item: a contact id of the team, or the contact the person's identifiers resolve to; for
    /// a person no contact has, the id of the new contact and the identifiers to link to it.</summary>
    private async Task<(string Id, PersonInput? Person, IReadOnlyList<string>? Unknown)> ResolveAsync(string teamId, TrackItem item, string field, CancellationToken ct)
    {
        if (item.ContactId is { } contactId)
        {
            if (await contacts.GetAsync(teamId, contactId, ct).ConfigureAwait(false) is null)
            {
                throw new UnknownContactException(field + ".contactId", contactId);
            }
            return (contactId, null, null);
        }
        var person = item.Person!.Normalize();
        var identifiers = ContactIdentity.IdentifiersOf(person);
        var match = await identity.ResolveAsync(teamId, identifiers, ct).ConfigureAwait(false);
        if (match.PersonId is { } known)
        {
            var unknown = identifiers.Where(i => !match.Known.Contains(i)).ToList();
            if (unknown.Count > 0)
            {
                await identity.LinkAsync(teamId, known, unknown, ct).ConfigureAwait(false);
            }
            return (known, person, null);
        }
        return (WaterfallPerson.IdFor(person), person, identifiers);
    }

    /// <summary>Creates the contacts no identifier knew and links their identifiers: in transactions of the team's
    /// partition (a contact and its links together), one by one for a transaction that meets an identifier linked meanwhile
    /// (an identifier never moves: the contact keeps its id, the identifier stays with whom it was linked to first).</summary>
    private async Task CreateContactsAsync(string teamId, List<KeyValuePair<string, (PersonInput Person, IReadOnlyList<string> Identifiers)>> created, CancellationToken ct)
    {
        var batches = new List<List<(string Id, PersonInput Person, IReadOnlyList<string> Identifiers)>>();
        var current = new List<(string Id, PersonInput Person, IReadOnlyList<string> Identifiers)>();
        var rows = 0;
        foreach (var (id, (person, identifiers)) in created)
        {
            if (rows + 1 + identifiers.Count > 100)
            {
                batches.Add(current);
                (current, rows) = ([], 0);
            }
            current.Add((id, person, identifiers));
            rows += 1 + identifiers.Count;
        }
        if (current.Count > 0)
        {
            batches.Add(current);
        }
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (batch, token) =>
        {
            try
            {
                var actions = new List<TableTransactionAction>();
                foreach (var (id, person, identifiers) in batch)
                {
                    actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertMerge, ContactRow(teamId, id, person)));
                    actions.AddRange(identifiers.Select(i => new TableTransactionAction(TableTransactionActionType.Add, ContactIdentity.LinkRow(teamId, id, i))));
                }
                await contacts.Table.SubmitTransactionAsync(actions, token).ConfigureAwait(false);
            }
            catch (TableTransactionFailedException)
            {
                foreach (var (id, person, identifiers) in batch)
                {
                    await contacts.Table.UpsertEntityAsync(ContactRow(teamId, id, person), TableUpdateMode.Merge, token).ConfigureAwait(false);
                    await identity.LinkAsync(teamId, id, identifiers, token).ConfigureAwait(false);
                }
            }
        }).ConfigureAwait(false);
    }

    private static TableEntity ContactRow(string teamId, string id, PersonInput person)
    {
        var name = string.Join(' ', new[] { person.FirstName, person.LastName }.Where(n => n is not null));
        return new TableEntity(teamId, ContactStore.RowPrefix + id) { ["Name"] = name.Length == 0 ? null : name };
    }

    /// <summary>Inserts a pending row per contact not tracked yet; returns the rows this request owns (claimed now or by an
    /// earlier attempt with the same key).</summary>
    private async Task<List<TrackedContactRow>> ClaimAsync(string teamId, string userId, string key, Dictionary<string, PersonInput?> wanted, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var rows = wanted.Select(w => new TrackedContactRow
        {
            PartitionKey = teamId, RowKey = TrackingStore.ContactPrefix + w.Key, ContactId = w.Key, State = TrackingStates.Pending, ClaimKey = key, ClaimedAt = now,
            ClaimedBy = userId,
            Name = w.Value is { } p ? string.Join(' ', new[] { p.FirstName, p.LastName }.Where(n => n is not null)) : null,
            FirstName = w.Value?.FirstName, LastName = w.Value?.LastName, LinkedInUrl = w.Value?.LinkedInUrl, Email = w.Value?.Email,
            KnownDomain = w.Value?.CompanyDomain, CompanyDomain = w.Value?.CompanyDomain, Company = w.Value?.CompanyName,
        }).ToList();
        var owned = new System.Collections.Concurrent.ConcurrentBag<TrackedContactRow>();
        var batches = rows.Chunk(100).ToList();
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (batch, token) =>
        {
            try
            {
                // The fast path: none of the batch is tracked yet, one transaction claims all of it.
                await store.Table.SubmitTransactionAsync(batch.Select(r => new TableTransactionAction(TableTransactionActionType.Add, r)), token).ConfigureAwait(false);
                foreach (var row in batch)
                {
                    owned.Add(row);
                }
                return;
            }
            catch (TableTransactionFailedException)
            {
                // Some row exists: claim one by one.
            }
            foreach (var row in batch)
            {
                if (await ClaimOneAsync(row, key, token).ConfigureAwait(false) is { } mine)
                {
                    owned.Add(mine);
                }
            }
        }).ConfigureAwait(false);
        return [.. owned];
    }

    private async Task<TrackedContactRow?> ClaimOneAsync(TrackedContactRow row, string key, CancellationToken ct)
    {
        try
        {
            await store.Table.AddEntityAsync(row, ct).ConfigureAwait(false);
            return row;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            var existing = await store.GetContactAsync(row.PartitionKey, row.ContactId, ct).ConfigureAwait(false);
            // Ours from an earlier attempt with this key (pending, or already tracked by it): counted again, held once by the
            // ledger's stored result. Anyone else's: already tracked, nothing more held.
            return existing is { ClaimKey: { } claim } && claim == key && existing.State is TrackingStates.Pending or TrackingStates.Tracked ? existing : null;
        }
    }

    private async Task ReleaseClaimsAsync(List<TrackedContactRow> claimed, CancellationToken ct)
    {
        foreach (var batch in claimed.Chunk(100))
        {
            try
            {
                await store.Table.SubmitTransactionAsync(batch.Select(r => new TableTransactionAction(TableTransactionActionType.Delete, r, ETag.All)), ct).ConfigureAwait(false);
            }
            catch (TableTransactionFailedException)
            {
                foreach (var row in batch)
                {
                    await store.Table.DeleteEntityAsync(row.PartitionKey, row.RowKey, ETag.All, ct).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Stops tracking the given contacts (those that are tracked; others are ignored) and frees their credits.</summary>
    public async Task<UntrackResult> UntrackAsync(string teamId, string userId, IReadOnlyList<string> contactIds, CancellationToken ct)
    {
        var rows = new System.Collections.Concurrent.ConcurrentBag<TrackedContactRow>();
        await Parallel.ForEachAsync(contactIds.Distinct(StringComparer.Ordinal), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct },
            async (id, token) =>
            {
                if (await store.GetContactAsync(teamId, id, token).ConfigureAwait(false) is { State: TrackingStates.Tracked } row)
                {
                    rows.Add(row);
                }
            }).ConfigureAwait(false);
        return await UntrackRowsAsync(teamId, userId, [.. rows], ct).ConfigureAwait(false);
    }

    /// <summary>Stops tracking every tracked contact matching the filter (a company domain, or all with null).</summary>
    public async Task<UntrackResult> UntrackMatchingAsync(string teamId, string userId, string? companyDomain, CancellationToken ct)
    {
        var rows = new List<TrackedContactRow>();
        await foreach (var row in store.AllAsync(teamId, TrackingStates.Tracked, ct).ConfigureAwait(false))
        {
            if (companyDomain is null || string.Equals(row.CompanyDomain, companyDomain, StringComparison.OrdinalIgnoreCase))
            {
                rows.Add(row);
            }
        }
        return await UntrackRowsAsync(teamId, userId, rows, ct).ConfigureAwait(false);
    }

    private async Task<UntrackResult> UntrackRowsAsync(string teamId, string userId, List<TrackedContactRow> rows, CancellationToken ct)
    {
        var untracked = 0;
        foreach (var batch in rows.OrderBy(r => r.RowKey, StringComparer.Ordinal).Chunk(100))
        {
            var batchKey = "untrack:" + Guid.NewGuid().ToString("N");
            var marked = await MarkUntrackingAsync(batch, batchKey, ct).ConfigureAwait(false);
            if (marked.Count > 0)
            {
                await ReleaseAsync(teamId, userId, batchKey, marked, ct).ConfigureAwait(false);
                untracked += marked.Count;
            }
        }
        await FinishUntracksAsync(teamId, ct).ConfigureAwait(false);
        return new UntrackResult(untracked, untracked);
    }

    /// <summary>Marks rows untracking under their ETags, in one transaction; rows that changed meanwhile are read again
    /// and marked one by one when they are still tracked.</summary>
    private async Task<List<TrackedContactRow>> MarkUntrackingAsync(TrackedContactRow[] batch, string batchKey, CancellationToken ct)
    {
        foreach (var row in batch)
        {
            (row.State, row.ClaimKey, row.ClaimedAt) = (TrackingStates.Untracking, batchKey, clock.GetUtcNow());
        }
        try
        {
            await store.Table.SubmitTransactionAsync(batch.Select(r => new TableTransactionAction(TableTransactionActionType.UpdateMerge, r, r.ETag)), ct).ConfigureAwait(false);
            return [.. batch];
        }
        catch (TableTransactionFailedException)
        {
            // A row changed (a scan wrote it) or went: one by one.
        }
        var marked = new List<TrackedContactRow>();
        foreach (var row in batch)
        {
            for (var attempt = 0; attempt < 5; attempt++)
            {
                var fresh = await store.GetContactAsync(row.PartitionKey, row.ContactId, ct).ConfigureAwait(false);
                if (fresh is not { State: TrackingStates.Tracked })
                {
                    break;
                }
                (fresh.State, fresh.ClaimKey, fresh.ClaimedAt) = (TrackingStates.Untracking, batchKey, clock.GetUtcNow());
                try
                {
                    await store.Table.UpdateEntityAsync(fresh, fresh.ETag, TableUpdateMode.Merge, ct).ConfigureAwait(false);
                    marked.Add(fresh);
                    break;
                }
                catch (RequestFailedException ex) when (ex.Status is 412 or 404)
                {
                    // Lost a race: read again.
                }
            }
        }
        return marked;
    }

    private async Task ReleaseAsync(string teamId, string userId, string batchKey, List<TrackedContactRow> rows, CancellationToken ct)
    {
        var released = await ledger.AdjustStandingHoldAsync(new StandingHoldRequest(teamId, userId, Feature, Action, -Credits.FromDecimal(rows.Count),
            "tracking:" + TrackingStore.Hash(teamId + "|" + batchKey))
        {
            Description = rows.Count == 1 ? "Untracked 1 contact" : $"Untracked {rows.Count} contacts",
        }).ConfigureAwait(false);
        if (released.Status != LedgerStatus.HoldPlaced)
        {
            throw new LedgerUnavailableException($"The tracking credits were not released ({released.Status}).", null);
        }
        foreach (var batch in rows.Chunk(100))
        {
            try
            {
                await store.Table.SubmitTransactionAsync(batch.Select(r => new TableTransactionAction(TableTransactionActionType.Delete, r, ETag.All)), ct).ConfigureAwait(false);
            }
            catch (TableTransactionFailedException)
            {
                foreach (var row in batch)
                {
                    await store.Table.DeleteEntityAsync(row.PartitionKey, row.RowKey, ETag.All, ct).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Finishes untracks a crash interrupted: each batch still marked untracking releases its count with its own
    /// key (the ledger answers the first release again if it happened) and its rows go.</summary>
    public async Task FinishUntracksAsync(string teamId, CancellationToken ct)
    {
        // Only batches left for a while: a batch another request is marking right now is that request's to finish.
        var before = clock.GetUtcNow() - UntrackGrace;
        var left = new List<TrackedContactRow>();
        await foreach (var row in store.AllAsync(teamId, TrackingStates.Untracking, ct).ConfigureAwait(false))
        {
            if (row.ClaimedAt < before)
            {
                left.Add(row);
            }
        }
        foreach (var batch in left.GroupBy(r => r.ClaimKey ?? string.Empty))
        {
            await ReleaseAsync(teamId, "tracking", batch.Key, [.. batch], ct).ConfigureAwait(false);
        }
    }

    /// <summary>A page of tracked contacts in id order.</summary>
    public async Task<(List<TrackedContactRow> Rows, string? Next)> ListAsync(string teamId, int limit, string? after, CancellationToken ct)
    {
        var rows = await store.PageAsync(teamId, after is null ? null : TrackingStore.ContactPrefix + after, limit + 1, TrackingStates.Tracked, ct).ConfigureAwait(false);
        var more = rows.Count > limit;
        if (more)
        {
            rows.RemoveAt(rows.Count - 1);
        }
        return (rows, more ? rows[^1].ContactId : null);
    }
}
