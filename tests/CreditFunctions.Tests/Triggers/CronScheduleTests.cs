using CreditFunctions.Triggers;

namespace CreditFunctions.Tests.Triggers;

public sealed class CronScheduleTests
{
    private static DateTimeOffset At(string text) => DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("0 5 0 * * *", "2026-11-21T10:00:00Z", "2026-11-22T00:05:00Z")]
    [InlineData("0 5 0 * * *", "2026-11-21T00:04:59Z", "2026-11-21T00:05:00Z")]
    [InlineData("0 5 0 * * *", "2026-11-21T00:05:00Z", "2026-11-22T00:05:00Z")]
    [InlineData("*/15 * * * * *", "2026-01-01T00:00:07Z", "2026-01-01T00:00:15Z")]
    [InlineData("0 */5 * * * *", "2026-01-01T00:04:59.900Z", "2026-01-01T00:05:00Z")]
    [InlineData("0 0 9-17/4 * * *", "2026-01-01T09:00:00Z", "2026-01-01T13:00:00Z")]
    [InlineData("0 30 9 * * Mon-Fri", "2026-11-21T12:00:00Z", "2026-11-23T09:30:00Z")]
    [InlineData("0 0 0 1 Jan,Jul *", "2026-02-01T00:00:00Z", "2026-07-01T00:00:00Z")]
    [InlineData("0 0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z")]
    [InlineData("0 0 12 * * 7", "2026-11-21T13:00:00Z", "2026-11-22T12:00:00Z")]
    [InlineData("10,20 0 0 * * *", "2026-11-21T00:00:10Z", "2026-11-21T00:00:20Z")]
    [InlineData("5/20 * * * * *", "2026-11-21T00:00:26Z", "2026-11-21T00:00:45Z")]
    [InlineData("0 0 0 31 12 *", "2026-12-31T00:00:00Z", "2027-12-31T00:00:00Z")]
    public void The_next_occurrence_is_the_first_matching_second_after_the_given_time(string expression, string after, string expected)
    {
        Assert.Equal(At(expected), CronSchedule.Parse(expression).GetNextOccurrence(At(after)));
    }

    [Fact]
    public void Day_of_month_and_day_of_week_must_both_match_as_in_NCrontab()
    {
        // Friday the 13th only; classic cron would also fire on every Friday and every 13th.
        var schedule = CronSchedule.Parse("0 0 0 13 * Fri");

        Assert.Equal(At("2026-02-13T00:00:00Z"), schedule.GetNextOccurrence(At("2026-01-01T00:00:00Z")));
        Assert.Equal(At("2026-03-13T00:00:00Z"), schedule.GetNextOccurrence(At("2026-02-13T00:00:00Z")));
    }

    [Fact]
    public void Occurrences_are_computed_in_UTC_whatever_the_offset_given()
    {
        var schedule = CronSchedule.Parse("0 5 0 * * *");

        Assert.Equal(At("2026-11-22T00:05:00Z"), schedule.GetNextOccurrence(At("2026-11-21T22:00:00-01:00")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("* * * * *")]
    [InlineData("0 5 0 * * * *")]
    [InlineData("60 * * * * *")]
    [InlineData("0 0 24 * * *")]
    [InlineData("0 0 0 0 * *")]
    [InlineData("0 0 0 * 13 *")]
    [InlineData("0 0 0 * * 8")]
    [InlineData("*/0 * * * * *")]
    [InlineData("5-1 * * * * *")]
    [InlineData("a * * * * *")]
    [InlineData("0 0 0 30 2 *")]
    [InlineData("00:05:00")]
    public void Malformed_or_never_firing_expressions_are_refused(string expression)
    {
        Assert.False(CronSchedule.TryParse(expression, out _, out var error));
        Assert.NotEmpty(error);
        Assert.Throws<FormatException>(() => CronSchedule.Parse(expression));
    }
}
