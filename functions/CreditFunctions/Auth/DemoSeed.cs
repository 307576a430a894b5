namespace CreditFunctions.Auth;

/// <summary>
/// On a local run, ensures the demo team <c>demo</c> with <c>ada</c> (admin) and <c>bob</c> (member), and issues
/// each of them a fresh key at every start; the start-up banner prints them.
/// </summary>
/// <remarks>
/// Fresh keys rather than a fixed demo key: keys are stored hashed and shown once, so the seed cannot show an old
/// key again; and a fixed key would be a working credential in the source, valid wherever the seed ever ran,
/// including by mistake against a shared account. The keys the seed issued at earlier starts are revoked first,
/// so only the keys printed last work and the table does not fill up with live demo keys. Keys created for the
/// demo team by other means are left alone.
/// </remarks>
public sealed class DemoSeed(TeamStore teams, ApiKeyStore keys, ILogger<DemoSeed> logger) : IHostedService
{
    /// <summary>The demo team's id.</summary>
    public const string TeamId = "demo";

    /// <summary>The demo admin.</summary>
    public const string AdminUserId = "ada";

    /// <summary>The demo member.</summary>
    public const string MemberUserId = "bob";

    /// <summary>What the seed records as the issuer of its keys.</summary>
    public const string IssuedBy = "demo-seed";

    /// <summary>The keys issued at this start, admin first; empty until the host has started.</summary>
    public IReadOnlyList<IssuedApiKey> Keys { get; private set; } = [];

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var team = await teams.CreateAsync(TeamId, AdminUserId, IssuedBy, cancellationToken).ConfigureAwait(false);
        IssuedApiKey admin;
        if (team.Status == CreateTeamStatus.Created)
        {
            admin = team.AdminKey!;
        }
        else
        {
            foreach (var old in await keys.ListAsync(TeamId, cancellationToken).ConfigureAwait(false))
            {
                if (old.IssuedBy == IssuedBy && !old.IsRevoked)
                {
                    await keys.RevokeAsync(TeamId, old.KeyId, cancellationToken).ConfigureAwait(false);
                }
            }
            admin = await IssueAsync(AdminUserId, TeamRoles.Admin, cancellationToken).ConfigureAwait(false);
        }
        var member = await IssueAsync(MemberUserId, TeamRoles.Member, cancellationToken).ConfigureAwait(false);
        Keys = [admin, member];
        AuthLog.DemoSeeded(logger, TeamId, admin.Record.KeyId, member.Record.KeyId);
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task<IssuedApiKey> IssueAsync(string userId, string role, CancellationToken cancellationToken)
    {
        var created = await keys.CreateAsync(TeamId, userId, role, IssuedBy, cancellationToken).ConfigureAwait(false);
        return created.Key ?? throw new InvalidOperationException($"Could not issue the demo key for {userId}: {created.Status}.");
    }
}
