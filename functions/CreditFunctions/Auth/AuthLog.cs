namespace CreditFunctions.Auth;

/// <summary>The feature's log events (ids 1100–1199). Key ids may be logged; keys, secrets and hashes never.</summary>
internal static partial class AuthLog
{
    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Created team {TeamId} with admin key {KeyId}")]
    public static partial void TeamCreated(ILogger logger, string teamId, string keyId);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "Issued API key {KeyId} with role {Role}")]
    public static partial void KeyIssued(ILogger logger, string keyId, string role);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Information, Message = "Revoked API key {KeyId}")]
    public static partial void KeyRevoked(ILogger logger, string keyId);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Information, Message = "Refused a request: {Reason}")]
    public static partial void Refused(ILogger logger, ApiKeyCheckStatus reason);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning, Message = "Refused a request with API key {KeyId}: {Reason}")]
    public static partial void RefusedKey(ILogger logger, string keyId, ApiKeyCheckStatus reason);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Information, Message = "Seeded demo team {TeamId} with fresh keys {AdminKeyId} and {MemberKeyId}")]
    public static partial void DemoSeeded(ILogger logger, string teamId, string adminKeyId, string memberKeyId);
}
