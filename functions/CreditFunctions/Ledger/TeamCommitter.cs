using System.Threading.Channels;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Ledger;

/// <summary>
/// Group commit for one team: concurrent operations queue here and one loop commits them together, up to one
/// entity-group transaction (100 rows) at a time, each caller still getting its own result.
/// </summary>
/// <remarks>
/// Order of a commit and what a crash does at each step:
/// <list type="number">
/// <item>Take queued operations up to the row budget; answer repeats of recently committed keys from memory.</item>
/// <item>Read what they need (charge lines, holds, including the holds charges draw from: each hold once, however many of
/// the batch's charges draw from it) and the wallets (cached with their ETags after the first read).</item>
/// <item>Plan each against the batch's wallet copies; refusals (insufficient credits, …) write nothing. They are
/// answered only once the batch they were planned in has committed (or planned nothing to commit), so a refusal never
/// rests on planned state that did not commit, and only once their key is confirmed unknown (a known key answers with
/// its stored first result).</item>
/// <item>Submit one transaction: every line, idempotency record, ownership record, hold, and each wallet under its
/// ETag. It applies whole or not at all, so a crash before or during it loses nothing that was answered.</item>
/// <item>On a rejected row the cause is traced by its index: a known idempotency key answers with the stored first
/// result; an ownership row that exists (or vanished) flips the ownership guess; a wallet, line or hold that another
/// process changed is read again; then the rest of the batch is planned again.</item>
/// <item>When the outcome is unknown (storage unreachable after the pipeline's retries), the callers get
/// <see cref="LedgerUnavailableException"/> and the wallet cache is dropped; retrying with the same idempotency key
/// is safe because a commit that did land answers with its stored result.</item>
/// </list>
/// </remarks>
internal sealed partial class TeamCommitter
{
    private const int RowBudget = 100 - 8; // an entity-group transaction holds at most 100 actions; // room for wallets and expiry lines
    private const int MaxAttempts = 32;
    private const int SummaryRowsPerBatch = 2;
    private const int RecentKeysMax = 20_000;
    private const int KnownOwnedMax = 200_000;

    private readonly string _teamId;
    private readonly LedgerStore _store;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly Channel<LedgerOperation> _queue = Channel.CreateUnbounded<LedgerOperation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, (string Fingerprint, LedgerResult Result)> _recent = new(StringComparer.Ordinal);
    private readonly HashSet<string> _knownOwned = new(StringComparer.Ordinal);
    private readonly HashSet<string> _knownMarkers = new(StringComparer.Ordinal);
    private Dictionary<string, WalletState>? _wallets;
    private readonly DaySummaryCache _summaries = new();
    private LedgerOperation? _carry;

    private readonly int _maxOperations;
    private readonly int _intakeMax;
    private int _queued;

    private readonly TimeSpan _idleTimeout;
    private readonly Action<TeamCommitter>? _retired;
    private volatile bool _accepting = true;
    private readonly ILowBalanceAlertSink? _alerts;
    private bool _alertsOffered;

    /// <summary>Starts the committer of <paramref name="teamId"/>: at most <paramref name="maxOperations"/> operations per
    /// commit and <paramref name="intakeMax"/> waiting. After <paramref name="idleTimeout"/> (infinite by default) without
    /// an operation it retires: it stops accepting operations, commits what slipped in, ends and calls
    /// <paramref name="retired"/> so that its owner forgets it.</summary>
    public TeamCommitter(string teamId, LedgerStore store, TimeProvider clock, ILogger logger, int maxOperations, int intakeMax = int.MaxValue,
        TimeSpan? idleTimeout = null, Action<TeamCommitter>? retired = null, ILowBalanceAlertSink? alerts = null)
    {
        _alerts = alerts;
        _maxOperations = Math.Max(1, maxOperations);
        _intakeMax = Math.Max(1, intakeMax);
        _idleTimeout = idleTimeout ?? Timeout.InfiniteTimeSpan;
        _retired = retired;
        _teamId = teamId;
        _store = store;
        _clock = clock;
        _logger = logger;
        _ = Task.Run(RunAsync);
    }

    public string TeamId => _teamId;

