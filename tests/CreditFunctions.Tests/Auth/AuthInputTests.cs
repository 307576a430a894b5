using CreditFunctions.Auth;

namespace CreditFunctions.Tests.Auth;

public sealed class AuthInputTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("acme")]
    [InlineData("0day")]
    [InlineData("acme-sales-2")]
    [InlineData("a23456789012345678901234567890123456789012345678901234567890123")]
    public void Team_ids_are_lower_case_letters_digits_and_hyphens_up_to_63(string id) => Assert.True(AuthInput.IsTeamId(id));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-acme")]
    [InlineData("Acme")]
    [InlineData("acme_sales")]
    [InlineData("acme.sales")]
    [InlineData("acme sales")]
    [InlineData("acme\n")]
    [InlineData("ącme")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234")]
    public void Anything_else_is_not_a_team_id(string? id) => Assert.False(AuthInput.IsTeamId(id));

    [Theory]
    [InlineData("ada")]
    [InlineData("ada.lovelace")]
    [InlineData("ada_l-2")]
    public void User_ids_also_allow_dots_and_underscores(string id) => Assert.True(AuthInput.IsUserId(id));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(".ada")]
    [InlineData("Ada")]
    [InlineData("ada@example.com")]
    [InlineData("ada\n")]
    public void User_ids_reject_upper_case_at_signs_and_leading_punctuation(string? id) => Assert.False(AuthInput.IsUserId(id));

    [Theory]
    [InlineData("admin", TeamRole.Admin)]
    [InlineData("member", TeamRole.Member)]
    public void Roles_are_admin_or_member(string name, TeamRole role)
    {
        Assert.True(TeamRoles.TryParse(name, out var parsed));
        Assert.Equal(role, parsed);
        Assert.Equal(name, parsed.ToName());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Admin")]
    [InlineData("owner")]
    public void No_other_role_exists(string? name) => Assert.False(TeamRoles.TryParse(name, out _));
}
