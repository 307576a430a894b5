using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CreditFunctions.Ledger;

/// <summary>
/// One credit movement waiting for a group commit. <see cref="PrepareAsync"/> reads what the operation needs before
/// planning (a charge line, a hold); <see cref="Plan"/> decides the outcome against the batch's in-memory state and
/// adds its rows, or returns a refusal having changed nothing.
/// </summary>
internal abstract class LedgerOperation
{
    private readonly TaskCompletionSource<LedgerResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected LedgerOperation(string teamId, string idempotencyKey)
    {
        TeamId = teamId;
        IdempotencyKey = idempotencyKey;
    }

    public string TeamId { get; }

    public string IdempotencyKey { get; }

    /// <summary>A hash of every parameter: the same key with another fingerprint is a different request.</summary>
    public string Fingerprint => _fingerprint ??= ComputeFingerprint();

    private string? _fingerprint;

    /// <summary>Upper bound of table rows this operation writes (wallets excluded).</summary>
    public abstract int MaxRows { get; }

    /// <summary>The credit type, when known before planning (for results of refusals).</summary>
    public abstract string CreditTypeHint { get; }

    /// <summary>The user whose day summary a line of this operation counts in (its line's user), or null for an
    /// operation that writes no charge or refund line: the committer's row budget counts one summary row per user.</summary>
    public virtual string? SummaryUserId => null;

    /// <summary>The action whose "used" markers this operation may write (<see cref="BatchPlan.MarkUsed"/>), for the
    /// committer's row budget; null when it writes none.</summary>
    public virtual (string Feature, string Action)? MarkedAction => null;

    /// <summary>"Used" marker rows this operation may write for an action known only once planned (a hold's).</summary>
    public virtual int UnknownMarkerRowsMax => 0;

    /// <summary>Rows this operation may write that others of the same commit share (a hold and its job line), by a key
    /// of the committer's row budget: each counts once per commit however many operations name it.</summary>
    public virtual IEnumerable<string> SharedRows => [];

    public Task<LedgerResult> Completion => _completion.Task;

    public bool IsDone => _completion.Task.IsCompleted;

    public virtual Task PrepareAsync(PreparedReads reads, CancellationToken ct) => Task.CompletedTask;

    public abstract LedgerResult Plan(BatchPlan plan);

    /// <summary>Set by planning when the outcome rests on the guess that the team does not own the data yet.</summary>
    public string? AssumedNotOwnedKey { get; protected set; }

    public void Complete(LedgerResult result) => _completion.TrySetResult(result);

    public void Fail(Exception ex) => _completion.TrySetException(ex);

    protected abstract IEnumerable<object?> FingerprintParts();

    private string ComputeFingerprint()
    {
        var text = string.Join('\u001f', FingerprintParts().Prepend(GetType().Name).Select(p => p switch
        {
            null => "\u2205",
            DateTimeOffset d => d.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
            _ => p.ToString(),
        }));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)).AsSpan(0, 16));
    }

    protected static LedgerResult Refusal(LedgerStatus status, string creditType, Credits? shortfall = null) =>
        new() { Status = status, CreditType = creditType, Shortfall = shortfall };

    public static string SerializeResult(LedgerResult result) => JsonSerializer.Serialize(result, LedgerJsonContext.Default.LedgerResult);

    public static LedgerResult DeserializeResult(string json) =>
        JsonSerializer.Deserialize(json, LedgerJsonContext.Default.LedgerResult) ?? throw new InvalidDataException("Stored ledger result is empty.");
}

/// <summary>
/// What the operations of one planning attempt read before planning, each hold read once however many operations
/// need it (the charges of a bulk job all draw from one hold: one point read per batch, not one per charge). Every
/// operation gets its own copy of the row, as if it had read it itself; the next attempt reads again.
/// </summary>
internal sealed class PreparedReads(LedgerStore store)
{
    private readonly ConcurrentDictionary<string, Task<HoldRow?>> _holds = new(StringComparer.Ordinal);

    public LedgerStore Store => store;

    public async Task<HoldRow?> GetHoldAsync(string teamId, string holdId, CancellationToken ct) =>
        (await _holds.GetOrAdd(holdId, id => store.GetHoldAsync(teamId, id, ct)).ConfigureAwait(false))?.Copy();
}

internal sealed class ChargeOperation(ChargeRequest request, CatalogAction action) : LedgerOperation(request.TeamId, request.IdempotencyKey)
{
    private HoldRow? _hold;

