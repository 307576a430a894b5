using System.Net;
using System.Net.Http.Json;
using System.Text;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>Runs end cleanly whichever way they end, members see their own runs only, and bodies have limits.</summary>
[Collection(nameof(WaterfallTests))]
public sealed class RunSafetyTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    [Fact]
    public async Task A_terminated_run_releases_its_holds_at_once_and_its_status_route_answers_200()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 200);
        sandbox.Configure("leadmine", v => v with { Latency = new LatencySettings { FixedMilliseconds = 400 } });
        var people = sandbox.People.People.Take(150).Select(SandboxVendors.Input).ToArray();

        var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } });
        var urls = await JsonAsync(started);
        var terminate = await ctx.PostAsync(urls.GetProperty("terminatePostUri").GetString()!.Replace("?reason={text}", "?reason=enough", StringComparison.Ordinal), new { });
        var state = await ctx.WaitForRunAsync(started.Headers.Location!.ToString());

        Assert.Equal(HttpStatusCode.Accepted, terminate.StatusCode);
        Assert.Equal("terminated", state.GetProperty("status").GetString());
        var balance = (await ctx.Ledger.GetBalancesAsync(ctx.TeamId, Ct)).Single(b => b.CreditType == "email");
        Assert.Equal(0m, balance.Held.Value);
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_member_sees_and_controls_only_their_own_runs_and_inputs_are_hidden_unless_asked()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 20);
        var bob = (await ctx.App.NewKeyAsync(ctx.TeamId, "bob", "member")).Key;
        var eve = (await ctx.App.NewKeyAsync(ctx.TeamId, "eve", "member")).Key;
        var person = SandboxVendors.Input(sandbox.Sample(knownBy: "leadmine").First().Person);
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/enrichment/waterfall") { Content = JsonContent.Create(new { people = new[] { person }, data = new[] { "email" } }) };
        request.Headers.Authorization = new("Bearer", bob);
        var started = await ctx.App.Client.SendAsync(request, Ct);
        var urls = await JsonAsync(started);
        var status = started.Headers.Location!.ToString();
        await ctx.WaitForRunAsync(status);
        var management = urls.GetProperty("purgeHistoryDeleteUri").GetString()!;

        Assert.Equal(HttpStatusCode.OK, (await ctx.App.GetAsync(status, bob)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ctx.App.GetAsync(status, ctx.Key)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ctx.App.GetAsync(status, eve)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ctx.App.GetAsync(management, eve)).StatusCode);
        var shown = await JsonAsync(await ctx.App.GetAsync(management, bob));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, shown.GetProperty("input").ValueKind);
        var withInput = await JsonAsync(await ctx.App.GetAsync(management + "?showInput=true", bob));
        Assert.Equal(System.Text.Json.JsonValueKind.Object, withInput.GetProperty("input").ValueKind);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413_naming_body_even_when_chunked_and_nothing_is_written()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var padding = new string(' ', 70 * 1024);
        foreach (var chunked in new[] { false, true })
        {
            var json = $$"""{"feature":"enrichment","action":"csv_validate","subjectId":"p1"{{padding}}}""";
            HttpContent content = chunked
                ? new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(json)))
                : new StringContent(json, Encoding.UTF8, "application/json");
            content.Headers.ContentType = new("application/json");
            if (chunked)
            {
                content.Headers.ContentLength = null;
            }
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/credits/charges") { Content = content };
            request.Headers.Authorization = new("Bearer", ctx.Key);
            request.Headers.Add("Idempotency-Key", chunked ? "big-chunked" : "big");
            if (chunked)
            {
                request.Headers.TransferEncodingChunked = true;
            }
            var problem = await Problem.ReadAsync(await ctx.App.Client.SendAsync(request, Ct));

            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, problem.Status);
            Assert.True(problem.Errors.ContainsKey("body"));
        }
        Assert.Equal(10m, await ctx.AvailableAsync("email"));
    }

    [Fact]
    public async Task A_field_of_the_wrong_type_is_400_naming_the_field_and_the_type_it_must_be()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);

        var problem = await Problem.ReadAsync(await ctx.PostAsync("/api/v1/enrichment/waterfall",
            new { people = new object[] { new { firstName = "Ada", lastName = "Lovelace", companyDomain = "example.com" }, new { email = 42 } }, data = new[] { "email" } }));

        Assert.Equal(HttpStatusCode.BadRequest, problem.Status);
        Assert.Equal(["must be a string"], problem.Errors["people[1].email"]);
        Assert.Equal(10m, await ctx.AvailableAsync("email"));
    }
}
