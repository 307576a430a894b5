using Azure;
using Azure.Data.Tables;

namespace CreditFunctions.Ledger;

/// <summary>
/// The rows one group commit will write, built by planning its operations one after another against copies of the
/// team's wallets. Each row appears once (a later operation on the same row changes the planned row), and each
/// row remembers which operations depend on it, so a failure at a row's index is traced to them.
/// </summary>
internal sealed class BatchPlan
{
    /// <summary>Expired buckets swept per commit at most, so a commit never outgrows one transaction.</summary>
    public const int MaxExpirySweepsPerCommit = 4;

    private readonly string _teamId;
    private readonly IReadOnlyDictionary<string, WalletState> _committedWallets;
    private readonly ISet<string> _knownOwned;
    private readonly ISet<string> _knownMarkers;
    private readonly Dictionary<string, WalletState> _wallets = new(StringComparer.Ordinal);
    private readonly HashSet<string> _touched = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PlannedRow> _rows = new(StringComparer.Ordinal);
    private readonly List<PlannedRow> _order = [];

    private readonly DaySummaryCache? _summaries;
    private readonly Dictionary<string, DaySummaryState> _dayRows = new(StringComparer.Ordinal);
    private readonly HashSet<string> _missingSummaries = new(StringComparer.Ordinal);
    private DateTimeOffset? _plannedMarker;

    public BatchPlan(string teamId, DateTimeOffset now, IReadOnlyDictionary<string, WalletState> committedWallets, ISet<string> knownOwned,
        ISet<string> knownMarkers, DaySummaryCache? summaries = null)
    {
        _summaries = summaries;
        _knownMarkers = knownMarkers;
        _teamId = teamId;
        Now = now;
        _committedWallets = committedWallets;
        _knownOwned = knownOwned;
    }

    public DateTimeOffset Now { get; }

    private int _sequence;

    /// <summary>A new line (or hold) id at <see cref="Now"/>; later calls sort before earlier ones.</summary>
    public string NewLineId() => LedgerKeys.NewLineId(Now, _sequence++);

    public IReadOnlyDictionary<string, WalletState> Wallets => _wallets;

    public int RowCount => _order.Count + _touched.Count + _dayRows.Count;

    /// <summary>Day summary rows (or the marker) this plan needed and the committer had not read: it reads them and
    /// plans again, and a plan with any missing is never committed.</summary>
    public IReadOnlySet<string> MissingSummaries => _missingSummaries;

    /// <summary>The batch's copy of a wallet; the first use sweeps its expired grants into expiry lines.</summary>
    public WalletState Wallet(string creditType)
    {
        if (_wallets.TryGetValue(creditType, out var wallet))
        {
            return wallet;
        }
        wallet = _committedWallets.TryGetValue(creditType, out var committed) ? committed.Clone() : WalletState.Empty(creditType);
        _wallets[creditType] = wallet;
        foreach (var bucket in wallet.SweepExpired(Now, MaxExpirySweepsPerCommit))
        {
            var at = bucket.ExpiresAt!.Value;
            var lineId = LedgerKeys.NewLineId(at, _sequence++);
            Add(LedgerKeys.Line(lineId), new LineRow
            {
                PartitionKey = _teamId, RowKey = LedgerKeys.Line(lineId), LineId = lineId, Kind = LineKinds.Expiry, At = at,
                UserId = "system", CreditType = creditType, Amount = bucket.Remaining, Action = "expiry",
                Description = $"Expired remainder of grant {bucket.Id}",
            }, TableTransactionActionType.Add, default, owner: null);
            _touched.Add(creditType);
        }
        if (wallet.HeldUntil.Count != (committed?.HeldUntil.Count ?? 0))
        {
            _touched.Add(creditType);
        }
        return wallet;
    }

    public void Touch(WalletState wallet) => _touched.Add(wallet.CreditType);

