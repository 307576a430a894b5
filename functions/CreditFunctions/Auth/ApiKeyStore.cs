using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace CreditFunctions.Auth;

/// <summary>How creating a key ended.</summary>
public enum CreateKeyStatus
{
    /// <summary>The key was written.</summary>
    Created,

    /// <summary>The input broke a rule; <see cref="KeyCreation.Errors"/> names each field. Nothing was written.</summary>
    Invalid,

    /// <summary>There is no such team. Nothing was written.</summary>
    TeamNotFound,
}

/// <summary>The outcome of <see cref="ApiKeyStore.CreateAsync"/>.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="Key">The new key when <see cref="CreateKeyStatus.Created"/>, shown once.</param>
/// <param name="Errors">Messages by field name when <see cref="CreateKeyStatus.Invalid"/>; otherwise empty.</param>
public sealed record KeyCreation(CreateKeyStatus Status, IssuedApiKey? Key, IReadOnlyDictionary<string, string[]> Errors);

/// <summary>How revoking a key ended.</summary>
public enum RevokeKeyStatus
{
    /// <summary>The key is now revoked.</summary>
    Revoked,

    /// <summary>The key was revoked before; nothing changed.</summary>
    AlreadyRevoked,

    /// <summary>The team has no key with this id (a malformed id or another team's key included).</summary>
    KeyNotFound,
}

/// <summary>
/// API keys in the auth table, in their team's partition (see <see cref="TeamStore"/>). Stores only a hash of each
/// key; the plaintext exists once, in the <see cref="IssuedApiKey"/> a create returns.
/// </summary>
public sealed class ApiKeyStore
{
    private readonly TableClient _table;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile bool _tableReady;

