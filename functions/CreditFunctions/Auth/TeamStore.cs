using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace CreditFunctions.Auth;

/// <summary>A team as stored.</summary>
/// <param name="TeamId">The team's id.</param>
/// <param name="CreatedAt">When the team was created.</param>
/// <param name="FirstAdminUserId">The admin the team was created with.</param>
public sealed record TeamRecord(string TeamId, DateTimeOffset CreatedAt, string FirstAdminUserId);

/// <summary>How creating a team ended.</summary>
public enum CreateTeamStatus
{
    /// <summary>The team and its first admin key were written together.</summary>
    Created,

    /// <summary>The input broke a rule; <see cref="TeamCreation.Errors"/> names each field. Nothing was written.</summary>
    Invalid,

    /// <summary>A team with this id exists. Nothing was written.</summary>
    TeamAlreadyExists,
}

/// <summary>The outcome of <see cref="TeamStore.CreateAsync"/>.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="AdminKey">The first admin's key when <see cref="CreateTeamStatus.Created"/>, shown once.</param>
/// <param name="Errors">Messages by field name when <see cref="CreateTeamStatus.Invalid"/>; otherwise empty.</param>
public sealed record TeamCreation(CreateTeamStatus Status, IssuedApiKey? AdminKey, IReadOnlyDictionary<string, string[]> Errors);

/// <summary>
/// Teams in the auth table (see <see cref="AuthOptions.TableName"/>). Each team owns one partition, keyed by its id,
/// holding its team row and its API keys, so a team and its first admin key are created atomically.
/// </summary>
public sealed class TeamStore
{
    private readonly TableClient _table;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile bool _tableReady;

    /// <summary>A store on <paramref name="table"/>, which it creates on first write when missing.</summary>
    public TeamStore(TableClient table, TimeProvider? timeProvider = null, ILogger<TeamStore>? logger = null)
    {
        _table = table ?? throw new ArgumentNullException(nameof(table));
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>
    /// Creates team <paramref name="teamId"/> together with an admin key for <paramref name="adminUserId"/>, in one
    /// transaction: both are written or neither is. Errors are keyed <c>teamId</c> and <c>adminUserId</c>.
    /// </summary>
    /// <param name="teamId">The new team's id (<see cref="AuthInput.TeamIdRule"/>).</param>
    /// <param name="adminUserId">The first admin's user id (<see cref="AuthInput.UserIdRule"/>).</param>
    /// <param name="issuedBy">Recorded on the key as who issued it.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public async Task<TeamCreation> CreateAsync(string? teamId, string? adminUserId, string issuedBy, CancellationToken cancellationToken = default)
    {
        var errors = AuthInput.NewErrors();
        AuthInput.CheckTeamId(teamId, "teamId", errors);
        AuthInput.CheckUserId(adminUserId, "adminUserId", errors);
        if (errors.Count > 0)
        {
            return new TeamCreation(CreateTeamStatus.Invalid, null, errors);
        }

        var now = _time.GetUtcNow();
        var team = new TeamEntity
        {
            PartitionKey = teamId!, RowKey = TeamEntity.Row, CreatedAt = now, FirstAdminUserId = adminUserId, LastKeyCreatedAt = now,
        };
        var (key, issued) = ApiKeyEntity.Issue(teamId!, adminUserId!, TeamRole.Admin, issuedBy, now);
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _table.SubmitTransactionAsync(
                [new(TableTransactionActionType.Add, team), new(TableTransactionActionType.Add, key)], cancellationToken).ConfigureAwait(false);
        }
        catch (TableTransactionFailedException ex) when (ex.ErrorCode == "EntityAlreadyExists")
        {
            // The pipeline retries a timed-out request, so "exists" may be our own first attempt having landed:
            // only our key row, with our hash, proves that.
            if (!await ApiKeyStore.IsWrittenAsync(_table, key, cancellationToken).ConfigureAwait(false))
            {
                return new TeamCreation(CreateTeamStatus.TeamAlreadyExists, null, AuthInput.NewErrors());
            }
        }
        AuthLog.TeamCreated(_logger, teamId!, issued.Record.KeyId);
        return new TeamCreation(CreateTeamStatus.Created, issued, AuthInput.NewErrors());
    }

    /// <summary>The team, or null when there is none with this id (a malformed id included).</summary>
    public async Task<TeamRecord?> GetAsync(string teamId, CancellationToken cancellationToken = default)
    {
        if (!AuthInput.IsTeamId(teamId))
        {
            return null;
        }
        var row = await _table.GetEntityOrNullAsync<TeamEntity>(teamId, TeamEntity.Row, cancellationToken).ConfigureAwait(false);
        return row is null ? null : new TeamRecord(row.PartitionKey, row.CreatedAt ?? default, row.FirstAdminUserId ?? string.Empty);
    }

    /// <summary>
    /// Puts team <paramref name="teamId"/> on plan <paramref name="planId"/> (null: on none), under the team row's
    /// ETag (a concurrent change is read again, never overwritten). False when there is no such team.
    /// </summary>
    public async Task<bool> SetPlanAsync(string teamId, string? planId, CancellationToken cancellationToken = default)
    {
        if (!AuthInput.IsTeamId(teamId))
        {
            return false;
        }
        while (true)
        {
            var row = await _table.GetEntityOrNullAsync<TeamEntity>(teamId, TeamEntity.Row, cancellationToken).ConfigureAwait(false);
            if (row is null)
            {
                return false;
            }
            if (row.Plan == planId)
            {
                return true;
            }
            row.Plan = planId;
            try
            {
                await _table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (RequestFailedException ex) when (ex.Status == 412)
            {
                // A key was created meanwhile (it touches the team row): read again.
            }
        }
    }

    /// <summary>Every team on a plan, with its plan id. Reads the whole table (one row per team matches): meant for
    /// the daily plan grants, not for requests. Empty when the table does not exist yet.</summary>
    public async Task<IReadOnlyList<(string TeamId, string PlanId)>> ListPlansAsync(CancellationToken cancellationToken = default)
    {
        var filter = TableClient.CreateQueryFilter($"RowKey eq {TeamEntity.Row}");
        var teams = new List<(string, string)>();
        try
        {
            await foreach (var row in _table.QueryAsync<TeamEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (row.Plan is { Length: > 0 } plan)
                {
                    teams.Add((row.PartitionKey, plan));
                }
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return [];
        }
        return teams;
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

/// <summary>A team's row: partition = team id, row key = <see cref="Row"/>.</summary>
internal sealed class TeamEntity : ITableEntity
{
    public const string Row = "team";

    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public DateTimeOffset? CreatedAt { get; set; }
    public string? FirstAdminUserId { get; set; }

    /// <summary>Touched by every key creation, in the key's transaction: the write that proves the team exists.</summary>
    public DateTimeOffset? LastKeyCreatedAt { get; set; }

    /// <summary>The plan whose monthly allocation the team gets (see PlanGrants); null when on none.</summary>
    public string? Plan { get; set; }
}