    public bool IsOwned(string ownershipKey) =>
        _rows.TryGetValue(ownershipKey, out var row) ? row.Type != TableTransactionActionType.Delete : _knownOwned.Contains(ownershipKey);

    /// <summary>Records that the team owns the data; <paramref name="amount"/> is what it cost when its line is a job line.</summary>
    public void AddOwnership(string key, string dataType, string subjectId, string lineId, LedgerOperation owner, long? amount = null) =>
        Add(key, new OwnershipRow { PartitionKey = _teamId, RowKey = key, DataType = dataType, SubjectId = subjectId, LineId = lineId, At = Now, Amount = amount },
            TableTransactionActionType.Add, default, owner);

    /// <summary>Ends an ownership (its purchase was refunded in full), under the ETag it was read with. When another
    /// operation of this batch relies on the ownership (a free line for the same data), the ownership stays: that
    /// line was planned as owned, and it commits with it.</summary>
    public void RemoveOwnership(OwnershipRow row, LedgerOperation owner)
    {
        if (!_rows.ContainsKey(row.RowKey))
        {
            Add(row.RowKey, row, TableTransactionActionType.Delete, row.ETag, owner);
        }
    }

    /// <summary>Makes the commit fail unless the ownership row still exists (a merge of nothing under ETag *).</summary>
    public void ConfirmOwned(string key, LedgerOperation owner)
    {
        if (_rows.TryGetValue(key, out var existing))
        {
            existing.Owners.Add(owner);
            return;
        }
        Add(key, new TableEntity(_teamId, key), TableTransactionActionType.UpdateMerge, ETag.All, owner);
    }

    public void AddLine(LineRow line, LedgerOperation owner)
    {
        line.PartitionKey = _teamId;
        line.RowKey = LedgerKeys.Line(line.LineId);
        Add(line.RowKey, line, TableTransactionActionType.Add, default, owner);
        var userKey = LedgerKeys.UserLine(line.UserId, line.LineId);
        Add(userKey, line.CopyFor(userKey), TableTransactionActionType.Add, default, owner);
        Summarize(line);
    }

    /// <summary>Counts a charge or refund line in its team's and its user's day summaries (see <see cref="DaySummaryKeys"/>),
    /// which this commit then writes under their ETags. The first commit that summarizes writes the marker too.</summary>
    private void Summarize(LineRow line)
    {
        if (_summaries is null || !DaySummaryKeys.Counts(line))
        {
            return;
        }
        if (!_summaries.MarkerKnown)
        {
            _missingSummaries.Add(DaySummaryKeys.Marker);
            return;
        }
        var from = _summaries.From ?? _plannedMarker;
        if (from is null)
        {
            _plannedMarker = from = line.At;
            Add(DaySummaryKeys.Marker, new SummaryMarkerRow { PartitionKey = _teamId, From = line.At }, TableTransactionActionType.Add, default, owner: null);
        }
        if (line.At < from)
        {
            // Stamped before the marker (a server whose clock runs behind): readers add such lines up from the lines.
            return;
        }
        var day = DateOnly.FromDateTime(line.At.UtcDateTime);
        foreach (var key in new[] { DaySummaryKeys.Team(day), DaySummaryKeys.User(line.UserId, day) })
        {
            if (!_dayRows.TryGetValue(key, out var state))
            {
                if (!_summaries.TryGet(key, out var known))
                {
                    _missingSummaries.Add(key);
                    continue;
                }
                _dayRows[key] = state = known with { Totals = known.Totals.Clone() };
            }
            state.Totals.Add(line);
        }
    }

    /// <summary>Records that the team used an action and that this user used it, once: the history's filter lists
    /// read these markers instead of scanning lines (the users are those of the user markers). Markers already
    /// written cost nothing.</summary>
    public void MarkUsed(string feature, string action, string userId)
    {
        foreach (var key in new[] { LedgerKeys.ActionMarker(feature, action), LedgerKeys.UserActionMarker(userId, feature, action) })
        {
            if (!_knownMarkers.Contains(key) && !_rows.ContainsKey(key))
            {
                Add(key, new TableEntity(_teamId, key), TableTransactionActionType.UpsertReplace, default, owner: null);
            }
        }
    }

