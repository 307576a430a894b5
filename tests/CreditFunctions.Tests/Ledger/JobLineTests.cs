using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

/// <summary>
/// Job lines: a bulk job's charges shown as a few readable lines (one per action and day), not a line per lead, while
/// each lead keeps its own idempotency key and ownership record, so the same lead is never charged twice anywhere.
/// </summary>
public sealed class JobLineTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_jobs_charges_show_as_one_line_and_each_lead_stays_owned()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        var hold = await PlaceAsync(ctx, 20);

        var draws = new List<LedgerResult>();
        foreach (var person in new[] { "p1", "p2", "p3", "p4", "p5" })
        {
            draws.Add(await DrawAsync(ctx, hold, person, key: "job-1:" + person));
        }
        // The same lead again under another key (a second row of the file elsewhere): owned, free.
        var again = await DrawAsync(ctx, hold, "p1", key: "job-1:p1:second-row");
        // A retried draw answers its first result and counts nothing twice.
        var retried = await DrawAsync(ctx, hold, "p3", key: "job-1:p3");

        Assert.All(draws, d => Assert.Equal((LedgerStatus.Charged, 1m), (d.Status, d.Amount.Value)));
        Assert.Single(draws.Select(d => d.LineId).Distinct());
        Assert.Equal((LedgerStatus.AlreadyOwned, 0m, draws[0].LineId), (again.Status, again.Amount.Value, again.LineId));
        Assert.Equal((LedgerStatus.Charged, true, draws[2].LineId), (retried.Status, retried.Replayed, retried.LineId));
        var line = Assert.Single(await ctx.UsageAsync("t1"));
        Assert.Equal((5m, 5, 1, "csv_enrich_validate", "email", hold, "csv-job:j1"),
            (line.Credits.Value, line.Leads, line.OwnedLeads, line.Action!, line.DataRequested!, line.HoldId, line.RelatedRecord!));
        Assert.Equal("CSV email enrichment and validation — job q3-leads.csv: 5 leads, 5 credits; 1 already owned, free", line.Description);
        Assert.Null(line.SubjectId);
        // Every lead of the line is owned like any purchase: revealing one later is free, a new person is not.
        Assert.Equal((LedgerStatus.AlreadyOwned, 0m), Outcome(await ctx.ChargeAsync("t1", "email", "email_reveal", "p4")));
        Assert.Equal((LedgerStatus.Charged, 1m), Outcome(await ctx.ChargeAsync("t1", "email", "email_reveal", "p6")));
        var balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal((6m, 15m), (balance.Spent.Value, balance.Held.Value));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_job_running_past_midnight_has_a_line_per_day_and_each_day_counts_its_own()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite, new DateTimeOffset(2026, 11, 2, 23, 59, 0, TimeSpan.Zero));
        await ctx.GrantAsync("t1", "email", 100);
        var hold = await PlaceAsync(ctx, 20);
        await DrawAsync(ctx, hold, "p1");
        await DrawAsync(ctx, hold, "p2");

        ctx.Clock.Advance(TimeSpan.FromMinutes(2));
        await DrawAsync(ctx, hold, "p3");

        var lines = await ctx.UsageAsync("t1");
        Assert.Equal([(new DateOnly(2026, 11, 3), 1), (new DateOnly(2026, 11, 2), 2)],
            lines.Select(l => (DateOnly.FromDateTime(l.Date.UtcDateTime), l.Leads!.Value)));
        var series = await ctx.Ledger.SummarizeUsageAsync(new UsageQuery("t1") { From = ctx.Clock.Now.AddDays(-2), To = ctx.Clock.Now.AddMinutes(1) }, Ct);
        Assert.Equal([2m, 1m], series.Single().Points.Where(p => p.Credits.Value > 0).Select(p => p.Credits.Value));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_lead_of_a_job_line_is_refunded_once_in_full_and_is_then_bought_again()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        var hold = await PlaceAsync(ctx, 10);
        var bought = await DrawAsync(ctx, hold, "p1");
        await DrawAsync(ctx, hold, "p2");
        await ctx.Ledger.VoidHoldAsync(new VoidRequest("t1", "ada", hold, LedgerTestContext.Key()));

        // After the job ended: one lead's purchase, in full.
        var refund = await RefundAsync(ctx, bought.LineId!, "p1");
        var twice = await RefundAsync(ctx, bought.LineId!, "p1");
        var unnamed = await RefundAsync(ctx, bought.LineId!, subject: null);
        var stranger = await RefundAsync(ctx, bought.LineId!, "p9");
        var partly = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "admin", bought.LineId!, "wrong", LedgerTestContext.Key())
        {
            SubjectId = "p2", Amount = Credits.FromDecimal(0.5m),
        });

        Assert.Equal((LedgerStatus.Refunded, 1m), Outcome(refund));
        Assert.All([twice, unnamed, stranger, partly], r => Assert.Equal(LedgerStatus.RefundExceedsCharge, r.Status));
        var lines = await ctx.UsageAsync("t1", includeRefunds: true);
        var charge = Assert.Single(lines, l => l.Kind == "charge");
        Assert.EndsWith(": 2 leads, 2 credits; 1 refunded", charge.Description, StringComparison.Ordinal);
        var refundLine = Assert.Single(lines, l => l.Kind == "refund");
        Assert.Equal((-1m, "p1", bought.LineId), (refundLine.Credits.Value, refundLine.SubjectId, refundLine.ChargeId));
        // The refunded lead is no longer owned; the other still is.
        Assert.Equal((LedgerStatus.Charged, 1m), Outcome(await ctx.ChargeAsync("t1", "email", "email_reveal", "p1")));
        Assert.Equal((LedgerStatus.AlreadyOwned, 0m), Outcome(await ctx.ChargeAsync("t1", "email", "email_reveal", "p2")));
        Assert.Equal(100m - 2m + 1m - 1m, (await ctx.BalanceAsync("t1", "email")).Balance.Value);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_validation_job_line_buys_no_data_and_is_refunded_by_amount()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        var placed = await ctx.Ledger.PlaceHoldAsync(new HoldRequest("t1", "ada", "enrichment", "csv_validate", Credits.FromDecimal(5),
            ctx.Clock.Now + TimeSpan.FromDays(1), LedgerTestContext.Key()));
        LedgerResult? verdict = null;
        for (var i = 0; i < 4; i++)
        {
            verdict = await ctx.Ledger.ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_validate", LedgerTestContext.Key())
            {
                SubjectId = $"p{i}", HoldId = placed.HoldId, RollUp = true, Description = "CSV email validation — job v.csv",
            });
        }

        var refund = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "admin", verdict!.LineId!, "verifier outage", LedgerTestContext.Key())
        {
            Amount = Credits.FromDecimal(1),
        });
        var rest = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "admin", verdict.LineId!, "verifier outage", LedgerTestContext.Key()));
        var more = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "admin", verdict.LineId!, "verifier outage", LedgerTestContext.Key()));

        Assert.Equal((LedgerStatus.Refunded, 1m), Outcome(refund));
        Assert.Equal((LedgerStatus.Refunded, 1m), Outcome(rest));
        Assert.Equal(LedgerStatus.RefundExceedsCharge, more.Status);
        var line = Assert.Single(await ctx.UsageAsync("t1"));
        Assert.Equal("CSV email validation — job v.csv: 4 leads, 2 credits; 2 credits refunded", line.Description);
        Assert.Equal(100m, (await ctx.BalanceAsync("t1", "email")).Balance.Value);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Two_processes_drawing_into_one_job_line_at_once_count_every_lead_once()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 200);
        var hold = await PlaceAsync(ctx, 100);
        var other = ctx.NewLedger();
        var people = Enumerable.Range(0, 60).Select(i => $"p{i % 50}").ToList(); // 10 leads twice, under other keys

        var results = await Task.WhenAll(people.Select((person, i) => DrawAsync(ctx, hold, person, key: $"k{i}", ledger: i % 2 == 0 ? ctx.Ledger : other)));

        Assert.Equal(50, results.Count(r => r.Status == LedgerStatus.Charged));
        Assert.Equal(10, results.Count(r => r.Status == LedgerStatus.AlreadyOwned));
        var line = Assert.Single(await ctx.UsageAsync("t1"));
        Assert.Equal((50m, 50, 10), (line.Credits.Value, line.Leads, line.OwnedLeads));
        Assert.Equal(50m, (await ctx.BalanceAsync("t1", "email")).Held.Value);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_job_line_needs_a_hold()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);

        var error = await Assert.ThrowsAsync<LedgerValidationException>(() => ctx.Ledger.ChargeAsync(
            new ChargeRequest("t1", "ada", "enrichment", "csv_enrich_validate", LedgerTestContext.Key()) { SubjectId = "p1", RollUp = true }));

        Assert.Equal("rollUp", error.Field);
    }

    private static (LedgerStatus, decimal) Outcome(LedgerResult result) => (result.Status, result.Amount.Value);

    private static async Task<string> PlaceAsync(LedgerTestContext ctx, decimal amount)
    {
        var result = await ctx.Ledger.PlaceHoldAsync(new HoldRequest("t1", "ada", "enrichment", "csv_enrich_validate", Credits.FromDecimal(amount),
            ctx.Clock.Now + TimeSpan.FromDays(1), LedgerTestContext.Key()) { RelatedRecord = "csv-job:j1" });
        Assert.Equal(LedgerStatus.HoldPlaced, result.Status);
        return result.HoldId!;
    }

    private static Task<LedgerResult> DrawAsync(LedgerTestContext ctx, string holdId, string subject, string? key = null, LedgerService? ledger = null) =>
        (ledger ?? ctx.Ledger).ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_enrich_validate", key ?? LedgerTestContext.Key())
        {
            SubjectId = subject, HoldId = holdId, RollUp = true, Description = "CSV email enrichment and validation — job q3-leads.csv",
        });

    private static Task<LedgerResult> RefundAsync(LedgerTestContext ctx, string lineId, string? subject) =>
        ctx.Ledger.RefundAsync(new RefundRequest("t1", "admin", lineId, "bounced", LedgerTestContext.Key()) { SubjectId = subject });
}
