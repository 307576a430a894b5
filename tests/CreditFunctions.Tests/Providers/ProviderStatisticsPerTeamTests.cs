using CreditFunctions.Providers;
using CreditFunctions.TestSupport;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Providers;

/// <summary>A team sees the statistics of its own provider calls only; the per-team counters are bounded.</summary>
[Collection(nameof(Waterfall.WaterfallTests))]
public sealed class ProviderStatisticsPerTeamTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    [Fact]
    public async Task A_team_sees_only_the_statistics_of_its_own_calls()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var (_, other) = await ctx.App.NewTeamAsync("eve");
        await ctx.RevealAsync(sandbox.KnownBy("leadmine"), "email");

        var own = await LeadmineAsync(ctx.Key);
        var others = await LeadmineAsync(other.Key);

        Assert.True(own.GetProperty("calls").GetInt64() >= 1);
        Assert.True(own.GetProperty("attempts").GetInt64() >= 1);
        Assert.Equal(0, others.GetProperty("calls").GetInt64());
        Assert.Equal(0, others.GetProperty("attempts").GetInt64());
        Assert.Equal(0m, others.GetProperty("costSpent").GetDecimal());

        async Task<System.Text.Json.JsonElement> LeadmineAsync(string key) =>
            (await JsonAsync(await ctx.App.GetAsync("/api/v1/enrichment/providers", key))).GetProperty("providers").EnumerateArray()
                .Single(p => p.GetProperty("name").GetString() == "leadmine").GetProperty("statistics");
    }

    [Fact]
    public async Task Platform_wide_statistics_add_up_every_team_and_need_an_operator_key()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var (otherTeam, other) = await ctx.App.NewTeamAsync("eve");
        var operatorKey = await ctx.App.NewOperatorAsync();
        await ctx.Ledger.GrantAsync(new CreditFunctions.Ledger.GrantRequest(otherTeam, "eve", "email", CreditFunctions.Ledger.Credits.FromDecimal(10),
            CreditFunctions.Ledger.GrantKind.TopUp, Guid.NewGuid().ToString("N")));
        await ctx.RevealAsync(sandbox.KnownBy("leadmine"), "email");
        using var theirReveal = await ctx.App.SendAsync(HttpMethod.Post, "/api/v1/people/reveal", other.Key,
            System.Net.Http.Json.JsonContent.Create(new { person = SandboxVendors.Input(sandbox.KnownBy("leadmine")), data = new[] { "email" } }));
        Assert.Equal(System.Net.HttpStatusCode.OK, theirReveal.StatusCode);

        using var forAdmin = await ctx.App.GetAsync("/api/v1/platform/providers", ctx.Key);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, forAdmin.StatusCode);
        var platform = (await JsonAsync(await ctx.App.GetAsync("/api/v1/platform/providers", operatorKey))).GetProperty("providers").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "leadmine").GetProperty("statistics");
        var own = (await JsonAsync(await ctx.App.GetAsync("/api/v1/enrichment/providers", ctx.Key))).GetProperty("providers").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "leadmine").GetProperty("statistics");
        var theirs = (await JsonAsync(await ctx.App.GetAsync("/api/v1/enrichment/providers", other.Key))).GetProperty("providers").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "leadmine").GetProperty("statistics");
        Assert.True(theirs.GetProperty("calls").GetInt64() >= 1);
        Assert.Equal(own.GetProperty("calls").GetInt64() + theirs.GetProperty("calls").GetInt64(), platform.GetProperty("calls").GetInt64());
    }

    [Fact]
    public void Per_team_statistics_keep_at_most_a_bounded_number_of_teams_and_forget_the_least_recent()
    {
        var statistics = new ProviderStatistics();
        var miss = new ProviderMiss(new ProviderProvenance("leadmine", ProviderCapabilities.Email, DateTimeOffset.UnixEpoch, TimeSpan.FromMilliseconds(5), 1));

        statistics.Record("team-first", miss, 0.01m);
        for (var i = 0; i < ProviderStatistics.TeamsMax * 2; i++)
        {
            statistics.Record($"team-{i}", miss, 0.01m);
            statistics.Record("team-first", miss, 0.01m); // in use all along: kept
        }

        Assert.InRange(statistics.TeamCount, 1, ProviderStatistics.TeamsMax);
        Assert.Equal(ProviderStatistics.TeamsMax * 2 + 1, statistics.SnapshotForTeam("team-first", "leadmine").Calls);
        Assert.Equal(1, statistics.SnapshotForTeam($"team-{ProviderStatistics.TeamsMax * 2 - 1}", "leadmine").Calls);
        Assert.Equal(0, statistics.SnapshotForTeam("team-0", "leadmine").Calls);
        Assert.Equal(ProviderStatistics.TeamsMax * 4 + 1, statistics.Snapshot("leadmine").Calls);
    }
}