    /// <summary>
    /// Counts a draw from <paramref name="hold"/> in its job line of the action, user and day (<see cref="RollUpLine"/>),
    /// creating the line with the first draw: a lead charged <paramref name="price"/>, or one already owned (free).
    /// The line's rows are written once per commit, with what it holds after the commit's last draw.
    /// </summary>
    public RollUpLine DrawIntoRollUp(HoldRow hold, CatalogAction action, string userId, string? description, string? related, long price, bool owned,
        LedgerOperation owner)
    {
        var lines = hold.RollUpMap();
        var key = RollUpLines.Key(action.Action, userId, Now);
        if (!lines.TryGetValue(key, out var line))
        {
            lines[key] = line = new RollUpLine
            {
                LineId = NewLineId(), At = Now, UserId = userId, Feature = action.Feature, Action = action.Action, DataType = action.DataType,
                Description = description, Related = related,
            };
        }
        if (owned)
        {
            line.OwnedLeads++;
        }
        else
        {
            line.Leads++;
            line.Amount += price;
        }
        WriteRollUp(hold, line, owner);
        // The day summaries count the draw on the line's day (the commit's: one line per day).
        Summarize(new LineRow { Kind = LineKinds.Charge, At = line.At, UserId = userId, Feature = action.Feature, Action = action.Action, Amount = owned ? 0 : price });
        return line;
    }

    /// <summary>Plans the rows of a job line as <paramref name="line"/> now holds it (written whole: its hold, updated
    /// under its ETag in the same commit, is what keeps them right).</summary>
    public void WriteRollUp(HoldRow hold, RollUpLine line, LedgerOperation owner)
    {
        var rowKey = LedgerKeys.Line(line.LineId);
        foreach (var key in new[] { rowKey, LedgerKeys.UserLine(line.UserId, line.LineId) })
        {
            if (_rows.TryGetValue(key, out var planned))
            {
                RollUpLines.Project((LineRow)planned.Entity, hold, line);
                planned.Owners.Add(owner);
                continue;
            }
            var row = new LineRow { PartitionKey = _teamId, RowKey = key };
            RollUpLines.Project(row, hold, line);
            Add(key, row, TableTransactionActionType.UpsertReplace, default, owner);
        }
    }

    public LineRow? PlannedLine(string lineId) =>
        _rows.TryGetValue(LedgerKeys.Line(lineId), out var row) ? row.Entity as LineRow : null;

    /// <summary>Updates an existing line (a charge's refunded total) under the ETag it was read with.</summary>
    public void UpdateLine(LineRow line, LedgerOperation owner) => Update(line.RowKey, line, owner);

    public void AddHold(HoldRow hold, LedgerOperation owner)
    {
        hold.PartitionKey = _teamId;
        hold.RowKey = LedgerKeys.Hold(hold.HoldId);
        Add(hold.RowKey, hold, TableTransactionActionType.Add, default, owner);
    }

    public HoldRow? PlannedHold(string holdId) =>
        _rows.TryGetValue(LedgerKeys.Hold(holdId), out var row) ? row.Entity as HoldRow : null;

    public void UpdateHold(HoldRow hold, LedgerOperation owner) => Update(hold.RowKey, hold, owner);

    public void AddIdempotency(LedgerOperation op, LedgerResult result)
    {
        var key = LedgerKeys.Idempotency(op.IdempotencyKey);
        Add(key, new IdempotencyRow
        {
            PartitionKey = _teamId, RowKey = key, Key = op.IdempotencyKey, Fingerprint = op.Fingerprint,
            Result = LedgerOperation.SerializeResult(result),
        }, TableTransactionActionType.Add, default, op);
    }

