using Azure;
using Azure.Data.Tables;

namespace CreditFunctions.Auth;

/// <summary>An API key as stored: who it speaks for and whether it still works. Never holds the key itself.</summary>
/// <param name="KeyId">The key's public id, <c>&lt;teamId&gt;.&lt;16 hex digits&gt;</c>; safe to show and log.</param>
/// <param name="TeamId">The one team the key reaches.</param>
/// <param name="UserId">The user the key acts as.</param>
/// <param name="Role">What the key may do within the team.</param>
/// <param name="CreatedAt">When the key was issued.</param>
/// <param name="IssuedBy">Who issued it: <c>operator</c>, <c>demo-seed</c> or <c>user:&lt;userId&gt;</c>.</param>
/// <param name="RevokedAt">When it was revoked; null while it works.</param>
public sealed record ApiKeyRecord(
    string KeyId, string TeamId, string UserId, TeamRole Role, DateTimeOffset CreatedAt, string IssuedBy, DateTimeOffset? RevokedAt)
{
    /// <summary>True once the key was revoked; a revoked key never authenticates again.</summary>
    public bool IsRevoked => RevokedAt is not null;
}

/// <summary>
/// A key just issued: <see cref="Key"/> is the only copy of the secret, to be shown to its owner once and then
/// dropped. <see cref="ToString"/> leaves the secret out so the object is safe to log by accident.
/// </summary>
/// <param name="Record">The stored record.</param>
/// <param name="Key">The full key (<c>cfk_…</c>) to send as <c>Authorization: Bearer &lt;key&gt;</c>.</param>
public sealed record IssuedApiKey(ApiKeyRecord Record, string Key)
{
    /// <inheritdoc />
    public override string ToString() => $"IssuedApiKey {{ KeyId = {Record.KeyId}, Role = {Record.Role.ToName()} }}";
}

/// <summary>A key's row: partition = team id, row key = <c>key:&lt;keyId&gt;</c>.</summary>
internal sealed class ApiKeyEntity : ITableEntity
{
    public const string RowPrefix = "key:";

    /// <summary>The first row key after every <see cref="RowPrefix"/> row (';' follows ':').</summary>
    public const string RowPrefixEnd = "key;";
    public const string Sha256 = "SHA-256";

    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string? UserId { get; set; }
    public string? Role { get; set; }
    public byte[]? KeyHash { get; set; }

    /// <summary>Names the hash so that a later change of scheme can tell old rows apart.</summary>
    public string? KeyHashAlgorithm { get; set; }

    public DateTimeOffset? CreatedAt { get; set; }
    public string? IssuedBy { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }

    public static string RowKeyOf(string keyId) => RowPrefix + keyId;

    /// <summary>A new key for already validated input: its row and the one-time plaintext.</summary>
    public static (ApiKeyEntity Entity, IssuedApiKey Issued) Issue(string teamId, string userId, TeamRole role, string issuedBy, DateTimeOffset now)
    {
        var (keyId, key) = ApiKeyToken.Generate(teamId);
        var entity = new ApiKeyEntity
        {
            PartitionKey = teamId,
            RowKey = RowKeyOf(keyId),
            UserId = userId,
            Role = role.ToName(),
            KeyHash = ApiKeyToken.Hash(key),
            KeyHashAlgorithm = Sha256,
            CreatedAt = now,
            IssuedBy = issuedBy,
        };
        return (entity, new IssuedApiKey(entity.ToRecord(), key));
    }

    public ApiKeyRecord ToRecord() => new(
        RowKey[RowPrefix.Length..],
        PartitionKey,
        UserId ?? throw Corrupt(nameof(UserId)),
        TeamRoles.TryParse(Role, out var role) ? role : throw Corrupt(nameof(Role)),
        CreatedAt ?? throw Corrupt(nameof(CreatedAt)),
        IssuedBy ?? string.Empty,
        RevokedAt);

    private FormatException Corrupt(string property) =>
        new($"API key row {PartitionKey}/{RowKey} has no valid {property}.");
}
