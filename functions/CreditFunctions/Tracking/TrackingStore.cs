using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;

namespace CreditFunctions.Tracking;

/// <summary>The states of a tracked contact's row.</summary>
public static class TrackingStates
{
    /// <summary>Claimed by a track request that has not held its credits yet: not tracked.</summary>
    public const string Pending = "pending";

    /// <summary>Tracked: one tracking credit is held for it.</summary>
    public const string Tracked = "tracked";

    /// <summary>Being untracked: its credit is being released (a crash leaves it for the next untrack or scan to finish).</summary>
    public const string Untracking = "untracking";
}

/// <summary>One contact a team tracks (<c>t|{contactId}</c> in the team's partition of the tracking table).</summary>
public sealed class TrackedContactRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>The contact's id in the team's contact store.</summary>
    public string ContactId { get; set; } = string.Empty;

    /// <summary><see cref="TrackingStates"/>.</summary>
    public string State { get; set; } = TrackingStates.Pending;

    /// <summary>The request (pending) or untrack batch (untracking) that owns the row's state.</summary>
    public string? ClaimKey { get; set; }

    /// <summary>When the claim was made.</summary>
    public DateTimeOffset ClaimedAt { get; set; }

    /// <summary>Who made a pending claim: a claim its request left behind is finished under that user.</summary>
    public string? ClaimedBy { get; set; }

    /// <summary>When tracking started.</summary>
    public DateTimeOffset? TrackedAt { get; set; }

    /// <summary>The person's name, as given.</summary>
    public string? Name { get; set; }

    /// <summary>Identifiers the job vendor is asked with.</summary>
    public string? FirstName { get; set; }

    /// <summary>Identifiers the job vendor is asked with.</summary>
    public string? LastName { get; set; }

    /// <summary>Identifiers the job vendor is asked with.</summary>
    public string? LinkedInUrl { get; set; }

    /// <summary>Identifiers the job vendor is asked with.</summary>
    public string? Email { get; set; }

    /// <summary>The company domain the person was known at when tracking started (the vendor is asked with it).</summary>
    public string? KnownDomain { get; set; }

    /// <summary>The current company as the team sees it (bought data).</summary>
    public string? Company { get; set; }

    /// <summary>The current company's domain as the team sees it.</summary>
    public string? CompanyDomain { get; set; }

    /// <summary>The current title as the team sees it.</summary>
    public string? Title { get; set; }

    /// <summary>What the vendor answered last (changes are detected against it).</summary>
    public string? SeenDomain { get; set; }

    /// <summary>What the vendor answered last.</summary>
    public string? SeenCompany { get; set; }

    /// <summary>What the vendor answered last.</summary>
    public string? SeenTitle { get; set; }

    /// <summary>When the scan last checked the contact.</summary>
    public DateTimeOffset? LastCheckedAt { get; set; }

    /// <summary>When the scan last found a change.</summary>
    public DateTimeOffset? LastChangeAt { get; set; }

    /// <summary>The scan day (<c>yyyy-MM-dd</c>) that last checked the contact: a re-run chunk skips it.</summary>
    public string? ScanDay { get; set; }

    /// <summary>A change found and not yet settled (charged or not): a re-run chunk settles it.</summary>
    public string? PendingEventId { get; set; }
}

/// <summary>A job change found by a scan (<c>e|{eventId}</c>).</summary>
public sealed class JobChangeRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>Stable id: the contact and the new role.</summary>
    public string EventId { get; set; } = string.Empty;

    /// <summary>The tracked contact.</summary>
    public string ContactId { get; set; } = string.Empty;

    /// <summary>The contact's name.</summary>
    public string? Name { get; set; }

    /// <summary>The role before.</summary>
    public string? PreviousCompany { get; set; }

    /// <summary>The role before.</summary>
    public string? PreviousDomain { get; set; }

    /// <summary>The role before.</summary>
    public string? PreviousTitle { get; set; }

    /// <summary>The new role.</summary>
    public string? NewCompany { get; set; }

    /// <summary>The new role.</summary>
    public string? NewDomain { get; set; }

    /// <summary>The new role.</summary>
    public string? NewTitle { get; set; }

    /// <summary>Since when the vendor says the new role is held.</summary>
    public string? Since { get; set; }

    /// <summary>When the scan found it.</summary>
    public DateTimeOffset DetectedAt { get; set; }

    /// <summary><see cref="JobChangeStatuses"/>.</summary>
    public string Status { get; set; } = JobChangeStatuses.Found;

    /// <summary>The catalog action charged (or to charge).</summary>
    public string Action { get; set; } = string.Empty;

    /// <summary>The charge line, once bought.</summary>
    public string? ChargeId { get; set; }

    /// <summary>Credits charged (0 when the team already owned the record).</summary>
    public double Credits { get; set; }

    /// <summary>A contact created at the new company (<c>create_contact</c>).</summary>
    public string? NewContactId { get; set; }

    /// <summary>True once the team's webhook took it.</summary>
    public bool Notified { get; set; }
}