    // Its idempotency record; for data, its ownership record; a line and its user copy (unless it goes into a job line,
    // shared); the hold (shared too for a job line). So a draw into a job line of validations costs one row of a commit.
    public override int MaxRows => request.RollUp ? (action.DataType is null ? 1 : 2) : request.HoldId is null ? 4 : 5;

    public override IEnumerable<string> SharedRows => request.RollUp ? RollUpLines.SharedRows(request.HoldId!, request.Action, request.UserId) : [];

    public override string? SummaryUserId => request.UserId;

    public override (string Feature, string Action)? MarkedAction => (action.Feature, action.Action);

    public override string CreditTypeHint => action.CreditType;

    // The hold id and the job line join the fingerprint only when set, so charges stored before them keep theirs.
    protected override IEnumerable<object?> FingerprintParts() => request.HoldId is null
        ? [request.TeamId, request.UserId, request.Feature, request.Action, request.SubjectId, request.Description, request.RelatedRecord]
        : request.RollUp
            ? [request.TeamId, request.UserId, request.Feature, request.Action, request.SubjectId, request.Description, request.RelatedRecord, request.HoldId, "rollup"]
            : [request.TeamId, request.UserId, request.Feature, request.Action, request.SubjectId, request.Description, request.RelatedRecord, request.HoldId];

    public override async Task PrepareAsync(PreparedReads reads, CancellationToken ct)
    {
        if (request.HoldId is not null)
        {
            _hold = await reads.GetHoldAsync(TeamId, request.HoldId, ct).ConfigureAwait(false);
        }
    }

    public override LedgerResult Plan(BatchPlan plan)
    {
        AssumedNotOwnedKey = null;
        HoldRow? hold = null;
        if (request.HoldId is not null)
        {
            // The hold is checked before ownership: once a job's hold is settled or expired, the job records nothing
            // more under it, whatever the data.
            hold = plan.PlannedHold(request.HoldId) ?? _hold;
            if (HoldRules.Refusal(hold, plan.Now) is { } refused)
            {
                return Refusal(refused, action.CreditType);
            }
            if (hold!.CreditType != action.CreditType)
            {
                return Refusal(LedgerStatus.HoldCreditTypeMismatch, action.CreditType);
            }
        }
        var wallet = plan.Wallet(action.CreditType);
        var ownershipKey = action.DataType is null || request.SubjectId is null ? null : LedgerKeys.Ownership(action.DataType, request.SubjectId);
        var owned = ownershipKey is not null && plan.IsOwned(ownershipKey);
        AssumedNotOwnedKey = owned ? null : ownershipKey;
        var price = owned ? 0 : action.Price.Thousandths;
        // A member's spend limit is checked in the commit that spends (two concurrent charges cannot both slip under
        // it); a charge drawn from a hold was checked when the hold was placed and is only counted.
        if (hold is null && price > 0 && SpendLimits.Refusal(wallet, request.UserId, price, plan.Now) is { } limited)
        {
            return limited;
        }
        var available = wallet.Available(plan.Now);
        if (hold is not null)
        {
            if (price > hold.Remaining)
            {
                return Refusal(LedgerStatus.HoldExhausted, action.CreditType);
            }
            // The hold's own reservation covers its draws, unless grants under it expired meanwhile (the same rule as a
            // capture). A wallet that does not count the hold (a stale cache) covers nothing: the commit then fails on
            // the wallet's ETag and the batch is planned again on a fresh read.
            available += wallet.HeldFor(hold, plan.Now);
        }
        if (price > available)
        {
            return Refusal(LedgerStatus.InsufficientCredits, action.CreditType, new Credits(price - available));
        }
        if (request.RollUp)
        {
            return PlanRollUp(plan, wallet, hold!, ownershipKey, owned, price);
        }
        var lineId = plan.NewLineId();
        if (owned)
        {
            plan.ConfirmOwned(ownershipKey!, this);
        }
        else
        {
            if (price > 0)
            {
                if (hold is null)
                {
                    wallet.Spend(price, plan.Now);
                }
                else
                {
                    wallet.DrawFromHold(hold, price, plan.Now);
                    hold.Drawn += price;
                }
                wallet.CountSpend(request.UserId, price, plan.Now);
                plan.Touch(wallet);
            }
            if (ownershipKey is not null)
            {
                plan.AddOwnership(ownershipKey, action.DataType!, request.SubjectId!, lineId, this);
            }
        }
        if (hold is not null)
        {
            // Written under the ETag it was read with even when nothing was drawn (a free line): a settle committed
            // meanwhile by another process fails this commit, and the charge is planned again against the settled hold.
            plan.UpdateHold(hold, this);
        }
        plan.AddLine(new LineRow
        {
            LineId = lineId, Kind = LineKinds.Charge, At = plan.Now, UserId = request.UserId, CreditType = action.CreditType,
            Amount = price, Feature = action.Feature, Action = action.Action, DataType = action.DataType, SubjectId = request.SubjectId,
            Description = request.Description, Related = request.RelatedRecord ?? hold?.Related, Owned = owned, HoldId = hold?.HoldId,
        }, this);
        plan.MarkUsed(action.Feature, action.Action, request.UserId);
        return new LedgerResult
        {
            Status = owned ? LedgerStatus.AlreadyOwned : LedgerStatus.Charged, CreditType = action.CreditType,
            Amount = new Credits(price), LineId = lineId, AvailableAfter = new Credits(wallet.Available(plan.Now)),
            HoldId = hold?.HoldId, HoldRemaining = hold is null ? null : new Credits(hold.Remaining),
        };
    }

