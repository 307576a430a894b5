using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

public sealed class ConcurrencyTests(AzuriteFixture azurite)
{
    /// <summary>What a client does on an unknown outcome: the same request again, same key.</summary>
    private static async Task<LedgerResult> WithRetriesAsync(Func<Task<LedgerResult>> send)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await send();
            }
            catch (LedgerUnavailableException) when (attempt < 30)
            {
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }
        }
    }

    [Fact]
    public async Task An_idle_team_leaves_the_ledger_memory_and_its_next_operation_starts_afresh()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        var ledger = ctx.NewLedger(committerIdleTimeout: TimeSpan.FromMilliseconds(200));
        await ledger.GrantAsync(new GrantRequest("t1", "ops", "email", Credits.FromDecimal(10), GrantKind.TopUp, LedgerTestContext.Key()));
        await ledger.GrantAsync(new GrantRequest("t2", "ops", "email", Credits.FromDecimal(10), GrantKind.TopUp, LedgerTestContext.Key()));
        Assert.Equal(2, ledger.ActiveCommitters);

        await WaitUntilAsync(() => ledger.ActiveCommitters == 0);

        var key = LedgerTestContext.Key();
        var charged = await ledger.ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", key) { SubjectId = "p1" });
        await WaitUntilAsync(() => ledger.ActiveCommitters == 0);
        var repeated = await ledger.ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", key) { SubjectId = "p1" });
        Assert.Equal((LedgerStatus.Charged, charged.LineId), (repeated.Status, repeated.LineId));
        Assert.Equal(9m, (await ledger.GetBalancesAsync("t1", TestContext.Current.CancellationToken)).Single(b => b.CreditType == "email").Available.Value);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Operations_racing_a_retiring_committer_are_each_committed_exactly_once()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        // Committers retire after a millisecond idle, so operations keep arriving while one is retiring.
        var ledger = ctx.NewLedger(committerIdleTimeout: TimeSpan.FromMilliseconds(1));
        await ctx.GrantAsync("t1", "email", 1_000);
        var random = new Random(3);
        var results = await Task.WhenAll(Enumerable.Range(0, 300).Select(async i =>
        {
            await Task.Delay(random.Next(0, 40), TestContext.Current.CancellationToken);
            return await WithRetriesAsync(() => ledger.ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", $"race-{i}") { SubjectId = $"p{i}" }));
        }));

        Assert.All(results, r => Assert.Equal(LedgerStatus.Charged, r.Status));
        Assert.Equal(300, results.Select(r => r.LineId).Distinct().Count());
        Assert.Equal(700m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Verification_while_another_process_charges_never_reports_a_difference_that_is_not_there()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 1_000);
        var other = ctx.NewLedger();
        var charging = Task.Run(async () =>
        {
            for (var wave = 0; wave < 40; wave++)
            {
                await Task.WhenAll(Enumerable.Range(0, 8).Select(i => other.ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_validate", LedgerTestContext.Key()))));
            }
        }, TestContext.Current.CancellationToken);

        var passes = 0;
        while (!charging.IsCompleted)
        {
            var report = await ctx.Ledger.VerifyAsync("t1", TestContext.Current.CancellationToken);
            Assert.All(report.Problems, p => Assert.Contains("changed during each", p, StringComparison.Ordinal));
            passes++;
        }
        await charging;

        Assert.True(passes > 0);
        Assert.Equal(840m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var waited = 0; !condition(); waited += 20)
        {
            Assert.True(waited < 10_000, "the condition did not come true within 10 s");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Five_hundred_concurrent_charges_with_duplicate_keys_and_storage_faults_charge_each_distinct_key_once()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("hot", "email", 1000);
        var faultsA = new FaultInjectionPolicy(0.10, seed: 1);
        var faultsB = new FaultInjectionPolicy(0.10, seed: 2);
        var processes = new[] { ctx.NewLedger(faultsA), ctx.NewLedger(faultsB) };
        var random = new Random(42);
        var keys = Enumerable.Range(0, 350).Select(i => $"charge-{i}").ToList();
        var requests = keys.Concat(Enumerable.Range(0, 150).Select(_ => keys[random.Next(keys.Count)])).OrderBy(_ => random.Next()).ToList();
        static ChargeRequest Request(string key)
        {
            var even = int.Parse(key[7..], System.Globalization.CultureInfo.InvariantCulture) % 2 == 0;
            return new("hot", "ada", even ? "enrichment" : "email", even ? "csv_validate" : "email_reveal", key) { SubjectId = "subject-" + key };
        }

        var replies = await Task.WhenAll(requests.Select((key, i) => WithRetriesAsync(() => processes[i % 2].ChargeAsync(Request(key)))
            .ContinueWith(t => (key, t.Result), TaskScheduler.Default)));

        Assert.True(faultsA.Injected + faultsB.Injected > 0);
        foreach (var group in replies.GroupBy(r => r.key))
        {
            Assert.All(group, r => Assert.Equal(LedgerStatus.Charged, r.Result.Status));
            Assert.Single(group.Select(r => r.Result.LineId).Distinct());
        }
        var expected = 1000m - keys.Sum(k => int.Parse(k[7..], System.Globalization.CultureInfo.InvariantCulture) % 2 == 0 ? 0.5m : 1m);
        Assert.Equal(expected, await ctx.AvailableAsync("hot", "email"));
        Assert.Equal(keys.Count, (await ctx.UsageAsync("hot")).Count);
        await ctx.AssertVerifiedAsync("hot");
    }

    [Fact]
    public async Task Refunds_racing_from_two_processes_never_exceed_the_charge()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var charge = await ctx.ChargeAsync("t1", "enrichment", "csv_enrich_validate", "row-1");
        var processes = new[] { ctx.Ledger, ctx.NewLedger() };

        var refunds = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => processes[i % 2].RefundAsync(
            new RefundRequest("t1", "ada", charge.LineId!, "failed job", $"refund-{i}") { Amount = Credits.FromDecimal(0.25m) })));

        Assert.Equal(4, refunds.Count(r => r.Status == LedgerStatus.Refunded));
        Assert.Equal(8, refunds.Count(r => r.Status == LedgerStatus.RefundExceedsCharge));
        Assert.Equal(10m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_charge_and_a_refund_racing_each_apply_once()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var charge = await ctx.ChargeAsync("t1", "email", "email_reveal", "p0");
        var other = ctx.NewLedger();

        var results = await Task.WhenAll(
            other.RefundAsync(new RefundRequest("t1", "ada", charge.LineId!, "bounced", "refund-1")),
            ctx.ChargeAsync("t1", "email", "email_reveal", "p1"),
            other.ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", "c2") { SubjectId = "p2" }),
            ctx.Ledger.RefundAsync(new RefundRequest("t1", "ada", charge.LineId!, "bounced", "refund-2")));

        Assert.Single(results, r => r.Status == LedgerStatus.Refunded);
        Assert.Single(results, r => r.Status == LedgerStatus.RefundExceedsCharge);
        Assert.Equal(2, results.Count(r => r.Status == LedgerStatus.Charged));
        Assert.Equal(8m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task The_same_data_bought_from_two_processes_at_once_is_charged_once()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 50);
        var processes = new[] { ctx.Ledger, ctx.NewLedger(), ctx.NewLedger() };

        var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => processes[i % 3].ChargeAsync(
            new ChargeRequest("t1", "ada", i % 2 == 0 ? "email" : "exports", i % 2 == 0 ? "email_reveal" : "list_export", $"k{i}") { SubjectId = "same-person" })));

        Assert.Single(results, r => r.Status == LedgerStatus.Charged);
        Assert.Equal(29, results.Count(r => r.Status == LedgerStatus.AlreadyOwned));
        Assert.Equal(49m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Concurrent_charges_never_spend_more_than_the_balance()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "phone", 7);
        var processes = new[] { ctx.Ledger, ctx.NewLedger() };

        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => processes[i % 2].ChargeAsync(
            new ChargeRequest("t1", "bob", "phone_number", "phone_reveal", $"k{i}") { SubjectId = $"p{i}" })));

        Assert.Equal(7, results.Count(r => r.Status == LedgerStatus.Charged));
        Assert.Equal(33, results.Count(r => r.Status == LedgerStatus.InsufficientCredits));
        Assert.Equal(0m, await ctx.AvailableAsync("t1", "phone"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Many_parallel_draws_on_one_hold_from_two_processes_never_exceed_it()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        var hold = (await ctx.Ledger.PlaceHoldAsync(new HoldRequest("t1", "ada", "waterfall_enrichment", "waterfall_email", Credits.FromDecimal(20),
            ctx.Clock.Now.AddDays(1), "job-9"))).HoldId!;
        var faultsA = new FaultInjectionPolicy(0.10, seed: 3);
        var faultsB = new FaultInjectionPolicy(0.10, seed: 4);
        var processes = new[] { ctx.NewLedger(faultsA), ctx.NewLedger(faultsB) };
        var random = new Random(7);
        var keys = Enumerable.Range(0, 60).Select(i => $"job-9:person-{i}").ToList();
        var requests = keys.Concat(Enumerable.Range(0, 20).Select(_ => keys[random.Next(keys.Count)])).OrderBy(_ => random.Next()).ToList();

        var replies = await Task.WhenAll(requests.Select((key, i) => WithRetriesAsync(() => processes[i % 2].ChargeAsync(
                new ChargeRequest("t1", "ada", "waterfall_enrichment", "waterfall_email", key) { SubjectId = key, HoldId = hold }))
            .ContinueWith(t => (key, t.Result), TaskScheduler.Default)));

        foreach (var group in replies.GroupBy(r => r.key))
        {
            Assert.Single(group.Select(r => (r.Result.Status, r.Result.LineId)).Distinct());
        }
        var charged = replies.Where(r => r.Result.Status == LedgerStatus.Charged).Select(r => r.key).Distinct().Count();
        Assert.Equal(20, charged);
        Assert.All(replies, r => Assert.Contains(r.Result.Status, new[] { LedgerStatus.Charged, LedgerStatus.HoldExhausted }));
        var balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal((80m, 0m, 80m), (balance.Available.Value, balance.Held.Value, balance.Balance.Value));
        Assert.Equal(20, (await ctx.UsageAsync("t1")).Count);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Draws_racing_a_void_are_charged_before_it_or_refused_after_it()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        var hold = (await ctx.Ledger.PlaceHoldAsync(new HoldRequest("t1", "ada", "waterfall_enrichment", "waterfall_email", Credits.FromDecimal(20),
            ctx.Clock.Now.AddDays(1), "job-9"))).HoldId!;
        var processes = new[] { ctx.Ledger, ctx.NewLedger() };

        var draws = Enumerable.Range(0, 30).Select(i => processes[i % 2].ChargeAsync(
            new ChargeRequest("t1", "ada", "waterfall_enrichment", "waterfall_email", $"k{i}") { SubjectId = $"p{i}", HoldId = hold })).ToList();
        var voided = await processes[1].VoidHoldAsync(new VoidRequest("t1", "ada", hold, "void-job-9"));
        var results = await Task.WhenAll(draws);

        Assert.Equal(LedgerStatus.HoldVoided, voided.Status);
        var charged = results.Count(r => r.Status == LedgerStatus.Charged);
        Assert.Equal(20m, charged + voided.Released!.Value.Value);
        Assert.All(results, r => Assert.Contains(r.Status, new[] { LedgerStatus.Charged, LedgerStatus.HoldAlreadyVoided, LedgerStatus.HoldExhausted }));
        var balance = await ctx.BalanceAsync("t1", "email");
        Assert.Equal((100m - charged, 0m), (balance.Available.Value, balance.Held.Value));
        Assert.Equal(charged, (await ctx.UsageAsync("t1")).Count);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_flooded_team_ledger_refuses_what_exceeds_its_intake_as_unavailable_and_writes_nothing_for_it()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("flood", "email", 1000);
        var ledger = new LedgerService(new Azure.Data.Tables.TableServiceClient(azurite.ConnectionString), Catalog.Default,
            new LedgerOptions { TableName = ctx.TableName, IntakeMax = 4 }, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<LedgerService>.Instance);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            try
            {
                return (await ledger.ChargeAsync(new ChargeRequest("flood", "ada", "enrichment", "csv_validate", $"flood-{i}") { SubjectId = $"s{i}" })).Status;
            }
            catch (LedgerUnavailableException)
            {
                return (LedgerStatus?)null;
            }
        }));

        var charged = outcomes.Count(o => o == LedgerStatus.Charged);
        Assert.True(outcomes.Any(o => o is null), "nothing was refused");
        Assert.Equal(charged + outcomes.Count(o => o is null), outcomes.Length);
        Assert.Equal(1000m - (charged * 0.5m), await ctx.AvailableAsync("flood", "email"));
        await ctx.AssertVerifiedAsync("flood");
    }
}
