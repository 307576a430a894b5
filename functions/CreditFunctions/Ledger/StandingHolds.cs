namespace CreditFunctions.Ledger;

/// <summary>Grow or shrink a team's standing hold of one catalog action by <paramref name="Delta"/> credits.</summary>
/// <param name="TeamId">The team.</param>
/// <param name="UserId">Who acts.</param>
/// <param name="Feature">Catalog feature of the hold.</param>
/// <param name="Action">Catalog action of the hold (its credit type is the hold's).</param>
/// <param name="Delta">Credits to reserve (positive) or release (negative); never below zero held in all.</param>
/// <param name="IdempotencyKey">The identity of this change: repeating it moves nothing.</param>
public sealed record StandingHoldRequest(string TeamId, string UserId, string Feature, string Action, Credits Delta, string IdempotencyKey)
{
    /// <summary>The usage line's text (e.g. "Tracked 250 contacts").</summary>
    public string? Description { get; init; }
}

/// <summary>
/// A standing hold: one open hold per team and action that never expires, grown and shrunk by
/// <see cref="LedgerService.AdjustStandingHoldAsync"/> (contact tracking holds one credit per tracked contact for as long
/// as it is tracked). Each change is one ordinary ledger operation: idempotent by key, committed with the wallet's
/// reservation in the team's transaction, and recorded as a 0-credit usage line naming the hold, so verification
/// proves the wallet reserves exactly what the hold has.
/// </summary>
public static class StandingHolds
{
    /// <summary>The hold id of a team's standing hold of <paramref name="action"/> (not a placeable hold id: the API cannot
    /// capture or void it).</summary>
    public static string HoldId(string action) => "standing-" + action;

    /// <summary>When a standing hold expires: never, in practice (the last whole hour a table can store).</summary>
    public static readonly DateTimeOffset ExpiresAt = new(9999, 12, 31, 0, 0, 0, TimeSpan.Zero);
}

public sealed partial class LedgerService
{
    /// <summary>Reserves (positive delta) or releases (negative) credits in the team's standing hold of an action, all or
    /// nothing: <see cref="LedgerStatus.InsufficientCredits"/> (with the shortfall) when the available balance cannot cover
    /// the growth, and nothing is held. Releasing more than the hold has releases what it has. Answers
    /// <see cref="LedgerStatus.HoldPlaced"/> with <see cref="LedgerResult.HoldRemaining"/>, the hold's new size.</summary>
    public Task<LedgerResult> AdjustStandingHoldAsync(StandingHoldRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        LedgerRules.Caller(request.TeamId, request.UserId, request.IdempotencyKey);
        var action = FindAction(request.Feature, request.Action);
        if (request.Delta == Credits.Zero)
        {
            throw new LedgerValidationException("delta", "must not be zero");
        }
        LedgerRules.Text(request.Description, "description");
        return Enqueue(new StandingHoldOperation(request, action));
    }

    /// <summary>What the team's standing hold of an action reserves now (0 when it has none).</summary>
    public async Task<Credits> GetStandingHoldAsync(string teamId, string action, CancellationToken cancellationToken = default)
    {
        LedgerRules.Team(teamId);
        var hold = await _store.GetHoldAsync(teamId, StandingHolds.HoldId(action), cancellationToken).ConfigureAwait(false);
        return new Credits(hold?.Remaining ?? 0);
    }
}

internal sealed class StandingHoldOperation(StandingHoldRequest request, CatalogAction action) : LedgerOperation(request.TeamId, request.IdempotencyKey)
{
    private HoldRow? _hold;

    public override int MaxRows => 4;

    public override string CreditTypeHint => action.CreditType;

    private string HoldId => StandingHolds.HoldId(action.Action);

    protected override IEnumerable<object?> FingerprintParts() =>
        [request.TeamId, request.UserId, request.Feature, request.Action, request.Delta.Thousandths, request.Description];

    public override async Task PrepareAsync(PreparedReads reads, CancellationToken ct) =>
        _hold = await reads.GetHoldAsync(TeamId, HoldId, ct).ConfigureAwait(false);

    public override LedgerResult Plan(BatchPlan plan)
    {
        var wallet = plan.Wallet(action.CreditType);
        var planned = plan.PlannedHold(HoldId);
        var hold = planned ?? _hold;
        var delta = request.Delta.Thousandths;
        if (delta > 0)
        {
            if (SpendLimits.Refusal(wallet, request.UserId, delta, plan.Now) is { } limited)
            {
                return limited;
            }
            var available = wallet.Available(plan.Now);
            if (delta > available)
            {
                return Refusal(LedgerStatus.InsufficientCredits, action.CreditType, new Credits(delta - available));
            }
        }
        var isNew = hold is null;
        hold ??= new HoldRow
        {
            HoldId = HoldId, State = HoldStates.Open, CreditType = action.CreditType, ExpiresAt = StandingHolds.ExpiresAt, CreatedAt = plan.Now,
            Feature = action.Feature, Action = action.Action, UserId = request.UserId, Description = "Held while contacts are tracked",
        };
        var change = Math.Max(delta, -hold.Remaining);
        // Unreserve what the hold had and reserve its new size: a wallet that did not count the hold (a stale cache)
        // fails the commit on its ETag, and the batch is planned again on a fresh read.
        wallet.ReleaseHold(hold);
        hold.Amount += change;
        wallet.AddHold(hold.Remaining, hold.ExpiresAt);
        plan.Touch(wallet);
        if (planned is not null)
        {
            plan.UpdateHold(planned, this);
        }
        else if (isNew)
        {
            plan.AddHold(hold, this);
        }
        else
        {
            plan.UpdateHold(hold, this);
        }
        var lineId = plan.NewLineId();
        plan.AddLine(new LineRow
        {
            LineId = lineId, Kind = LineKinds.Charge, At = plan.Now, UserId = request.UserId, CreditType = action.CreditType, Amount = 0,
            Feature = action.Feature, Action = action.Action, Description = request.Description, HoldId = HoldId,
        }, this);
        plan.MarkUsed(action.Feature, action.Action, request.UserId);
        return new LedgerResult
        {
            Status = LedgerStatus.HoldPlaced, CreditType = action.CreditType, Amount = new Credits(Math.Abs(change)), HoldId = HoldId, LineId = lineId,
            HoldRemaining = new Credits(hold.Remaining), AvailableAfter = new Credits(wallet.Available(plan.Now)),
        };
    }
}
