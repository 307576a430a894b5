namespace CreditFunctions.Auth;

/// <summary>
/// Who is calling: the team, user and role of the API key that authenticated the request. Every function under
/// <c>/api/v1</c> gets one from <see cref="Api.ApiGate"/>.
/// </summary>
/// <param name="TeamId">The only team whose data this caller may reach.</param>
/// <param name="UserId">The user the key acts as; what the ledger records as the user.</param>
/// <param name="Role">What the caller may do within the team.</param>
/// <param name="KeyId">The key's public id, for audit.</param>
public sealed record CallerContext(string TeamId, string UserId, TeamRole Role, string KeyId)
{
    /// <summary>True for an admin, who sees and manages the whole team.</summary>
    public bool IsAdmin => Role == TeamRole.Admin;

    /// <summary>True for an operator key (the platform's): grants and manual refunds for any team, nothing else.</summary>
    public bool IsOperator => Role == TeamRole.Operator;

    /// <summary>
    /// The one user whose usage this caller may see: its own for a member, null (everyone in the team) for an admin.
    /// </summary>
    public string? VisibleUserId => IsAdmin ? null : UserId;
}
