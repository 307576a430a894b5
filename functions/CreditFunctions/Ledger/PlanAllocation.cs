using System.Globalization;
using CreditFunctions.Auth;

namespace CreditFunctions.Ledger;

/// <summary>
/// A plan's periodic allocation: credits of one type for one calendar month (UTC), expiring when the month ends.
/// Its idempotency key is the team, period and credit type, so granting it twice grants it once (a timer can call
/// it every day of the month).
/// </summary>
public static class PlanAllocation
{
    /// <summary>The allocation's grant for <paramref name="period"/> (<c>yyyy-MM</c>).</summary>
    /// <exception cref="LedgerValidationException">The period is not a month.</exception>
    public static GrantRequest For(string teamId, string period, string creditType, Credits amount)
    {
        if (!DateTime.TryParseExact(period, "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var start))
        {
            throw new LedgerValidationException("period", "must be a month as yyyy-MM");
        }
        var from = new DateTimeOffset(start.Year, start.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return new GrantRequest(teamId, "system", creditType, amount, GrantKind.Plan, $"plan-allocation:{period}:{creditType}")
        {
            ExpiresAt = from.AddMonths(1),
            Description = $"Plan allocation {period}",
        };
    }

    /// <summary>The <c>credits allocate</c> operator command; returns the exit code (0 done or already done,
    /// 1 refused, 2 bad input).</summary>
    internal static async Task<int> RunAsync(TeamStore teams, LedgerService ledger, string teamId, string period, string creditType, string amount,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (!decimal.TryParse(amount, NumberStyles.Number, CultureInfo.InvariantCulture, out var value) || !Credits.TryFromDecimal(value, out var credits))
        {
            await error.WriteLineAsync("--amount: must be a number with at most three decimals.").ConfigureAwait(false);
            return 2;
        }
        if (await teams.GetAsync(teamId, cancellationToken).ConfigureAwait(false) is null)
        {
            await error.WriteLineAsync($"There is no team '{teamId}'; nothing was granted.").ConfigureAwait(false);
            return 1;
        }
        await ledger.InitializeAsync(cancellationToken).ConfigureAwait(false);
        LedgerResult result;
        try
        {
            result = await ledger.GrantAsync(For(teamId, period, creditType, credits)).ConfigureAwait(false);
        }
        catch (LedgerValidationException ex)
        {
            await error.WriteLineAsync($"--{ToOption(ex.Field)}: {ex.Message}; nothing was granted.").ConfigureAwait(false);
            return 2;
        }
        if (result.Status == LedgerStatus.ExistsWithDifferentParameters)
        {
            await error.WriteLineAsync($"Team '{teamId}' already got its {creditType} allocation for {period}, with another amount; nothing was granted.").ConfigureAwait(false);
            return 1;
        }
        await output.WriteLineAsync(result.Replayed
            ? $"Team '{teamId}' already got its {creditType} allocation for {period}; nothing more was granted."
            : $"Granted {result.Amount} {creditType} credits to team '{teamId}' for {period}.").ConfigureAwait(false);
        return 0;
    }

    private static string ToOption(string field) => field switch
    {
        "creditType" => "credit-type",
        "expiresAt" => "period",
        _ => field,
    };
}
