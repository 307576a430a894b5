using System.Net;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using Microsoft.Extensions.DependencyInjection;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>A team's apiKeySetting may name only a setting under its own prefix.</summary>
[Collection(nameof(WaterfallTests))]
public sealed class TeamKeySettingTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    [Fact]
    public async Task An_apiKeySetting_outside_the_teams_prefix_is_400_naming_the_field_and_nothing_is_saved()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var own = TeamKeySetting.PrefixFor(ctx.TeamId) + "LEADMINE";

        var platformKey = await ctx.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings",
            new { keys = new { leadmine = new { apiKeySetting = "CREDITFUNCTIONS_LEADMINE_KEY" } } });
        var storage = await ctx.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings",
            new { keys = new { mailscout = new { apiKeySetting = "AzureWebJobsStorage" } } });
        var underAnotherTeam = await ctx.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings",
            new { keys = new { leadmine = new { apiKeySetting = own[..^"LEADMINE".Length] + "X_LEADMINE" } } });
        var afterRefusals = await JsonAsync(await ctx.App.GetAsync("/api/v1/enrichment/settings", ctx.Key));
        var allowed = await ctx.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings", new { keys = new { leadmine = new { apiKeySetting = own } } });

        foreach (var (response, field) in new[] { (platformKey, "keys.leadmine.apiKeySetting"), (storage, "keys.mailscout.apiKeySetting"), (underAnotherTeam, "keys.leadmine.apiKeySetting") })
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.True((await JsonAsync(response)).GetProperty("errors").TryGetProperty(field, out _), field);
        }
        Assert.Empty(afterRefusals.GetProperty("keys").EnumerateObject());
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(own, (await JsonAsync(allowed)).GetProperty("keys").GetProperty("leadmine").GetProperty("setting").GetString());
    }

    [Fact]
    public async Task A_stored_reference_outside_the_prefix_is_never_read()
    {
        await using var ctx = await StartAsync(azurite, sandbox, settings: new Dictionary<string, string?>
        {
            ["CREDITFUNCTIONS_TEAMKEY_ACME_LEADMINE"] = "acme-own-key",
        });
        var store = ctx.App.Services.GetRequiredService<EnrichmentSettingsStore>();
        EnrichmentSettings Referring(string setting) => new() { Keys = new Dictionary<string, StoredKey> { ["leadmine"] = new(null, setting, "(setting)") } };

        var platform = store.ResolveKey("acme", Referring("CREDITFUNCTIONS_LEADMINE_KEY"), "leadmine");
        var otherTeam = store.ResolveKey("acme-x", Referring("CREDITFUNCTIONS_TEAMKEY_ACME_LEADMINE"), "leadmine");
        var own = store.ResolveKey("acme", Referring("CREDITFUNCTIONS_TEAMKEY_ACME_LEADMINE"), "leadmine");

        Assert.Null(platform);
        Assert.Null(otherTeam);
        Assert.Equal("acme-own-key", own!.Value);
    }

    [Theory]
    [InlineData("acme", "CREDITFUNCTIONS_TEAMKEY_ACME_LEADMINE", true)]
    [InlineData("acme-corp", "CREDITFUNCTIONS_TEAMKEY_ACME_CORP_LEADMINE2", true)]
    [InlineData("acme", "CREDITFUNCTIONS_TEAMKEY_ACME_CORP_LEADMINE", false)]
    [InlineData("acme", "CREDITFUNCTIONS_TEAMKEY_ACME_", false)]
    [InlineData("acme", "CREDITFUNCTIONS_TEAMKEY_ACME_leadmine", false)]
    [InlineData("acme", "CREDITFUNCTIONS_TEAMKEY_ACMEX_LEADMINE", false)]
    [InlineData("acme", "CREDITFUNCTIONS_SECRETS_KEY", false)]
    public void Each_team_key_setting_belongs_to_exactly_one_team(string team, string setting, bool allowed) =>
        Assert.Equal(allowed, TeamKeySetting.IsAllowed(team, setting));
}
