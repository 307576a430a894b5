using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace CreditFunctions.Auth;

/// <summary>
/// The API key format: <c>cfk_&lt;keyId&gt;_&lt;secret&gt;</c>, where the key id is <c>&lt;teamId&gt;.&lt;16 hex
/// digits&gt;</c> and the secret is 32 random bytes in base64url (43 characters, no padding).
/// </summary>
/// <remarks>
/// The key id carries the team so that a key is found with one point read in the team's partition, and so that a
/// team and its first admin key are written in one entity-group transaction (see <see cref="TeamStore"/>). The
/// team id is no secret from the key's holder.
/// <para>
/// Only SHA-256 of the whole key is stored. A slow password hash (PBKDF2, bcrypt, Argon2) buys time against guessing
/// low-entropy human passwords; a 256-bit secret from a CSPRNG cannot be guessed at any hash speed, and a slow hash
/// would add tens of milliseconds to every request. Hashing the whole key binds the hash to its key id.
/// </para>
/// </remarks>
internal static class ApiKeyToken
{
    public const string Prefix = "cfk_";
    public const int SecretBytes = 32;
    private const int SecretChars = 43;
    private const int KeyIdRandomHexChars = 16;
    private static readonly SearchValues<char> s_lowerHex = SearchValues.Create("0123456789abcdef");

    /// <summary>A new key id and key for <paramref name="teamId"/> (which must be valid).</summary>
    public static (string KeyId, string Key) Generate(string teamId)
    {
        var keyId = teamId + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(KeyIdRandomHexChars / 2));
        var secret = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes));
        return (keyId, Prefix + keyId + "_" + secret);
    }

    /// <summary>True when <paramref name="key"/> has the key format; gives its key id.</summary>
    public static bool TryParse(string? key, out string keyId)
    {
        keyId = string.Empty;
        if (key is null || !key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }
        var rest = key.AsSpan(Prefix.Length);
        var separator = rest.IndexOf('_');
        if (separator < 0)
        {
            return false;
        }
        var id = rest[..separator].ToString();
        var secret = rest[(separator + 1)..];
        if (!IsKeyId(id) || secret.Length != SecretChars || !IsBase64Url(secret))
        {
            return false;
        }
        keyId = id;
        return true;
    }

    /// <summary>True when <paramref name="keyId"/> has the key id format.</summary>
    public static bool IsKeyId(string? keyId)
    {
        if (keyId is null)
        {
            return false;
        }
        var dot = keyId.LastIndexOf('.');
        if (dot < 0 || keyId.Length - dot - 1 != KeyIdRandomHexChars || !AuthInput.IsTeamId(keyId[..dot]))
        {
            return false;
        }
        return !keyId.AsSpan(dot + 1).ContainsAnyExcept(s_lowerHex);
    }

    /// <summary>The team of a well-formed key id.</summary>
    public static string TeamOf(string keyId) => keyId[..keyId.LastIndexOf('.')];

    /// <summary>The stored form of a key.</summary>
    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>True when <paramref name="key"/> hashes to <paramref name="storedHash"/>, in time independent of
    /// where they differ.</summary>
    public static bool Matches(string key, ReadOnlySpan<byte> storedHash) =>
        CryptographicOperations.FixedTimeEquals(Hash(key), storedHash);

    private static bool IsBase64Url(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_')
            {
                return false;
            }
        }
        return true;
    }
}
