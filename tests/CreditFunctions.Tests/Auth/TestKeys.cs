using CreditFunctions.Auth;

namespace CreditFunctions.Tests.Auth;

/// <summary>Takes keys apart. The secret is base64url, so it may itself contain '_': split after the key id.</summary>
internal static class TestKeys
{
    public static string SecretOf(string key)
    {
        Assert.True(ApiKeyToken.TryParse(key, out var keyId));
        return key[$"cfk_{keyId}_".Length..];
    }

    /// <summary><paramref name="key"/>'s key id with another, well-formed secret.</summary>
    public static string WithWrongSecret(string key)
    {
        Assert.True(ApiKeyToken.TryParse(key, out var keyId));
        var (_, other) = ApiKeyToken.Generate(ApiKeyToken.TeamOf(keyId));
        return $"cfk_{keyId}_{SecretOf(other)}";
    }
}
