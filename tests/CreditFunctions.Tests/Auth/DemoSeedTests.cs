using System.Net;
using CreditFunctions.Auth;
using Azure.Data.Tables;
using CreditFunctions.Hosting;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.Configuration;

namespace CreditFunctions.Tests.Auth;

public sealed class DemoSeedTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_local_start_prints_fresh_working_keys_for_ada_and_bob_and_revokes_the_previous_ones()
    {
        var table = AzuriteFixture.NewName("teams");
        var first = await StartAndReadKeysAsync(table);
        var second = await StartAndReadKeysAsync(table);

        await using var app = await TestApp.StartAsync(azurite, tableName: table);
        foreach (var (user, key) in second)
        {
            using var me = await app.GetAsync("/api/v1/me", key);
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
            Assert.Contains($"\"userId\":\"{user}\"", await me.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }
        foreach (var (_, key) in first)
        {
            using var me = await app.GetAsync("/api/v1/me", key);
            Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
        }
        var keys = await app.Keys.ListAsync(DemoSeed.TeamId, Ct);
        Assert.Equal(4, keys.Count);
        Assert.Equal(2, keys.Count(k => !k.IsRevoked));
        Assert.Equal(["admin", "member"], second.Keys.Select(u => keys.Single(k => k.UserId == u && !k.IsRevoked).Role.ToName()));
    }

    [Fact]
    public async Task The_demo_seed_runs_on_the_local_emulator_only_and_can_be_turned_off()
    {
        var table = AzuriteFixture.NewName("teams");
        await using (await TestApp.StartAsync(azurite, seedDemoTeam: false, tableName: table))
        {
        }
        var service = new TableServiceClient(azurite.ConnectionString);
        await service.CreateTableIfNotExistsAsync(table, Ct);
        Assert.False((await service.GetTableClient(table).GetEntityIfExistsAsync<TableEntity>(DemoSeed.TeamId, "team", cancellationToken: Ct)).HasValue);

        var azure = new ConfigurationBuilder().AddInMemoryCollection([new("AzureWebJobsStorage:accountName", "creditfunctionsprod")]).Build();
        Assert.False(AuthOptions.From(azure, AppSettings.From(azure)).SeedDemoTeam);
        var local = new ConfigurationBuilder().AddInMemoryCollection([new("AzureWebJobsStorage", "UseDevelopmentStorage=true")]).Build();
        Assert.True(AuthOptions.From(local, AppSettings.From(local)).SeedDemoTeam);
    }

    /// <summary>Starts the app with the demo seed on and returns the banner's keys by user.</summary>
    private async Task<Dictionary<string, string>> StartAndReadKeysAsync(string table)
    {
        using var banner = new StringWriter();
        await using (await TestApp.StartAsync(azurite, seedDemoTeam: true, console: banner, tableName: table))
        {
        }
        var keys = banner.ToString().Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.StartsWith("ada ", StringComparison.Ordinal) || line.StartsWith("bob ", StringComparison.Ordinal))
            .ToDictionary(line => line[..3], line => line[(line.LastIndexOf(' ') + 1)..]);
        Assert.Equal(["ada", "bob"], keys.Keys.Order(StringComparer.Ordinal));
        Assert.All(keys.Values, k => Assert.True(ApiKeyToken.TryParse(k, out _)));
        return keys;
    }
}