    /// <summary>Queues <paramref name="operation"/> unless the committer has retired (then the caller uses a new one;
    /// nothing of the operation was queued).</summary>
    public bool TryEnqueue(LedgerOperation operation, out Task<LedgerResult> completion)
    {
        completion = operation.Completion;
        if (_queue.Reader.Completion.IsCompleted || !_accepting)
        {
            return false;
        }
        if (Interlocked.Increment(ref _queued) > _intakeMax)
        {
            Interlocked.Decrement(ref _queued);
            operation.Fail(new LedgerUnavailableException("The team's ledger has too many operations waiting; retry with the same idempotency key.", null));
            return true;
        }
        if (!_queue.Writer.TryWrite(operation))
        {
            Interlocked.Decrement(ref _queued);
            return false;
        }
        _ = operation.Completion.ContinueWith(_ => Interlocked.Decrement(ref _queued), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return true;
    }

    public Task<LedgerResult> EnqueueAsync(LedgerOperation operation)
    {
        if (!TryEnqueue(operation, out var completion))
        {
            operation.Fail(new ObjectDisposedException(nameof(TeamCommitter)));
        }
        return completion;
    }

    /// <summary>Waits for an operation; after <see cref="_idleTimeout"/> without one it retires: it accepts no more
    /// (a caller racing the retirement is told to use a new committer, or its operation, written just before, is still
    /// read and committed here) and answers false once the queue is empty.</summary>
    private async ValueTask<bool> WaitForWorkAsync()
    {
        if (_idleTimeout != Timeout.InfiniteTimeSpan && _accepting)
        {
            using var idle = new CancellationTokenSource(_idleTimeout);
            try
            {
                return await _queue.Reader.WaitToReadAsync(idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (idle.IsCancellationRequested)
            {
                _accepting = false;
                _queue.Writer.TryComplete();
            }
        }
        return await _queue.Reader.WaitToReadAsync().ConfigureAwait(false);
    }

    /// <summary>Accepts no more operations; the loop ends once the queued ones are committed.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task RunAsync()
    {
        var batch = new List<LedgerOperation>();
        while (true)
        {
            if (_carry is null && !await WaitForWorkAsync().ConfigureAwait(false))
            {
                _retired?.Invoke(this);
                return;
            }
            batch.Clear();
            // Besides each operation's own rows: the team's day summary and the summaries' marker, one summary row per
            // user of the batch's lines, the "used" markers not written yet (one per action, one per user and action), and
            // rows that operations share (a hold and the job line its draws go into).
            var rows = SummaryRowsPerBatch;
            var extra = new HashSet<string>(StringComparer.Ordinal);
            IEnumerable<string> ExtraRows(LedgerOperation op)
            {
                if (op.SummaryUserId is { } user)
                {
                    yield return "D|" + user;
                    if (op.MarkedAction is var (feature, action))
                    {
                        yield return LedgerKeys.ActionMarker(feature, action);
                        yield return LedgerKeys.UserActionMarker(user, feature, action);
                    }
                }
                foreach (var key in op.SharedRows)
                {
                    yield return key;
                }
            }
            int Cost(LedgerOperation op) => op.MaxRows + op.UnknownMarkerRowsMax + ExtraRows(op).Count(key => !extra.Contains(key) && !_knownMarkers.Contains(key));
            void Take(LedgerOperation op)
            {
                rows += Cost(op);
                extra.UnionWith(ExtraRows(op));
                batch.Add(op);
            }
            if (_carry is not null)
            {
                Take(_carry);
                _carry = null;
            }
            while (_queue.Reader.TryRead(out var op))
            {
                if (TryAnswerFromMemory(op))
                {
                    continue;
                }
                if (rows + Cost(op) > RowBudget || batch.Count >= _maxOperations)
                {
                    _carry = op;
                    break;
                }
                Take(op);
            }
            if (batch.Count == 0)
            {
                continue;
            }
            try
            {
                await CommitAsync(batch).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _wallets = null;
                _summaries.Clear();
                foreach (var op in batch)
                {
                    // Azure.Core's retry policy throws an AggregateException of the attempts' failures once it gives up.
                    op.Fail(ex is RequestFailedException or HttpRequestException or TaskCanceledException or IOException
                        || (ex is AggregateException all && all.InnerExceptions.All(e => e is RequestFailedException or HttpRequestException or TaskCanceledException or IOException))
                        ? new LedgerUnavailableException("The ledger could not reach storage; retry with the same idempotency key.", ex)
                        : ex);
                }
                LogCommitFailed(_logger, _teamId, batch.Count, ex);
            }
        }
    }

    private bool TryAnswerFromMemory(LedgerOperation op)
    {
        if (!_recent.TryGetValue(op.IdempotencyKey, out var known))
        {
            return false;
        }
        op.Complete(Replay(op, known.Fingerprint, known.Result));
        return true;
    }

    private static LedgerResult Replay(LedgerOperation op, string fingerprint, LedgerResult first) =>
        fingerprint == op.Fingerprint
            ? first with { Replayed = true }
            : new LedgerResult { Status = LedgerStatus.ExistsWithDifferentParameters, CreditType = first.CreditType, Replayed = true };

    private async Task CommitAsync(List<LedgerOperation> batch)
    {
        var pending = batch;
        for (var attempt = 1; pending.Count > 0; attempt++)
        {
            if (attempt > MaxAttempts)
            {
                throw new LedgerUnavailableException($"The team's ledger stayed contended for {MaxAttempts} attempts; retry with the same idempotency key.", null);
            }
            var reads = new PreparedReads(_store);
            await Task.WhenAll(pending.Select(op => op.PrepareAsync(reads, CancellationToken.None))).ConfigureAwait(false);
            if (_wallets is null)
            {
                _wallets = await _store.LoadWalletsAsync(_teamId, CancellationToken.None).ConfigureAwait(false);
                if (!_alertsOffered)
                {
                    // Alerts fired but not acknowledged (this process or another may have stopped before delivering them).
                    _alertsOffered = true;
                    foreach (var wallet in _wallets.Values)
                    {
                        OfferAlert(wallet, previous: null);
                    }
                }
            }

            var plan = new BatchPlan(_teamId, _clock.GetUtcNow(), _wallets, _knownOwned, _knownMarkers, _summaries);
            var planned = new List<(LedgerOperation Op, LedgerResult Result)>();
            var followers = new List<(LedgerOperation Op, LedgerOperation Leader)>();
            var leaders = new Dictionary<string, LedgerOperation>(StringComparer.Ordinal);
            var refusals = new List<(LedgerOperation Op, LedgerResult Result)>();
            foreach (var op in pending)
            {
                if (leaders.TryGetValue(op.IdempotencyKey, out var leader))
                {
                    followers.Add((op, leader)); // the same key twice in one batch: answer it with the first one's result
                    continue;
                }
                var result = op.Plan(plan);
                if (!result.Succeeded)
                {
                    refusals.Add((op, result));
                    continue;
                }
                leaders[op.IdempotencyKey] = op;
                plan.AddIdempotency(op, result);
                planned.Add((op, result));
            }
            if (plan.MissingSummaries.Count > 0)
            {
                // Day summaries this committer has not read yet (a new day or user, or one another process changed).
                await LoadSummariesAsync(plan.MissingSummaries).ConfigureAwait(false);
                continue;
            }
            if (planned.Count == 0)
            {
                await ResolveRefusalsAsync(refusals).ConfigureAwait(false);
                CompleteFollowers(followers);
                return;
            }

            var (actions, rows) = plan.Build();
            IReadOnlyList<Response> results;
            try
            {
                results = await _store.SubmitAsync(actions, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TableTransactionFailedException ex)
            {
                // The refusals of this batch are planned again with the rest: the state they were refused against
                // (e.g. a hold drawn down by operations that did not commit) may never have existed.
                pending = await ResolveConflictAsync(ex, rows, pending).ConfigureAwait(false);
                continue;
            }

            TeamCommitterStats.Committed(actions.Count);
            for (var i = 0; i < rows.Count; i++)
            {
                if (rows[i].DaySummary is { } day)
                {
                    _summaries.Loaded(day with { ETag = results[i].Headers.ETag ?? throw new InvalidOperationException("A committed day summary came back without an ETag.") });
                }
                else if (rows[i].Entity is SummaryMarkerRow marker)
                {
                    _summaries.MarkerLoaded(marker.From);
                }
                else if (rows[i].WalletCreditType is { } creditType)
                {
                    plan.Wallets[creditType].Committed(results[i].Headers.ETag ?? throw new InvalidOperationException("A committed wallet came back without an ETag."));
                }
                else if (rows[i].Entity is OwnershipRow owned)
                {
                    if (rows[i].Type == TableTransactionActionType.Delete)
                    {
                        _knownOwned.Remove(owned.RowKey);
                    }
                    else
                    {
                        RememberOwned(owned.RowKey);
                    }
                }
                else if (rows[i].Type == TableTransactionActionType.UpsertReplace && rows[i].RowKey.StartsWith(LedgerKeys.MarkerFrom, StringComparison.Ordinal))
                {
                    _knownMarkers.Add(rows[i].RowKey);
                }
            }
            foreach (var (creditType, wallet) in plan.Wallets)
            {
                OfferAlert(wallet, _wallets.GetValueOrDefault(creditType));
                _wallets[creditType] = wallet;
            }
            foreach (var (op, result) in planned)
            {
                Remember(op, result);
                op.Complete(result);
            }
            await ResolveRefusalsAsync(refusals).ConfigureAwait(false);
            CompleteFollowers(followers);
            return;
        }
    }

    /// <summary>Hands a fired alert of <paramref name="wallet"/> to the sink, unless <paramref name="previous"/> (the
    /// wallet as committed before) had already fired it.</summary>
    private void OfferAlert(WalletState wallet, WalletState? previous)
    {
        if (_alerts is null || wallet.Alert is not { PendingId: { } id } alert || previous?.Alert?.PendingId == id)
        {
            return;
        }
        try
        {
            _alerts.Raised(new LowBalanceAlert(_teamId, wallet.CreditType, id, new Credits(alert.Threshold), new Credits(alert.PendingAvailable),
                alert.PendingAt ?? _clock.GetUtcNow(), alert.WebhookUrl));
        }
        catch (Exception ex)
        {
            // The alert stays pending in the wallet and is offered again when the team's ledger is next loaded.
            LogAlertNotQueued(_logger, _teamId, wallet.CreditType, ex);
        }
    }

    [LoggerMessage(EventId = 3130, Level = LogLevel.Warning, Message = "A low-balance alert of team {TeamId} ({CreditType}) could not be queued")]
    private static partial void LogAlertNotQueued(ILogger logger, string teamId, string creditType, Exception exception);

    private void CompleteFollowers(List<(LedgerOperation Op, LedgerOperation Leader)> followers)
    {
        foreach (var (op, leader) in followers)
        {
            if (leader.Completion.IsCompletedSuccessfully && leader.Completion.Result.Succeeded)
            {
                op.Complete(Replay(op, leader.Fingerprint, leader.Completion.Result));
            }
            else
            {
                // The leader was refused or failed, so the key is still free: the follower is planned on its own.
                _ = EnqueueAsync(op);
            }
        }
    }

    /// <summary>
    /// Traces a rejected transaction to its cause and returns the operations still to commit.
    /// </summary>
    private async Task<List<LedgerOperation>> ResolveConflictAsync(TableTransactionFailedException ex, List<PlannedRow> rows, List<LedgerOperation> pending)
    {
        if (ex.FailedTransactionActionIndex is not { } index || index >= rows.Count)
        {
            // No index: re-read everything and plan again.
            _wallets = null;
            LogConflict(_logger, _teamId, ex.Status, ex.ErrorCode, -1);
            return pending.Where(op => !op.IsDone).ToList();
        }
        var row = rows[index];
        LogConflict(_logger, _teamId, ex.Status, ex.ErrorCode, index);
        switch (row.Entity)
        {
            case IdempotencyRow when ex.Status == 409:
                // A known key. When a commit landed but its answer was lost (and the pipeline retried it), every key of
                // the batch is known, so look them all up at once rather than one rejected commit at a time.
                var open = pending.Where(o => !o.IsDone).ToList();
                var stored = await Task.WhenAll(open.Select(o => _store.GetIdempotencyAsync(_teamId, o.IdempotencyKey, CancellationToken.None))).ConfigureAwait(false);
                for (var i = 0; i < open.Count; i++)
                {
                    AnswerFromStored(open[i], stored[i]);
                }
                // Whatever else the transaction held may have been planned on a wallet another process changed.
                _wallets = null;
                _summaries.Clear();
                break;
            case DaySummaryRow or SummaryMarkerRow:
                // Another process summarized lines of that day (412) or wrote it first (409): read it again, and the
                // wallets too, which that process's commit changed as well.
                _summaries.Forget(row.RowKey);
                _wallets = null;
                break;
            case OwnershipRow when row.Type == TableTransactionActionType.Delete:
                // The ownership changed or ended meanwhile: read again (the refund reads it anew) and plan again.
                _knownOwned.Remove(row.RowKey);
                break;
            case OwnershipRow when ex.Status == 409:
                RememberOwned(row.RowKey);
                break;
            case TableEntity when row.Type == TableTransactionActionType.UpdateMerge && ex.Status == 404:
                _knownOwned.Remove(row.RowKey);
                break;
            default:
                // A wallet, charge line or hold changed under us (412), or a wallet appeared (409): read again.
                _wallets = null;
                break;
        }
        return pending.Where(o => !o.IsDone).ToList();
    }

    /// <summary>Reads the day summaries (and the marker) a plan needed into the committer's cache.</summary>
    private async Task LoadSummariesAsync(IReadOnlySet<string> keys)
    {
        await Task.WhenAll(keys.Select(async key =>
        {
            if (key == DaySummaryKeys.Marker)
            {
                _summaries.MarkerLoaded((await _store.GetSummaryMarkerAsync(_teamId, CancellationToken.None).ConfigureAwait(false))?.From);
                return;
            }
            var row = await _store.GetDaySummaryAsync(_teamId, key, CancellationToken.None).ConfigureAwait(false);
            _summaries.Loaded(new DaySummaryState(key, DayTotals.Parse(row?.Totals), row?.ETag ?? default));
        })).ConfigureAwait(false);
    }

    /// <summary>
    /// A refusal writes nothing, so neither its key nor its guesses were checked against storage. A repeat of a request
    /// that succeeded before (in another process, or before a restart) gets its stored first result; a charge refused
    /// for credits (or for what is left of its hold) on the guess "not owned yet" is planned again if the team does own
    /// the data (then it is free).
    /// </summary>
    private async Task ResolveRefusalsAsync(List<(LedgerOperation Op, LedgerResult Result)> refusals)
    {
        if (refusals.Count == 0)
        {
            return;
        }
        var keys = Task.WhenAll(refusals.Select(r => _store.GetIdempotencyAsync(_teamId, r.Op.IdempotencyKey, CancellationToken.None)));
        var owned = Task.WhenAll(refusals.Select(r => r.Result.Status is LedgerStatus.InsufficientCredits or LedgerStatus.HoldExhausted
            && r.Op.AssumedNotOwnedKey is { } key
            ? _store.OwnershipExistsAsync(_teamId, key, CancellationToken.None)
            : Task.FromResult(false)));
        var (stored, isOwned) = (await keys.ConfigureAwait(false), await owned.ConfigureAwait(false));
        for (var i = 0; i < refusals.Count; i++)
        {
            var (op, result) = refusals[i];
            if (AnswerFromStored(op, stored[i]))
            {
                continue;
            }
            if (isOwned[i])
            {
                RememberOwned(op.AssumedNotOwnedKey!);
                _ = EnqueueAsync(op);
                continue;
            }
            op.Complete(result);
        }
    }

    private bool AnswerFromStored(LedgerOperation op, IdempotencyRow? stored)
    {
        if (stored is null)
        {
            return false;
        }
        var first = LedgerOperation.DeserializeResult(stored.Result);
        Remember(op.IdempotencyKey, stored.Fingerprint, first);
        op.Complete(Replay(op, stored.Fingerprint, first));
        return true;
    }

    private void Remember(LedgerOperation op, LedgerResult result) => Remember(op.IdempotencyKey, op.Fingerprint, result);

    private void Remember(string key, string fingerprint, LedgerResult result)
    {
        if (_recent.Count >= RecentKeysMax)
        {
            _recent.Clear();
        }
        _recent[key] = (fingerprint, result);
    }

    private void RememberOwned(string ownershipKey)
    {
        if (_knownOwned.Count >= KnownOwnedMax)
        {
            _knownOwned.Clear();
        }
        _knownOwned.Add(ownershipKey);
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Debug, Message = "Ledger commit for team {TeamId} rejected with {Status} {ErrorCode} at row {Index}; planning again")]
    private static partial void LogConflict(ILogger logger, string teamId, int status, string? errorCode, int index);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Ledger commit of {Count} operations for team {TeamId} failed")]
    private static partial void LogCommitFailed(ILogger logger, string teamId, int count, Exception exception);
}

/// <summary>Storage could not be reached, or stayed contended; the outcome of the operation is unknown to this
/// process. Retrying with the same idempotency key is safe.</summary>
public sealed class LedgerUnavailableException(string message, Exception? inner) : Exception(message, inner);

/// <summary>Process-wide count of rows written by ledger commits, for the benchmark's rows per charge.</summary>
public static class TeamCommitterStats
{
    private static long s_rows;

    /// <summary>Rows written by successful commits since the process started.</summary>
    public static long RowsWritten => Interlocked.Read(ref s_rows);

    internal static void Committed(int rows) => Interlocked.Add(ref s_rows, rows);
}