    /// <summary>The transaction: every planned row in order, then each changed wallet under its ETag.</summary>
    public (List<TableTransactionAction> Actions, List<PlannedRow> Rows) Build()
    {
        DecideAlerts();
        var actions = new List<TableTransactionAction>(RowCount);
        var rows = new List<PlannedRow>(RowCount);
        foreach (var row in _order)
        {
            actions.Add(new TableTransactionAction(row.Type, row.Entity, row.ETag));
            rows.Add(row);
        }
        foreach (var state in _dayRows.Values)
        {
            var entity = new DaySummaryRow { PartitionKey = _teamId, RowKey = state.RowKey, Totals = state.Totals.Serialize() };
            var planned = new PlannedRow(state.RowKey, entity, state.Exists ? TableTransactionActionType.UpdateReplace : TableTransactionActionType.Add,
                state.Exists ? state.ETag : default) { DaySummary = state };
            actions.Add(new TableTransactionAction(planned.Type, entity, planned.ETag));
            rows.Add(planned);
        }
        foreach (var creditType in _touched)
        {
            var wallet = _wallets[creditType];
            var entity = wallet.ToRow(_teamId);
            var planned = new PlannedRow(entity.RowKey, entity, wallet.Exists ? TableTransactionActionType.UpdateReplace : TableTransactionActionType.Add,
                wallet.Exists ? wallet.ETag : default) { WalletCreditType = creditType };
            actions.Add(new TableTransactionAction(planned.Type, entity, planned.ETag));
            rows.Add(planned);
        }
        if (actions.Count > 100)
        {
            throw new InvalidOperationException($"A planned commit of {actions.Count} rows exceeds one entity-group transaction.");
        }
        return (actions, rows);
    }

    /// <summary>
    /// A low-balance alert is decided here, in the commit that moves the balance: an armed alert whose wallet this
    /// commit leaves below the threshold fires (it records the alert to deliver and disarms, so concurrent charges fire
    /// it once: they commit one after another under the wallet's ETag), and a disarmed one whose wallet is back at or
    /// above the threshold re-arms.
    /// </summary>
    private void DecideAlerts()
    {
        foreach (var creditType in _touched)
        {
            var wallet = _wallets[creditType];
            if (wallet.Alert is not { } alert)
            {
                continue;
            }
            var available = wallet.Available(Now);
            if (alert.Armed && available < alert.Threshold)
            {
                alert.Armed = false;
                alert.PendingId = "a" + NewLineId();
                alert.PendingAt = Now;
                alert.PendingAvailable = available;
                alert.LastFiredAt = Now;
            }
            else if (!alert.Armed && available >= alert.Threshold)
            {
                alert.Armed = true;
            }
        }
    }

    private void Update(string rowKey, ITableEntity entity, LedgerOperation owner)
    {
        if (_rows.TryGetValue(rowKey, out var existing))
        {
            existing.Owners.Add(owner);
            return;
        }
        // A charge line or hold is only ever updated as it was read: under that read's ETag, never unconditionally.
        if (entity.ETag == default)
        {
            throw new InvalidOperationException($"Row {rowKey} must be read before it is updated.");
        }
        Add(rowKey, entity, TableTransactionActionType.UpdateReplace, entity.ETag, owner);
    }

    private void Add(string rowKey, ITableEntity entity, TableTransactionActionType type, ETag etag, LedgerOperation? owner)
    {
        var row = new PlannedRow(rowKey, entity, type, etag);
        if (owner is not null)
        {
            row.Owners.Add(owner);
        }
        _rows.Add(rowKey, row);
        _order.Add(row);
    }
}

/// <summary>One row of a planned commit and the operations that depend on it.</summary>
internal sealed record PlannedRow(string RowKey, ITableEntity Entity, TableTransactionActionType Type, ETag ETag)
{
    public List<LedgerOperation> Owners { get; } = [];

    public string? WalletCreditType { get; init; }

    /// <summary>For a day summary row: the state it writes.</summary>
    public DaySummaryState? DaySummary { get; init; }
}
