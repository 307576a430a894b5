namespace CreditFunctions.Ledger;

/// <summary>
/// The outcome of a ledger operation (TigerBeetle-style exact names). The first group moved credits or recorded
/// something; the second group are refusals after which nothing was written.
/// </summary>
public enum LedgerStatus
{
    /// <summary>The action was charged at its catalog price.</summary>
    Charged,

    /// <summary>The team already owned the data: a 0-credit line was recorded and nothing was charged.</summary>
    AlreadyOwned,

    /// <summary>Credits were granted.</summary>
    Granted,

    /// <summary>A refund line was recorded against a charge.</summary>
    Refunded,

    /// <summary>A hold was placed for a maximum amount.</summary>
    HoldPlaced,

    /// <summary>A hold was captured (the captured part charged, the rest released; earlier draws stay charged).</summary>
    HoldCaptured,

    /// <summary>A hold was voided: all that was left of it released (earlier draws stay charged).</summary>
    HoldVoided,

    /// <summary>The idempotency key was used before with other parameters; nothing moved.</summary>
    ExistsWithDifferentParameters,

    /// <summary>The available balance is below the amount; nothing was written.</summary>
    InsufficientCredits,

    /// <summary>No charge with that id in this team.</summary>
    ChargeNotFound,

    /// <summary>The refund would exceed what the charge cost minus earlier refunds.</summary>
    RefundExceedsCharge,

    /// <summary>No hold with that id in this team.</summary>
    HoldNotFound,

    /// <summary>The hold was captured already.</summary>
    HoldAlreadyCaptured,

    /// <summary>The hold was voided already.</summary>
    HoldAlreadyVoided,

    /// <summary>The hold expired and released itself before this operation.</summary>
    HoldExpired,

    /// <summary>The capture asks for more than is left of the hold (its amount minus what charges drew from it).</summary>
    CaptureExceedsHold,

    /// <summary>A charge drawn from a hold costs more than is left of the hold (its amount minus earlier draws). The
    /// hold never pays for more than it reserved: charge the rest without <see cref="ChargeRequest.HoldId"/>, or place
    /// a new hold.</summary>
    HoldExhausted,

    /// <summary>A charge names a hold of another credit type than its action spends.</summary>
    HoldCreditTypeMismatch,

    /// <summary>The member's spend limit for the credit type and period would be passed (DOMAIN rule 10); nothing was
    /// spent. <see cref="LedgerResult.Shortfall"/> is by how much.</summary>
    SpendLimitReached,

    /// <summary>A spend limit was set or removed.</summary>
    LimitSet,

    /// <summary>A low-balance alert was set, removed or acknowledged.</summary>
    AlertSet,
}

/// <summary>What a ledger operation did. A repeated idempotency key returns the first result with
/// <see cref="Replayed"/> set.</summary>
public sealed record LedgerResult
{
    /// <summary>The outcome.</summary>
    public required LedgerStatus Status { get; init; }

    /// <summary>The credit type concerned.</summary>
    public required string CreditType { get; init; }

    /// <summary>Credits moved by this operation (charged, granted, refunded, held or captured); zero for
    /// <see cref="LedgerStatus.AlreadyOwned"/>.</summary>
    public Credits Amount { get; init; }

    /// <summary>The history line written, when one was (charges, refunds, grants, captures).</summary>
    public string? LineId { get; init; }

    /// <summary>The hold concerned, for hold operations and charges drawn from a hold.</summary>
    public string? HoldId { get; init; }

    /// <summary>For charges drawn from a hold: what is left of the hold right after the charge (still reserved).</summary>
    public Credits? HoldRemaining { get; init; }

    /// <summary>For <see cref="LedgerStatus.InsufficientCredits"/>: how many credits are missing.</summary>
    public Credits? Shortfall { get; init; }

    /// <summary>For <see cref="LedgerStatus.HoldCaptured"/> and <see cref="LedgerStatus.HoldVoided"/>: credits released
    /// (what was left of the hold minus the capture).</summary>
    public Credits? Released { get; init; }

    /// <summary>The available balance of <see cref="CreditType"/> right after the operation.</summary>
    public Credits? AvailableAfter { get; init; }

    /// <summary>For <see cref="LedgerStatus.SpendLimitReached"/>: the member's limit and its period.</summary>
    public Credits? SpendLimit { get; init; }

