using System.Net;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Tests.Providers;
using CreditFunctions.Tests.Waterfall;
using CreditFunctions.TestSupport;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Research;

/// <summary>AI research: 1 credit on success only; the same subject within 30 days is the stored result at no cost.</summary>
[Collection(nameof(WaterfallTests))]
public sealed class ResearchTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static async Task<WaterfallTestContext> StartWithResearchCreditsAsync(AzuriteFixture azurite, SandboxVendors sandbox, decimal credits = 10)
    {
        var ctx = await StartAsync(azurite, sandbox);
        if (credits > 0)
        {
            await ctx.Ledger.GrantAsync(new GrantRequest(ctx.TeamId, "ops", "ai_research", Credits.FromDecimal(credits), GrantKind.TopUp, Guid.NewGuid().ToString("N")));
        }
        return ctx;
    }

    private static async Task<decimal> ResearchCreditsAsync(WaterfallTestContext ctx) => await ctx.AvailableAsync("ai_research");

    [Fact]
    public async Task Researching_a_person_twice_within_30_days_costs_one_credit_and_asks_the_provider_once_unless_refreshed()
    {
        await using var ctx = await StartWithResearchCreditsAsync(azurite, sandbox);
        var person = SandboxVendors.Input(sandbox.KnownBy("sagewise"));

        var first = await JsonAsync(await ctx.PostAsync("/api/v1/research", new { person }));
        var second = await JsonAsync(await ctx.PostAsync("/api/v1/research", new { person }));

        Assert.Equal(("researched", 1m), (first.GetProperty("status").GetString(), first.GetProperty("credits").GetDecimal()));
        Assert.Equal(("stored", 0m), (second.GetProperty("status").GetString(), second.GetProperty("credits").GetDecimal()));
        Assert.Equal(first.GetProperty("summary").GetString(), second.GetProperty("summary").GetString());
        Assert.Equal(1, sandbox.Stats("sagewise").Total);
        Assert.Equal(9m, await ResearchCreditsAsync(ctx));

        var refreshed = await JsonAsync(await ctx.PostAsync("/api/v1/research", new { person, refresh = true }));
        Assert.Equal("researched", refreshed.GetProperty("status").GetString());
        Assert.Equal(8m, await ResearchCreditsAsync(ctx));
    }

    [Fact]
    public async Task A_company_is_researched_by_its_domain_and_a_subject_nobody_knows_costs_nothing()
    {
        await using var ctx = await StartWithResearchCreditsAsync(azurite, sandbox);
        var domain = sandbox.People.People[0].CompanyDomain;

        var company = await JsonAsync(await ctx.PostAsync("/api/v1/research", new { company = new { domain } }));
        var nobody = await JsonAsync(await ctx.PostAsync("/api/v1/research", new { company = new { domain = "nobody-works-here.example" } }));

        Assert.Equal(("researched", "company"), (company.GetProperty("status").GetString(), company.GetProperty("kind").GetString()));
        Assert.Contains(domain, company.GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.Equal(("not_found", 0m), (nobody.GetProperty("status").GetString(), nobody.GetProperty("credits").GetDecimal()));
        Assert.Equal(9m, await ResearchCreditsAsync(ctx));
    }

    [Fact]
    public async Task A_short_balance_is_402_before_the_provider_and_a_dry_run_charges_nothing()
    {
        await using var ctx = await StartWithResearchCreditsAsync(azurite, sandbox, credits: 0);
        var person = SandboxVendors.Input(sandbox.KnownBy("sagewise"));

        var quote = await JsonAsync(await ctx.PostAsync("/api/v1/research", new { person, dryRun = true }));
        using var refused = await ctx.PostAsync("/api/v1/research", new { person });
        using var neither = await ctx.PostAsync("/api/v1/research", new { refresh = true });

        Assert.Equal((false, 1m), (quote.GetProperty("stored").GetBoolean(), quote.GetProperty("atMost").GetDecimal()));
        Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        Assert.True((await Problem.ReadAsync(neither)).Errors.ContainsKey("person"));
        Assert.Equal(0, sandbox.Stats("sagewise").Total);
    }

    [Fact]
    public async Task A_member_past_their_research_limit_is_402_before_the_provider_is_asked()
    {
        await using var ctx = await StartWithResearchCreditsAsync(azurite, sandbox);
        await ctx.Ledger.SetMemberLimitAsync(new MemberLimitRequest(ctx.TeamId, "ada", "ada", "ai_research", Credits.FromDecimal(0.5m), "month",
            Guid.NewGuid().ToString("N")), Ct);

        using var refused = await ctx.PostAsync("/api/v1/research", new { person = SandboxVendors.Input(sandbox.KnownBy("sagewise")) });

        Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        Assert.EndsWith("spend-limit-reached", (await Problem.ReadAsync(refused)).Type, StringComparison.Ordinal);
        Assert.Equal(0, sandbox.Stats("sagewise").Total);
        Assert.Equal(10m, await ResearchCreditsAsync(ctx));
    }

    [Fact]
    public async Task The_same_key_answers_the_first_result_and_racing_requests_for_one_subject_charge_once()
    {
        await using var ctx = await StartWithResearchCreditsAsync(azurite, sandbox);
        var people = sandbox.Sample(knownBy: "sagewise").Take(2).Select(p => SandboxVendors.Input(p.Person)).ToList();

        var first = await JsonAsync(await ctx.PostAsync("/api/v1/research", new { person = people[0] }, "research-1"));
        var again = await JsonAsync(await ctx.PostAsync("/api/v1/research", new { person = people[0] }, "research-1"));
        using var otherBody = await ctx.PostAsync("/api/v1/research", new { person = people[1] }, "research-1");
        Assert.Equal(first.GetRawText(), again.GetRawText());
        Assert.Equal(HttpStatusCode.Conflict, otherBody.StatusCode);

        var racing = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => ctx.PostAsync("/api/v1/research", new { person = people[1] })));
        var statuses = new List<string>();
        foreach (var response in racing)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            statuses.Add((await JsonAsync(response)).GetProperty("status").GetString()!);
        }
        Assert.Equal(8m, await ResearchCreditsAsync(ctx)); // one for each subject, however many raced
        Assert.Contains("researched", statuses);
        var report = await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct);
        Assert.True(report.Ok, string.Join("; ", report.Problems));
    }
}
