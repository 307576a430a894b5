using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CreditFunctions.Api;
using CreditFunctions.Auth;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Auth;

public sealed class AuthenticationHttpTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private TestApp _app = null!;

    public async ValueTask InitializeAsync() => _app = await TestApp.StartAsync(azurite);

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    [Fact]
    public async Task A_valid_key_authenticates_as_its_team_user_and_role()
    {
        var (team, admin) = await _app.NewTeamAsync("ada");
        var member = await _app.NewKeyAsync(team, "bob", "member");

        Assert.Equal(new Me(team, "ada", "admin", admin.Record.KeyId), await MeAsync(admin.Key));
        Assert.Equal(new Me(team, "bob", "member", member.Record.KeyId), await MeAsync(member.Key));
    }

    public enum BadCredential { NoHeader, NotBearer, Garbage, WrongSecret, UnknownKeyId, Revoked, OtherTeamsKeyIdWithOwnSecret }

    [Theory]
    [InlineData(BadCredential.NoHeader)]
    [InlineData(BadCredential.NotBearer)]
    [InlineData(BadCredential.Garbage)]
    [InlineData(BadCredential.WrongSecret)]
    [InlineData(BadCredential.UnknownKeyId)]
    [InlineData(BadCredential.Revoked)]
    [InlineData(BadCredential.OtherTeamsKeyIdWithOwnSecret)]
    public async Task A_missing_malformed_wrong_unknown_or_revoked_key_gets_401_problem_with_a_Bearer_challenge(BadCredential bad)
    {
        var (team, admin) = await _app.NewTeamAsync();
        var (_, other) = await _app.NewTeamAsync();
        var secret = TestKeys.SecretOf(admin.Key);
        var (_, fresh) = ApiKeyToken.Generate(team);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/me");
        switch (bad)
        {
            case BadCredential.NotBearer:
                request.Headers.TryAddWithoutValidation("Authorization", "Basic " + admin.Key);
                break;
            case BadCredential.Garbage:
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer not-a-key");
                break;
            case BadCredential.WrongSecret:
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + TestKeys.WithWrongSecret(admin.Key));
                break;
            case BadCredential.UnknownKeyId:
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + fresh);
                break;
            case BadCredential.Revoked:
                Assert.Equal(RevokeKeyStatus.Revoked, await _app.Keys.RevokeAsync(team, admin.Record.KeyId, Ct));
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + admin.Key);
                break;
            case BadCredential.OtherTeamsKeyIdWithOwnSecret:
                request.Headers.TryAddWithoutValidation("Authorization", $"Bearer cfk_{other.Record.KeyId}_{secret}");
                break;
        }

        using var response = await _app.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        var problem = await Problem.ReadAsync(response);
        Assert.Equal(Problems.UnauthorizedType, problem.Type);
        if (bad != BadCredential.NoHeader)
        {
            Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Every_kind_of_bad_key_gets_the_same_answer_so_none_reveals_which_keys_exist()
    {
        var (team, admin) = await _app.NewTeamAsync();
        var (_, fresh) = ApiKeyToken.Generate(team);
        var wrongSecret = TestKeys.WithWrongSecret(admin.Key);

        var bodies = new List<string>();
        foreach (var key in new[] { wrongSecret, fresh, "cfk_junk" })
        {
            using var response = await _app.GetAsync("/api/v1/me", key);
            bodies.Add(response.Headers.WwwAuthenticate + "|" + await response.Content.ReadAsStringAsync(Ct));
        }

        Assert.Single(bodies.Distinct());
    }

    [Fact]
    public async Task Health_stays_anonymous()
    {
        using var response = await _app.GetAsync("/api/health", key: null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_member_on_an_admin_route_gets_403_problem()
    {
        var (team, _) = await _app.NewTeamAsync();
        var member = await _app.NewKeyAsync(team, "bob", "member");

        using var response = await _app.GetAsync($"/api/v1/teams/{team}/keys", member.Key);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(Problems.ForbiddenType, (await Problem.ReadAsync(response)).Type);
    }

    [Fact]
    public async Task An_admin_lists_the_teams_keys_without_any_secret()
    {
        var (team, admin) = await _app.NewTeamAsync();
        var member = await _app.NewKeyAsync(team, "bob", "member");

        using var response = await _app.GetAsync($"/api/v1/teams/{team}/keys", admin.Key);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync(Ct);
        var keys = JsonSerializer.Deserialize<List<KeyRow>>(body, JsonSerializerOptions.Web)!;
        Assert.Equal(
            new[] { (admin.Record.KeyId, "ada", "admin"), (member.Record.KeyId, "bob", "member") }.Order(),
            keys.Select(k => (k.KeyId, k.UserId, k.Role)).Order());
        Assert.DoesNotContain(TestKeys.SecretOf(admin.Key), body, StringComparison.Ordinal);
        Assert.DoesNotContain(TestKeys.SecretOf(member.Key), body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("admin")]
    [InlineData("member")]
    public async Task Another_teams_resource_answers_404_whether_or_not_that_team_exists(string role)
    {
        var (mine, admin) = await _app.NewTeamAsync();
        var key = role == "admin" ? admin : await _app.NewKeyAsync(mine, "bob", "member");
        var (theirs, _) = await _app.NewTeamAsync("eve");

        using var existing = await _app.GetAsync($"/api/v1/teams/{theirs}/keys", key.Key);
        using var missing = await _app.GetAsync($"/api/v1/teams/{AzuriteFixture.NewName("nosuch")}/keys", key.Key);

        Assert.Equal(HttpStatusCode.NotFound, existing.StatusCode);
        Assert.Equal(Problems.NotFoundType, (await Problem.ReadAsync(existing)).Type);
        Assert.Equal(await existing.Content.ReadAsStringAsync(Ct), await missing.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task An_admin_cannot_revoke_or_issue_keys_of_another_team()
    {
        var (_, admin) = await _app.NewTeamAsync();
        var (theirs, theirAdmin) = await _app.NewTeamAsync("eve");

        using var revoke = await _app.SendAsync(HttpMethod.Delete, $"/api/v1/teams/{theirs}/keys/{theirAdmin.Record.KeyId}", admin.Key);
        using var issue = await _app.SendAsync(HttpMethod.Post, $"/api/v1/teams/{theirs}/keys", admin.Key,
            JsonContent.Create(new { userId = "mallory", role = "admin" }));

        Assert.Equal(HttpStatusCode.NotFound, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, issue.StatusCode);
        Assert.Equal([theirAdmin.Record], await _app.Keys.ListAsync(theirs, Ct));
    }

    [Fact]
    public async Task An_admin_issues_a_member_key_that_authenticates_once_shown()
    {
        var (team, admin) = await _app.NewTeamAsync();

        using var response = await _app.SendAsync(HttpMethod.Post, $"/api/v1/teams/{team}/keys", admin.Key,
            JsonContent.Create(new { userId = "carol", role = "member" }));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Contains("no-store", response.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
        var created = (await response.Content.ReadFromJsonAsync<CreatedKey>(Ct))!;
        Assert.Equal(new Me(team, "carol", "member", created.KeyId), await MeAsync(created.ApiKey));
        Assert.Equal("user:ada", (await _app.Keys.FindAsync(created.KeyId, Ct))!.IssuedBy);
    }

    [Fact]
    public async Task Invalid_fields_of_a_new_key_get_400_naming_each_field_and_write_nothing()
    {
        var (team, admin) = await _app.NewTeamAsync();

        using var response = await _app.SendAsync(HttpMethod.Post, $"/api/v1/teams/{team}/keys", admin.Key,
            JsonContent.Create(new { userId = "Carol!", role = "owner" }));
        using var notJson = await _app.SendAsync(HttpMethod.Post, $"/api/v1/teams/{team}/keys", admin.Key,
            new StringContent("userId=carol"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await Problem.ReadAsync(response);
        Assert.Equal(Problems.ValidationType, problem.Type);
        Assert.Equal(["role", "userId"], problem.Errors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Equal(["body"], (await Problem.ReadAsync(notJson)).Errors.Keys);
        Assert.Equal([admin.Record], await _app.Keys.ListAsync(team, Ct));
    }

    [Fact]
    public async Task A_key_revoked_through_the_api_is_refused_at_once()
    {
        var (team, admin) = await _app.NewTeamAsync();
        var member = await _app.NewKeyAsync(team, "bob", "member");
        Assert.NotNull(await MeAsync(member.Key));

        using var revoke = await _app.SendAsync(HttpMethod.Delete, $"/api/v1/teams/{team}/keys/{member.Record.KeyId}", admin.Key);
        using var after = await _app.GetAsync("/api/v1/me", member.Key);

        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }

    private async Task<Me?> MeAsync(string key)
    {
        using var response = await _app.GetAsync("/api/v1/me", key);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<Me>(Ct);
    }

    private sealed record Me(string TeamId, string UserId, string Role, string KeyId);

    private sealed record KeyRow(string KeyId, string UserId, string Role);

    private sealed record CreatedKey(string KeyId, string ApiKey);
}
