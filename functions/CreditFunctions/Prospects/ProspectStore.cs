using System.Security.Cryptography;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;

namespace CreditFunctions.Prospects;

/// <summary>What a team collects leads into: lists, sequences and saved searches share one shape.</summary>
public enum CollectionKind
{
    /// <summary>A list of leads (<c>lst_…</c>).</summary>
    List,

    /// <summary>A sequence leads are enrolled in (<c>seq_…</c>).</summary>
    Sequence,

    /// <summary>A saved search (<c>srch_…</c>): a name and a query, no members.</summary>
    SavedSearch,
}

/// <summary>A list, a sequence or a saved search.</summary>
public sealed class CollectionRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>The id (<c>lst_</c>, <c>seq_</c> or <c>srch_</c> and 24 hex digits).</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>The name the team gave it.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>When it was made.</summary>
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Who made it.</summary>
    public string CreatedBy { get; set; } = string.Empty;

    /// <summary>A saved search's query, as JSON.</summary>
    public string? QueryJson { get; set; }
}

/// <summary>A lead in a list or enrolled in a sequence.</summary>
public sealed class MemberRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>The team's contact.</summary>
    public string ContactId { get; set; } = string.Empty;

    /// <summary>The lead's name, as known when added.</summary>
    public string? Name { get; set; }

    /// <summary>The lead's email when added (owned or found), or null.</summary>
    public string? Email { get; set; }

    /// <summary>The identifiers the lead was added with, as JSON: what an enriched export looks the lead up by.</summary>
    public string? InputJson { get; set; }

    /// <summary>When it was added.</summary>
    public DateTimeOffset AddedAt { get; set; }

    /// <summary>Who added it.</summary>
    public string AddedBy { get; set; } = string.Empty;
}

/// <summary>
/// The team's lists, sequences and saved searches, in the team's partition of the enrichment table beside its contacts
/// (so another team's never answer): <c>pc|{kind}|{id}</c> for each, <c>pm|{id}|{contactId}</c> for a member of a list
/// or a sequence. A member row is an insert, so adding a lead twice, or two requests adding it at once, keeps one.
/// </summary>
public sealed class ProspectStore(TableClient table, TimeProvider clock)
{
    /// <summary>Most members of one list or sequence.</summary>
    public const int MembersMax = 10_000;

    /// <summary>Most lists, sequences or saved searches of one kind a team keeps.</summary>
    public const int CollectionsMax = 1_000;

    private const string CollectionPrefix = "pc|";
    private const string MemberPrefix = "pm|";

    /// <summary>The id prefix of <paramref name="kind"/>.</summary>
    public static string IdPrefix(CollectionKind kind) => kind switch
    {
        CollectionKind.List => "lst_",
        CollectionKind.Sequence => "seq_",
        _ => "srch_",
    };

    /// <summary>Whether <paramref name="id"/> has the shape of a <paramref name="kind"/>'s id.</summary>
    public static bool IsId(CollectionKind kind, string? id) =>
        id is not null && id.StartsWith(IdPrefix(kind), StringComparison.Ordinal) && id.Length == IdPrefix(kind).Length + 24
        && !id.AsSpan(IdPrefix(kind).Length).ContainsAnyExcept(LowerHex);

    /// <summary>The digits of ids.</summary>
    internal static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    /// <summary>Makes a new list, sequence or saved search.</summary>
    /// <exception cref="InvalidOperationException">The team has <see cref="CollectionsMax"/> of that kind already.</exception>
    public async Task<CollectionRow> CreateAsync(string teamId, CollectionKind kind, string name, string userId, string? queryJson, CancellationToken ct)
    {
        if ((await ListAsync(teamId, kind, ct).ConfigureAwait(false)).Count >= CollectionsMax)
        {
            throw new InvalidOperationException($"A team keeps at most {CollectionsMax} of these.");
        }
        var id = IdPrefix(kind) + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var row = new CollectionRow
        {
            PartitionKey = teamId, RowKey = CollectionKey(id), Id = id, Name = name, CreatedAt = clock.GetUtcNow(), CreatedBy = userId, QueryJson = queryJson,
        };
        await table.AddEntityAsync(row, ct).ConfigureAwait(false);
        return row;
    }