    /// <summary>A draw counted in the hold's job line: the lead's own idempotency and ownership records (the ownership
    /// saying what the lead cost, for a refund of it), the line and the hold.</summary>
    private LedgerResult PlanRollUp(BatchPlan plan, WalletState wallet, HoldRow hold, string? ownershipKey, bool owned, long price)
    {
        if (owned)
        {
            plan.ConfirmOwned(ownershipKey!, this);
        }
        else if (price > 0)
        {
            wallet.DrawFromHold(hold, price, plan.Now);
            hold.Drawn += price;
            wallet.CountSpend(request.UserId, price, plan.Now);
            plan.Touch(wallet);
        }
        var line = plan.DrawIntoRollUp(hold, action, request.UserId, request.Description, request.RelatedRecord, price, owned, this);
        if (!owned && ownershipKey is not null)
        {
            plan.AddOwnership(ownershipKey, action.DataType!, request.SubjectId!, line.LineId, this, price);
        }
        plan.UpdateHold(hold, this);
        plan.MarkUsed(action.Feature, action.Action, request.UserId);
        return new LedgerResult
        {
            Status = owned ? LedgerStatus.AlreadyOwned : LedgerStatus.Charged, CreditType = action.CreditType,
            Amount = new Credits(price), LineId = line.LineId, AvailableAfter = new Credits(wallet.Available(plan.Now)),
            HoldId = hold.HoldId, HoldRemaining = new Credits(hold.Remaining),
        };
    }
}

/// <summary>The states in which a hold refuses every operation, shared by charges drawn from it and its settlement.</summary>
internal static class HoldRules
{
    /// <summary>Why <paramref name="hold"/> cannot be drawn from or settled at <paramref name="now"/>; null when it is open.</summary>
    public static LedgerStatus? Refusal(HoldRow? hold, DateTimeOffset now) => hold switch
    {
        null => LedgerStatus.HoldNotFound,
        { State: HoldStates.Captured } => LedgerStatus.HoldAlreadyCaptured,
        { State: HoldStates.Voided } => LedgerStatus.HoldAlreadyVoided,
        _ when hold.ExpiresAt <= now => LedgerStatus.HoldExpired,
        _ => null,
    };
}

/// <summary>The refusal of a spend beyond a member's limit (DOMAIN rule 10).</summary>
internal static class SpendLimits
{
    public static LedgerResult? Refusal(WalletState wallet, string userId, long amount, DateTimeOffset now) =>
        wallet.LimitLeft(userId, now) is { } left && amount > left
            ? new LedgerResult
            {
                Status = LedgerStatus.SpendLimitReached, CreditType = wallet.CreditType, Shortfall = new Credits(amount - left),
                SpendLimit = new Credits(wallet.Limits[userId].Amount), LimitPeriod = wallet.Limits[userId].Period,
            }
            : null;
}

internal sealed class GrantOperation(GrantRequest request) : LedgerOperation(request.TeamId, request.IdempotencyKey)
{
    public override int MaxRows => 3;

    public override string CreditTypeHint => request.CreditType;

