using CreditFunctions.Api;

namespace CreditFunctions.Auth;

/// <summary>
/// Keeps callers inside their own team, and members out of admin routes. Another team's resource answers 404
/// exactly like a resource that does not exist, so a key can never learn which other teams exist.
/// </summary>
public static class TeamScope
{
    /// <summary>Null when <paramref name="teamId"/> is the caller's team; otherwise the 404 problem to return.</summary>
    public static IResult? EnsureSameTeam(CallerContext caller, string? teamId)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return string.Equals(caller.TeamId, teamId, StringComparison.Ordinal) ? null : TeamNotFound();
    }

    /// <summary>Null when the caller is an admin; otherwise the 403 problem to return.</summary>
    public static IResult? EnsureAdmin(CallerContext caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return caller.IsAdmin ? null : Problems.Forbidden("This action needs an admin key of the team.");
    }

    /// <summary>The 404 for a team the caller cannot see.</summary>
    public static IResult TeamNotFound() => Problems.NotFound("There is no such team.");
}
