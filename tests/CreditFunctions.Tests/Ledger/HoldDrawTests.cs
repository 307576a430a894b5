using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

/// <summary>
/// "Hold the maximum, charge each hit against it, release the rest": a bulk job holds what it can cost at most, then
/// charges every person found against that hold (each an ordinary line with its own key and ownership record), then
/// settles what is left.
/// </summary>
public sealed class HoldDrawTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_charge_drawn_from_a_hold_records_its_own_line_and_ownership()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 5);

        var first = await DrawAsync(ctx, hold, "person-1");
        var second = await DrawAsync(ctx, hold, "person-2");

        Assert.Equal((LedgerStatus.Charged, 1m, hold, 4m), (first.Status, first.Amount.Value, first.HoldId, first.HoldRemaining!.Value.Value));
        Assert.Equal((LedgerStatus.Charged, 1m, 3m), (second.Status, second.Amount.Value, second.HoldRemaining!.Value.Value));
        Assert.NotEqual(first.LineId, second.LineId);
        // The draws were reserved already: available stays at 10 − 5 while the hold shrinks by what they cost.
        var balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal((5m, 3m, 8m, 2m), (balance.Available.Value, balance.Held.Value, balance.Balance.Value, balance.Spent.Value));
        Assert.Equal(5m, first.AvailableAfter!.Value.Value);
        var lines = (await ctx.UsageAsync("t1")).OrderBy(l => l.SubjectId, StringComparer.Ordinal).ToList();
        Assert.Equal(["person-1", "person-2"], lines.Select(l => l.SubjectId));
        Assert.All(lines, l => Assert.Equal((1m, "waterfall_email", "email", hold, "job:7", false),
            (l.Credits.Value, l.Action!, l.DataRequested!, l.HoldId, l.RelatedRecord!, l.AlreadyOwned)));
        // Bought through the hold, owned like any other purchase: a later reveal of the same person is free.
        var reveal = await ctx.ChargeAsync("t1", "email", "email_reveal", "person-1");
        Assert.Equal((LedgerStatus.AlreadyOwned, 0m), (reveal.Status, reveal.Amount.Value));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Charges_against_a_hold_never_exceed_it()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 2.5m);
        await DrawAsync(ctx, hold, "p1");
        await DrawAsync(ctx, hold, "p2");

        // 0.5 is left; a 1-credit hit is refused although the balance has plenty, and nothing is written.
        var over = await DrawAsync(ctx, hold, "p3");

        Assert.Equal(LedgerStatus.HoldExhausted, over.Status);
        Assert.Null(over.LineId);
        Assert.Equal((7.5m, 0.5m), await AvailableAndHeldAsync(ctx));
        Assert.Equal(2, (await ctx.UsageAsync("t1")).Count);
        // What is left still pays for a cheaper hit, and then nothing more.
        var fits = await DrawAsync(ctx, hold, "p3", action: ("enrichment", "csv_enrich"));
        Assert.Equal((LedgerStatus.Charged, 0m), (fits.Status, fits.HoldRemaining!.Value.Value));
        Assert.Equal(LedgerStatus.HoldExhausted, (await DrawAsync(ctx, hold, "p4", action: ("enrichment", "csv_enrich"))).Status);
        Assert.Equal((7.5m, 0m), await AvailableAndHeldAsync(ctx));
        // A refused hit bought nothing: the same person charged normally costs full price.
        Assert.Equal(LedgerStatus.Charged, (await ctx.ChargeAsync("t1", "email", "email_reveal", "p4")).Status);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Voiding_a_partly_drawn_hold_releases_only_the_rest()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 6);
        await DrawAsync(ctx, hold, "p1");
        await DrawAsync(ctx, hold, "p2");

        var voided = await ctx.Ledger.VoidHoldAsync(new VoidRequest("t1", "ada", hold, LedgerTestContext.Key()));

        Assert.Equal((LedgerStatus.HoldVoided, 0m, 4m), (voided.Status, voided.Amount.Value, voided.Released!.Value.Value));
        Assert.Equal((8m, 0m), await AvailableAndHeldAsync(ctx));
        // The draws stay charged as their own lines; the void itself shows no line.
        Assert.Equal(2, (await ctx.UsageAsync("t1")).Count);
        Assert.Equal(LedgerStatus.HoldAlreadyVoided, (await DrawAsync(ctx, hold, "p3")).Status);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Capturing_a_partly_drawn_hold_captures_at_most_the_rest()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 6);
        await DrawAsync(ctx, hold, "p1");
        await DrawAsync(ctx, hold, "p2");

        var tooMuch = await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", hold, Credits.FromDecimal(5), LedgerTestContext.Key()));
        var capture = await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", hold, Credits.FromDecimal(3), LedgerTestContext.Key()));

        Assert.Equal(LedgerStatus.CaptureExceedsHold, tooMuch.Status);
        Assert.Equal((LedgerStatus.HoldCaptured, 3m, 1m), (capture.Status, capture.Amount.Value, capture.Released!.Value.Value));
        Assert.Equal((5m, 0m), await AvailableAndHeldAsync(ctx));
        Assert.Equal([1m, 1m, 3m], (await ctx.UsageAsync("t1")).Select(l => l.Credits.Value).Order());
        Assert.Equal(LedgerStatus.HoldAlreadyCaptured, (await DrawAsync(ctx, hold, "p3")).Status);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_partly_drawn_hold_that_expires_releases_only_the_rest()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 6, lifetime: TimeSpan.FromHours(1));
        await DrawAsync(ctx, hold, "p1");
        await DrawAsync(ctx, hold, "p2");

        ctx.Clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1)); // an expiry within the hour is rounded up to the minute

        Assert.Equal((8m, 0m), await AvailableAndHeldAsync(ctx));
        await ctx.ChargeAsync("t1", "email", "email_reveal", "p9"); // a write sweeps the expired hold out of the wallet
        Assert.Equal((7m, 0m), await AvailableAndHeldAsync(ctx));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task The_same_charge_against_a_hold_twice_moves_credits_once()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 5);
        var other = await PlaceAsync(ctx, 1);

        var first = await DrawAsync(ctx, hold, "p1", key: "job-7:p1");
        var again = await DrawAsync(ctx, hold, "p1", key: "job-7:p1");
        var fromAnotherProcess = await DrawAsync(ctx, hold, "p1", key: "job-7:p1", ledger: ctx.NewLedger());
        var otherHold = await DrawAsync(ctx, other, "p1", key: "job-7:p1");

        Assert.Equal(LedgerStatus.Charged, first.Status);
        Assert.All(new[] { again, fromAnotherProcess }, r =>
        {
            Assert.True(r.Replayed);
            Assert.Equal((LedgerStatus.Charged, first.LineId, first.HoldRemaining), (r.Status, r.LineId, r.HoldRemaining));
        });
        Assert.Equal(LedgerStatus.ExistsWithDifferentParameters, otherHold.Status);
        Assert.Equal((4m, 5m), await AvailableAndHeldAsync(ctx));
        Assert.Single(await ctx.UsageAsync("t1"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Already_owned_data_costs_nothing_and_leaves_the_hold_untouched()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        // Bought in another process, so this one learns of it only from storage.
        var other = ctx.NewLedger();
        await other.ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", LedgerTestContext.Key()) { SubjectId = "p1" });
        await other.ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", LedgerTestContext.Key()) { SubjectId = "p2" });
        var hold = await PlaceAsync(ctx, 1);

        var whileOpen = await DrawAsync(ctx, hold, "p1");
        await DrawAsync(ctx, hold, "p3"); // the hold is used up
        var whenUsedUp = await DrawAsync(ctx, hold, "p2");

        Assert.Equal((LedgerStatus.AlreadyOwned, 0m, 1m), (whileOpen.Status, whileOpen.Amount.Value, whileOpen.HoldRemaining!.Value.Value));
        Assert.Equal((LedgerStatus.AlreadyOwned, 0m, 0m), (whenUsedUp.Status, whenUsedUp.Amount.Value, whenUsedUp.HoldRemaining!.Value.Value));
        Assert.Equal((7m, 0m), await AvailableAndHeldAsync(ctx));
        var lines = await ctx.UsageAsync("t1");
        Assert.All(lines.Where(l => l.Id == whileOpen.LineId || l.Id == whenUsedUp.LineId),
            l => Assert.Equal((0m, true, hold), (l.Credits.Value, l.AlreadyOwned, l.HoldId)));
        Assert.Equal(5, lines.Count);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_charge_against_an_expired_hold_is_refused_and_writes_nothing()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 3, lifetime: TimeSpan.FromHours(1));
        ctx.Clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1));

        var refused = await DrawAsync(ctx, hold, "p1", key: "job-7:p1");

        Assert.Equal(LedgerStatus.HoldExpired, refused.Status);
        Assert.Equal((10m, 0m), await AvailableAndHeldAsync(ctx));
        Assert.Empty(await ctx.UsageAsync("t1"));
        // Neither the key nor the person was taken: the same key without the hold is a new charge at full price.
        var normal = await ctx.ChargeAsync("t1", "waterfall_enrichment", "waterfall_email", "p1", key: "job-7:p1");
        Assert.Equal((LedgerStatus.Charged, 1m, false), (normal.Status, normal.Amount.Value, normal.Replayed));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_charge_against_a_hold_that_is_settled_unknown_or_of_another_credit_type_is_refused_and_writes_nothing()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        await ctx.GrantAsync("t1", "phone", 10);
        await ctx.GrantAsync("t2", "email", 10);
        var voided = await PlaceAsync(ctx, 1);
        await ctx.Ledger.VoidHoldAsync(new VoidRequest("t1", "ada", voided, LedgerTestContext.Key()));
        var captured = await PlaceAsync(ctx, 1);
        await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", captured, Credits.Zero, LedgerTestContext.Key()));
        var open = await PlaceAsync(ctx, 2);
        var otherTeams = await PlaceAsync(ctx, 2, team: "t2");

        Assert.Equal(LedgerStatus.HoldAlreadyVoided, (await DrawAsync(ctx, voided, "p1")).Status);
        Assert.Equal(LedgerStatus.HoldAlreadyCaptured, (await DrawAsync(ctx, captured, "p1")).Status);
        Assert.Equal(LedgerStatus.HoldNotFound, (await DrawAsync(ctx, open[..^4] + (open.EndsWith("0000", StringComparison.Ordinal) ? "0001" : "0000"), "p1")).Status);
        Assert.Equal(LedgerStatus.HoldNotFound, (await DrawAsync(ctx, otherTeams, "p1")).Status);
        Assert.Equal(LedgerStatus.HoldCreditTypeMismatch, (await DrawAsync(ctx, open, "p1", action: ("waterfall_enrichment", "waterfall_mobile"))).Status);

        Assert.Equal((8m, 2m), await AvailableAndHeldAsync(ctx));
        Assert.Equal(10m, await ctx.AvailableAsync("t1", "phone"));
        Assert.Empty(await ctx.UsageAsync("t1"));
        var phone = await ctx.ChargeAsync("t1", "waterfall_enrichment", "waterfall_mobile", "p1");
        Assert.Equal(LedgerStatus.Charged, phone.Status);
        await ctx.AssertVerifiedAsync("t1");
        await ctx.AssertVerifiedAsync("t2");
    }

    [Fact]
    public async Task A_hold_id_that_is_not_one_is_a_validation_error_naming_the_field()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        var error = await Assert.ThrowsAsync<LedgerValidationException>(() => DrawAsync(ctx, "not-a-hold", "p1"));
        Assert.Equal("holdId", error.Field);
    }

    private static async Task<(decimal Available, decimal Held)> AvailableAndHeldAsync(LedgerTestContext ctx)
    {
        var balance = await ctx.BalanceAsync("t1", "email");
        return (balance.Available.Value, balance.Held.Value);
    }

    [Fact]
    public async Task Charges_drawing_from_one_hold_in_one_commit_read_the_hold_once()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        var hold = await PlaceAsync(ctx, 60);
        var reads = new PointReadCounter(LedgerKeys.Hold(string.Empty));
        var ledger = ctx.NewLedger(reads);

        // 60 hits of a bulk job arrive at once: the team's committer plans them in a few batches of up to 18 draws.
        var results = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => DrawAsync(ctx, hold, $"p{i}", ledger: ledger)));

        Assert.All(results, r => Assert.Equal(LedgerStatus.Charged, r.Status));
        Assert.Equal((40m, 0m), await AvailableAndHeldAsync(ctx));
        // One point read of the hold per planned batch, not one per charge (before: 60).
        Assert.InRange(reads.Count, 1, 12);
        await ctx.AssertVerifiedAsync("t1");
    }


    private static async Task<string> PlaceAsync(LedgerTestContext ctx, decimal amount, TimeSpan? lifetime = null, string team = "t1")
    {
        var result = await ctx.Ledger.PlaceHoldAsync(new HoldRequest(team, "ada", "waterfall_enrichment", "waterfall_email", Credits.FromDecimal(amount),
            ctx.Clock.Now + (lifetime ?? TimeSpan.FromDays(1)), LedgerTestContext.Key()) { RelatedRecord = "job:7" });
        Assert.Equal(LedgerStatus.HoldPlaced, result.Status);
        return result.HoldId!;
    }

    private static Task<LedgerResult> DrawAsync(LedgerTestContext ctx, string holdId, string subject, string? key = null,
        (string Feature, string Action)? action = null, LedgerService? ledger = null)
    {
        var (feature, name) = action ?? ("waterfall_enrichment", "waterfall_email");
        return (ledger ?? ctx.Ledger).ChargeAsync(new ChargeRequest("t1", "ada", feature, name, key ?? LedgerTestContext.Key())
        {
            SubjectId = subject, HoldId = holdId,
        });
    }
}