/// <summary>The states of a job-change event.</summary>
public static class JobChangeStatuses
{
    /// <summary>Found; being settled.</summary>
    public const string Found = "found";

    /// <summary>Bought (or already owned): the new role is the team's.</summary>
    public const string Bought = "bought";

    /// <summary>Found when the balance was short: buy it through the events route.</summary>
    public const string NotBought = "not_bought";

    /// <summary>Tracking stopped before it was settled: never charged.</summary>
    public const string Untracked = "untracked";
}

/// <summary>A team's tracking settings (<c>s|settings</c>).</summary>
public sealed class TrackingSettingsRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = TrackingStore.SettingsRow;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>Where job-change events are posted (signed); null: nowhere.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary><c>update_contact</c> (default) or <c>create_contact</c>.</summary>
    public string OnJobChange { get; set; } = TrackingStore.UpdateContact;
}

/// <summary>
/// The tracking table: partition = team (so one team never reads another's rows), rows <c>t|</c> tracked contacts,
/// <c>e|</c> job-change events, <c>r|</c> track requests by idempotency key, <c>s|settings</c>; and the partition
/// <c>teams</c> listing the teams that ever tracked (the scan's timer walks it).
/// </summary>
public sealed class TrackingStore(TableClient table)
{
    /// <summary>Row prefix of tracked contacts.</summary>
    public const string ContactPrefix = "t|";

    /// <summary>Row prefix of events.</summary>
    public const string EventPrefix = "e|";

    /// <summary>The settings row.</summary>
    public const string SettingsRow = "s|settings";

    /// <summary>The partition listing teams.</summary>
    public const string TeamsPartition = "teams";

    /// <summary>Update the tracked contact on a change.</summary>
    public const string UpdateContact = "update_contact";

    /// <summary>Create a new contact at the new company on a change.</summary>
    public const string CreateContact = "create_contact";

    /// <summary>The table.</summary>
    public TableClient Table { get; } = table;

    /// <summary>A tracked contact's row, or null.</summary>
    public Task<TrackedContactRow?> GetContactAsync(string teamId, string contactId, CancellationToken ct) =>
        Table.GetEntityOrNullAsync<TrackedContactRow>(teamId, ContactPrefix + contactId, ct);

    /// <summary>Rows of the team after <paramref name="afterRowKey"/> in row order, at most <paramref name="take"/>.</summary>
    public async Task<List<TrackedContactRow>> PageAsync(string teamId, string? afterRowKey, int take, string? state, CancellationToken ct)
    {
        var lower = afterRowKey ?? ContactPrefix;
        var filter = afterRowKey is null
            ? TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {lower} and RowKey lt {"t}"}")
            : TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey gt {lower} and RowKey lt {"t}"}");
        if (state is not null)
        {
            filter += " and " + TableClient.CreateQueryFilter($"State eq {state}");
        }
        var rows = new List<TrackedContactRow>(Math.Min(take, 1000));
        await foreach (var row in Table.QueryAsync<TrackedContactRow>(filter, maxPerPage: Math.Min(1000, take), cancellationToken: ct).ConfigureAwait(false))
        {
            rows.Add(row);
            if (rows.Count == take)
            {
                break;
            }
        }
        return rows;
    }

    /// <summary>Every row of the team in <paramref name="state"/> (all states when null).</summary>
    public async IAsyncEnumerable<TrackedContactRow> AllAsync(string teamId, string? state, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {ContactPrefix} and RowKey lt {"t}"}");
        if (state is not null)
        {
            filter += " and " + TableClient.CreateQueryFilter($"State eq {state}");
        }
        await foreach (var row in Table.QueryAsync<TrackedContactRow>(filter, maxPerPage: 1000, cancellationToken: ct).ConfigureAwait(false))
        {
            yield return row;
        }
    }

