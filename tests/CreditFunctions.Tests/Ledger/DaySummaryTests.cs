using Azure;
using Azure.Data.Tables;
using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

/// <summary>Day summaries (per team and day, per user and day) written in the lines' own transactions, read by the
/// usage graph, checked by verify; lines older than the summaries still counted.</summary>
public sealed class DaySummaryTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(LedgerTestContext Ctx, List<string> Charges)> HistoryAsync(AzuriteFixture azurite, string team)
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync(team, "email", 1000);
        await ctx.GrantAsync(team, "phone", 1000);
        var charges = new List<string>();
        for (var day = 0; day < 3; day++)
        {
            for (var i = 0; i < 4; i++)
            {
                charges.Add((await ctx.ChargeAsync(team, "email", "email_reveal", $"e{day}-{i}", user: i % 2 == 0 ? "ada" : "bob")).LineId!);
            }
            charges.Add((await ctx.ChargeAsync(team, "phone_number", "phone_reveal", $"p{day}", user: "bob")).LineId!);
            ctx.Clock.Advance(TimeSpan.FromDays(1));
        }
        return (ctx, charges);
    }

    private static TableClient Table(LedgerTestContext ctx) => new TableServiceClient(ctx.Azurite.ConnectionString).GetTableClient(ctx.TableName);

    private static async Task<List<TableEntity>> RowsAsync(LedgerTestContext ctx, string team, string from, string to)
    {
        var rows = new List<TableEntity>();
        await foreach (var row in Table(ctx).QueryAsync<TableEntity>($"PartitionKey eq '{team}' and RowKey ge '{from}' and RowKey lt '{to}'", cancellationToken: Ct))
        {
            rows.Add(row);
        }
        return rows;
    }

    private static UsageQuery Month(string team, LedgerTestContext ctx, string? user = null) =>
        new(team) { From = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), To = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), UserId = user, IncludeRefunds = true };

    private static decimal Total(IReadOnlyList<UsageSeries> series, Func<UsagePoint, Credits> value) => series.SelectMany(s => s.Points).Sum(p => value(p).Value);

    [Fact]
    public async Task Day_summaries_are_committed_with_their_lines_per_team_and_per_user_and_add_up_to_them()
    {
        var (ctx, charges) = await HistoryAsync(azurite, "t1");
        var refund = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "ada", charges[0], "invalid_email", LedgerTestContext.Key()));
        Assert.Equal(LedgerStatus.Refunded, refund.Status);

        var teamDays = await RowsAsync(ctx, "t1", DaySummaryKeys.TeamPrefix, "D|t}");
        var userDays = await RowsAsync(ctx, "t1", DaySummaryKeys.UserPrefix, "D|u}");
        Assert.Equal(4, teamDays.Count); // three days of charges, and the refund's day
        Assert.Equal(7, userDays.Count); // ada and bob on each of three days, ada on the refund's day
        Assert.Single(await RowsAsync(ctx, "t1", DaySummaryKeys.Marker, DaySummaryKeys.Marker + "~"));
        await ctx.AssertVerifiedAsync("t1");

        var team = await ctx.Ledger.SummarizeUsageAsync(Month("t1", ctx), Ct);
        Assert.Equal(15m, Total(team, p => p.Charged));
        Assert.Equal(1m, Total(team, p => p.Refunded));
        Assert.Equal(["email", "phone_number"], team.Select(s => s.Feature));
        var bob = await ctx.Ledger.SummarizeUsageAsync(Month("t1", ctx, "bob"), Ct);
        Assert.Equal(9m, Total(bob, p => p.Charged));
        var phone = await ctx.Ledger.SummarizeUsageAsync(Month("t1", ctx) with { Feature = "phone_number", Action = "phone_reveal" }, Ct);
        Assert.Equal(3m, Total(phone, p => p.Credits));
        var noRefunds = await ctx.Ledger.SummarizeUsageAsync(Month("t1", ctx) with { IncludeRefunds = false }, Ct);
        Assert.Equal(0m, Total(noRefunds, p => p.Refunded));
    }

    [Fact]
    public async Task The_graph_reads_the_day_summaries_and_verify_reports_one_that_does_not_add_up()
    {
        var (ctx, _) = await HistoryAsync(azurite, "t1");
        var table = Table(ctx);
        var day = DaySummaryKeys.Team(DateOnly.FromDateTime(LedgerTestContext.Start.UtcDateTime));
        var row = (await table.GetEntityAsync<TableEntity>("t1", day, cancellationToken: Ct)).Value;
        row["Totals"] = "{\"email|email_reveal\":[99000,0]}";
        await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace, Ct);

        var series = await ctx.Ledger.SummarizeUsageAsync(Month("t1", ctx), Ct);
        Assert.Equal(99m + 4m + 4m, series.Single(s => s.Feature == "email").Points.Sum(p => p.Charged.Value));
        var report = await ctx.Ledger.VerifyAsync("t1", Ct);
        Assert.Contains(report.Problems, p => p.Contains(day, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Lines_written_before_the_summaries_existed_are_still_counted_and_the_same_day_is_not_counted_twice()
    {
        var (ctx, _) = await HistoryAsync(azurite, "t1");
        // Older data: the same lines with no summary and no marker, as a ledger written before summaries has them.
        var table = Table(ctx);
        foreach (var row in await RowsAsync(ctx, "t1", "D|", "D}"))
        {
            await table.DeleteEntityAsync("t1", row.RowKey, ETag.All, Ct);
        }
        var before = await ctx.Ledger.SummarizeUsageAsync(Month("t1", ctx), Ct);
        Assert.Equal(15m, Total(before, p => p.Charged));

        // A new server starts summarizing in the middle of the third day's history (the clock went back one day).
        ctx.Clock.Advance(TimeSpan.FromDays(-1) + TimeSpan.FromHours(2));
        var ledger = ctx.NewLedger();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(LedgerStatus.Charged, (await ledger.ChargeAsync(new ChargeRequest("t1", "bob", "email", "email_reveal", LedgerTestContext.Key()) { SubjectId = $"late{i}" })).Status);
        }

        var after = await ledger.SummarizeUsageAsync(Month("t1", ctx), Ct);
        Assert.Equal(18m, Total(after, p => p.Charged));
        var thirdDay = DateOnly.FromDateTime(LedgerTestContext.Start.UtcDateTime).AddDays(2);
        Assert.Equal(4m + 3m, after.Single(s => s.Feature == "email").Points.Single(p => p.Day == thirdDay).Charged.Value);
        // Bob's email reveals: two a day for three days, and the three new ones.
        Assert.Equal(6m + 3m, Total(await ledger.SummarizeUsageAsync(Month("t1", ctx, "bob") with { Feature = "email" }, Ct), p => p.Charged));
        var verify = await ledger.VerifyAsync("t1", Ct);
        Assert.True(verify.Ok, string.Join(Environment.NewLine, verify.Problems));
    }

    [Fact]
    public async Task Two_servers_charging_one_team_at_once_keep_every_day_summary_exact()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 1000);
        var other = ctx.NewLedger();
        var charges = Enumerable.Range(0, 120).Select(i => (i % 2 == 0 ? ctx.Ledger : other).ChargeAsync(
            new ChargeRequest("t1", $"user{i % 7}", "email", "email_reveal", LedgerTestContext.Key()) { SubjectId = $"s{i}" }));

        var results = await Task.WhenAll(charges);

        Assert.All(results, r => Assert.Equal(LedgerStatus.Charged, r.Status));
        await ctx.AssertVerifiedAsync("t1");
        Assert.Equal(120m, Total(await ctx.Ledger.SummarizeUsageAsync(Month("t1", ctx), Ct), p => p.Charged));
        Assert.Equal(120L * 1000, (await RowsAsync(ctx, "t1", DaySummaryKeys.UserPrefix, "D|u}"))
            .Sum(r => DayTotals.Parse((string)r["Totals"]).Items.Sum(t => t.Charged)));
    }

    [Fact]
    public async Task A_batch_of_charges_by_many_users_still_fits_one_transaction()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 1000);

        var results = await Task.WhenAll(Enumerable.Range(0, 150).Select(i =>
            ctx.ChargeAsync("t1", "email", "email_reveal", $"s{i}", user: $"member{i}")));

        Assert.All(results, r => Assert.Equal(LedgerStatus.Charged, r.Status));
        Assert.Equal(150, (await RowsAsync(ctx, "t1", DaySummaryKeys.UserPrefix, "D|u}")).Count);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_repeated_charge_is_counted_once_in_the_summaries()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var key = LedgerTestContext.Key();

        await ctx.ChargeAsync("t1", "email", "email_reveal", "same", key: key);
        await ctx.NewLedger().ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", key) { SubjectId = "same" });

        Assert.Equal(1m, Total(await ctx.Ledger.SummarizeUsageAsync(Month("t1", ctx), Ct), p => p.Charged));
        await ctx.AssertVerifiedAsync("t1");
    }
}
