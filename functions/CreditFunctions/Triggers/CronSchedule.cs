using System.Globalization;

namespace CreditFunctions.Triggers;

/// <summary>
/// An NCRONTAB schedule with six fields, as the Functions timer trigger takes it:
/// <c>{second} {minute} {hour} {day} {month} {day-of-week}</c>, evaluated in UTC.
/// </summary>
/// <remarks>
/// Each field takes <c>*</c>, a value, a range <c>a-b</c>, a list <c>a,b,c</c>, and steps <c>*/n</c>, <c>a-b/n</c> or
/// <c>a/n</c> (from <c>a</c> to the field's end). Months also take <c>Jan</c>…<c>Dec</c>, days of the week
/// <c>Sun</c>…<c>Sat</c> (0 or 7 is Sunday). As in NCrontab (which the Functions host uses), a time must match
/// <em>every</em> field, the day of the month and the day of the week alike: <c>0 0 0 13 * Fri</c> fires only on a
/// Friday the 13th, where classic cron would fire on every 13th and every Friday. The five-field form, time spans
/// (<c>hh:mm:ss</c>) and time zones (<c>WEBSITE_TIME_ZONE</c>) are not supported.
/// </remarks>
public sealed class CronSchedule
{
    // A schedule that matches nothing within this horizon (e.g. "0 0 0 30 2 *") is refused when parsed.
    private const int HorizonYears = 30;

    private static readonly string[] s_months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    private static readonly string[] s_days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

    private readonly bool[] _seconds;
    private readonly bool[] _minutes;
    private readonly bool[] _hours;
    private readonly bool[] _daysOfMonth;
    private readonly bool[] _months;
    private readonly bool[] _daysOfWeek;

    private CronSchedule(string expression, bool[][] fields)
    {
        Expression = expression;
        (_seconds, _minutes, _hours, _daysOfMonth, _months, _daysOfWeek) = (fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]);
    }

    /// <summary>The expression as given.</summary>
    public string Expression { get; }

    /// <summary>Parses a six-field expression.</summary>
    /// <exception cref="FormatException">The expression is malformed or never fires; the message names the field.</exception>
    public static CronSchedule Parse(string expression) =>
        TryParse(expression, out var schedule, out var error) ? schedule : throw new FormatException(error);

    /// <summary>Parses a six-field expression; false with a reason when it is malformed or never fires.</summary>
    public static bool TryParse(string? expression, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CronSchedule? schedule, out string error)
    {
        schedule = null;
        var parts = (expression ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 6)
        {
            error = $"'{expression}' is not an NCRONTAB expression with six fields: {{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}.";
            return false;
        }
        (string Name, int Min, int Max, string[]? Names)[] specs =
        [
            ("second", 0, 59, null), ("minute", 0, 59, null), ("hour", 0, 23, null),
            ("day", 1, 31, null), ("month", 1, 12, s_months), ("day-of-week", 0, 7, s_days),
        ];
        var fields = new bool[6][];
        for (var i = 0; i < 6; i++)
        {
            var (name, min, max, names) = specs[i];
            if (!TryParseField(parts[i], min, max, names, out fields[i], out var problem))
            {
                error = $"The {name} field of '{expression}' is invalid: {problem}.";
                return false;
            }
        }
        // Day of week 7 is Sunday, as 0.
        fields[5][0] |= fields[5][7];
        var candidate = new CronSchedule(expression!, fields);
        var from = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
        if (candidate.Search(from, from.AddYears(HorizonYears)) is null)
        {
            error = $"'{expression}' never fires.";
            return false;
        }
        schedule = candidate;
        error = string.Empty;
        return true;
    }

    /// <summary>The first time strictly after <paramref name="after"/> that the schedule fires, in UTC, whole seconds.</summary>
    public DateTimeOffset GetNextOccurrence(DateTimeOffset after)
    {
        var utc = after.ToUniversalTime();
        return Search(utc, utc.AddYears(HorizonYears + 1))
            ?? throw new InvalidOperationException($"'{Expression}' has no occurrence after {after:O}.");
    }

    /// <inheritdoc />
    public override string ToString() => Expression;

    private DateTimeOffset? Search(DateTimeOffset after, DateTimeOffset limit)
    {
        // Start at the next whole second, then move the largest field that does not match to its next value, resetting
        // the smaller ones: at most a few thousand steps for any schedule within the horizon.
        var t = new DateTimeOffset(after.Year, after.Month, after.Day, after.Hour, after.Minute, after.Second, TimeSpan.Zero).AddSeconds(1);
        while (t < limit)
        {
            if (!_months[t.Month])
            {
                t = new DateTimeOffset(t.Year, t.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
            }
            else if (!_daysOfMonth[t.Day] || !_daysOfWeek[(int)t.DayOfWeek])
            {
                t = new DateTimeOffset(t.Year, t.Month, t.Day, 0, 0, 0, TimeSpan.Zero).AddDays(1);
            }
            else if (!_hours[t.Hour])
            {
                t = new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, 0, 0, TimeSpan.Zero).AddHours(1);
            }
            else if (!_minutes[t.Minute])
            {
                t = new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero).AddMinutes(1);
            }
            else if (!_seconds[t.Second])
            {
                t = t.AddSeconds(1);
            }
            else
            {
                return t;
            }
        }
        return null;
    }

    private static bool TryParseField(string text, int min, int max, string[]? names, out bool[] allowed, out string problem)
    {
        allowed = new bool[max + 1];
        foreach (var item in text.Split(','))
        {
            var stepAt = item.IndexOf('/', StringComparison.Ordinal);
            var rangeText = stepAt < 0 ? item : item[..stepAt];
            var step = 1;
            if (stepAt >= 0 && (!int.TryParse(item[(stepAt + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out step) || step < 1))
            {
                problem = $"'{item}' has a step that is not a positive whole number";
                return false;
            }
            int from, to;
            if (rangeText == "*")
            {
                (from, to) = (min, max);
            }
            else
            {
                var dash = rangeText.IndexOf('-', StringComparison.Ordinal);
                var valid = dash < 0
                    ? TryParseValue(rangeText, names, out from) & TryParseValue(stepAt >= 0 ? max.ToString(CultureInfo.InvariantCulture) : rangeText, names, out to)
                    : TryParseValue(rangeText[..dash], names, out from) & TryParseValue(rangeText[(dash + 1)..], names, out to);
                if (!valid)
                {
                    problem = $"'{item}' is not a value, a range or a step";
                    return false;
                }
            }
            if (from < min || to > max || from > to)
            {
                problem = $"'{item}' is outside {min}-{max}";
                return false;
            }
            for (var v = from; v <= to; v += step)
            {
                allowed[v] = true;
            }
        }
        problem = string.Empty;
        return true;
    }

    private static bool TryParseValue(string text, string[]? names, out int value)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value))
        {
            return true;
        }
        if (names is not null)
        {
            var index = Array.FindIndex(names, n => string.Equals(n, text, StringComparison.OrdinalIgnoreCase));
            if (index >= 0)
            {
                value = names == s_months ? index + 1 : index;
                return true;
            }
        }
        return false;
    }
}
