using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace CreditFunctions.Tests.Ledger;

/// <summary>The usage filters offered to a member list only what that member used.</summary>
public sealed class UsageFiltersPerMemberTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_member_is_offered_only_the_actions_they_used_and_an_admin_everything()
    {
        await using var app = await TestApp.StartAsync(azurite);
        var (team, admin) = await app.NewTeamAsync("ada");
        var bob = await app.NewKeyAsync(team, "bob", "member");
        var carol = await app.NewKeyAsync(team, "carol", "member");
        var ledger = app.Services.GetRequiredService<LedgerService>();
        foreach (var type in new[] { "email", "phone" })
        {
            Assert.Equal(LedgerStatus.Granted, (await ledger.GrantAsync(new GrantRequest(team, "ada", type, Credits.FromDecimal(10), GrantKind.TopUp, "g-" + type))).Status);
        }
        Assert.Equal(LedgerStatus.Charged, (await ledger.ChargeAsync(new ChargeRequest(team, "ada", "phone_number", "phone_reveal", "c-1") { SubjectId = "p1" })).Status);
        Assert.Equal(LedgerStatus.Charged, (await ledger.ChargeAsync(new ChargeRequest(team, "bob", "email", "email_reveal", "c-2") { SubjectId = "p2" })).Status);

        var asBob = await FiltersAsync(bob.Key);
        var asCarol = await FiltersAsync(carol.Key);
        var asAdmin = await FiltersAsync(admin.Key);

        Assert.Equal(["email_reveal"], Actions(asBob));
        Assert.Equal(["bob"], Users(asBob));
        Assert.Empty(Actions(asCarol));
        Assert.Empty(Users(asCarol));
        Assert.Equal(["email_reveal", "phone_reveal"], Actions(asAdmin).Order());
        Assert.Equal(["ada", "bob"], Users(asAdmin));

        async Task<JsonElement> FiltersAsync(string key) =>
            JsonDocument.Parse(await (await app.GetAsync("/api/v1/credits/usage/filters", key)).Content.ReadAsStringAsync(Ct)).RootElement.Clone();
        static IEnumerable<string?> Actions(JsonElement filters) =>
            filters.GetProperty("features").EnumerateArray().SelectMany(f => f.GetProperty("actions").EnumerateArray()).Select(a => a.GetProperty("id").GetString()).ToList();
        static IEnumerable<string?> Users(JsonElement filters) => filters.GetProperty("users").EnumerateArray().Select(u => u.GetString()).ToList();
    }
}
