using System.Collections.Concurrent;
using System.Text;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Ledger;

/// <summary>Where the ledger keeps its rows and how it dates them.</summary>
public sealed record LedgerOptions
{
    /// <summary>The ledger table's name; default <c>ledger</c>.</summary>
    public string TableName { get; init; } = "ledger";

    /// <summary>How far ahead "expiring soon" looks; default 7 days.</summary>
    public TimeSpan ExpiringSoonWindow { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Most operations of one team committed together; default 100 (the transaction's row limit decides
    /// first). 1 turns group commit off: one transaction per operation, the benchmark's naive baseline.</summary>
    public int MaxOperationsPerCommit { get; init; } = 100;

    /// <summary>Most operations of one team waiting to commit; default 10,000. Beyond it a write is refused as
    /// <see cref="LedgerUnavailableException"/> (503 with <c>Retry-After</c>: retry with the same key).</summary>
    public int IntakeMax { get; init; } = 10_000;

    /// <summary>How long a team's committer (its queue, wallet cache and recent keys) stays in memory without an
    /// operation; default 5 minutes. The next operation of the team starts a new one, which reads the wallets again.</summary>
    public TimeSpan CommitterIdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How operations reach storage; default <see cref="LedgerCommitMode.GroupCommit"/>.</summary>
    public LedgerCommitMode CommitMode { get; init; } = LedgerCommitMode.GroupCommit;
}

/// <summary>How the ledger commits operations.</summary>
public enum LedgerCommitMode
{
    /// <summary>One long-lived committer per team batches concurrent operations into shared transactions.</summary>
    GroupCommit,

    /// <summary>Each operation reads the wallet, commits its own transaction under the wallet's ETag and retries when
    /// another request won the race: what a stateless per-request handler does. The benchmark's naive baseline.</summary>
    PerRequest,
}

/// <summary>
/// The credit ledger: grants, charges, refunds and holds for every team, each exactly once per idempotency key,
/// and the reads behind balances, usage history and verification.
/// </summary>
/// <remarks>
/// Every write goes through the team's <see cref="TeamCommitter"/>, which commits concurrent operations of one team
/// together in one entity-group transaction. Validation errors throw <see cref="LedgerValidationException"/> before
/// anything is read or written; refusals (insufficient credits, unknown charge, …) return a result with that status
/// and write nothing; <see cref="LedgerUnavailableException"/> means the outcome is unknown and the same request may be
/// retried with the same idempotency key.
/// </remarks>
public sealed partial class LedgerService
{
    private readonly LedgerStore _store;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly LedgerOptions _options;
    private readonly ConcurrentDictionary<string, TeamCommitter> _committers = new(StringComparer.Ordinal);
    private readonly ILowBalanceAlertSink? _alerts;

    /// <summary>Creates the ledger on <paramref name="tables"/>.</summary>
    public LedgerService(TableServiceClient tables, Catalog catalog, LedgerOptions options, TimeProvider clock, ILogger<LedgerService> logger,
        ILowBalanceAlertSink? alerts = null)
    {
        _alerts = alerts;
        ArgumentNullException.ThrowIfNull(tables);
        _options = options;
        _store = new LedgerStore(tables.GetTableClient(options.TableName));
        Catalog = catalog;
        _clock = clock;
        _logger = logger;
    }

    /// <summary>The price list in force.</summary>
    public Catalog Catalog { get; }

    /// <summary>Creates the ledger's table if needed.</summary>
    public Task InitializeAsync(CancellationToken cancellationToken = default) => _store.CreateIfNotExistsAsync(cancellationToken);

    /// <summary>Charges one catalog action (only on a hit: call it once the data was found). Data the team already
    /// owns costs 0 and is recorded as a 0-credit line. With <see cref="ChargeRequest.HoldId"/> the price is drawn from
    /// that open hold instead of the available balance, never beyond what is left of it.</summary>
    public Task<LedgerResult> ChargeAsync(ChargeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Caller(request.TeamId, request.UserId, request.IdempotencyKey);
        if (request.HoldId is not null)
        {
            HoldId(request.HoldId);
        }
        else if (request.RollUp)
        {
            throw new LedgerValidationException("rollUp", "needs a holdId: a job line sums the charges drawn from one hold");
        }
        var action = FindAction(request.Feature, request.Action);
        if (action.DataType is not null && string.IsNullOrWhiteSpace(request.SubjectId))
        {
            throw new LedgerValidationException("subjectId", $"is required: {action.Feature}/{action.Action} buys {action.DataType} data of a subject");
        }
        LedgerRules.Text(request.SubjectId, "subjectId", max: LedgerRules.SubjectIdMaxLength);
        LedgerRules.Text(request.Description, "description");
        LedgerRules.Text(request.RelatedRecord, "relatedRecord");
        return Enqueue(new ChargeOperation(request, action));
    }

    /// <summary>Grants credits (a plan allocation or a top-up).</summary>
    public Task<LedgerResult> GrantAsync(GrantRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Caller(request.TeamId, request.UserId, request.IdempotencyKey);
        CreditType(request.CreditType);
        LedgerRules.Positive(request.Amount, "amount");
        if (request.Kind == GrantKind.Refund)
        {
            throw new LedgerValidationException("kind", "must be plan or top_up");
        }
        if (request.ExpiresAt is { } expires && expires <= _clock.GetUtcNow())
        {
            throw new LedgerValidationException("expiresAt", "must be in the future");
        }
        if (request.Priority is < 0 or > 1000)
        {
            throw new LedgerValidationException("priority", "must be between 0 and 1000");
        }
        LedgerRules.Text(request.Description, "description");
        return Enqueue(new GrantOperation(request));
    }

    /// <summary>Refunds part or all of a charge; never more than it cost minus earlier refunds.</summary>
    public Task<LedgerResult> RefundAsync(RefundRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Caller(request.TeamId, request.UserId, request.IdempotencyKey);
        if (string.IsNullOrEmpty(request.ChargeId))
        {
            throw new LedgerValidationException("chargeId", "is required");
        }
        LedgerRules.Text(request.Reason, "reason", required: true);
        LedgerRules.Text(request.SubjectId, "subjectId", max: LedgerRules.SubjectIdMaxLength);
        if (request.Amount is { } amount)
        {
            LedgerRules.Positive(amount, "amount");
        }
        return Enqueue(new RefundOperation(request));
    }

    /// <summary>Reserves up to an amount for an action; draw charges from it, capture or void it later, or it releases
    /// what is left of it at expiry.</summary>
    public Task<LedgerResult> PlaceHoldAsync(HoldRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Caller(request.TeamId, request.UserId, request.IdempotencyKey);
        var action = FindAction(request.Feature, request.Action);
        LedgerRules.Positive(request.Amount, "amount");
        var now = _clock.GetUtcNow();
        if (request.ExpiresAt <= now || request.ExpiresAt > now + LedgerRules.HoldLifetimeMax)
        {
            throw new LedgerValidationException("expiresAt", $"must be in the future and at most {LedgerRules.HoldLifetimeMax.TotalDays:0} days away");
        }
        LedgerRules.Text(request.Description, "description");
        LedgerRules.Text(request.RelatedRecord, "relatedRecord");
        return Enqueue(new HoldOperation(request, action));
    }

    /// <summary>Captures part or all of what is left of an open hold (charged under the hold's action); releases the rest.</summary>
    /// <summary>A hold of the team as the API shows it, or null when the team has none with this id.</summary>
    public async Task<HoldView?> GetHoldAsync(string teamId, string holdId, CancellationToken cancellationToken = default) =>
        await _store.GetHoldAsync(teamId, holdId, cancellationToken).ConfigureAwait(false) is { } row ? HoldView.From(row, _clock.GetUtcNow()) : null;

    /// <summary>The team's open holds (only <paramref name="userId"/>'s when given), soonest expiry first, at most
    /// <paramref name="limit"/>. A hold past its expiry is not open.</summary>
    public async Task<IReadOnlyList<HoldView>> ListOpenHoldsAsync(string teamId, string? userId, int limit, CancellationToken cancellationToken = default)
    {
        var now = _clock.GetUtcNow();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {"H|"} and RowKey lt {"H}"} and State eq {HoldStates.Open}");
        var open = new List<HoldView>();
        await foreach (var row in _store.Table.QueryAsync<HoldRow>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (row.ExpiresAt > now && (userId is null || row.UserId == userId))
            {
                open.Add(HoldView.From(row, now));
            }
        }
        return [.. open.OrderBy(h => h.ExpiresAt).Take(limit)];
    }

    public Task<LedgerResult> CaptureHoldAsync(CaptureRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Caller(request.TeamId, request.UserId, request.IdempotencyKey);
        HoldId(request.HoldId);
        if (request.Amount < Credits.Zero || request.Amount > Credits.MaxAmount)
        {
            throw new LedgerValidationException("amount", "must be between 0 and the held amount");
        }
        return Enqueue(new SettleHoldOperation(request));
    }

    /// <summary>Releases what is left of an open hold; charges drawn from it stay charged.</summary>
    public Task<LedgerResult> VoidHoldAsync(VoidRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Caller(request.TeamId, request.UserId, request.IdempotencyKey);
        HoldId(request.HoldId);
        return Enqueue(new SettleHoldOperation(request));
    }

    /// <summary>The team's balances of every configured credit type, read fresh from storage.</summary>
    public async Task<IReadOnlyList<BalanceView>> GetBalancesAsync(string teamId, CancellationToken cancellationToken = default)
    {
        LedgerRules.Team(teamId);
        var wallets = await _store.LoadWalletsAsync(teamId, cancellationToken).ConfigureAwait(false);
        var now = _clock.GetUtcNow();
        return Catalog.CreditTypes.Select(type =>
        {
            var w = wallets.GetValueOrDefault(type) ?? WalletState.Empty(type);
            var expiredUnswept = w.RecordedBalance - w.Balance(now);
            return new BalanceView(type, new Credits(w.Available(now)), new Credits(w.Held(now)), new Credits(w.Balance(now)),
                new Credits(w.Granted), new Credits(w.Spent), new Credits(w.Refunded), new Credits(w.Expired + expiredUnswept),
                new Credits(w.ExpiringBefore(now, now + _options.ExpiringSoonWindow)));
        }).ToList();
    }

    /// <summary>
    /// A page of usage lines, newest first. Reads only the lines of the date range (and only the user's copies
    /// when a user is given), never the whole partition.
    /// </summary>
    public async Task<UsagePage> QueryUsageAsync(UsageQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var (prefix, lower, upper) = UsageRange(query);
        if (query.Limit is < 1 or > 500)
        {
            throw new LedgerValidationException("limit", "must be between 1 and 500");
        }
        if (query.Cursor is not null)
        {
            var after = DecodeCursor(query.Cursor, prefix);
            if (string.CompareOrdinal(after, lower) > 0)
            {
                lower = after;
            }
        }
        var lines = new List<UsageLine>(query.Limit);
        string? lastRowKey = null;
        var more = false;
        await foreach (var row in _store.QueryLinesAsync(query.TeamId, lower, upper, LineFilter(query), Math.Min(1000, query.Limit + 1), cancellationToken).ConfigureAwait(false))
        {
            if (lines.Count == query.Limit)
            {
                more = true;
                break;
            }
            lines.Add(ToUsageLine(row));
            lastRowKey = row.RowKey;
        }
        return new UsagePage(lines, more && lastRowKey is not null ? EncodeCursor(lastRowKey) : null);
    }

    /// <summary>Every usage line matching <paramref name="query"/> (for CSV export and the graph), newest first.</summary>
    public async IAsyncEnumerable<UsageLine> StreamUsageAsync(UsageQuery query, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var (_, lower, upper) = UsageRange(query);
        await foreach (var row in _store.QueryLinesAsync(query.TeamId, lower, upper, LineFilter(query), 1000, cancellationToken).ConfigureAwait(false))
        {
            yield return ToUsageLine(row);
        }
    }

    /// <summary>
    /// Credits used per day and feature in the range: charged, refunded (when included) and the net. Whole UTC days
    /// from the summaries' marker on are read from the day summaries (one row per day: the team's, or the user's when a
    /// user is given); lines dated before the marker (older data) and the partial days at the ends of a range that does
    /// not start or end at midnight are added up from the lines themselves.
    /// </summary>
    public async Task<IReadOnlyList<UsageSeries>> SummarizeUsageAsync(UsageQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        UsageRange(query);
        var to = query.To ?? _clock.GetUtcNow();
        var from = query.From ?? to - TimeSpan.FromDays(30);
        var days = new SortedDictionary<string, SortedDictionary<DateOnly, (long Charged, long Refunded)>>(StringComparer.Ordinal);
        void Count(string feature, DateOnly day, long charged, long refunded)
        {
            var perDay = days.TryGetValue(feature, out var d) ? d : days[feature] = [];
            var (c, r) = perDay.GetValueOrDefault(day);
            perDay[day] = (c + charged, r + refunded);
        }
        async Task ScanAsync(DateTimeOffset start, DateTimeOffset end)
        {
            if (start >= end)
            {
                return;
            }
            await foreach (var line in StreamUsageAsync(query with { From = start, To = end, Cursor = null }, cancellationToken).ConfigureAwait(false))
            {
                if (line.Kind == LineKinds.Expiry || line.Feature is null)
                {
                    continue;
                }
                var day = DateOnly.FromDateTime(line.Date.UtcDateTime);
                Count(line.Feature, day, line.Kind == LineKinds.Refund ? 0 : line.Credits.Thousandths, line.Kind == LineKinds.Refund ? -line.Credits.Thousandths : 0);
            }
        }
        var marker = (await _store.GetSummaryMarkerAsync(query.TeamId, cancellationToken).ConfigureAwait(false))?.From;
        var firstWhole = new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero);
        if (firstWhole < from)
        {
            firstWhole = firstWhole.AddDays(1);
        }
        var endWhole = new DateTimeOffset(to.UtcDateTime.Date, TimeSpan.Zero);
        if (marker is not { } summarizedFrom || firstWhole >= endWhole || summarizedFrom >= endWhole)
        {
            await ScanAsync(from, to).ConfigureAwait(false);
        }
        else
        {
            await ScanAsync(from, firstWhole).ConfigureAwait(false);
            await ScanAsync(endWhole, to).ConfigureAwait(false);
            // Lines dated before the marker are in no summary; from the marker on, every line is in one.
            await ScanAsync(firstWhole, summarizedFrom).ConfigureAwait(false);
            var firstDay = DateOnly.FromDateTime((summarizedFrom > firstWhole ? summarizedFrom : firstWhole).UtcDateTime);
            var lastDay = DateOnly.FromDateTime(endWhole.UtcDateTime).AddDays(-1);
            var prefix = query.UserId is null ? DaySummaryKeys.TeamPrefix : DaySummaryKeys.UserPrefix + query.UserId + "|";
            await foreach (var row in _store.QueryDaySummariesAsync(query.TeamId, prefix, firstDay, lastDay, cancellationToken).ConfigureAwait(false))
            {
                var day = DaySummaryKeys.DayOf(row.RowKey);
                foreach (var (feature, action, charged, refunded) in DayTotals.Parse(row.Totals).Items)
                {
                    if ((query.Feature is null || query.Feature == feature) && (query.Action is null || query.Action == action))
                    {
                        Count(feature, day, charged, query.IncludeRefunds ? refunded : 0);
                    }
                }
            }
        }
        return days.Select(f => new UsageSeries(f.Key, FeatureName(f.Key), f.Value.Select(p =>
            new UsagePoint(p.Key, new Credits(p.Value.Charged - p.Value.Refunded), new Credits(p.Value.Charged), new Credits(p.Value.Refunded))).ToList())).ToList();
    }

    /// <summary>The features, actions and users this team has used (from markers written with the lines); with
    /// <paramref name="onlyUser"/>, only the actions that user used, and only that user.</summary>
    public async Task<(IReadOnlyList<CatalogAction> Actions, IReadOnlyList<string> Users)> GetUsedFiltersAsync(string teamId, string? onlyUser, CancellationToken cancellationToken = default)
    {
        LedgerRules.Team(teamId);
        var actions = new List<CatalogAction>();
        var users = new SortedSet<string>(StringComparer.Ordinal);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {LedgerKeys.MarkerFrom} and RowKey lt {LedgerKeys.MarkerTo}");
        await foreach (var row in _store.Table.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (row.RowKey.StartsWith(LedgerKeys.UserActionMarkerPrefix, StringComparison.Ordinal))
            {
                // A member's lists: only what they used themselves. The team's users are the users of these markers.
                var parts = row.RowKey[LedgerKeys.UserActionMarkerPrefix.Length..].Split('|');
                if (parts.Length == 3 && (onlyUser is null || parts[0] == onlyUser))
                {
                    users.Add(parts[0]);
                    if (onlyUser is not null && Catalog.Find(parts[1], parts[2]) is { } action)
                    {
                        actions.Add(action);
                    }
                }
            }
            else if (onlyUser is null && row.RowKey.StartsWith(LedgerKeys.ActionMarkerPrefix, StringComparison.Ordinal))
            {
                var parts = row.RowKey[LedgerKeys.ActionMarkerPrefix.Length..].Split('|');
                if (parts.Length == 2 && Catalog.Find(parts[0], parts[1]) is { } action)
                {
                    actions.Add(action);
                }
            }
            else if (row.RowKey.StartsWith(LedgerKeys.UserMarkerPrefix, StringComparison.Ordinal))
            {
                // Written before the per-user action markers; a member's own marker alone offers them no action.
                var user = row.RowKey[LedgerKeys.UserMarkerPrefix.Length..];
                if (onlyUser is null || user == onlyUser)
                {
                    users.Add(user);
                }
            }
        }
        return (actions, [.. users]);
    }

    /// <summary>
    /// Recomputes every wallet of the team from its lines and reports any difference: balance = grants − charges +
    /// refunds − expiries; the wallet's counters; refunds per charge; each hold's charges (draws and capture) against
    /// its amount; and what the wallet reserves for each open hold against what is left of it, so that available =
    /// balance − what open holds have left. Reads the whole partition.
    /// </summary>
    /// <remarks>
    /// The reads are not one snapshot, so a pass that overlaps a commit could see the commit's lines and not its wallet.
    /// A pass counts only when the team's wallets and newest line are the same after it as before it; otherwise it is
    /// run again (up to <see cref="VerifyPassesMax"/> times, then the report says only that the ledger kept changing).
    /// </remarks>
    public async Task<VerifyReport> VerifyAsync(string teamId, CancellationToken cancellationToken = default)
    {
        LedgerRules.Team(teamId);
        for (var pass = 1; ; pass++)
        {
            var before = await SnapshotAsync(teamId, cancellationToken).ConfigureAwait(false);
            var report = await VerifyPassAsync(teamId, cancellationToken).ConfigureAwait(false);
            if (await SnapshotAsync(teamId, cancellationToken).ConfigureAwait(false) == before)
            {
                if (!report.Ok)
                {
                    LogVerifyProblems(_logger, teamId, report.Problems.Count);
                }
                return report;
            }
            if (pass == VerifyPassesMax)
            {
                // Differences seen by a pass that overlapped commits prove nothing either way: say only that.
                return report with { Problems = [$"the ledger changed during each of {VerifyPassesMax} passes; verify again when it is quiet"] };
            }
        }
    }

    /// <summary>How many times verification reads the partition at most before it gives up on a quiet moment.</summary>
    public const int VerifyPassesMax = 5;

    /// <summary>The wallets' ETags and the newest line id: what changes with every commit that verification can see.</summary>
    private async Task<string> SnapshotAsync(string teamId, CancellationToken ct)
    {
        var wallets = await _store.LoadWalletsAsync(teamId, ct).ConfigureAwait(false);
        string? newest = null;
        await foreach (var line in _store.QueryLinesAsync(teamId, "L|", "L}", null, 1, ct).ConfigureAwait(false))
        {
            newest = line.LineId;
            break;
        }
        return string.Join(";", wallets.OrderBy(w => w.Key, StringComparer.Ordinal).Select(w => w.Key + "=" + w.Value.ETag)) + "|" + newest;
    }

    private async Task<VerifyReport> VerifyPassAsync(string teamId, CancellationToken cancellationToken)
    {
        var now = _clock.GetUtcNow();
        var wallets = await _store.LoadWalletsAsync(teamId, cancellationToken).ConfigureAwait(false);
        var sums = new Dictionary<string, long[]>(StringComparer.Ordinal); // granted, charged, refunded, expired
        var charges = new Dictionary<string, LineRow>(StringComparer.Ordinal);
        var refundsByCharge = new Dictionary<string, long>(StringComparer.Ordinal);
        var chargedByHold = new Dictionary<string, (long Amount, string CreditType)>(StringComparer.Ordinal);
        var lineCount = 0;
        var expiryLines = 0;
        var problems = new List<string>();
        var summariesFrom = (await _store.GetSummaryMarkerAsync(teamId, cancellationToken).ConfigureAwait(false))?.From;
        var expectedDays = new Dictionary<string, DayTotals>(StringComparer.Ordinal);
        await foreach (var line in _store.QueryLinesAsync(teamId, "L|", "L}", null, 1000, cancellationToken).ConfigureAwait(false))
        {
            lineCount++;
            if (summariesFrom is { } summarized && line.At >= summarized && DaySummaryKeys.Counts(line))
            {
                var day = DateOnly.FromDateTime(line.At.UtcDateTime);
                foreach (var key in new[] { DaySummaryKeys.Team(day), DaySummaryKeys.User(line.UserId, day) })
                {
                    (expectedDays.TryGetValue(key, out var totals) ? totals : expectedDays[key] = DayTotals.Empty()).Add(line);
                }
            }
            var s = sums.TryGetValue(line.CreditType, out var v) ? v : sums[line.CreditType] = new long[4];
            switch (line.Kind)
            {
                case LineKinds.Grant: s[0] += line.Amount; break;
                case LineKinds.Charge:
                    s[1] += line.Amount;
                    charges[line.LineId] = line;
                    if (line.HoldId is { } holdId)
                    {
                        chargedByHold[holdId] = (chargedByHold.GetValueOrDefault(holdId).Amount + line.Amount, line.CreditType);
                    }
                    break;
                case LineKinds.Refund:
                    s[2] += line.Amount;
                    refundsByCharge[line.ChargeId ?? string.Empty] = refundsByCharge.GetValueOrDefault(line.ChargeId ?? string.Empty) + line.Amount;
                    break;
                case LineKinds.Expiry: s[3] += line.Amount; expiryLines++; break;
                default: problems.Add($"line {line.LineId} has unknown kind '{line.Kind}'"); break;
            }
        }
        var userCopies = 0;
        await foreach (var _ in _store.QueryLinesAsync(teamId, "U|", "U}", null, 1000, cancellationToken).ConfigureAwait(false))
        {
            userCopies++;
        }

        var checks = new List<WalletCheck>();
        foreach (var type in wallets.Keys.Union(sums.Keys).Order(StringComparer.Ordinal))
        {
            var w = wallets.GetValueOrDefault(type) ?? WalletState.Empty(type);
            var s = sums.GetValueOrDefault(type) ?? new long[4];
            var recomputed = s[0] - s[1] + s[2] - s[3];
            checks.Add(new WalletCheck(type, new Credits(w.RecordedBalance), new Credits(recomputed), new Credits(s[0]), new Credits(s[1]), new Credits(s[2]), new Credits(s[3])));
            if (recomputed != w.RecordedBalance)
            {
                problems.Add($"{type}: wallet holds {new Credits(w.RecordedBalance)} but its lines add up to {new Credits(recomputed)}");
            }
            if (w.Granted != s[0] || w.Spent != s[1] || w.Refunded != s[2] || w.Expired != s[3])
            {
                problems.Add($"{type}: wallet counters (granted {w.Granted}, spent {w.Spent}, refunded {w.Refunded}, expired {w.Expired}) differ from its lines ({s[0]}, {s[1]}, {s[2]}, {s[3]}) in thousandths");
            }
            if (w.Buckets.Any(b => b.Remaining < 0))
            {
                problems.Add($"{type}: a grant bucket is negative");
            }
        }
        foreach (var (chargeId, refunded) in refundsByCharge)
        {
            if (!charges.TryGetValue(chargeId, out var charge))
            {
                problems.Add($"refunds point at missing charge {chargeId}");
            }
            else if (charge.RefundedSoFar != refunded || refunded > charge.Amount)
            {
                problems.Add($"charge {chargeId}: refunded {refunded} of {charge.Amount} but records {charge.RefundedSoFar} (thousandths)");
            }
        }
        foreach (var charge in charges.Values.Where(c => c.RefundedSoFar != 0 && !refundsByCharge.ContainsKey(c.LineId)))
        {
            problems.Add($"charge {charge.LineId} records refunds {charge.RefundedSoFar} that no refund line accounts for");
        }
        await VerifyHoldsAsync(teamId, wallets, chargedByHold, charges, now, problems, cancellationToken).ConfigureAwait(false);
        await VerifyDaySummariesAsync(teamId, expectedDays, problems, cancellationToken).ConfigureAwait(false);
        // Expiry lines have no user copy; every other line has exactly one.
        if (userCopies != lineCount - expiryLines)
        {
            problems.Add($"{lineCount - expiryLines} user lines expected, {userCopies} found");
        }
        return new VerifyReport(teamId, checks, problems);
    }

    private async Task VerifyHoldsAsync(string teamId, Dictionary<string, WalletState> wallets, Dictionary<string, (long Amount, string CreditType)> chargedByHold,
        Dictionary<string, LineRow> charges, DateTimeOffset now, List<string> problems, CancellationToken ct)
    {
        var jobLines = charges.Values.Where(c => c.Leads is not null).ToDictionary(c => c.LineId, StringComparer.Ordinal);
        var open = new Dictionary<string, HoldRow>(StringComparer.Ordinal);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {"H|"} and RowKey lt {"H}"}");
        await foreach (var hold in _store.Table.QueryAsync<HoldRow>(filter, cancellationToken: ct).ConfigureAwait(false))
        {
            if (hold.State == HoldStates.Open && hold.ExpiresAt > now)
            {
                open[hold.HoldId] = hold;
            }
            if (hold.Drawn < 0 || hold.Captured < 0 || hold.Drawn + hold.Captured > hold.Amount)
            {
                problems.Add($"hold {hold.HoldId} charged {hold.Drawn} drawn + {hold.Captured} captured of {hold.Amount} held (thousandths)");
            }
            // A job line is what its hold says it holds: its leads, credits and refunds.
            foreach (var jobLine in hold.RollUpMap().Values)
            {
                if (!jobLines.Remove(jobLine.LineId, out var row) || row.Amount != jobLine.Amount || row.RefundedSoFar != jobLine.Refunded
                    || row.Leads != jobLine.Leads || row.OwnedLeads != jobLine.OwnedLeads || row.HoldId != hold.HoldId)
                {
                    problems.Add($"job line {jobLine.LineId} of hold {hold.HoldId} differs from what the hold records ({jobLine.Leads} leads, {jobLine.Amount} charged, {jobLine.Refunded} refunded, thousandths)");
                }
            }
            // Every draw and the capture is a charge line naming the hold, and nothing else is.
            var charged = chargedByHold.Remove(hold.HoldId, out var lines) ? lines : default;
            if (charged.Amount != hold.Drawn + hold.Captured || (charged.CreditType is { } type && type != hold.CreditType))
            {
                problems.Add($"hold {hold.HoldId}: its charge lines add up to {charged.Amount} {charged.CreditType} but it records {hold.Drawn} drawn + {hold.Captured} captured {hold.CreditType} (thousandths)");
            }
        }
        foreach (var orphan in chargedByHold.Keys)
        {
            problems.Add($"charge lines name hold {orphan}, which does not exist");
        }
        foreach (var orphan in jobLines.Keys)
        {
            problems.Add($"job line {orphan} is not on its hold");
        }
        // The wallets reserve, per expiry instant, exactly what their open holds of that expiry still have left.
        foreach (var wallet in wallets.Values)
        {
            var expected = open.Values.Where(h => h.CreditType == wallet.CreditType).GroupBy(h => h.ExpiresAt.UtcTicks)
                .ToDictionary(g => g.Key, g => g.Sum(h => h.Remaining));
            foreach (var (ticks, held) in wallet.HeldUntil.Where(h => h.Key > now.UtcTicks))
            {
                if (expected.Remove(ticks, out var left) ? left != held : held != 0)
                {
                    problems.Add($"{wallet.CreditType}: wallet reserves {held} until {new DateTimeOffset(ticks, TimeSpan.Zero):O} but its open holds of that expiry have {left} left (thousandths)");
                }
            }
            foreach (var (ticks, left) in expected.Where(e => e.Value != 0))
            {
                problems.Add($"{wallet.CreditType}: open holds expiring {new DateTimeOffset(ticks, TimeSpan.Zero):O} have {left} left that the wallet does not reserve (thousandths)");
            }
        }
        foreach (var orphan in open.Values.Where(h => !wallets.ContainsKey(h.CreditType) && h.Remaining != 0))
        {
            problems.Add($"open hold {orphan.HoldId} has {orphan.Remaining} left in {orphan.CreditType}, which has no wallet");
        }
    }

    /// <summary>Every day summary must hold exactly what its lines (dated from the marker on) add up to.</summary>
    private async Task VerifyDaySummariesAsync(string teamId, Dictionary<string, DayTotals> expected, List<string> problems, CancellationToken ct)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {DaySummaryKeys.TeamPrefix} and RowKey lt {"D|v"}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var row in _store.Table.QueryAsync<DaySummaryRow>(filter, cancellationToken: ct).ConfigureAwait(false))
        {
            seen.Add(row.RowKey);
            var stored = DayTotals.Parse(row.Totals);
            if (!stored.SameAs(expected.GetValueOrDefault(row.RowKey) ?? DayTotals.Empty()))
            {
                problems.Add($"day summary {row.RowKey} differs from the lines it counts");
            }
        }
        foreach (var (key, totals) in expected)
        {
            if (!seen.Contains(key) && !totals.IsZero)
            {
                problems.Add($"day summary {key} is missing for lines that add up to more than nothing");
            }
        }
    }

    private (string Prefix, string Lower, string Upper) UsageRange(UsageQuery query)
    {
        LedgerRules.Team(query.TeamId);
        if (query.UserId is not null)
        {
            LedgerRules.User(query.UserId, "user");
        }
        if (query.Feature is not null && !Catalog.Actions.Any(a => a.Feature == query.Feature))
        {
            throw new LedgerValidationException("feature", "is not a feature of the catalog");
        }
        if (query.Action is not null && !Catalog.Actions.Any(a => a.Action == query.Action && (query.Feature is null || a.Feature == query.Feature)))
        {
            throw new LedgerValidationException("action", "is not an action of the catalog" + (query.Feature is null ? string.Empty : " for that feature"));
        }
        var to = query.To ?? _clock.GetUtcNow();
        var from = query.From ?? to - TimeSpan.FromDays(30);
        if (from >= to)
        {
            throw new LedgerValidationException("from", "must be before to");
        }
        var prefix = query.UserId is null ? "L|" : "U|" + query.UserId + "|";
        // Line ids start with inverted ticks: newer lines sort first. '~' sorts after every hex digit, so these bounds
        // take exactly the lines with from <= date < to.
        return (prefix, prefix + LedgerKeys.InvertedTicks(to) + "~", prefix + LedgerKeys.InvertedTicks(from) + "~");
    }

    private static string LineFilter(UsageQuery query)
    {
        var parts = new List<string> { TableClient.CreateQueryFilter($"Kind ne {LineKinds.Grant}") };
        if (!query.IncludeRefunds)
        {
            parts.Add(TableClient.CreateQueryFilter($"Kind ne {LineKinds.Refund}"));
        }
        if (query.Feature is not null)
        {
            parts.Add(TableClient.CreateQueryFilter($"Feature eq {query.Feature}"));
        }
        if (query.Action is not null)
        {
            parts.Add(TableClient.CreateQueryFilter($"Action eq {query.Action}"));
        }
        return string.Join(" and ", parts);
    }

    private UsageLine ToUsageLine(LineRow row)
    {
        var action = row.Feature is null || row.Action is null ? null : Catalog.Find(row.Feature, row.Action);
        var negative = row.Kind is LineKinds.Refund or LineKinds.Expiry;
        return new UsageLine
        {
            Id = row.LineId, Date = row.At, Kind = row.Kind, Feature = row.Feature, FeatureName = action?.FeatureName,
            Action = row.Action, ActionName = action?.ActionName ?? (row.Kind == LineKinds.Expiry ? "Credits expired" : null),
            Description = row.Description, Credits = new Credits(negative ? -row.Amount : row.Amount), CreditType = row.CreditType,
            DataRequested = row.DataType, SubjectId = row.SubjectId, User = row.UserId, RelatedRecord = row.Related,
            ChargeId = row.ChargeId, Reason = row.Reason, AlreadyOwned = row.Owned, HoldId = row.HoldId, Leads = row.Leads, OwnedLeads = row.OwnedLeads,
        };
    }

    private string FeatureName(string feature) => Catalog.Actions.FirstOrDefault(a => a.Feature == feature)?.FeatureName ?? feature;

    private static string EncodeCursor(string rowKey) => Convert.ToBase64String(Encoding.UTF8.GetBytes(rowKey)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string DecodeCursor(string cursor, string prefix)
    {
        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var rowKey = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
            if (rowKey.StartsWith(prefix, StringComparison.Ordinal))
            {
                return rowKey;
            }
        }
        catch (FormatException)
        {
            // Reported below.
        }
        throw new LedgerValidationException("cursor", "is not a cursor of this query");
    }

    private CatalogAction FindAction(string feature, string action)
    {
        if (string.IsNullOrEmpty(feature) || !Catalog.Actions.Any(a => a.Feature == feature))
        {
            throw new LedgerValidationException("feature", "is not a feature of the catalog");
        }
        return Catalog.Find(feature, action ?? string.Empty)
            ?? throw new LedgerValidationException("action", $"is not an action of feature '{feature}'");
    }

    private void CreditType(string creditType)
    {
        if (string.IsNullOrEmpty(creditType) || !Catalog.HasCreditType(creditType))
        {
            throw new LedgerValidationException("creditType", $"must be one of: {string.Join(", ", Catalog.CreditTypes)}");
        }
    }

    private static void HoldId(string holdId)
    {
        if (string.IsNullOrEmpty(holdId) || holdId.Length != 28 || holdId[0] != 'h' || !LedgerKeys.IsLineId(holdId[1..]))
        {
            throw new LedgerValidationException("holdId", "is not a hold id");
        }
    }

    private Task<LedgerResult> Enqueue(LedgerOperation operation)
    {
        if (_options.CommitMode == LedgerCommitMode.PerRequest)
        {
            var single = new TeamCommitter(operation.TeamId, _store, _clock, _logger, maxOperations: 1);
            var result = single.EnqueueAsync(operation);
            single.Complete();
            return result;
        }
        while (true)
        {
            var committer = _committers.GetOrAdd(operation.TeamId, team => new TeamCommitter(team, _store, _clock, _logger,
                _options.MaxOperationsPerCommit, _options.IntakeMax, _options.CommitterIdleTimeout, Retired, _alerts));
            if (committer.TryEnqueue(operation, out var completion))
            {
                return completion;
            }
            // It retired between the look-up and the write: take it out (if it has not done so itself) and use a new one.
            Retired(committer);
        }
    }

    private void Retired(TeamCommitter committer) => _committers.TryRemove(new KeyValuePair<string, TeamCommitter>(committer.TeamId, committer));

    /// <summary>Sets, changes or removes a member's spend limit (DOMAIN rule 10). Charges and holds of that member beyond
    /// what is left of it in the current period are refused with <see cref="LedgerStatus.SpendLimitReached"/>, decided in
    /// the commit that would spend.</summary>
    public async Task<LedgerResult> SetMemberLimitAsync(MemberLimitRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Team(request.TeamId);
        LedgerRules.User(request.MemberId, "userId");
        CreditType(request.CreditType);
        if (!SpendPeriods.All.Contains(request.Period))
        {
            throw new LedgerValidationException("period", $"must be one of: {string.Join(", ", SpendPeriods.All)}");
        }
        if (request.Amount is { } amount && amount < Credits.Zero)
        {
            throw new LedgerValidationException("amount", "must be zero or more (null removes the limit)");
        }
        if (request.Amount is not null)
        {
            var wallets = await _store.LoadWalletsAsync(request.TeamId, cancellationToken).ConfigureAwait(false);
            if (wallets.TryGetValue(request.CreditType, out var wallet) && !wallet.Limits.ContainsKey(request.MemberId) && wallet.Limits.Count >= WalletState.LimitsMax)
            {
                throw new LedgerValidationException("userId", $"cannot get a limit: at most {WalletState.LimitsMax} members of a team have a {request.CreditType} limit");
            }
        }
        return await Enqueue(new SetLimitOperation(request with { Now = _clock.GetUtcNow() })).ConfigureAwait(false);
    }

    /// <summary>Sets or removes (<see cref="AlertRequest.Threshold"/> null) a wallet's low-balance alert (DOMAIN rule 10).
    /// The caller has checked the webhook URL with the egress guard.</summary>
    public Task<LedgerResult> SetAlertAsync(AlertRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Team(request.TeamId);
        CreditType(request.CreditType);
        if (request.Threshold is { } threshold)
        {
            LedgerRules.Positive(threshold, "threshold");
            LedgerRules.Text(request.WebhookUrl, "webhookUrl", required: true, max: 2048);
        }
        return Enqueue(new SetAlertOperation(request));
    }

    /// <summary>Marks a fired alert as delivered; a later firing of the same wallet is not touched.</summary>
    public Task<LedgerResult> AcknowledgeAlertAsync(string teamId, string creditType, string alertId) =>
        Enqueue(new AcknowledgeAlertOperation(teamId, creditType, alertId));

    /// <summary>The team's low-balance alerts.</summary>
    public async Task<IReadOnlyList<AlertView>> GetAlertsAsync(string teamId, CancellationToken cancellationToken = default)
    {
        LedgerRules.Team(teamId);
        var wallets = await _store.LoadWalletsAsync(teamId, cancellationToken).ConfigureAwait(false);
        return [.. wallets.Values.Where(w => w.Alert is not null).OrderBy(w => w.CreditType, StringComparer.Ordinal)
            .Select(w => new AlertView(w.CreditType, new Credits(w.Alert!.Threshold), w.Alert.WebhookUrl, w.Alert.Armed, w.Alert.LastFiredAt))];
    }

    /// <summary>The team's spend limits (or one member's) with what was spent of them in the current period.</summary>
    public async Task<IReadOnlyList<MemberLimitView>> GetMemberLimitsAsync(string teamId, string? userId, CancellationToken cancellationToken = default)
    {
        LedgerRules.Team(teamId);
        var now = _clock.GetUtcNow();
        var wallets = await _store.LoadWalletsAsync(teamId, cancellationToken).ConfigureAwait(false);
        return [.. wallets.Values.OrderBy(w => w.CreditType, StringComparer.Ordinal)
            .SelectMany(w => w.Limits.Where(l => userId is null || l.Key == userId).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l =>
            {
                var left = w.LimitLeft(l.Key, now) ?? 0;
                return new MemberLimitView(l.Key, w.CreditType, new Credits(l.Value.Amount), l.Value.Period, new Credits(l.Value.Amount - left),
                    new Credits(left), SpendPeriods.End(l.Value.Period, now));
            }))];
    }

    /// <summary>Teams whose committer is in memory now (idle ones retire after <see cref="LedgerOptions.CommitterIdleTimeout"/>).</summary>
    internal int ActiveCommitters => _committers.Count;

    [LoggerMessage(EventId = 3110, Level = LogLevel.Error, Message = "Ledger verification of team {TeamId} found {Count} problems")]
    private static partial void LogVerifyProblems(ILogger logger, string teamId, int count);
}
