using System.Net;
using System.Net.Http.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>One rule for the Idempotency-Key on every route, 409 for a key reused with another request, and a
/// namespace of the system's own keys that no caller can write into.</summary>
[Collection(nameof(WaterfallTests))]
public sealed class IdempotencyKeyTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    public static TheoryData<string> BadKeys() => ["", new string('k', 256), "has space", "pct%20encoded", "semi;colon", "new\tline", "slash/es"];

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task A_key_outside_the_rule_is_400_naming_the_header_on_every_route_and_nothing_is_written(string key)
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var person = SandboxVendors.Input(sandbox.Sample(knownBy: "leadmine").First().Person);
        var routes = new (string Path, object Body)[]
        {
            ("/api/v1/credits/charges", new { feature = "enrichment", action = "csv_validate", subjectId = "p1" }),
            ("/api/v1/credits/holds", new { feature = "enrichment", action = "csv_validate", amount = 1, expiresAt = DateTimeOffset.UtcNow.AddHours(1) }),
            ("/api/v1/people/reveal", new { person, data = new[] { "email" } }),
            ("/api/v1/enrichment/waterfall", new { people = new[] { person }, data = new[] { "email" } }),
            ("/api/v1/people/p_000000000000000000000000/reverify", new { }),
        };
        foreach (var (path, body) in routes)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
            request.Headers.Authorization = new("Bearer", ctx.Key);
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
            var problem = await Problem.ReadAsync(await ctx.App.Client.SendAsync(request, Ct));

            Assert.True(problem.Status == HttpStatusCode.BadRequest, $"{path}: {problem.Status}");
            Assert.True(problem.Errors.ContainsKey("Idempotency-Key"), $"{path}: {string.Join(", ", problem.Errors.Keys)}");
        }
        Assert.Equal(10m, await ctx.AvailableAsync("email"));
        Assert.Empty(await ctx.Ledger.QueryUsageAsync(new UsageQuery(ctx.TeamId) { IncludeRefunds = true }, Ct) is { } usage ? usage.Lines : []);
        Assert.Equal(0, ctx.Calls("leadmine"));
    }

    [Fact]
    public async Task The_same_key_with_another_person_is_409_on_reveal_and_calls_no_vendor()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var people = sandbox.Sample(knownBy: "leadmine").Take(2).Select(p => SandboxVendors.Input(p.Person)).ToArray();

        var first = await ctx.PostAsync("/api/v1/people/reveal", new { person = people[0], data = new[] { "email" } }, "reveal-key");
        var again = await ctx.PostAsync("/api/v1/people/reveal", new { person = people[0], data = new[] { "email" } }, "reveal-key");
        var calls = ctx.Calls("leadmine");
        var other = await Problem.ReadAsync(await ctx.PostAsync("/api/v1/people/reveal", new { person = people[1], data = new[] { "email" } }, "reveal-key"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, other.Status);
        Assert.EndsWith("/idempotency-key-reused", other.Type, StringComparison.Ordinal);
        Assert.Equal(calls, ctx.Calls("leadmine"));
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
    }

    [Fact]
    public async Task The_same_key_with_other_people_is_409_on_a_bulk_waterfall_and_holds_nothing_more()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var people = sandbox.Sample(knownBy: "leadmine").Take(3).Select(p => SandboxVendors.Input(p.Person)).ToArray();

        var first = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people = people[..2], data = new[] { "email" } }, "bulk-key");
        var run = await ctx.WaitForRunAsync(first.Headers.Location!.ToString());
        var again = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people = people[..2], data = new[] { "email" } }, "bulk-key");
        var other = await Problem.ReadAsync(await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } }, "bulk-key"));

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal(run.GetProperty("id").GetString(), (await JsonAsync(again)).GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.Conflict, other.Status);
        Assert.EndsWith("/idempotency-key-reused", other.Type, StringComparison.Ordinal);
        var balance = (await ctx.Ledger.GetBalancesAsync(ctx.TeamId, Ct)).Single(b => b.CreditType == "email");
        Assert.Equal(0m, balance.Held.Value);
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_replayed_reverification_answers_its_first_result_and_calls_no_vendor_again()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var revealed = await ctx.RevealAsync(sandbox.Sample(knownBy: "leadmine").First().Person, "email");
        var personId = revealed.GetProperty("personId").GetString();

        var first = await JsonAsync(await ctx.PostAsync($"/api/v1/people/{personId}/reverify", new { }, "reverify-once"));
        var verifications = ctx.Calls("verifly");
        var replay = await JsonAsync(await ctx.PostAsync($"/api/v1/people/{personId}/reverify", new { }, "reverify-once"));
        var other = await Problem.ReadAsync(await ctx.PostAsync("/api/v1/people/p_000000000000000000000000/reverify", new { }, "reverify-once"));

        Assert.Equal(first.GetProperty("verification").GetString(), replay.GetProperty("verification").GetString());
        Assert.Equal(verifications, ctx.Calls("verifly"));
        Assert.Equal(HttpStatusCode.Conflict, other.Status);
        Assert.Equal(8.5m, await ctx.AvailableAsync("email"));
    }

    [Fact]
    public async Task A_caller_cannot_take_a_key_the_system_makes_for_itself()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 0);
        var period = DateTimeOffset.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        var allocation = PlanAllocation.For(ctx.TeamId, period, "email", Credits.FromDecimal(100));
        var operatorKey = await ctx.App.NewOperatorAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/credits/grants")
        {
            Content = JsonContent.Create(new { teamId = ctx.TeamId, creditType = "email", amount = 1, kind = "top_up" }),
        };
        request.Headers.Authorization = new("Bearer", operatorKey);
        request.Headers.Add("Idempotency-Key", allocation.IdempotencyKey);
        Assert.Equal(HttpStatusCode.Created, (await ctx.App.Client.SendAsync(request, Ct)).StatusCode);

        var granted = await ctx.Ledger.GrantAsync(allocation);

        Assert.Equal(LedgerStatus.Granted, granted.Status);
        Assert.False(granted.Replayed);
        Assert.Equal(101m, await ctx.AvailableAsync("email"));
    }
}
