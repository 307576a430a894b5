using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;

namespace CreditFunctions.Ledger;

/// <summary>The ledger's table: typed reads of a team's partition and transactional writes.</summary>
internal sealed class LedgerStore(TableClient table)
{
    public TableClient Table { get; } = table;

    public Task CreateIfNotExistsAsync(CancellationToken ct) => Table.CreateIfNotExistsAsync(ct);

    public async Task<Dictionary<string, WalletState>> LoadWalletsAsync(string teamId, CancellationToken ct)
    {
        var wallets = new Dictionary<string, WalletState>(StringComparer.Ordinal);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {LedgerKeys.WalletFrom} and RowKey lt {LedgerKeys.WalletTo}");
        await foreach (var row in Table.QueryAsync<WalletRow>(filter, cancellationToken: ct).ConfigureAwait(false))
        {
            var creditType = row.RowKey[LedgerKeys.WalletFrom.Length..];
            wallets[creditType] = WalletState.FromRow(creditType, row);
        }
        return wallets;
    }

    /// <summary>What <paramref name="userId"/> spent of <paramref name="creditType"/> since <paramref name="since"/>: their
    /// charge lines minus their refund lines, read from the user's copies (newest first, so the range ends at
    /// <paramref name="since"/>).</summary>
    public async Task<long> SumSpentSinceAsync(string teamId, string userId, string creditType, DateTimeOffset since, CancellationToken ct)
    {
        var prefix = LedgerKeys.UserLine(userId, string.Empty);
        var upper = prefix + LedgerKeys.InvertedTicks(since) + "g"; // after every line id of that instant (hex digits)
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {prefix} and RowKey lt {upper}");
        long spent = 0;
        await foreach (var line in Table.QueryAsync<LineRow>(filter, select: ["Kind", "CreditType", "Amount"], cancellationToken: ct).ConfigureAwait(false))
        {
            if (line.CreditType == creditType)
            {
                spent += line.Kind == LineKinds.Charge ? line.Amount : line.Kind == LineKinds.Refund ? -line.Amount : 0;
            }
        }
        return Math.Max(0, spent);
    }

    public Task<IdempotencyRow?> GetIdempotencyAsync(string teamId, string key, CancellationToken ct) =>
        Table.GetEntityOrNullAsync<IdempotencyRow>(teamId, LedgerKeys.Idempotency(key), ct);

    public async Task<bool> OwnershipExistsAsync(string teamId, string ownershipKey, CancellationToken ct) =>
        await Table.GetEntityOrNullAsync<OwnershipRow>(teamId, ownershipKey, ct).ConfigureAwait(false) is not null;

    public Task<OwnershipRow?> GetOwnershipAsync(string teamId, string ownershipKey, CancellationToken ct) =>
        Table.GetEntityOrNullAsync<OwnershipRow>(teamId, ownershipKey, ct);

    public Task<LineRow?> GetLineAsync(string teamId, string lineId, CancellationToken ct) =>
        LedgerKeys.IsLineId(lineId) ? Table.GetEntityOrNullAsync<LineRow>(teamId, LedgerKeys.Line(lineId), ct) : Task.FromResult<LineRow?>(null);

    public Task<HoldRow?> GetHoldAsync(string teamId, string holdId, CancellationToken ct) =>
        Table.GetEntityOrNullAsync<HoldRow>(teamId, LedgerKeys.Hold(holdId), ct);

    public Task<DaySummaryRow?> GetDaySummaryAsync(string teamId, string rowKey, CancellationToken ct) =>
        Table.GetEntityOrNullAsync<DaySummaryRow>(teamId, rowKey, ct);

    public Task<SummaryMarkerRow?> GetSummaryMarkerAsync(string teamId, CancellationToken ct) =>
        Table.GetEntityOrNullAsync<SummaryMarkerRow>(teamId, DaySummaryKeys.Marker, ct);

    /// <summary>Day summaries of one prefix (<c>D|t|</c> or <c>D|u|user|</c>) from <paramref name="first"/> to
    /// <paramref name="last"/>, both included, oldest first.</summary>
    public IAsyncEnumerable<DaySummaryRow> QueryDaySummariesAsync(string teamId, string prefix, DateOnly first, DateOnly last, CancellationToken ct)
    {
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {teamId} and RowKey ge {prefix + DaySummaryKeys.Day(first)} and RowKey le {prefix + DaySummaryKeys.Day(last)}");
        return Table.QueryAsync<DaySummaryRow>(filter, cancellationToken: ct);
    }

    public async Task<IReadOnlyList<Response>> SubmitAsync(IReadOnlyList<TableTransactionAction> actions, CancellationToken ct) =>
        (await Table.SubmitTransactionAsync(actions, ct).ConfigureAwait(false)).Value;

    /// <summary>Lines of one prefix (<c>L|</c> or <c>U|user|</c>) between two row keys, newest first.</summary>
    public IAsyncEnumerable<LineRow> QueryLinesAsync(string teamId, string fromRowKeyExclusive, string toRowKeyExclusive, string? extraFilter, int pageSize, CancellationToken ct)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey gt {fromRowKeyExclusive} and RowKey lt {toRowKeyExclusive}");
        if (!string.IsNullOrEmpty(extraFilter))
        {
            filter += " and (" + extraFilter + ")";
        }
        return Table.QueryAsync<LineRow>(filter, maxPerPage: pageSize, cancellationToken: ct);
    }

    /// <summary>Every row of a team (for verification): a full partition read, for operators only.</summary>
    public IAsyncEnumerable<TableEntity> ScanTeamAsync(string teamId, CancellationToken ct) =>
        Table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {teamId}"), cancellationToken: ct);
}