    protected override IEnumerable<object?> FingerprintParts() =>
        [request.TeamId, request.UserId, request.CreditType, request.Amount.Thousandths, request.Kind, request.Priority, request.ExpiresAt, request.Description];

    public override LedgerResult Plan(BatchPlan plan)
    {
        var wallet = plan.Wallet(request.CreditType);
        var lineId = plan.NewLineId();
        var priority = request.Priority ?? (request.Kind == GrantKind.Plan ? WalletState.PlanPriority : WalletState.TopUpPriority);
        wallet.Grant(lineId, request.Kind, request.Amount.Thousandths, priority, request.ExpiresAt);
        plan.Touch(wallet);
        plan.AddLine(new LineRow
        {
            LineId = lineId, Kind = LineKinds.Grant, At = plan.Now, UserId = request.UserId, CreditType = request.CreditType,
            Amount = request.Amount.Thousandths, Description = request.Description ?? (request.Kind == GrantKind.Plan ? "Plan allocation" : "Top-up"),
            Action = request.Kind == GrantKind.Plan ? "plan_allocation" : "top_up",
        }, this);
        return new LedgerResult
        {
            Status = LedgerStatus.Granted, CreditType = request.CreditType, Amount = request.Amount, LineId = lineId,
            AvailableAfter = new Credits(wallet.Available(plan.Now)),
        };
    }
}

internal sealed class RefundOperation(RefundRequest request) : LedgerOperation(request.TeamId, request.IdempotencyKey)
{
    private LineRow? _charge;
    private OwnershipRow? _ownership;
    private HoldRow? _hold;

    // The charge line and its user copy, the ownership, the refund line and its copy, the idempotency record; for a
    // job line also its hold.
    public override int MaxRows => 7;

    public override string? SummaryUserId => request.UserId;

    public override string CreditTypeHint => _charge?.CreditType ?? string.Empty;

    // The subject joins the fingerprint only when set, so refunds stored before job lines keep theirs.
    protected override IEnumerable<object?> FingerprintParts() => request.SubjectId is null
        ? [request.TeamId, request.UserId, request.ChargeId, request.Reason, request.Amount?.Thousandths]
        : [request.TeamId, request.UserId, request.ChargeId, request.Reason, request.Amount?.Thousandths, request.SubjectId];

    public override async Task PrepareAsync(PreparedReads reads, CancellationToken ct)
    {
        _charge = await reads.Store.GetLineAsync(TeamId, request.ChargeId, ct).ConfigureAwait(false);
        // The purchase's ownership record, read again on every attempt: a full refund ends it (DOMAIN rule 8). A job
        // line has many subjects: the one named by the request.
        var subject = _charge?.Leads is null ? _charge?.SubjectId : request.SubjectId;
        _ownership = _charge is { Kind: LineKinds.Charge, Owned: false, DataType: { } dataType } && subject is not null
            ? await reads.Store.GetOwnershipAsync(TeamId, LedgerKeys.Ownership(dataType, subject), ct).ConfigureAwait(false)
            : null;
        _hold = _charge is { Leads: not null, HoldId: { } holdId } ? await reads.GetHoldAsync(TeamId, holdId, ct).ConfigureAwait(false) : null;
    }

    public override LedgerResult Plan(BatchPlan plan)
    {
        var charge = plan.PlannedLine(request.ChargeId) ?? _charge;
        if (charge is null || charge.Kind != LineKinds.Charge)
        {
            return Refusal(LedgerStatus.ChargeNotFound, CreditTypeHint);
        }
        if (charge.Leads is not null)
        {
            return PlanJobLineRefund(plan, charge);
        }
        var left = charge.Amount - charge.RefundedSoFar;
        var amount = request.Amount?.Thousandths ?? left;
        if (amount <= 0 || amount > left)
        {
            return Refusal(LedgerStatus.RefundExceedsCharge, charge.CreditType);
        }
        var wallet = plan.Wallet(charge.CreditType);
        wallet.Refund(amount);
        wallet.UncountSpend(charge.UserId, amount, charge.At);
        plan.Touch(wallet);
        charge.RefundedSoFar += amount;
        plan.UpdateLine(charge, this);
        if (charge.RefundedSoFar == charge.Amount && _ownership is { } ownership && ownership.LineId == charge.LineId)
        {
            // A refunded purchase no longer counts as owned: the next action that needs the data buys it again.
            plan.RemoveOwnership(ownership, this);
        }
        return AddRefundLine(plan, wallet, charge, amount, charge.SubjectId);
    }

