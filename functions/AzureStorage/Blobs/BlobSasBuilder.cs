using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>
/// The fields of a blob SAS (<c>sr=b</c>) and their string-to-sign. Pure: every time is an input, nothing reads a
/// clock. Follows the service SAS and user delegation SAS definitions for signed version 2020-12-06 and later (user
/// delegation: 2025-07-05 and later, which added <c>skdutid</c> and <c>sduoid</c>); fields the clients never set
/// (identifier, IP range, protocol, snapshot, encryption scope, response headers) are signed as empty.
/// </summary>
internal sealed record BlobSasBuilder(
    BlobSasPermissions Permissions,
    DateTimeOffset? StartsOn,
    DateTimeOffset ExpiresOn,
    string AccountName,
    string ContainerName,
    string BlobName,
    string Version)
{
    public const string SignedResource = "b";

    /// <summary>The <c>sp</c> value: the permission letters in the order the service defines (r, c, w, d).</summary>
    public string PermissionsString
    {
        get
        {
            if (Permissions == BlobSasPermissions.None ||
                (Permissions & ~(BlobSasPermissions.Read | BlobSasPermissions.Create | BlobSasPermissions.Write | BlobSasPermissions.Delete)) != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(Permissions), Permissions, "Give at least one of Read, Create, Write, Delete.");
            }
            var sb = new StringBuilder(4);
            if (Permissions.HasFlag(BlobSasPermissions.Read))
            {
                sb.Append('r');
            }
            if (Permissions.HasFlag(BlobSasPermissions.Create))
            {
                sb.Append('c');
            }
            if (Permissions.HasFlag(BlobSasPermissions.Write))
            {
                sb.Append('w');
            }
            if (Permissions.HasFlag(BlobSasPermissions.Delete))
            {
                sb.Append('d');
            }
            return sb.ToString();
        }
    }

    /// <summary><c>/blob/{account}/{container}/{blob}</c>, with the names unescaped.</summary>
    public string CanonicalizedResource => $"/blob/{AccountName}/{ContainerName}/{BlobName}";

    /// <summary>SAS times: UTC, ISO 8601, to the second.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The service SAS string-to-sign (signed version 2020-12-06 and later).</summary>
    public string ServiceStringToSign() => string.Join('\n',
        PermissionsString,
        StartsOn is { } start ? FormatTime(start) : string.Empty,
        FormatTime(ExpiresOn),
        CanonicalizedResource,
        string.Empty, // si: signed identifier
        string.Empty, // sip: signed IP
        string.Empty, // spr: signed protocol
        Version,
        SignedResource,
        string.Empty, // signed snapshot time
        string.Empty, // ses: signed encryption scope
        string.Empty, // rscc
        string.Empty, // rscd
        string.Empty, // rsce
        string.Empty, // rscl
        string.Empty); // rsct

    /// <summary>The user delegation SAS string-to-sign (signed version 2025-07-05 and later).</summary>
    public string UserDelegationStringToSign(UserDelegationKey key) => string.Join('\n',
        PermissionsString,
        StartsOn is { } start ? FormatTime(start) : string.Empty,
        FormatTime(ExpiresOn),
        CanonicalizedResource,
        key.SignedObjectId,
        key.SignedTenantId,
        FormatTime(key.SignedStartsOn),
        FormatTime(key.SignedExpiresOn),
        key.SignedService,
        key.SignedVersion,
        string.Empty, // saoid: signed authorized user object id
        string.Empty, // suoid: signed unauthorized user object id
        string.Empty, // scid: signed correlation id
        string.Empty, // skdutid: signed key delegated user tenant id
        string.Empty, // sduoid: signed delegated user object id
        string.Empty, // sip
        string.Empty, // spr
        Version,
        SignedResource,
        string.Empty, // signed snapshot time
        string.Empty, // ses
        string.Empty, // rscc
        string.Empty, // rscd
        string.Empty, // rsce
        string.Empty, // rscl
        string.Empty); // rsct

    /// <summary>The SAS query signed with the account key.</summary>
    public string ToServiceSasQuery(StorageSharedKeyCredential credential) =>
        Query(null, credential.ComputeHmacSha256(ServiceStringToSign()));

    /// <summary>The SAS query signed with a user delegation key.</summary>
    /// <exception cref="FormatException">The key's value is not base64.</exception>
    public string ToUserDelegationSasQuery(UserDelegationKey key)
    {
        var signature = Convert.ToBase64String(HMACSHA256.HashData(
            Convert.FromBase64String(key.Value), Encoding.UTF8.GetBytes(UserDelegationStringToSign(key))));
        return Query(key, signature);
    }

    private string Query(UserDelegationKey? key, string signature)
    {
        var parts = new List<(string Name, string Value)> { ("sv", Version) };
        if (StartsOn is { } start)
        {
            parts.Add(("st", FormatTime(start)));
        }
        parts.Add(("se", FormatTime(ExpiresOn)));
        if (key is not null)
        {
            parts.Add(("skoid", key.SignedObjectId));
            parts.Add(("sktid", key.SignedTenantId));
            parts.Add(("skt", FormatTime(key.SignedStartsOn)));
            parts.Add(("ske", FormatTime(key.SignedExpiresOn)));
            parts.Add(("sks", key.SignedService));
            parts.Add(("skv", key.SignedVersion));
        }
        parts.Add(("sr", SignedResource));
        parts.Add(("sp", PermissionsString));
        parts.Add(("sig", signature));
        return string.Join('&', parts.Select(p => p.Name + "=" + Uri.EscapeDataString(p.Value)));
    }
}
