namespace CreditFunctions.Auth;

/// <summary>What an API key may see and do within its team.</summary>
public enum TeamRole
{
    /// <summary>Sees only its own user's usage; no team administration.</summary>
    Member,

    /// <summary>Sees the whole team's usage and administers the team's keys.</summary>
    Admin,

    /// <summary>The platform's billing side or an operator: grants and manual refunds for any team, nothing else of a
    /// team's data. Operator keys belong to the reserved <see cref="AuthInput.PlatformTeamId"/> partition.</summary>
    Operator,
}

/// <summary>The wire names of <see cref="TeamRole"/>: <c>member</c> and <c>admin</c>, exactly, in lower case.</summary>
public static class TeamRoles
{
    /// <summary>The wire name of <see cref="TeamRole.Member"/>.</summary>
    public const string Member = "member";

    /// <summary>The wire name of <see cref="TeamRole.Admin"/>.</summary>
    public const string Admin = "admin";

    /// <summary>The wire name of <see cref="TeamRole.Operator"/>.</summary>
    public const string Operator = "operator";

    /// <summary>Parses a wire name; false for anything else (case matters).</summary>
    public static bool TryParse(string? value, out TeamRole role)
    {
        switch (value)
        {
            case Member:
                role = TeamRole.Member;
                return true;
            case Admin:
                role = TeamRole.Admin;
                return true;
            case Operator:
                role = TeamRole.Operator;
                return true;
            default:
                role = default;
                return false;
        }
    }

    /// <summary>The wire name of <paramref name="role"/>.</summary>
    public static string ToName(this TeamRole role) => role switch
    {
        TeamRole.Member => Member,
        TeamRole.Admin => Admin,
        TeamRole.Operator => Operator,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Not a team role."),
    };
}