    /// <summary>
    /// A refund from a job line. A line that bought data is refunded one lead at a time: the lead's purchase in full,
    /// once. The lead's ownership record says the job line bought it and what it cost; it ends with the refund (removed
    /// under its ETag, so two racing refunds of the same lead refund it once). A line that bought no data (validation)
    /// has no owner per lead and is refunded like a line of one charge, by an amount up to what is left of it. Either way
    /// the job line and its hold record the refund.
    /// </summary>
    private LedgerResult PlanJobLineRefund(BatchPlan plan, LineRow charge)
    {
        var hold = plan.PlannedHold(charge.HoldId!) ?? _hold;
        var line = hold?.RollUpMap().Values.FirstOrDefault(l => l.LineId == charge.LineId);
        if (hold is null || line is null)
        {
            return Refusal(LedgerStatus.ChargeNotFound, charge.CreditType);
        }
        long amount;
        OwnershipRow? ended = null;
        if (charge.DataType is null)
        {
            amount = request.Amount?.Thousandths ?? line.Amount - line.Refunded;
        }
        else if (request.SubjectId is null || _ownership is not { } ownership || ownership.LineId != charge.LineId || ownership.Amount is not { } paid
            || (request.Amount is { } asked && asked.Thousandths != paid))
        {
            // Not a lead this line bought, already refunded, or not the whole of it.
            return Refusal(LedgerStatus.RefundExceedsCharge, charge.CreditType);
        }
        else
        {
            (amount, ended) = (paid, ownership);
        }
        if (amount <= 0 || amount > line.Amount - line.Refunded)
        {
            return Refusal(LedgerStatus.RefundExceedsCharge, charge.CreditType);
        }
        var wallet = plan.Wallet(charge.CreditType);
        wallet.Refund(amount);
        wallet.UncountSpend(charge.UserId, amount, charge.At);
        plan.Touch(wallet);
        line.Refunded += amount;
        if (ended is not null)
        {
            line.RefundedLeads++;
            plan.RemoveOwnership(ended, this);
        }
        plan.WriteRollUp(hold, line, this);
        plan.UpdateHold(hold, this);
        return AddRefundLine(plan, wallet, charge, amount, ended is null ? null : request.SubjectId);
    }

    private LedgerResult AddRefundLine(BatchPlan plan, WalletState wallet, LineRow charge, long amount, string? subjectId)
    {
        var lineId = plan.NewLineId();
        plan.AddLine(new LineRow
        {
            LineId = lineId, Kind = LineKinds.Refund, At = plan.Now, UserId = request.UserId, CreditType = charge.CreditType,
            Amount = amount, Feature = charge.Feature, Action = charge.Action, DataType = charge.DataType, SubjectId = subjectId,
            Description = charge.Leads is null ? charge.Description : plan.PlannedHold(charge.HoldId!)?.RollUpMap().Values.FirstOrDefault(l => l.LineId == charge.LineId)?.Description,
            Related = charge.Related, ChargeId = charge.LineId, Reason = request.Reason,
        }, this);
        return new LedgerResult
        {
            Status = LedgerStatus.Refunded, CreditType = charge.CreditType, Amount = new Credits(amount), LineId = lineId,
            AvailableAfter = new Credits(wallet.Available(plan.Now)),
        };
    }
}

internal sealed class HoldOperation(HoldRequest request, CatalogAction action) : LedgerOperation(request.TeamId, request.IdempotencyKey)
{
    public override int MaxRows => 2;

    public override string CreditTypeHint => action.CreditType;

    protected override IEnumerable<object?> FingerprintParts() =>
        [request.TeamId, request.UserId, request.Feature, request.Action, request.Amount.Thousandths, request.ExpiresAt, request.Description, request.RelatedRecord];