    /// <summary>A store on <paramref name="table"/>, which it creates on first write when missing.</summary>
    public ApiKeyStore(TableClient table, TimeProvider? timeProvider = null, ILogger<ApiKeyStore>? logger = null)
    {
        _table = table ?? throw new ArgumentNullException(nameof(table));
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>
    /// Issues a key for <paramref name="userId"/> of existing team <paramref name="teamId"/> with
    /// <paramref name="role"/> (<c>admin</c> or <c>member</c>). The team's existence is checked in the same
    /// transaction that writes the key. Errors are keyed <c>teamId</c>, <c>userId</c> and <c>role</c>.
    /// </summary>
    /// <param name="teamId">The team the key will reach.</param>
    /// <param name="userId">The user the key acts as (<see cref="AuthInput.UserIdRule"/>).</param>
    /// <param name="role">The wire name of the key's role.</param>
    /// <param name="issuedBy">Recorded on the key as who issued it.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public async Task<KeyCreation> CreateAsync(string? teamId, string? userId, string? role, string issuedBy,
        CancellationToken cancellationToken = default)
    {
        var errors = AuthInput.NewErrors();
        AuthInput.CheckTeamId(teamId, "teamId", errors);
        AuthInput.CheckUserId(userId, "userId", errors);
        AuthInput.CheckRole(role, "role", errors);
        if (errors.Count > 0)
        {
            return new KeyCreation(CreateKeyStatus.Invalid, null, errors);
        }
        var parsedRole = role == TeamRoles.Admin ? TeamRole.Admin : TeamRole.Member;
        var now = _time.GetUtcNow();
        var (key, issued) = ApiKeyEntity.Issue(teamId!, userId!, parsedRole, issuedBy, now);
        // A merge into the team row fails when the row is missing, so the team's existence is asserted by the
        // transaction itself rather than by a read that could go stale before the insert.
        var touchTeam = new TableEntity(teamId!, TeamEntity.Row) { [nameof(TeamEntity.LastKeyCreatedAt)] = now };
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _table.SubmitTransactionAsync(
                [new(TableTransactionActionType.UpdateMerge, touchTeam, ETag.All), new(TableTransactionActionType.Add, key)],
                cancellationToken).ConfigureAwait(false);
        }
        catch (TableTransactionFailedException ex) when (ex.Status == 404 || ex.ErrorCode == "ResourceNotFound")
        {
            return new KeyCreation(CreateKeyStatus.TeamNotFound, null, AuthInput.NewErrors());
        }
        catch (TableTransactionFailedException ex) when (ex.ErrorCode == "EntityAlreadyExists")
        {
            // The pipeline retries a timed-out request: "exists" is our own first attempt when the row holds our hash.
            if (!await IsWrittenAsync(_table, key, cancellationToken).ConfigureAwait(false))
            {
                throw;
            }
        }
        AuthLog.KeyIssued(_logger, issued.Record.KeyId, role!);
        return new KeyCreation(CreateKeyStatus.Created, issued, AuthInput.NewErrors());
    }

    /// <summary>
    /// Issues an operator key for <paramref name="name"/> (<see cref="AuthInput.UserIdRule"/>): a platform key, in the
    /// reserved <see cref="AuthInput.PlatformTeamId"/> partition, that may grant and refund for any team and reaches
    /// nothing else. Errors are keyed <c>name</c>.
    /// </summary>
    public async Task<KeyCreation> CreateOperatorAsync(string? name, string issuedBy, CancellationToken cancellationToken = default)
    {
        var errors = AuthInput.NewErrors();
        AuthInput.CheckUserId(name, "name", errors);
        if (errors.Count > 0)
        {
            return new KeyCreation(CreateKeyStatus.Invalid, null, errors);
        }
        var now = _time.GetUtcNow();
        var (key, issued) = ApiKeyEntity.Issue(AuthInput.PlatformTeamId, name!, TeamRole.Operator, issuedBy, now);
        var platform = new TableEntity(AuthInput.PlatformTeamId, TeamEntity.Row) { [nameof(TeamEntity.LastKeyCreatedAt)] = now };
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        await _table.SubmitTransactionAsync(
            [new(TableTransactionActionType.UpsertMerge, platform), new(TableTransactionActionType.Add, key)], cancellationToken).ConfigureAwait(false);
        AuthLog.KeyIssued(_logger, issued.Record.KeyId, TeamRoles.Operator);
        return new KeyCreation(CreateKeyStatus.Created, issued, AuthInput.NewErrors());
    }

    /// <summary>The key with this id, or null when there is none (a malformed id included).</summary>
    public async Task<ApiKeyRecord?> FindAsync(string keyId, CancellationToken cancellationToken = default) =>
        (await FindEntityAsync(keyId, cancellationToken).ConfigureAwait(false))?.ToRecord();

    /// <summary>Every key of the team, revoked ones included, in key id order; empty for an unknown team.</summary>
    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(string teamId, CancellationToken cancellationToken = default)
    {
        if (!AuthInput.IsTeamId(teamId))
        {
            return [];
        }
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {teamId} and RowKey ge {ApiKeyEntity.RowPrefix} and RowKey lt {ApiKeyEntity.RowPrefixEnd}");
        var keys = new List<ApiKeyRecord>();
        try
        {
            await foreach (var row in _table.QueryAsync<ApiKeyEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                keys.Add(row.ToRecord());
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table yet: no keys.
        }
        return keys;
    }

    /// <summary>
    /// Revokes key <paramref name="keyId"/> of team <paramref name="teamId"/>. Servers that authenticated the key
    /// recently may accept it for up to <see cref="AuthOptions.KeyCacheDuration"/> more.
    /// </summary>
    public async Task<RevokeKeyStatus> RevokeAsync(string teamId, string keyId, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var row = await FindEntityAsync(keyId, cancellationToken).ConfigureAwait(false);
            if (row is null || row.PartitionKey != teamId)
            {
                return RevokeKeyStatus.KeyNotFound;
            }
            if (row.RevokedAt is not null)
            {
                return RevokeKeyStatus.AlreadyRevoked;
            }
            row.RevokedAt = _time.GetUtcNow();
            try
            {
                await _table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Merge, cancellationToken).ConfigureAwait(false);
                AuthLog.KeyRevoked(_logger, keyId);
                return RevokeKeyStatus.Revoked;
            }
            catch (RequestFailedException ex) when (ex.Status == 412)
            {
                // Someone changed the row since we read it (perhaps revoking it too): read again and decide again.
            }
        }
    }

    internal async Task<ApiKeyEntity?> FindEntityAsync(string keyId, CancellationToken cancellationToken)
    {
        if (!ApiKeyToken.IsKeyId(keyId))
        {
            return null;
        }
        return await _table.GetEntityOrNullAsync<ApiKeyEntity>(ApiKeyToken.TeamOf(keyId), ApiKeyEntity.RowKeyOf(keyId), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>True when <paramref name="key"/>'s row is stored with its own hash, i.e. an earlier attempt of this
    /// very write landed.</summary>
    internal static async Task<bool> IsWrittenAsync(TableClient table, ApiKeyEntity key, CancellationToken cancellationToken)
    {
        var stored = await table.GetEntityOrNullAsync<ApiKeyEntity>(key.PartitionKey, key.RowKey, cancellationToken).ConfigureAwait(false);
        return stored?.KeyHash is { } hash && key.KeyHash is not null && hash.AsSpan().SequenceEqual(key.KeyHash);
    }

    private async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (!_tableReady)
        {
            await _table.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
            _tableReady = true;
        }
    }
}