    /// <summary>The team's settings (defaults when never set).</summary>
    public async Task<TrackingSettingsRow> GetSettingsAsync(string teamId, CancellationToken ct) =>
        await Table.GetEntityOrNullAsync<TrackingSettingsRow>(teamId, SettingsRow, ct).ConfigureAwait(false)
        ?? new TrackingSettingsRow { PartitionKey = teamId };

    /// <summary>Saves the team's settings.</summary>
    public Task SaveSettingsAsync(TrackingSettingsRow settings, CancellationToken ct) =>
        Table.UpsertEntityAsync(settings, TableUpdateMode.Replace, ct);

    /// <summary>Records that the team tracks (once; the scan's timer lists these teams).</summary>
    public async Task RememberTeamAsync(string teamId, CancellationToken ct) =>
        await Table.UpsertEntityAsync(new TableEntity(TeamsPartition, teamId), TableUpdateMode.Merge, ct).ConfigureAwait(false);

    /// <summary>Every team that ever tracked a contact.</summary>
    public async Task<List<string>> TeamsAsync(CancellationToken ct)
    {
        var teams = new List<string>();
        await foreach (var row in Table.QueryAsync<TableEntity>(e => e.PartitionKey == TeamsPartition, select: ["RowKey"], cancellationToken: ct).ConfigureAwait(false))
        {
            teams.Add(row.RowKey);
        }
        return teams;
    }

    /// <summary>An event, or null.</summary>
    public Task<JobChangeRow?> GetEventAsync(string teamId, string eventId, CancellationToken ct) =>
        Table.GetEntityOrNullAsync<JobChangeRow>(teamId, EventPrefix + eventId, ct);

    /// <summary>The team's events detected in [<paramref name="from"/>, <paramref name="to"/>), oldest first.</summary>
    public async Task<List<JobChangeRow>> EventsAsync(string teamId, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {teamId} and RowKey ge {EventPrefix} and RowKey lt {"e}"} and DetectedAt ge {from} and DetectedAt lt {to}");
        var events = new List<JobChangeRow>();
        await foreach (var row in Table.QueryAsync<JobChangeRow>(filter, cancellationToken: ct).ConfigureAwait(false))
        {
            events.Add(row);
        }
        return [.. events.OrderBy(e => e.DetectedAt)];
    }

    /// <summary>
    /// Claims a track request's idempotency key with the fingerprint of its contacts: true when it is new or the same
    /// request again (with its stored result, once it has one), false when the key was used with other contacts.
    /// </summary>
    public async Task<(bool Same, string? StoredResult)> ClaimRequestAsync(string teamId, string key, string fingerprint, CancellationToken ct)
    {
        var rowKey = "r|" + Hash(key);
        try
        {
            await Table.AddEntityAsync(new TableEntity(teamId, rowKey) { ["Fingerprint"] = fingerprint }, ct).ConfigureAwait(false);
            return (true, null);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            var stored = await Table.GetEntityOrNullAsync<TableEntity>(teamId, rowKey, ct).ConfigureAwait(false);
            if (stored?.GetString("Fingerprint") != fingerprint)
            {
                return (false, null);
            }
            var parts = stored.GetInt32("ResultParts") ?? 0;
            return (true, parts == 0 ? null : string.Concat(Enumerable.Range(0, parts).Select(i => stored.GetString("Result" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)))));
        }
    }

    /// <summary>Stores a track request's result, answered again to a retry (in parts: a property holds at most 32K
    /// characters, and 10,000 contact ids take about 300K).</summary>
    public Task SaveRequestResultAsync(string teamId, string key, string result, CancellationToken ct)
    {
        const int partLength = 30_000;
        var entity = new TableEntity(teamId, "r|" + Hash(key));
        var parts = 0;
        for (var i = 0; i < result.Length; i += partLength, parts++)
        {
            entity["Result" + parts.ToString(System.Globalization.CultureInfo.InvariantCulture)] = result.Substring(i, Math.Min(partLength, result.Length - i));
        }
        entity["ResultParts"] = parts;
        return Table.UpsertEntityAsync(entity, TableUpdateMode.Merge, ct);
    }

    /// <summary>A short stable hash (hex).</summary>
    public static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)).AsSpan(0, 16));

    /// <summary>Submits <paramref name="actions"/> of one partition in transactions of at most 100.</summary>
    public async Task SubmitAsync(IReadOnlyList<TableTransactionAction> actions, CancellationToken ct)
    {
        for (var i = 0; i < actions.Count; i += 100)
        {
            await Table.SubmitTransactionAsync(actions.Skip(i).Take(100), ct).ConfigureAwait(false);
        }
    }
}
