using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

public sealed class UsageHistoryTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<LedgerTestContext> TeamWithHistoryAsync(AzuriteFixture azurite)
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        await ctx.GrantAsync("t1", "phone", 100);
        for (var day = 0; day < 5; day++)
        {
            await ctx.ChargeAsync("t1", "email", "email_reveal", $"p{day}", user: "ada");
            await ctx.ChargeAsync("t1", "phone_number", "phone_reveal", $"p{day}", user: "bob");
            ctx.Clock.Advance(TimeSpan.FromDays(1));
        }
        return ctx;
    }

    [Fact]
    public async Task History_is_newest_first_within_the_date_range()
    {
        var ctx = await TeamWithHistoryAsync(azurite);
        var page = await ctx.Ledger.QueryUsageAsync(new UsageQuery("t1")
        {
            From = LedgerTestContext.Start.AddDays(1), To = LedgerTestContext.Start.AddDays(3), Limit = 100,
        }, Ct);

        Assert.Equal(4, page.Lines.Count);
        Assert.All(page.Lines, l => Assert.InRange(l.Date, LedgerTestContext.Start.AddDays(1), LedgerTestContext.Start.AddDays(3).AddTicks(-1)));
        Assert.Equal(page.Lines.OrderByDescending(l => l.Date).Select(l => l.Id), page.Lines.Select(l => l.Id));
        Assert.Null(page.NextCursor);
    }

    [Fact]
    public async Task A_member_filter_reads_only_that_members_lines()
    {
        var ctx = await TeamWithHistoryAsync(azurite);
        var bob = await ctx.UsageAsync("t1", user: "bob");
        Assert.Equal(5, bob.Count);
        Assert.All(bob, l => Assert.Equal(("bob", "phone_reveal"), (l.User, l.Action!)));
    }

    [Fact]
    public async Task Cursor_paging_returns_every_line_once()
    {
        var ctx = await TeamWithHistoryAsync(azurite);
        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await ctx.Ledger.QueryUsageAsync(new UsageQuery("t1") { From = LedgerTestContext.Start, To = ctx.Clock.Now, Limit = 3, Cursor = cursor }, Ct);
            seen.AddRange(page.Lines.Select(l => l.Id));
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(10, seen.Count);
        Assert.Equal(10, seen.Distinct().Count());
        Assert.Equal(4, pages);
    }

    [Fact]
    public async Task A_cursor_from_another_query_is_refused()
    {
        var ctx = await TeamWithHistoryAsync(azurite);
        var page = await ctx.Ledger.QueryUsageAsync(new UsageQuery("t1") { From = LedgerTestContext.Start, To = ctx.Clock.Now, Limit = 2 }, Ct);
        var ex = await Assert.ThrowsAsync<LedgerValidationException>(() =>
            ctx.Ledger.QueryUsageAsync(new UsageQuery("t1") { UserId = "bob", Cursor = page.NextCursor }, Ct));
        Assert.Equal("cursor", ex.Field);
    }

    [Fact]
    public async Task Feature_and_action_filters_and_the_filter_lists_show_only_what_was_used()
    {
        var ctx = await TeamWithHistoryAsync(azurite);
        var phones = await ctx.Ledger.QueryUsageAsync(new UsageQuery("t1") { From = LedgerTestContext.Start, Feature = "phone_number", Limit = 100 }, Ct);
        Assert.Equal(5, phones.Lines.Count);

        var (actions, users) = await ctx.Ledger.GetUsedFiltersAsync("t1", onlyUser: null, Ct);
        Assert.Equal(["email/email_reveal", "phone_number/phone_reveal"], actions.Select(a => $"{a.Feature}/{a.Action}").Order());
        Assert.Equal(["ada", "bob"], users.Order());
    }

    [Fact]
    public async Task The_summary_gives_credits_per_day_and_feature()
    {
        var ctx = await TeamWithHistoryAsync(azurite);
        var series = await ctx.Ledger.SummarizeUsageAsync(new UsageQuery("t1") { From = LedgerTestContext.Start, To = ctx.Clock.Now }, Ct);
        Assert.Equal(["email", "phone_number"], series.Select(s => s.Feature));
        Assert.All(series, s =>
        {
            Assert.Equal(5, s.Points.Count);
            Assert.All(s.Points, p => Assert.Equal(1m, p.Credits.Value));
        });
    }
}
