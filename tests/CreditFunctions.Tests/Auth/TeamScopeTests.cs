using CreditFunctions.Api;
using CreditFunctions.Auth;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CreditFunctions.Tests.Auth;

public sealed class TeamScopeTests
{
    private static readonly CallerContext s_acmeMember = new("acme", "bob", TeamRole.Member, "acme.0123456789abcdef");

    [Fact]
    public void A_callers_own_team_passes() => Assert.Null(TeamScope.EnsureSameTeam(s_acmeMember, "acme"));

    [Theory]
    [InlineData("globex")]
    [InlineData("ACME")]
    [InlineData("")]
    [InlineData(null)]
    public void Another_team_is_not_found_rather_than_forbidden(string? teamId)
    {
        var problem = Assert.IsType<ProblemHttpResult>(TeamScope.EnsureSameTeam(s_acmeMember, teamId));
        Assert.Equal(404, problem.StatusCode);
        Assert.Equal(Problems.NotFoundType, problem.ProblemDetails.Type);
    }

    [Fact]
    public void A_member_is_forbidden_admin_actions_and_an_admin_is_not()
    {
        var problem = Assert.IsType<ProblemHttpResult>(TeamScope.EnsureAdmin(s_acmeMember));
        Assert.Equal(403, problem.StatusCode);
        Assert.Null(TeamScope.EnsureAdmin(s_acmeMember with { Role = TeamRole.Admin }));
    }

    [Fact]
    public void A_member_sees_only_their_own_usage_and_an_admin_sees_everyones()
    {
        Assert.Equal("bob", s_acmeMember.VisibleUserId);
        Assert.Null((s_acmeMember with { Role = TeamRole.Admin }).VisibleUserId);
    }
}