    public override LedgerResult Plan(BatchPlan plan)
    {
        var wallet = plan.Wallet(action.CreditType);
        // A hold is what a job may spend: beyond the member's spend limit it is refused before anything is held.
        if (SpendLimits.Refusal(wallet, request.UserId, request.Amount.Thousandths, plan.Now) is { } limited)
        {
            return limited;
        }
        var available = wallet.Available(plan.Now);
        if (request.Amount.Thousandths > available)
        {
            return Refusal(LedgerStatus.InsufficientCredits, action.CreditType, new Credits(request.Amount.Thousandths - available));
        }
        var holdId = "h" + plan.NewLineId();
        var expiresAt = HoldExpiry.Effective(request.ExpiresAt, plan.Now);
        wallet.AddHold(request.Amount.Thousandths, expiresAt);
        plan.Touch(wallet);
        plan.AddHold(new HoldRow
        {
            HoldId = holdId, State = HoldStates.Open, CreditType = action.CreditType, Amount = request.Amount.Thousandths,
            ExpiresAt = expiresAt, CreatedAt = plan.Now, Feature = action.Feature, Action = action.Action,
            UserId = request.UserId, Description = request.Description, Related = request.RelatedRecord,
        }, this);
        return new LedgerResult
        {
            Status = LedgerStatus.HoldPlaced, CreditType = action.CreditType, Amount = request.Amount, HoldId = holdId,
            AvailableAfter = new Credits(wallet.Available(plan.Now)),
        };
    }
}

/// <summary>Capture (with an amount) or void (without) of what is left of an open hold after its draws.</summary>
internal sealed class SettleHoldOperation : LedgerOperation
{
    private readonly string _userId;
    private readonly string _holdId;
    private readonly Credits? _capture;
    private HoldRow? _hold;

    public SettleHoldOperation(CaptureRequest capture) : base(capture.TeamId, capture.IdempotencyKey)
    {
        (_userId, _holdId, _capture) = (capture.UserId, capture.HoldId, capture.Amount);
    }

    public SettleHoldOperation(VoidRequest @void) : base(@void.TeamId, @void.IdempotencyKey)
    {
        (_userId, _holdId, _capture) = (@void.UserId, @void.HoldId, null);
    }

    public override int MaxRows => 4;

    public override string? SummaryUserId => _userId;

    public override int UnknownMarkerRowsMax => _capture is null ? 0 : 2;

    public override string CreditTypeHint => _hold?.CreditType ?? string.Empty;

    protected override IEnumerable<object?> FingerprintParts() => [TeamId, _userId, _holdId, _capture?.Thousandths ?? -1];

    public override async Task PrepareAsync(PreparedReads reads, CancellationToken ct) =>
        _hold = await reads.GetHoldAsync(TeamId, _holdId, ct).ConfigureAwait(false);

    public override LedgerResult Plan(BatchPlan plan)
    {
        var hold = plan.PlannedHold(_holdId) ?? _hold;
        if (HoldRules.Refusal(hold, plan.Now) is { } refused)
        {
            return Refusal(refused, hold?.CreditType ?? CreditTypeHint);
        }
        var capture = _capture?.Thousandths ?? 0;
        if (capture > hold!.Remaining)
        {
            return Refusal(LedgerStatus.CaptureExceedsHold, hold.CreditType);
        }
        var wallet = plan.Wallet(hold.CreditType);
        // What the hold still reserves becomes available again the moment it is settled, so it always covers its
        // capture, unless grants under it expired meanwhile. A wallet that does not count the hold (a stale cache)
        // covers nothing; the commit then fails on the wallet's ETag and is planned again on a fresh read.
        var availableWithoutHold = wallet.Available(plan.Now) + wallet.HeldFor(hold, plan.Now);
        if (capture > availableWithoutHold)
        {
            return Refusal(LedgerStatus.InsufficientCredits, hold.CreditType, new Credits(capture - availableWithoutHold));
        }
        var released = hold.Remaining - capture;
        wallet.ReleaseHold(hold);
        string? lineId = null;
        if (capture > 0)
        {
            wallet.Spend(capture, plan.Now);
            wallet.CountSpend(_userId, capture, plan.Now);
            lineId = plan.NewLineId();
            plan.AddLine(new LineRow
            {
                LineId = lineId, Kind = LineKinds.Charge, At = plan.Now, UserId = _userId, CreditType = hold.CreditType, Amount = capture,
                Feature = hold.Feature, Action = hold.Action, Description = hold.Description, Related = hold.Related, HoldId = hold.HoldId,
            }, this);
            plan.MarkUsed(hold.Feature, hold.Action, _userId);
        }
        plan.Touch(wallet);
        hold.State = _capture is null ? HoldStates.Voided : HoldStates.Captured;
        hold.Captured = capture;
        plan.UpdateHold(hold, this);
        return new LedgerResult
        {
            Status = _capture is null ? LedgerStatus.HoldVoided : LedgerStatus.HoldCaptured, CreditType = hold.CreditType,
            Amount = new Credits(capture), HoldId = hold.HoldId, LineId = lineId, Released = new Credits(released),
            AvailableAfter = new Credits(wallet.Available(plan.Now)),
        };
    }
}

