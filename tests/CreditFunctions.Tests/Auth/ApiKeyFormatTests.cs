using System.Buffers.Text;
using CreditFunctions.Auth;

namespace CreditFunctions.Tests.Auth;

public sealed class ApiKeyFormatTests
{
    [Fact]
    public void A_key_is_cfk_then_a_key_id_of_its_team_then_a_32_byte_base64url_secret()
    {
        var (keyId, key) = ApiKeyToken.Generate("acme-sales");

        Assert.Matches("^acme-sales\\.[0-9a-f]{16}$", keyId);
        Assert.StartsWith($"cfk_{keyId}_", key, StringComparison.Ordinal);
        var secret = key[$"cfk_{keyId}_".Length..];
        Assert.Equal(32, Base64Url.DecodeFromChars(secret).Length);
        Assert.True(ApiKeyToken.TryParse(key, out var parsed));
        Assert.Equal(keyId, parsed);
        Assert.Equal("acme-sales", ApiKeyToken.TeamOf(parsed));
    }

    [Fact]
    public void Two_keys_never_share_an_id_or_a_secret()
    {
        var keys = Enumerable.Range(0, 1000).Select(_ => ApiKeyToken.Generate("t")).ToList();
        Assert.Equal(keys.Count, keys.Select(k => k.KeyId).Distinct().Count());
        Assert.Equal(keys.Count, keys.Select(k => k.Key).Distinct().Count());
    }

    [Theory]
    [InlineData("")]
    [InlineData("cfk_")]
    [InlineData("acme.0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("cfk_acme.0123456789abcdef")]
    [InlineData("cfk_acme.0123456789abcdef_short")]
    [InlineData("cfk_acme.0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+")]
    [InlineData("cfk_acme.0123456789ABCDEF_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("cfk_Acme.0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("cfk_acme.0123456789abcde_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("cfk_.0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("cfk_acme.0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")]
    public void Text_that_is_not_a_whole_key_does_not_parse(string text) =>
        Assert.False(ApiKeyToken.TryParse(text, out _));

    [Fact]
    public void A_key_matches_only_its_own_hash()
    {
        var (_, key) = ApiKeyToken.Generate("acme");
        var (_, other) = ApiKeyToken.Generate("acme");
        var hash = ApiKeyToken.Hash(key);

        Assert.Equal(32, hash.Length);
        Assert.True(ApiKeyToken.Matches(key, hash));
        Assert.False(ApiKeyToken.Matches(other, hash));
    }

    [Fact]
    public void An_issued_key_does_not_show_its_secret_when_printed()
    {
        var (_, issued) = ApiKeyEntity.Issue("acme", "ada", TeamRole.Admin, "test", DateTimeOffset.UnixEpoch);
        Assert.DoesNotContain(issued.Key, issued.ToString(), StringComparison.Ordinal);
        Assert.Contains(issued.Record.KeyId, issued.ToString(), StringComparison.Ordinal);
    }
}
