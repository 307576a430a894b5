using CreditFunctions.Auth;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Auth;

public sealed class ApiKeyAuthenticatorTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly StoreTestSupport _s = new(azurite);
    private readonly ManualTimeProvider _clock = new();

    private ApiKeyAuthenticator NewAuthenticator() => new(_s.Keys, new AuthOptions(), _clock);

    [Fact]
    public async Task A_valid_key_authenticates_as_its_team_user_and_role()
    {
        var admin = (await _s.Teams.CreateAsync("acme", "ada", "test", Ct)).AdminKey!;
        var member = (await _s.Keys.CreateAsync("acme", "bob", "member", "test", Ct)).Key!;
        var authenticator = NewAuthenticator();

        Assert.Equal(new CallerContext("acme", "ada", TeamRole.Admin, admin.Record.KeyId), (await authenticator.CheckAsync(admin.Key, Ct)).Caller);
        Assert.Equal(new CallerContext("acme", "bob", TeamRole.Member, member.Record.KeyId), (await authenticator.CheckAsync(member.Key, Ct)).Caller);
    }

    [Fact]
    public async Task Wrong_secret_unknown_id_and_malformed_text_are_refused()
    {
        var key = (await _s.Teams.CreateAsync("acme", "ada", "test", Ct)).AdminKey!;
        var (_, otherSecret) = ApiKeyToken.Generate("acme");
        var wrongSecret = TestKeys.WithWrongSecret(key.Key);
        var authenticator = NewAuthenticator();

        Assert.Equal(new ApiKeyCheck(ApiKeyCheckStatus.WrongSecret, null), await authenticator.CheckAsync(wrongSecret, Ct));
        Assert.Equal(new ApiKeyCheck(ApiKeyCheckStatus.UnknownKey, null), await authenticator.CheckAsync(otherSecret, Ct));
        Assert.Equal(new ApiKeyCheck(ApiKeyCheckStatus.Malformed, null), await authenticator.CheckAsync(key.Key + "x", Ct));
        Assert.Equal(ApiKeyCheckStatus.Authenticated, (await authenticator.CheckAsync(key.Key, Ct)).Status);
    }

    [Fact]
    public async Task A_key_revoked_elsewhere_is_refused_once_the_cache_duration_has_passed()
    {
        var key = (await _s.Teams.CreateAsync("acme", "ada", "test", Ct)).AdminKey!;
        var authenticator = NewAuthenticator();
        Assert.Equal(ApiKeyCheckStatus.Authenticated, (await authenticator.CheckAsync(key.Key, Ct)).Status);

        await _s.Keys.RevokeAsync("acme", key.Record.KeyId, Ct);

        _clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(ApiKeyCheckStatus.Authenticated, (await authenticator.CheckAsync(key.Key, Ct)).Status);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(ApiKeyCheckStatus.Revoked, (await authenticator.CheckAsync(key.Key, Ct)).Status);
    }

    [Fact]
    public async Task A_key_revoked_through_this_server_is_refused_at_once()
    {
        var key = (await _s.Teams.CreateAsync("acme", "ada", "test", Ct)).AdminKey!;
        var authenticator = NewAuthenticator();
        Assert.Equal(ApiKeyCheckStatus.Authenticated, (await authenticator.CheckAsync(key.Key, Ct)).Status);

        await _s.Keys.RevokeAsync("acme", key.Record.KeyId, Ct);
        authenticator.Forget(key.Record.KeyId);

        Assert.Equal(ApiKeyCheckStatus.Revoked, (await authenticator.CheckAsync(key.Key, Ct)).Status);
    }

    [Fact]
    public async Task A_cached_key_costs_no_storage_read()
    {
        var key = (await _s.Teams.CreateAsync("acme", "ada", "test", Ct)).AdminKey!;
        var authenticator = NewAuthenticator();
        Assert.Equal(ApiKeyCheckStatus.Authenticated, (await authenticator.CheckAsync(key.Key, Ct)).Status);

        // With the table gone, only the cache can still answer.
        await _s.Table.DeleteAsync(Ct);

        Assert.Equal(ApiKeyCheckStatus.Authenticated, (await authenticator.CheckAsync(key.Key, Ct)).Status);
        _clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(ApiKeyCheckStatus.UnknownKey, (await authenticator.CheckAsync(key.Key, Ct)).Status);
    }
}

/// <summary>A clock that moves only when told.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