/// <summary>Sets, changes or removes (<see cref="MemberLimitRequest.Amount"/> null) a member's spend limit of one credit
/// type. A new limit starts from what the member already spent in the current period (read from their lines); a
/// changed one keeps counting.</summary>
internal sealed class SetLimitOperation(MemberLimitRequest request) : LedgerOperation(request.TeamId, request.IdempotencyKey)
{
    private long _spentThisPeriod;

    public override int MaxRows => 1;

    public override string CreditTypeHint => request.CreditType;

    protected override IEnumerable<object?> FingerprintParts() =>
        [request.TeamId, request.UserId, request.MemberId, request.CreditType, request.Amount?.Thousandths ?? -1, request.Period];

    public override async Task PrepareAsync(PreparedReads reads, CancellationToken ct)
    {
        _spentThisPeriod = request.Amount is null ? 0
            : await reads.Store.SumSpentSinceAsync(TeamId, request.MemberId, request.CreditType, SpendPeriods.Start(request.Period, request.Now), ct).ConfigureAwait(false);
    }

    public override LedgerResult Plan(BatchPlan plan)
    {
        var wallet = plan.Wallet(request.CreditType);
        if (request.Amount is not { } amount)
        {
            wallet.Limits.Remove(request.MemberId);
        }
        else if (wallet.Limits.TryGetValue(request.MemberId, out var existing) && existing.Period == request.Period)
        {
            existing.Amount = amount.Thousandths;
        }
        else
        {
            wallet.Limits[request.MemberId] = new MemberLimit
            {
                Amount = amount.Thousandths, Period = request.Period, PeriodKey = SpendPeriods.Key(request.Period, plan.Now), Spent = _spentThisPeriod,
            };
        }
        plan.Touch(wallet);
        return new LedgerResult { Status = LedgerStatus.LimitSet, CreditType = request.CreditType, Amount = request.Amount ?? Credits.Zero };
    }
}

/// <summary>Sets (or, with <see cref="AlertRequest.Threshold"/> null, removes) a wallet's low-balance alert. It starts
/// armed when the available balance is at or above the threshold, so setting it below the balance never fires it.</summary>
internal sealed class SetAlertOperation(AlertRequest request) : LedgerOperation(request.TeamId, request.IdempotencyKey)
{
    public override int MaxRows => 1;

    public override string CreditTypeHint => request.CreditType;

    protected override IEnumerable<object?> FingerprintParts() =>
        [request.TeamId, request.UserId, request.CreditType, request.Threshold?.Thousandths ?? -1, request.WebhookUrl];

    public override LedgerResult Plan(BatchPlan plan)
    {
        var wallet = plan.Wallet(request.CreditType);
        wallet.Alert = request.Threshold is not { } threshold ? null : new BalanceAlert
        {
            Threshold = threshold.Thousandths, WebhookUrl = request.WebhookUrl ?? string.Empty, Armed = wallet.Available(plan.Now) >= threshold.Thousandths,
            LastFiredAt = wallet.Alert?.LastFiredAt,
        };
        plan.Touch(wallet);
        return new LedgerResult { Status = LedgerStatus.AlertSet, CreditType = request.CreditType, Amount = request.Threshold ?? Credits.Zero };
    }
}

/// <summary>Records that a fired alert was delivered (or can never be): the wallet stops offering it for delivery.</summary>
internal sealed class AcknowledgeAlertOperation(string teamId, string creditType, string alertId) : LedgerOperation(teamId, "alert-ack:" + alertId)
{
    public override int MaxRows => 1;

    public override string CreditTypeHint => creditType;

    protected override IEnumerable<object?> FingerprintParts() => [TeamId, creditType, alertId];

    public override LedgerResult Plan(BatchPlan plan)
    {
        var wallet = plan.Wallet(creditType);
        if (wallet.Alert is { } alert && alert.PendingId == alertId)
        {
            (alert.PendingId, alert.PendingAt, alert.PendingAvailable) = (null, null, 0);
            plan.Touch(wallet);
        }
        return new LedgerResult { Status = LedgerStatus.AlertSet, CreditType = creditType };
    }
}
