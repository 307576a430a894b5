using System.Security.Cryptography;
using System.Text;
using CreditFunctions.Auth;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Auth;

public sealed class TeamAndKeyStoreTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly StoreTestSupport _s = new(azurite);

    [Fact]
    public async Task A_key_is_stored_only_as_a_SHA256_hash()
    {
        var created = await _s.Teams.CreateAsync("acme", "ada", "test", Ct);
        var member = (await _s.Keys.CreateAsync("acme", "bob", "member", "test", Ct)).Key!;

        var rows = await _s.RowsAsync();
        foreach (var issued in new[] { created.AdminKey!, member })
        {
            var secret = TestKeys.SecretOf(issued.Key);
            var row = Assert.Single(rows, r => r.RowKey == "key:" + issued.Record.KeyId);
            Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(issued.Key)), (byte[])row["KeyHash"]!);
            foreach (var text in rows.SelectMany(StoreTestSupport.StoredTexts))
            {
                Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Creating_a_team_writes_the_team_and_its_first_admin_key_together()
    {
        var created = await _s.Teams.CreateAsync("acme", "ada", "operator", Ct);

        Assert.Equal(CreateTeamStatus.Created, created.Status);
        var key = created.AdminKey!.Record;
        Assert.Equal(("acme", "ada", TeamRole.Admin, "operator", false), (key.TeamId, key.UserId, key.Role, key.IssuedBy, key.IsRevoked));
        Assert.Equal(key, await _s.Keys.FindAsync(key.KeyId, Ct));
        Assert.Equal("ada", (await _s.Teams.GetAsync("acme", Ct))!.FirstAdminUserId);
        Assert.Equal(["key:" + key.KeyId, "team"], (await _s.RowsAsync()).Select(r => r.RowKey).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Creating_a_team_that_exists_is_TeamAlreadyExists_and_writes_nothing()
    {
        await _s.Teams.CreateAsync("acme", "ada", "test", Ct);
        var before = await _s.RowsAsync();

        var again = await _s.Teams.CreateAsync("acme", "mallory", "test", Ct);

        Assert.Equal(CreateTeamStatus.TeamAlreadyExists, again.Status);
        Assert.Null(again.AdminKey);
        var after = await _s.RowsAsync();
        Assert.Equal(before.Select(r => (r.RowKey, r.ETag)), after.Select(r => (r.RowKey, r.ETag)));
    }

    [Fact]
    public async Task Creating_a_key_for_a_missing_team_is_TeamNotFound_and_writes_nothing()
    {
        await _s.Teams.CreateAsync("acme", "ada", "test", Ct);
        var before = await _s.RowsAsync();

        var created = await _s.Keys.CreateAsync("nosuchteam", "bob", "member", "test", Ct);

        Assert.Equal(CreateKeyStatus.TeamNotFound, created.Status);
        Assert.Null(created.Key);
        Assert.Equal(before.Select(r => (r.PartitionKey, r.RowKey, r.ETag)), (await _s.RowsAsync()).Select(r => (r.PartitionKey, r.RowKey, r.ETag)));
    }

    [Theory]
    [InlineData("Acme", "ada", new[] { "teamId" })]
    [InlineData("acme", "Ada!", new[] { "adminUserId" })]
    [InlineData("", "", new[] { "adminUserId", "teamId" })]
    public async Task Invalid_team_input_is_reported_by_field_and_writes_nothing(string teamId, string admin, string[] fields)
    {
        var created = await _s.Teams.CreateAsync(teamId, admin, "test", Ct);

        Assert.Equal(CreateTeamStatus.Invalid, created.Status);
        Assert.Equal(fields, created.Errors.Keys.Order(StringComparer.Ordinal));
        Assert.All(created.Errors.Values, messages => Assert.NotEmpty(Assert.Single(messages)));
        Assert.Empty(await _s.RowsAsync());
    }

    [Theory]
    [InlineData("acme_x", "bob", "member", new[] { "teamId" })]
    [InlineData("acme", "", "member", new[] { "userId" })]
    [InlineData("acme", "bob", "owner", new[] { "role" })]
    [InlineData("acme", "bob", "Admin", new[] { "role" })]
    [InlineData("acme", "B O B", null, new[] { "role", "userId" })]
    public async Task Invalid_key_input_is_reported_by_field_and_writes_nothing(string teamId, string user, string? role, string[] fields)
    {
        await _s.Teams.CreateAsync("acme", "ada", "test", Ct);
        var before = await _s.RowsAsync();

        var created = await _s.Keys.CreateAsync(teamId, user, role, "test", Ct);

        Assert.Equal(CreateKeyStatus.Invalid, created.Status);
        Assert.Equal(fields, created.Errors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(before.Select(r => (r.RowKey, r.ETag)), (await _s.RowsAsync()).Select(r => (r.RowKey, r.ETag)));
    }

    [Fact]
    public async Task Revoking_marks_the_key_once_and_only_within_its_own_team()
    {
        var admin = (await _s.Teams.CreateAsync("acme", "ada", "test", Ct)).AdminKey!.Record;
        await _s.Teams.CreateAsync("other", "eve", "test", Ct);

        Assert.Equal(RevokeKeyStatus.KeyNotFound, await _s.Keys.RevokeAsync("other", admin.KeyId, Ct));
        Assert.False((await _s.Keys.FindAsync(admin.KeyId, Ct))!.IsRevoked);

        Assert.Equal(RevokeKeyStatus.Revoked, await _s.Keys.RevokeAsync("acme", admin.KeyId, Ct));
        var revokedAt = (await _s.Keys.FindAsync(admin.KeyId, Ct))!.RevokedAt;
        Assert.NotNull(revokedAt);

        Assert.Equal(RevokeKeyStatus.AlreadyRevoked, await _s.Keys.RevokeAsync("acme", admin.KeyId, Ct));
        Assert.Equal(revokedAt, (await _s.Keys.FindAsync(admin.KeyId, Ct))!.RevokedAt);
        Assert.Equal(RevokeKeyStatus.KeyNotFound, await _s.Keys.RevokeAsync("acme", "acme.0000000000000000", Ct));
    }

    [Fact]
    public async Task Listing_a_teams_keys_shows_only_that_teams_keys()
    {
        var ada = (await _s.Teams.CreateAsync("acme", "ada", "test", Ct)).AdminKey!.Record;
        var bob = (await _s.Keys.CreateAsync("acme", "bob", "member", "test", Ct)).Key!.Record;
        await _s.Teams.CreateAsync("acme2", "eve", "test", Ct);

        var keys = await _s.Keys.ListAsync("acme", Ct);

        Assert.Equal(new[] { ada, bob }.OrderBy(k => k.KeyId, StringComparer.Ordinal), keys);
        Assert.Empty(await _s.Keys.ListAsync("nosuchteam", Ct));
    }
}
