namespace CreditFunctions.Ledger;

/// <summary>A team's balance of one credit type.</summary>
/// <param name="CreditType">The credit type.</param>
/// <param name="Available">What can be spent now: balance minus open holds.</param>
/// <param name="Held">Reserved by open holds.</param>
/// <param name="Balance">Unexpired credits, held or not.</param>
/// <param name="Granted">All credits ever granted.</param>
/// <param name="Spent">All credits ever charged (refunds not deducted).</param>
/// <param name="Refunded">All credits ever refunded.</param>
/// <param name="Expired">All credits that expired unspent.</param>
/// <param name="ExpiringSoon">Unexpired credits that expire within the next 7 days.</param>
public sealed record BalanceView(string CreditType, Credits Available, Credits Held, Credits Balance, Credits Granted,
    Credits Spent, Credits Refunded, Credits Expired, Credits ExpiringSoon);

/// <summary>Filters of the usage history. Dates are a half-open range [From, To).</summary>
/// <param name="TeamId">The team.</param>
public sealed record UsageQuery(string TeamId)
{
    /// <summary>Earliest line (inclusive); default 30 days before <see cref="To"/>.</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Latest line (exclusive); default now.</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Only this member's lines.</summary>
    public string? UserId { get; init; }

    /// <summary>Only this feature.</summary>
    public string? Feature { get; init; }

    /// <summary>Only this action.</summary>
    public string? Action { get; init; }

    /// <summary>Show refund lines too (off by default).</summary>
    public bool IncludeRefunds { get; init; }

    /// <summary>Where the previous page ended.</summary>
    public string? Cursor { get; init; }

    /// <summary>Lines per page, 1–500; default 50.</summary>
    public int Limit { get; init; } = 50;
}

/// <summary>One row of the usage history.</summary>
public sealed record UsageLine
{
    /// <summary>The line id (a charge's id for refunds).</summary>
    public required string Id { get; init; }

    /// <summary>When.</summary>
    public required DateTimeOffset Date { get; init; }

    /// <summary><c>charge</c>, <c>refund</c> or <c>expiry</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>Feature id and name.</summary>
    public string? Feature { get; init; }

    /// <summary>The feature's display name.</summary>
    public string? FeatureName { get; init; }

    /// <summary>Action id.</summary>
    public string? Action { get; init; }

    /// <summary>The action's display name.</summary>
    public string? ActionName { get; init; }

    /// <summary>What it concerns.</summary>
    public string? Description { get; init; }

    /// <summary>Credits used; negative for refunds and expiries.</summary>
    public required Credits Credits { get; init; }

    /// <summary>The credit type.</summary>
    public required string CreditType { get; init; }

    /// <summary>The data requested (email, phone, job_change, …).</summary>
    public string? DataRequested { get; init; }

    /// <summary>The subject (person) concerned.</summary>
    public string? SubjectId { get; init; }

    /// <summary>Who.</summary>
    public required string User { get; init; }

    /// <summary>The related record (job, workflow, …).</summary>
    public string? RelatedRecord { get; init; }

    /// <summary>For refunds: the charge refunded.</summary>
    public string? ChargeId { get; init; }

    /// <summary>For refunds: why.</summary>
    public string? Reason { get; init; }

    /// <summary>For charges: true when the data was already owned and the line cost nothing.</summary>
    public bool AlreadyOwned { get; init; }

    /// <summary>For charges drawn from or captured from a hold: the hold.</summary>
    public string? HoldId { get; init; }

    /// <summary>For a job line (one line for the charges of one action of a job): the leads charged; null otherwise.</summary>
    public int? Leads { get; init; }

    /// <summary>For a job line: the leads recorded at 0 credits because the team already owned their data.</summary>
    public int? OwnedLeads { get; init; }
}

/// <summary>A page of usage lines, newest first, and the cursor of the next page (null at the end).</summary>
public sealed record UsagePage(IReadOnlyList<UsageLine> Lines, string? NextCursor);

/// <summary>Credits used per day and feature (refunds subtracted).</summary>
public sealed record UsageSeries(string Feature, string FeatureName, IReadOnlyList<UsagePoint> Points);

/// <summary>One day of a series: what was charged, what was refunded that day, and the net of both.</summary>
public sealed record UsagePoint(DateOnly Day, Credits Credits, Credits Charged, Credits Refunded);

/// <summary>What a team has used, for the history's filter lists.</summary>
public sealed record UsageFilters(IReadOnlyList<(string Feature, string Action)> Actions, IReadOnlyList<string> Users);

/// <summary>The result of recomputing a team's wallets from its lines.</summary>
public sealed record VerifyReport(string TeamId, IReadOnlyList<WalletCheck> Wallets, IReadOnlyList<string> Problems)
{
    /// <summary>True when every wallet matches its lines.</summary>
    public bool Ok => Problems.Count == 0;
}

/// <summary>A wallet as stored and as recomputed from its lines.</summary>
public sealed record WalletCheck(string CreditType, Credits Stored, Credits Recomputed, Credits Granted, Credits Charged, Credits Refunded, Credits Expired);
