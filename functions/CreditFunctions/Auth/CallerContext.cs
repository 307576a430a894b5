using System.Security.Claims;

namespace CreditFunctions.Auth;

/// <summary>
/// Who is calling: the team, user and role of the API key that authenticated the request. Every route under
/// <c>/api/v1</c> has one. Take it as an endpoint parameter (<c>(CallerContext caller) =&gt; …</c>) or read it with
/// <see cref="CallerContextExtensions.GetCaller"/>.
/// </summary>
/// <param name="TeamId">The only team whose data this caller may reach.</param>
/// <param name="UserId">The user the key acts as; what the ledger records as the user.</param>
/// <param name="Role">What the caller may do within the team.</param>
/// <param name="KeyId">The key's public id, for audit.</param>
public sealed record CallerContext(string TeamId, string UserId, TeamRole Role, string KeyId)
{
    /// <summary>The claim that carries <see cref="TeamId"/>.</summary>
    public const string TeamClaim = "creditfunctions/team";

    /// <summary>The claim that carries <see cref="UserId"/>.</summary>
    public const string UserClaim = "creditfunctions/user";

    /// <summary>The claim that carries <see cref="KeyId"/>.</summary>
    public const string KeyClaim = "creditfunctions/key";

    /// <summary>True for an admin, who sees and manages the whole team.</summary>
    public bool IsAdmin => Role == TeamRole.Admin;

    /// <summary>True for an operator key (the platform's): grants and manual refunds for any team, nothing else.</summary>
    public bool IsOperator => Role == TeamRole.Operator;

    /// <summary>
    /// The one user whose usage this caller may see: its own for a member, null (everyone in the team) for an admin.
    /// </summary>
    public string? VisibleUserId => IsAdmin ? null : UserId;

    /// <summary>The caller as claims for <paramref name="authenticationType"/>.</summary>
    public ClaimsPrincipal ToPrincipal(string authenticationType) => new(new ClaimsIdentity(
        [
            new Claim(TeamClaim, TeamId),
            new Claim(UserClaim, UserId),
            new Claim(ClaimTypes.Role, Role.ToName()),
            new Claim(KeyClaim, KeyId),
        ],
        authenticationType, UserClaim, ClaimTypes.Role));

    /// <summary>The caller <paramref name="principal"/> describes, or null when it is not an authenticated API key.</summary>
    public static CallerContext? FromPrincipal(ClaimsPrincipal? principal)
    {
        if (principal?.Identity?.IsAuthenticated != true
            || principal.FindFirstValue(TeamClaim) is not { } team
            || principal.FindFirstValue(UserClaim) is not { } user
            || principal.FindFirstValue(KeyClaim) is not { } key
            || !TeamRoles.TryParse(principal.FindFirstValue(ClaimTypes.Role), out var role))
        {
            return null;
        }
        return new CallerContext(team, user, role, key);
    }

    /// <summary>Binds an endpoint parameter of this type; see <see cref="CallerContextExtensions.GetCaller"/>.</summary>
    public static ValueTask<CallerContext?> BindAsync(HttpContext context) =>
        ValueTask.FromResult<CallerContext?>((context ?? throw new ArgumentNullException(nameof(context))).GetCaller());
}

/// <summary>Access to the <see cref="CallerContext"/> of a request.</summary>
public static class CallerContextExtensions
{
    /// <summary>The authenticated caller of this request.</summary>
    /// <exception cref="InvalidOperationException">The route does not require authentication (it is not under
    /// <c>/api/v1</c>): a wiring mistake, answered with 500 rather than served without a caller.</exception>
    public static CallerContext GetCaller(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return CallerContext.FromPrincipal(context.User) ?? throw new InvalidOperationException(
            $"No authenticated caller on {context.Request.Path}: map the route under the group that AuthSetup.MapApiV1 returns.");
    }
}
