using System.Net;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>DOMAIN rule 10: a bulk job never spends more than its maxCredits.</summary>
public sealed class BulkMaxCreditsTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    [Fact]
    public async Task A_bulk_waterfall_whose_maximum_is_above_its_max_credits_does_not_start_and_holds_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10, phone: 10);
        var people = sandbox.Sample(knownBy: "leadmine").Take(2).Select(p => SandboxVendors.Input(p.Person)).ToArray();

        using var over = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email", "mobile" }, maxCredits = 3 });
        using var negative = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" }, maxCredits = -1 });
        using var within = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email", "mobile" }, maxCredits = 4 });

        Assert.Equal(HttpStatusCode.Conflict, over.StatusCode);
        Assert.Equal("quote-exceeds-max-credits", (await JsonAsync(over)).GetProperty("type").GetString()!.Split('/')[^1]);
        Assert.Equal(HttpStatusCode.BadRequest, negative.StatusCode);
        Assert.True((await JsonAsync(negative)).GetProperty("errors").TryGetProperty("maxCredits", out _));
        Assert.Equal(HttpStatusCode.Accepted, within.StatusCode);
        var run = await ctx.WaitForRunAsync(within.Headers.Location!.ToString());
        Assert.True(run.GetProperty("progress").GetProperty("creditsCharged").GetDecimal() <= 4m);
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }
}
