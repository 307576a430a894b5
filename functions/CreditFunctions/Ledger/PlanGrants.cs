using Microsoft.Azure.Functions.Worker;
using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using CreditFunctions.Auth;

namespace CreditFunctions.Ledger;

/// <summary>A plan: the credits of each type a team on it is granted every calendar month (UTC).</summary>
/// <param name="Id">The plan's id, as a team's plan names it.</param>
/// <param name="Name">Its display name.</param>
/// <param name="Monthly">Credits per credit type per month.</param>
public sealed record Plan(string Id, string Name, IReadOnlyDictionary<string, Credits> Monthly);

/// <summary>The plans offered. Data, not code: <c>plans.json</c> (embedded) beside the price catalog.</summary>
public sealed class PlanCatalog
{
    private readonly FrozenDictionary<string, Plan> _plans;

    private PlanCatalog(IEnumerable<Plan> plans) => _plans = plans.ToFrozenDictionary(p => p.Id, StringComparer.Ordinal);

    /// <summary>The plans shipped with the app, checked against <see cref="Catalog.Default"/>'s credit types.</summary>
    public static PlanCatalog Default { get; } = LoadEmbedded();

    /// <summary>Every plan.</summary>
    public IEnumerable<Plan> Plans => _plans.Values;

    /// <summary>The plan, or null.</summary>
    public Plan? Find(string id) => _plans.GetValueOrDefault(id);

    /// <summary>Parses a plans document.</summary>
    /// <exception cref="FormatException">A plan is malformed or names a credit type <paramref name="catalog"/> lacks.</exception>
    public static PlanCatalog Parse(string json, Catalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        using var doc = JsonDocument.Parse(json);
        var plans = new List<Plan>();
        foreach (var plan in doc.RootElement.GetProperty("plans").EnumerateArray())
        {
            var id = plan.GetProperty("id").GetString() ?? throw new FormatException("A plan has no id.");
            var monthly = new Dictionary<string, Credits>(StringComparer.Ordinal);
            foreach (var credit in plan.GetProperty("monthly").EnumerateObject())
            {
                if (!catalog.HasCreditType(credit.Name) || !Credits.TryFromDecimal(credit.Value.GetDecimal(), out var amount) || amount <= Credits.Zero)
                {
                    throw new FormatException($"Plan '{id}': '{credit.Name}' must be a credit type of the catalog with a positive amount.");
                }
                monthly[credit.Name] = amount;
            }
            plans.Add(new Plan(id, plan.GetProperty("name").GetString() ?? id, monthly));
        }
        return new PlanCatalog(plans);
    }

    private static PlanCatalog LoadEmbedded()
    {
        using var stream = typeof(PlanCatalog).Assembly.GetManifestResourceStream("CreditFunctions.Ledger.plans.json")
            ?? throw new InvalidOperationException("The embedded plans are missing.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), Catalog.Default);
    }
}

/// <summary>What one run of <see cref="PlanGrants"/> did.</summary>
/// <param name="Period">The month, <c>yyyy-MM</c>.</param>
/// <param name="Granted">Allocations granted by this run.</param>
/// <param name="AlreadyGranted">Allocations the team already had for the period (nothing moved).</param>
/// <param name="Conflicting">Allocations granted earlier for the period with another amount (nothing moved).</param>
public sealed record PlanGrantsResult(string Period, int Granted, int AlreadyGranted, int Conflicting);

/// <summary>
/// The <c>plan-grants</c> timer's work: every team on a plan gets its plan's allocation for the current month, through
/// <see cref="PlanAllocation"/> (the <c>credits allocate</c> command's code), idempotent per team, month and credit
/// type. It can run any number of times a month: the first run grants, later runs grant nothing; a run that failed
/// half-way is completed by the next.
/// </summary>
public sealed partial class PlanGrants(TeamStore teams, LedgerService ledger, PlanCatalog plans, TimeProvider clock, ILogger<PlanGrants> logger)
{
    /// <summary>The function's name.</summary>
    public const string FunctionName = "plan-grants";

    /// <summary>The function's schedule: every day at 00:05:00 UTC.</summary>
    public const string Schedule = "0 5 0 * * *";

    /// <summary>The timer function: runs <see cref="RunAsync"/> on <see cref="Schedule"/>.</summary>
    [Function(FunctionName)]
    public Task RunOnScheduleAsync([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken) => RunAsync(cancellationToken);

    /// <summary>Grants the current month's allocation to every team on a plan.</summary>
    /// <exception cref="LedgerUnavailableException">Storage failed; what was granted stays granted, the rest is granted by the next run.</exception>
    public async Task<PlanGrantsResult> RunAsync(CancellationToken cancellationToken)
    {
        var period = clock.GetUtcNow().ToString("yyyy-MM", CultureInfo.InvariantCulture);
        var result = new PlanGrantsResult(period, 0, 0, 0);
        foreach (var (teamId, planId) in await teams.ListPlansAsync(cancellationToken).ConfigureAwait(false))
        {
            result = Add(result, await GrantAsync(teamId, planId, period).ConfigureAwait(false));
        }
        Log.Ran(logger, period, result.Granted, result.AlreadyGranted, result.Conflicting);
        return result;
    }

    /// <summary>Grants <paramref name="teamId"/> the allocation of <paramref name="planId"/> for <paramref name="period"/>.</summary>
    public async Task<PlanGrantsResult> GrantAsync(string teamId, string planId, string period)
    {
        var result = new PlanGrantsResult(period, 0, 0, 0);
        if (plans.Find(planId) is not { } plan)
        {
            Log.UnknownPlan(logger, teamId, planId);
            return result;
        }
        foreach (var (creditType, amount) in plan.Monthly)
        {
            var granted = await ledger.GrantAsync(PlanAllocation.For(teamId, period, creditType, amount)).ConfigureAwait(false);
            result = granted switch
            {
                { Status: LedgerStatus.ExistsWithDifferentParameters } => result with { Conflicting = result.Conflicting + 1 },
                { Replayed: true } => result with { AlreadyGranted = result.AlreadyGranted + 1 },
                _ => result with { Granted = result.Granted + 1 },
            };
            if (granted.Status == LedgerStatus.ExistsWithDifferentParameters)
            {
                Log.Conflict(logger, teamId, period, creditType);
            }
        }
        return result;
    }

    private static PlanGrantsResult Add(PlanGrantsResult a, PlanGrantsResult b) =>
        a with { Granted = a.Granted + b.Granted, AlreadyGranted = a.AlreadyGranted + b.AlreadyGranted, Conflicting = a.Conflicting + b.Conflicting };

    private static partial class Log
    {
        [LoggerMessage(EventId = 3120, Level = LogLevel.Information, Message = "Plan grants for {Period}: {Granted} granted, {AlreadyGranted} already granted, {Conflicting} granted earlier with another amount")]
        public static partial void Ran(ILogger logger, string period, int granted, int alreadyGranted, int conflicting);

        [LoggerMessage(EventId = 3121, Level = LogLevel.Warning, Message = "Team {TeamId} is on plan {PlanId}, which plans.json does not offer; nothing granted")]
        public static partial void UnknownPlan(ILogger logger, string teamId, string planId);

        [LoggerMessage(EventId = 3122, Level = LogLevel.Warning, Message = "Team {TeamId} already got a {CreditType} allocation for {Period} with another amount; nothing granted")]
        public static partial void Conflict(ILogger logger, string teamId, string period, string creditType);
    }
}