    /// <summary>For <see cref="LedgerStatus.SpendLimitReached"/>: <c>day</c>, <c>week</c> or <c>month</c>.</summary>
    public string? LimitPeriod { get; init; }

    /// <summary>True when this is the stored result of an earlier request with the same idempotency key.</summary>
    public bool Replayed { get; init; }

    /// <summary>True for outcomes that moved or recorded something.</summary>
    public bool Succeeded => Status is LedgerStatus.Charged or LedgerStatus.AlreadyOwned or LedgerStatus.Granted or LedgerStatus.Refunded
        or LedgerStatus.HoldPlaced or LedgerStatus.HoldCaptured or LedgerStatus.HoldVoided or LedgerStatus.LimitSet
        or LedgerStatus.AlertSet;
}

/// <summary>How a grant came about.</summary>
public enum GrantKind
{
    /// <summary>A plan's periodic allocation; usually expires at the end of the period.</summary>
    Plan,

    /// <summary>A purchased top-up; does not expire.</summary>
    TopUp,

    /// <summary>Credits returned by refunds; does not expire.</summary>
    Refund,
}

/// <summary>Charge one catalog action. The price comes from the catalog, never from the caller.</summary>
/// <param name="TeamId">The team charged.</param>
/// <param name="UserId">The member who acted.</param>
/// <param name="Feature">Catalog feature id.</param>
/// <param name="Action">Catalog action id.</param>
/// <param name="IdempotencyKey">The identity of this charge: repeating it moves nothing.</param>
public sealed record ChargeRequest(string TeamId, string UserId, string Feature, string Action, string IdempotencyKey)
{
    /// <summary>The subject (e.g. a person id) whose data is bought; required for actions that buy data.</summary>
    public string? SubjectId { get; init; }

    /// <summary>What the line concerns, shown in history (the contact, workflow, job).</summary>
    public string? Description { get; init; }

    /// <summary>A related record (e.g. <c>job:123</c>), shown in history. A charge drawn from a hold without one shows
    /// the hold's.</summary>
    public string? RelatedRecord { get; init; }

    /// <summary>
    /// An open hold of this team and of the action's credit type to draw the price from, instead of from the available
    /// balance (a bulk job holds its maximum once, then charges each hit against it). The price is charged and the hold's
    /// reservation shrinks by as much, so the available balance does not move; each such charge is an ordinary line with
    /// its own idempotency key and ownership record, and data already owned costs nothing and leaves the hold untouched.
    /// Refusals: <see cref="LedgerStatus.HoldNotFound"/>, <see cref="LedgerStatus.HoldExpired"/>,
    /// <see cref="LedgerStatus.HoldAlreadyVoided"/>, <see cref="LedgerStatus.HoldAlreadyCaptured"/>,
    /// <see cref="LedgerStatus.HoldCreditTypeMismatch"/>, and <see cref="LedgerStatus.HoldExhausted"/> when less than the
    /// price is left. Null: an ordinary charge from the available balance.
    /// </summary>
    public string? HoldId { get; init; }

    /// <summary>
    /// Counts the charge in the hold's job line (requires <see cref="HoldId"/>): history shows one line per action, user
    /// and day of the hold ("… — job q3.csv: 8,231 leads, 4,115.5 credits", with <see cref="Description"/> first)
    /// instead of one per lead. The charge keeps its own idempotency key, and its ownership record, so the lead is never
    /// charged again anywhere; the result's line id is the job line's, and a refund of the lead names its subject.
    /// </summary>
    public bool RollUp { get; init; }
}

/// <summary>Grant credits: a plan allocation (usually expiring) or a top-up.</summary>
/// <param name="TeamId">The team credited.</param>
/// <param name="UserId">Who granted (an admin or <c>system</c>).</param>
/// <param name="CreditType">The balance credited.</param>
/// <param name="Amount">How many credits (positive).</param>
/// <param name="Kind">Plan or top-up.</param>
/// <param name="IdempotencyKey">The identity of this grant; a periodic allocation uses plan + period.</param>
public sealed record GrantRequest(string TeamId, string UserId, string CreditType, Credits Amount, GrantKind Kind, string IdempotencyKey)
{
    /// <summary>Spending order: lower numbers are spent first. Defaults: plan 10, top-up 20.</summary>
    public int? Priority { get; init; }

