using System.Net;
using CreditFunctions.Ledger;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>DOMAIN rule 2 and the catalog's *Dialer look-up*: a phone credit only when a number is found and not owned.</summary>
[Collection(nameof(WaterfallTests))]
public sealed class DialerLookupTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    [Fact]
    public async Task A_dialer_look_up_costs_one_phone_credit_when_a_number_is_found_and_nothing_when_none_is()
    {
        await using var ctx = await StartAsync(azurite, sandbox, phone: 10);
        var known = sandbox.KnownBy("dialbase");
        var unknown = sandbox.Sample(unknownBy: "dialbase").First().Person;

        var found = await JsonAsync(await ctx.PostAsync("/api/v1/dialer/lookups", new { person = SandboxVendors.Input(known) }));
        var missed = await JsonAsync(await ctx.PostAsync("/api/v1/dialer/lookups", new { person = SandboxVendors.Input(unknown) }));

        Assert.Equal("found", found.GetProperty("phone").GetProperty("status").GetString());
        Assert.Equal("not_found", missed.GetProperty("phone").GetProperty("status").GetString());
        Assert.Equal(9m, await ctx.AvailableAsync("phone"));
        var line = Assert.Single(await UsageAsync(ctx), l => l.Credits.Value > 0);
        Assert.Equal(("phone_number", "dialer_lookup"), (line.Feature, line.Action));
    }

    [Fact]
    public async Task A_number_revealed_before_costs_nothing_in_the_dialer_and_no_vendor_is_called()
    {
        await using var ctx = await StartAsync(azurite, sandbox, phone: 10);
        var person = sandbox.KnownBy("dialbase");
        await ctx.RevealAsync(person, "phone");
        var callsBefore = sandbox.Stats("dialbase").Total;

        var again = await JsonAsync(await ctx.PostAsync("/api/v1/dialer/lookups", new { person = SandboxVendors.Input(person) }));

        Assert.Equal("already_owned", again.GetProperty("phone").GetProperty("status").GetString());
        Assert.Equal(9m, await ctx.AvailableAsync("phone"));
        Assert.Equal(callsBefore, sandbox.Stats("dialbase").Total);
    }

    [Fact]
    public async Task A_dry_run_answers_the_cost_and_charges_nothing_and_a_short_balance_is_402_before_any_vendor()
    {
        await using var ctx = await StartAsync(azurite, sandbox, phone: 0);
        var person = sandbox.KnownBy("dialbase");

        var quote = await JsonAsync(await ctx.PostAsync("/api/v1/dialer/lookups", new { person = SandboxVendors.Input(person), dryRun = true }));
        using var refused = await ctx.PostAsync("/api/v1/dialer/lookups", new { person = SandboxVendors.Input(person) });

        Assert.Equal((false, 1m), (quote.GetProperty("owned").GetBoolean(), quote.GetProperty("atMost").GetDecimal()));
        Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        Assert.Equal(0, sandbox.Stats("dialbase").Total);
        Assert.Empty(await UsageAsync(ctx));
    }

    private static async Task<List<UsageLine>> UsageAsync(WaterfallTestContext ctx)
    {
        var lines = new List<UsageLine>();
        await foreach (var line in ctx.Ledger.StreamUsageAsync(new UsageQuery(ctx.TeamId) { From = DateTimeOffset.UtcNow.AddDays(-1), To = DateTimeOffset.UtcNow.AddMinutes(1) }, Ct))
        {
            lines.Add(line);
        }
        return lines;
    }
}
