using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

/// <summary>DOMAIN rule 10: an admin caps what a member may spend per period; the cap is decided in the commit that spends.</summary>
public sealed class SpendLimitTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<LedgerResult> SetLimitAsync(LedgerTestContext ctx, string member, decimal? amount, string period = "month", string type = "email") =>
        ctx.Ledger.SetMemberLimitAsync(new MemberLimitRequest("t1", "ada", member, type, amount is { } a ? Credits.FromDecimal(a) : null, period, LedgerTestContext.Key()), Ct);

    private static Task<LedgerResult> ValidateAsync(LedgerTestContext ctx, string user = "bob", LedgerService? ledger = null) =>
        (ledger ?? ctx.Ledger).ChargeAsync(new ChargeRequest("t1", user, "enrichment", "csv_validate", LedgerTestContext.Key()));

    [Fact]
    public async Task A_member_past_their_limit_is_refused_and_nothing_is_spent_while_others_spend_on()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        await SetLimitAsync(ctx, "bob", 2);

        var charges = new List<LedgerResult>();
        for (var i = 0; i < 5; i++)
        {
            charges.Add(await ValidateAsync(ctx));
        }

        Assert.Equal([LedgerStatus.Charged, LedgerStatus.Charged, LedgerStatus.Charged, LedgerStatus.Charged, LedgerStatus.SpendLimitReached],
            charges.Select(c => c.Status));
        Assert.Equal((0.5m, 2m, "month"), (charges[^1].Shortfall!.Value.Value, charges[^1].SpendLimit!.Value.Value, charges[^1].LimitPeriod!));
        Assert.Equal(98m, await ctx.AvailableAsync("t1", "email"));
        Assert.Equal(4, (await ctx.UsageAsync("t1")).Count);
        Assert.Equal(LedgerStatus.Charged, (await ValidateAsync(ctx, "carol")).Status); // no limit of her own
        var limit = Assert.Single(await ctx.Ledger.GetMemberLimitsAsync("t1", "bob", Ct));
        Assert.Equal((2m, 2m, 0m), (limit.Limit.Value, limit.Spent.Value, limit.Left.Value));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Fifty_concurrent_charges_from_two_processes_around_a_limit_never_pass_it()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        await SetLimitAsync(ctx, "bob", 10);
        var other = ctx.NewLedger();

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => ValidateAsync(ctx, ledger: i % 2 == 0 ? ctx.Ledger : other)));

        Assert.Equal(20, results.Count(r => r.Status == LedgerStatus.Charged));
        Assert.Equal(30, results.Count(r => r.Status == LedgerStatus.SpendLimitReached));
        Assert.Equal(90m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_limit_set_mid_period_counts_what_was_spent_already_and_a_refund_gives_it_back()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        var first = await ValidateAsync(ctx);
        await ValidateAsync(ctx);
        await ValidateAsync(ctx, "carol");

        await SetLimitAsync(ctx, "bob", 1.5m);

        Assert.Equal(LedgerStatus.Charged, (await ValidateAsync(ctx)).Status);
        Assert.Equal(LedgerStatus.SpendLimitReached, (await ValidateAsync(ctx)).Status);
        var refund = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "operator.billing", first.LineId!, "bounced", LedgerTestContext.Key()));
        Assert.Equal(LedgerStatus.Refunded, refund.Status);
        Assert.Equal(LedgerStatus.Charged, (await ValidateAsync(ctx)).Status);
        Assert.Equal(LedgerStatus.SpendLimitReached, (await ValidateAsync(ctx)).Status);

        await SetLimitAsync(ctx, "bob", null); // removed
        Assert.Equal(LedgerStatus.Charged, (await ValidateAsync(ctx)).Status);
        Assert.Empty(await ctx.Ledger.GetMemberLimitsAsync("t1", "bob", Ct));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_hold_beyond_what_is_left_of_the_limit_is_refused_and_a_new_period_starts_from_zero()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 100);
        await SetLimitAsync(ctx, "bob", 3, "day");
        await ValidateAsync(ctx);

        var tooBig = await ctx.Ledger.PlaceHoldAsync(new HoldRequest("t1", "bob", "enrichment", "csv_enrich", Credits.FromDecimal(3), ctx.Clock.Now.AddHours(2), LedgerTestContext.Key()));
        var fits = await ctx.Ledger.PlaceHoldAsync(new HoldRequest("t1", "bob", "enrichment", "csv_enrich", Credits.FromDecimal(2.5m), ctx.Clock.Now.AddHours(2), LedgerTestContext.Key()));

        Assert.Equal(LedgerStatus.SpendLimitReached, tooBig.Status);
        Assert.Equal(LedgerStatus.HoldPlaced, fits.Status);
        var captured = await ctx.Ledger.CaptureHoldAsync(new CaptureRequest("t1", "bob", fits.HoldId!, Credits.FromDecimal(2.5m), LedgerTestContext.Key()));
        Assert.Equal(LedgerStatus.HoldCaptured, captured.Status);
        Assert.Equal(LedgerStatus.SpendLimitReached, (await ValidateAsync(ctx)).Status);

        ctx.Clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal(LedgerStatus.Charged, (await ValidateAsync(ctx)).Status);
        Assert.Equal(0.5m, Assert.Single(await ctx.Ledger.GetMemberLimitsAsync("t1", "bob", Ct)).Spent.Value);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Limits_over_the_api_an_admin_sets_them_a_member_reads_their_own_and_a_charge_past_it_is_402()
    {
        await using var app = await TestApp.StartAsync(azurite);
        var (team, admin) = await app.NewTeamAsync();
        var bob = await app.NewKeyAsync(team, "bob", "member");
        await app.NewKeyAsync(team, "carol", "member");
        var operatorKey = await app.NewOperatorAsync();
        using (var grant = await SendAsync(app, HttpMethod.Post, "/api/v1/credits/grants", operatorKey, new { teamId = team, creditType = "email", amount = 10, kind = "top_up" }))
        {
            Assert.Equal(HttpStatusCode.Created, grant.StatusCode);
        }

        using var bySelf = await SendAsync(app, HttpMethod.Put, "/api/v1/limits/members/bob", bob.Key, new { creditType = "email", amount = 100, period = "month" });
        using var unknown = await SendAsync(app, HttpMethod.Put, "/api/v1/limits/members/bobby", admin.Key, new { creditType = "email", amount = 1, period = "month" });
        using var badPeriod = await SendAsync(app, HttpMethod.Put, "/api/v1/limits/members/bob", admin.Key, new { creditType = "email", amount = 1, period = "year" });
        using var set = await SendAsync(app, HttpMethod.Put, "/api/v1/limits/members/bob", admin.Key, new { creditType = "email", amount = 1, period = "week" });

        Assert.Equal(HttpStatusCode.Forbidden, bySelf.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badPeriod.StatusCode);
        Assert.True((await Problem.ReadAsync(badPeriod)).Errors.ContainsKey("period"));
        Assert.Equal(HttpStatusCode.Created, set.StatusCode);

        var charge = new { feature = "enrichment", action = "csv_validate" };
        using (var ok1 = await SendAsync(app, HttpMethod.Post, "/api/v1/credits/charges", bob.Key, charge))
        using (var ok2 = await SendAsync(app, HttpMethod.Post, "/api/v1/credits/charges", bob.Key, charge))
        {
            Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Created), (ok1.StatusCode, ok2.StatusCode));
        }
        using var over = await SendAsync(app, HttpMethod.Post, "/api/v1/credits/charges", bob.Key, charge);
        Assert.Equal(HttpStatusCode.PaymentRequired, over.StatusCode);
        var problem = await JsonSerializer.DeserializeAsync<JsonElement>(await over.Content.ReadAsStreamAsync(Ct), cancellationToken: Ct);
        Assert.EndsWith("spend-limit-reached", problem.GetProperty("type").GetString());
        Assert.Equal((1m, "week"), (problem.GetProperty("limit").GetDecimal(), problem.GetProperty("period").GetString()));

        using var own = await app.GetAsync("/api/v1/limits/members/bob", bob.Key);
        using var others = await app.GetAsync("/api/v1/limits/members/carol", bob.Key);
        using var all = await app.GetAsync("/api/v1/limits", bob.Key);
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden), (own.StatusCode, others.StatusCode, all.StatusCode));
        var limit = (await own.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("limits").EnumerateArray().Single();
        Assert.Equal((1m, 1m, 0m), (limit.GetProperty("limit").GetDecimal(), limit.GetProperty("spent").GetDecimal(), limit.GetProperty("left").GetDecimal()));

        using var removed = await SendAsync(app, HttpMethod.Delete, "/api/v1/limits/members/bob?creditType=email", admin.Key, null);
        Assert.Equal(HttpStatusCode.Created, removed.StatusCode);
        using var afterRemoval = await SendAsync(app, HttpMethod.Post, "/api/v1/credits/charges", bob.Key, charge);
        Assert.Equal(HttpStatusCode.Created, afterRemoval.StatusCode);
    }

    private static Task<HttpResponseMessage> SendAsync(TestApp app, HttpMethod method, string path, string key, object? body)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", key);
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        return app.Client.SendAsync(request, Ct);
    }
}