    /// <summary>When the remainder stops counting; null never.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>Shown in history.</summary>
    public string? Description { get; init; }
}

/// <summary>Refund part or all of a charge. A charge is never refunded by more than it cost.</summary>
/// <param name="TeamId">The team.</param>
/// <param name="UserId">Who refunds.</param>
/// <param name="ChargeId">The charge's line id.</param>
/// <param name="Reason">Why (required): a bounced email, wrong data, a failed job.</param>
/// <param name="IdempotencyKey">The identity of this refund.</param>
public sealed record RefundRequest(string TeamId, string UserId, string ChargeId, string Reason, string IdempotencyKey)
{
    /// <summary>How much; null refunds whatever is left of the charge.</summary>
    public Credits? Amount { get; init; }

    /// <summary>For a job line that bought data (many leads' purchases in one line): the lead whose purchase is refunded,
    /// in full (an <see cref="Amount"/>, when given, must be what it cost). A job line that bought no data (validation) is
    /// refunded by amount, like a line of one charge. Ignored for a line of one charge.</summary>
    public string? SubjectId { get; init; }
}

/// <summary>Reserve up to <paramref name="Amount"/> credits for an action, to be captured later.</summary>
/// <param name="TeamId">The team.</param>
/// <param name="UserId">Who acts.</param>
/// <param name="Feature">Catalog feature of the eventual charge.</param>
/// <param name="Action">Catalog action of the eventual charge (its credit type is the hold's).</param>
/// <param name="Amount">The maximum to reserve.</param>
/// <param name="ExpiresAt">When an uncaptured hold releases itself.</param>
/// <param name="IdempotencyKey">The identity of this hold.</param>
public sealed record HoldRequest(string TeamId, string UserId, string Feature, string Action, Credits Amount, DateTimeOffset ExpiresAt, string IdempotencyKey)
{
    /// <summary>Shown in history on capture.</summary>
    public string? Description { get; init; }

    /// <summary>A related record (e.g. the CSV job).</summary>
    public string? RelatedRecord { get; init; }
}

/// <summary>Capture part or all of what is left of an open hold; the rest is released. Charges drawn from the hold
/// before stay as they are: a capture takes at most the hold's amount minus those draws.</summary>
/// <param name="TeamId">The team.</param>
/// <param name="UserId">Who acts.</param>
/// <param name="HoldId">The hold.</param>
/// <param name="Amount">How much to charge, at most what is left of the hold (0 closes it and releases everything left).</param>
/// <param name="IdempotencyKey">The identity of this capture.</param>
public sealed record CaptureRequest(string TeamId, string UserId, string HoldId, Credits Amount, string IdempotencyKey);

/// <summary>Release what is left of an open hold. Charges drawn from it before stay charged.</summary>
/// <param name="TeamId">The team.</param>
/// <param name="UserId">Who acts.</param>
/// <param name="HoldId">The hold.</param>
/// <param name="IdempotencyKey">The identity of this void.</param>
public sealed record VoidRequest(string TeamId, string UserId, string HoldId, string IdempotencyKey);

/// <summary>Sets a member's spend limit of one credit type per period, or removes it (<paramref name="Amount"/> null).</summary>
/// <param name="TeamId">The team.</param>
/// <param name="UserId">Who sets it (an admin).</param>
/// <param name="MemberId">Whose spending it caps.</param>
/// <param name="CreditType">The credit type.</param>
/// <param name="Amount">The most the member may spend per period; null removes the limit.</param>
/// <param name="Period"><c>day</c>, <c>week</c> or <c>month</c> (UTC).</param>
/// <param name="IdempotencyKey">The operation's key.</param>
public sealed record MemberLimitRequest(string TeamId, string UserId, string MemberId, string CreditType, Credits? Amount, string Period, string IdempotencyKey)
{
    /// <summary>When it was asked (the current period's start is read from it).</summary>
    public DateTimeOffset Now { get; init; }
}