    /// <summary>The team's list, sequence or saved search, or null (another team's is null too).</summary>
    public Task<CollectionRow?> GetAsync(string teamId, CollectionKind kind, string id, CancellationToken ct) =>
        IsId(kind, id) ? table.GetEntityOrNullAsync<CollectionRow>(teamId, CollectionKey(id), ct) : Task.FromResult<CollectionRow?>(null);

    /// <summary>The team's collections of <paramref name="kind"/>, newest first.</summary>
    public async Task<IReadOnlyList<CollectionRow>> ListAsync(string teamId, CollectionKind kind, CancellationToken ct)
    {
        var from = CollectionPrefix + IdPrefix(kind);
        var rows = new List<CollectionRow>();
        await foreach (var row in table.QueryAsync<CollectionRow>(r => r.PartitionKey == teamId && r.RowKey.CompareTo(from) >= 0 && r.RowKey.CompareTo(from + "~") < 0,
            cancellationToken: ct).ConfigureAwait(false))
        {
            rows.Add(row);
        }
        return [.. rows.OrderByDescending(r => r.CreatedAt)];
    }

    /// <summary>Adds <paramref name="member"/> to the list or sequence <paramref name="collectionId"/>; false when it was a member already.</summary>
    public async Task<bool> AddMemberAsync(string teamId, string collectionId, MemberRow member, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(member);
        member.PartitionKey = teamId;
        member.RowKey = MemberKey(collectionId, member.ContactId);
        try
        {
            await table.AddEntityAsync(member, ct).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return false;
        }
    }

    /// <summary>Removes the contact from the list or sequence; false when it was not a member.</summary>
    public async Task<bool> RemoveMemberAsync(string teamId, string collectionId, string contactId, CancellationToken ct)
    {
        try
        {
            await table.DeleteEntityAsync(teamId, MemberKey(collectionId, contactId), ETag.All, ct).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return false;
        }
    }

    /// <summary>A page of the members in contact id order: at most <paramref name="limit"/> after <paramref name="after"/>.</summary>
    public async Task<IReadOnlyList<MemberRow>> MembersAsync(string teamId, string collectionId, string? after, int limit, CancellationToken ct)
    {
        var prefix = MemberPrefix + collectionId + "|";
        var from = after is null ? prefix : prefix + after + "\u0001";
        var rows = new List<MemberRow>(Math.Min(limit, 1000));
        await foreach (var row in table.QueryAsync<MemberRow>(r => r.PartitionKey == teamId && r.RowKey.CompareTo(from) >= 0 && r.RowKey.CompareTo(prefix + "~") < 0,
            maxPerPage: Math.Min(limit, 1000), cancellationToken: ct).ConfigureAwait(false))
        {
            rows.Add(row);
            if (rows.Count == limit)
            {
                break;
            }
        }
        return rows;
    }

    /// <summary>How many members the list or sequence has.</summary>
    public async Task<int> CountAsync(string teamId, string collectionId, CancellationToken ct)
    {
        var prefix = MemberPrefix + collectionId + "|";
        var count = 0;
        await foreach (var _ in table.QueryAsync<TableEntity>(r => r.PartitionKey == teamId && r.RowKey.CompareTo(prefix) >= 0 && r.RowKey.CompareTo(prefix + "~") < 0,
            select: ["RowKey"], cancellationToken: ct).ConfigureAwait(false))
        {
            count++;
        }
        return count;
    }

    private static string CollectionKey(string id) => CollectionPrefix + id;

    private static string MemberKey(string collectionId, string contactId) => MemberPrefix + collectionId + "|" + contactId;
}
