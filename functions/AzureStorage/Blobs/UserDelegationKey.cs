namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>
/// A key issued by Get User Delegation Key to a Microsoft Entra identity, used to sign user delegation SAS tokens.
/// A SAS signed with it is valid only while the key is (<see cref="SignedExpiresOn"/>, at most 7 days after issue) and
/// only for what the identity itself may do. <see cref="Value"/> is a secret: keep it like an account key.
/// </summary>
public sealed class UserDelegationKey
{
    /// <summary>The object ID of the identity the key was issued to (<c>skoid</c>).</summary>
    public required string SignedObjectId { get; init; }

    /// <summary>The tenant of that identity (<c>sktid</c>).</summary>
    public required string SignedTenantId { get; init; }

    /// <summary>When the key becomes valid (<c>skt</c>).</summary>
    public required DateTimeOffset SignedStartsOn { get; init; }

    /// <summary>When the key expires (<c>ske</c>).</summary>
    public required DateTimeOffset SignedExpiresOn { get; init; }

    /// <summary>The service the key is for: <c>b</c> (<c>sks</c>).</summary>
    public required string SignedService { get; init; }

    /// <summary>The REST API version that issued the key (<c>skv</c>).</summary>
    public required string SignedVersion { get; init; }

    /// <summary>The key, base64 encoded.</summary>
    public required string Value { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"UserDelegationKey({SignedObjectId}, until {SignedExpiresOn:O})";
}