/// <summary>Sets a wallet's low-balance alert, or removes it (<paramref name="Threshold"/> null).</summary>
/// <param name="TeamId">The team.</param>
/// <param name="UserId">Who sets it (an admin).</param>
/// <param name="CreditType">The wallet.</param>
/// <param name="Threshold">The alert fires when the available balance falls below it.</param>
/// <param name="WebhookUrl">Where the alert is posted (signed; checked by the egress guard).</param>
/// <param name="IdempotencyKey">The operation's key.</param>
public sealed record AlertRequest(string TeamId, string UserId, string CreditType, Credits? Threshold, string? WebhookUrl, string IdempotencyKey);

/// <summary>A low-balance alert as the API shows it.</summary>
/// <param name="CreditType">The wallet.</param>
/// <param name="Threshold">The threshold.</param>
/// <param name="WebhookUrl">Where it is posted.</param>
/// <param name="Armed">True while the balance is at or above the threshold (it fires on the next fall below).</param>
/// <param name="LastFiredAt">When it last fired.</param>
public sealed record AlertView(string CreditType, Credits Threshold, string WebhookUrl, bool Armed, DateTimeOffset? LastFiredAt);

/// <summary>A fired low-balance alert, to be delivered once (at least once: receivers dedupe by <paramref name="AlertId"/>).</summary>
/// <param name="TeamId">The team.</param>
/// <param name="CreditType">The wallet.</param>
/// <param name="AlertId">Unique per firing.</param>
/// <param name="Threshold">The threshold crossed.</param>
/// <param name="Available">The available balance the crossing commit left.</param>
/// <param name="At">When it fired.</param>
/// <param name="WebhookUrl">Where to post it.</param>
public sealed record LowBalanceAlert(string TeamId, string CreditType, string AlertId, Credits Threshold, Credits Available, DateTimeOffset At, string WebhookUrl);

/// <summary>Takes fired alerts for delivery; called after the commit that fired them (and again for alerts not yet
/// acknowledged when a team's ledger is first loaded by a process, so a crash between the two loses none).</summary>
public interface ILowBalanceAlertSink
{
    /// <summary>Queues <paramref name="alert"/> for delivery; must not block.</summary>
    void Raised(LowBalanceAlert alert);
}

/// <summary>A member's spend limit as the API shows it.</summary>
/// <param name="UserId">The member.</param>
/// <param name="CreditType">The credit type.</param>
/// <param name="Limit">The most they may spend per period.</param>
/// <param name="Period"><c>day</c>, <c>week</c> or <c>month</c>.</param>
/// <param name="Spent">What they spent in the current period (charges minus refunds of it).</param>
/// <param name="Left">What they may still spend in it.</param>
/// <param name="ResetsAt">When the next period starts.</param>
public sealed record MemberLimitView(string UserId, string CreditType, Credits Limit, string Period, Credits Spent, Credits Left, DateTimeOffset ResetsAt);

/// <summary>A hold as the API shows it.</summary>
/// <param name="HoldId">The hold.</param>
/// <param name="State"><c>open</c>, <c>captured</c>, <c>voided</c> or <c>expired</c> (an open hold past its expiry).</param>
/// <param name="CreditType">What it reserves.</param>
/// <param name="Amount">What it reserved when placed.</param>
/// <param name="Drawn">What charges drawn from it have taken.</param>
/// <param name="Remaining">What it still reserves (0 once settled or expired).</param>
/// <param name="ExpiresAt">When it releases by itself.</param>
/// <param name="CreatedAt">When it was placed.</param>
/// <param name="Feature">The feature it is for.</param>
/// <param name="Action">The action it is for.</param>
/// <param name="UserId">Who placed it: only they or an admin may capture or void it.</param>
/// <param name="Description">Its description.</param>
public sealed record HoldView(string HoldId, string State, string CreditType, Credits Amount, Credits Drawn, Credits Remaining, DateTimeOffset ExpiresAt,
    DateTimeOffset CreatedAt, string Feature, string Action, string UserId, string? Description)
{
    internal static HoldView From(HoldRow row, DateTimeOffset now)
    {
        var open = row.State == HoldStates.Open && row.ExpiresAt > now;
        var state = row.State == HoldStates.Open && !open ? "expired" : row.State;
        return new HoldView(row.HoldId, state, row.CreditType, new Credits(row.Amount), new Credits(row.Drawn), new Credits(open ? row.Remaining : 0),
            row.ExpiresAt, row.CreatedAt, row.Feature, row.Action, row.UserId, row.Description);
    }
}
