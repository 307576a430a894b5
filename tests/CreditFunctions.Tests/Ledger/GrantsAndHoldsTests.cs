using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

public sealed class GrantsAndHoldsTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Spending_takes_the_lowest_priority_number_first_then_the_soonest_expiry()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        var now = ctx.Clock.Now;
        await ctx.GrantAsync("t1", "email", 2, GrantKind.TopUp);                                   // priority 20, never expires
        await ctx.GrantAsync("t1", "email", 2, GrantKind.Plan, expiresAt: now.AddDays(30));      // priority 10, later
        await ctx.GrantAsync("t1", "email", 2, GrantKind.Plan, expiresAt: now.AddDays(10));      // priority 10, sooner

        for (var i = 0; i < 3; i++)
        {
            await ctx.ChargeAsync("t1", "email", "email_reveal", $"p{i}");
        }

        // The soon-expiring plan grant went first (2), then the later plan grant (1); the top-up is untouched.
        ctx.Clock.Advance(TimeSpan.FromDays(11));
        Assert.Equal(3m, await ctx.AvailableAsync("t1", "email"));
        ctx.Clock.Advance(TimeSpan.FromDays(20));
        Assert.Equal(2m, await ctx.AvailableAsync("t1", "email"));
    }

    [Fact]
    public async Task An_expired_grant_stops_counting_at_once_and_shows_as_an_expiry_line()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        var expiresAt = ctx.Clock.Now.AddDays(3);
        await ctx.GrantAsync("t1", "email", 5, GrantKind.Plan, expiresAt: expiresAt);
        await ctx.GrantAsync("t1", "email", 1, GrantKind.TopUp);
        await ctx.ChargeAsync("t1", "email", "email_reveal", "p1");
        Assert.Equal(4m, (await ctx.BalanceAsync("t1", "email")).ExpiringSoon.Value);

        ctx.Clock.Advance(TimeSpan.FromDays(4));

        var balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal(1m, balance.Available.Value);
        Assert.Equal(4m, balance.Expired.Value);
        // The next write sweeps the expired remainder into an expiry line dated at the expiry.
        await ctx.ChargeAsync("t1", "email", "email_reveal", "p2");
        var expiry = Assert.Single(await ctx.UsageAsync("t1"), l => l.Kind == "expiry");
        Assert.Equal(-4m, expiry.Credits.Value);
        Assert.Equal(expiresAt, expiry.Date);
        Assert.Equal(0m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_periodic_allocation_is_granted_once_per_period()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        GrantRequest Allocation(string period) => new("t1", "system", "email", Credits.FromDecimal(100), GrantKind.Plan, $"plan:pro:{period}:email")
        {
            ExpiresAt = ctx.Clock.Now.AddDays(30),
        };

        await ctx.Ledger.GrantAsync(Allocation("2026-11"));
        var again = await ctx.Ledger.GrantAsync(Allocation("2026-11"));
        await ctx.Ledger.GrantAsync(Allocation("2026-12"));

        Assert.True(again.Replayed);
        Assert.Equal(200m, await ctx.AvailableAsync("t1", "email"));
    }

    [Fact]
    public async Task A_hold_reserves_credits_so_available_is_balance_minus_open_holds()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);

        var hold = await PlaceAsync(ctx, 6);

        Assert.Equal(LedgerStatus.HoldPlaced, hold.Status);
        var balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal((4m, 6m, 10m), (balance.Available.Value, balance.Held.Value, balance.Balance.Value));
        Assert.Equal(LedgerStatus.InsufficientCredits, (await PlaceAsync(ctx, 5)).Status);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Capturing_part_of_a_hold_charges_that_part_and_releases_the_rest()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 6);

        var capture = await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", hold.HoldId!, Credits.FromDecimal(2.5m), LedgerTestContext.Key()));

        Assert.Equal(LedgerStatus.HoldCaptured, capture.Status);
        Assert.Equal(3.5m, capture.Released!.Value.Value);
        var balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal((7.5m, 0m), (balance.Available.Value, balance.Held.Value));
        var line = Assert.Single(await ctx.UsageAsync("t1"));
        Assert.Equal((2.5m, "csv_enrich", "job:42"), (line.Credits.Value, line.Action!, line.RelatedRecord!));

        var again = await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", hold.HoldId!, Credits.FromDecimal(1), LedgerTestContext.Key()));
        Assert.Equal(LedgerStatus.HoldAlreadyCaptured, again.Status);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Capturing_more_than_the_hold_is_refused()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 2);
        var result = await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", hold.HoldId!, Credits.FromDecimal(2.5m), LedgerTestContext.Key()));
        Assert.Equal(LedgerStatus.CaptureExceedsHold, result.Status);
        Assert.Equal(8m, await ctx.AvailableAsync("t1", "email"));
    }

    [Fact]
    public async Task Voiding_a_hold_releases_all_of_it_and_it_cannot_be_captured_afterwards()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 6);

        var voided = await ctx.Ledger.VoidHoldAsync(new VoidRequest("t1", "ada", hold.HoldId!, LedgerTestContext.Key()));
        var capture = await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", hold.HoldId!, Credits.FromDecimal(1), LedgerTestContext.Key()));

        Assert.Equal(LedgerStatus.HoldVoided, voided.Status);
        Assert.Equal(LedgerStatus.HoldAlreadyVoided, capture.Status);
        Assert.Equal(10m, await ctx.AvailableAsync("t1", "email"));
        Assert.Empty(await ctx.UsageAsync("t1"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task An_expired_hold_releases_itself_and_can_no_longer_be_captured()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var hold = await PlaceAsync(ctx, 6, lifetime: TimeSpan.FromHours(1));

        Assert.Equal(4m, await ctx.AvailableAsync("t1", "email"));
        ctx.Clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1)); // an expiry within the hour is rounded up to the minute

        Assert.Equal(10m, await ctx.AvailableAsync("t1", "email"));
        var capture = await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", hold.HoldId!, Credits.FromDecimal(1), LedgerTestContext.Key()));
        Assert.Equal(LedgerStatus.HoldExpired, capture.Status);
        await ctx.ChargeAsync("t1", "email", "email_reveal", "p1"); // a write sweeps the expired hold out of the wallet
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Capture_racing_expiry_is_decided_by_the_commit_time_and_never_both()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        var holds = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            holds.Add((await PlaceAsync(ctx, 2, lifetime: TimeSpan.FromSeconds(10 + i)))!.HoldId!);
        }

        // Captures from two processes while the clock runs past every expiry.
        var other = ctx.NewLedger();
        var captures = holds.Select((id, i) => (i % 2 == 0 ? ctx.Ledger : other)
            .CaptureHoldAsync(new CaptureRequest("t1", "ada", id, Credits.FromDecimal(2), LedgerTestContext.Key()))).ToList();
        var clock = Task.Run(async () =>
        {
            for (var s = 0; s < 40; s++)
            {
                ctx.Clock.Advance(TimeSpan.FromSeconds(1));
                await Task.Delay(2, Ct);
            }
        }, Ct);
        var results = await Task.WhenAll(captures);
        await clock;

        Assert.All(results, r => Assert.Contains(r.Status, new[] { LedgerStatus.HoldCaptured, LedgerStatus.HoldExpired }));
        var captured = results.Count(r => r.Status == LedgerStatus.HoldCaptured);
        Assert.Equal(100m - 2 * captured, await ctx.AvailableAsync("t1", "email"));
        Assert.Equal(captured, (await ctx.UsageAsync("t1")).Count);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_hold_expires_no_sooner_than_asked_and_at_most_an_hour_later()
    {
        var now = new DateTimeOffset(2026, 11, 2, 9, 0, 0, 123, TimeSpan.Zero);
        foreach (var ahead in new[] { TimeSpan.FromSeconds(7.5), TimeSpan.FromMinutes(59.9), TimeSpan.FromHours(5.1), TimeSpan.FromDays(29.99) })
        {
            var effective = HoldExpiry.Effective(now + ahead, now);
            Assert.InRange(effective - (now + ahead), TimeSpan.Zero, TimeSpan.FromHours(1));
        }
        Assert.Equal(new DateTimeOffset(2026, 11, 2, 9, 0, 8, TimeSpan.Zero), HoldExpiry.Effective(now + TimeSpan.FromSeconds(7.5), now));
        Assert.Equal(new DateTimeOffset(2026, 11, 2, 14, 15, 0, TimeSpan.Zero), HoldExpiry.Effective(now + TimeSpan.FromHours(5.1), now));
    }

    /// <summary>Open holds are rows of their own; the wallet keeps only what they reserve per expiry instant, so ten
    /// thousand open holds with expiries spread over 30 days leave every property of the wallet row far below the 64 KiB
    /// Azure Tables allows (Azurite does not enforce it, so the test measures the stored row).</summary>
    [Fact]
    public async Task A_team_can_hold_ten_thousand_open_holds_at_once_and_its_wallet_row_stays_small()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100_000);
        var random = new Random(7);
        var lifetimes = Enumerable.Range(0, 10_000).Select(_ => TimeSpan.FromSeconds(2 + random.NextDouble() * TimeSpan.FromDays(29.9).TotalSeconds)).ToList();

        var placed = new List<LedgerResult>();
        foreach (var wave in lifetimes.Chunk(1_000))
        {
            placed.AddRange(await Task.WhenAll(wave.Select(lifetime => PlaceAsync(ctx, 1.5m, lifetime))));
        }

        Assert.All(placed, p => Assert.Equal(LedgerStatus.HoldPlaced, p.Status));
        var balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal((15_000m, 85_000m), (balance.Held.Value, balance.Available.Value));
        var wallet = (await new Azure.Data.Tables.TableClient(ctx.Azurite.ConnectionString, ctx.TableName).GetEntityAsync<Azure.Data.Tables.TableEntity>("t1", "W|email", cancellationToken: Ct)).Value;
        var largest = wallet.Where(p => p.Value is string).Max(p => ((string)p.Value).Length * 2); // a string property is stored as UTF-16
        Assert.InRange(largest, 0, 40 * 1024);
        Assert.Null(wallet.GetString("Holds"));
        Assert.Equal(10_000, (await ctx.Ledger.ListOpenHoldsAsync("t1", null, 10_000, Ct)).Count);
        await ctx.AssertVerifiedAsync("t1");

        // Settling half of them (voids and partial captures) keeps the wallet and the hold rows in step.
        var settled = await Task.WhenAll(placed.Where((_, i) => i % 2 == 0).Select((p, i) => i % 2 == 0
            ? ctx.Ledger.VoidHoldAsync(new VoidRequest("t1", "ada", p.HoldId!, LedgerTestContext.Key()))
            : ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "ada", p.HoldId!, Credits.FromDecimal(1), LedgerTestContext.Key()))));
        Assert.All(settled, s => Assert.Contains(s.Status, new[] { LedgerStatus.HoldVoided, LedgerStatus.HoldCaptured }));
        balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal((7_500m, 100_000m - 7_500m - 2_500m), (balance.Held.Value, balance.Available.Value));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Many_grants_that_spend_alike_are_one_bucket_so_the_wallet_row_does_not_grow_with_them()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        var periodEnd = LedgerTestContext.Start.AddDays(5);
        await Task.WhenAll(Enumerable.Range(0, 1_000).Select(i => i % 2 == 0
            ? ctx.GrantAsync("t1", "email", 1)
            : ctx.GrantAsync("t1", "email", 2, GrantKind.Plan, periodEnd)));

        var wallet = (await new Azure.Data.Tables.TableClient(ctx.Azurite.ConnectionString, ctx.TableName).GetEntityAsync<Azure.Data.Tables.TableEntity>("t1", "W|email", cancellationToken: Ct)).Value;
        Assert.InRange(wallet.GetString("Buckets").Length, 1, 1_024);
        Assert.Equal(1_500m, (await ctx.BalanceAsync("t1", "email")).Balance.Value);
        Assert.Equal(1_000m, (await ctx.BalanceAsync("t1", "email")).ExpiringSoon.Value);
        await ctx.AssertVerifiedAsync("t1");
    }

    private static Task<LedgerResult> PlaceAsync(LedgerTestContext ctx, decimal amount, TimeSpan? lifetime = null) =>
        ctx.Ledger.PlaceHoldAsync(new HoldRequest("t1", "ada", "enrichment", "csv_enrich", Credits.FromDecimal(amount),
            ctx.Clock.Now + (lifetime ?? TimeSpan.FromDays(1)), LedgerTestContext.Key()) { RelatedRecord = "job:42" });
}
