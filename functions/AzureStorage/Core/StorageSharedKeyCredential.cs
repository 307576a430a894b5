using System.Security.Cryptography;
using System.Text;

namespace CreditFunctions.AzureStorage;

/// <summary>
/// An account name and key used to sign requests with the Shared Key scheme. The key never leaves this type:
/// it is not logged and not returned by <see cref="ToString"/>.
/// </summary>
public sealed class StorageSharedKeyCredential
{
    private readonly byte[] _key;

    /// <param name="accountName">The storage account name (for Azurite, <c>devstoreaccount1</c>).</param>
    /// <param name="accountKey">The account key, base64 encoded as the portal shows it.</param>
    public StorageSharedKeyCredential(string accountName, string accountKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountName);
        ArgumentException.ThrowIfNullOrEmpty(accountKey);
        AccountName = accountName;
        try
        {
            _key = Convert.FromBase64String(accountKey);
        }
        catch (FormatException)
        {
            throw new ArgumentException("The account key is not valid base64.", nameof(accountKey));
        }
    }

    /// <summary>The storage account name.</summary>
    public string AccountName { get; }

    /// <summary>Signs <paramref name="message"/> with HMAC-SHA256 under the account key; returns base64.</summary>
    public string ComputeHmacSha256(string message) =>
        Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(message)));

    /// <inheritdoc />
    public override string ToString() => $"SharedKey({AccountName})";
}
