using System.Text.RegularExpressions;

namespace CreditFunctions.Auth;

/// <summary>
/// The rules for the identifiers of this feature. Each check adds a message under the field's name to an error
/// map (the shape of a validation problem's <c>errors</c>), so one request reports every bad field at once. Messages
/// do not repeat the field's name: the map's key is it (an API field, or a command's option).
/// </summary>
public static partial class AuthInput
{
    private const string Required = "Required.";

    /// <summary>Team ids: 1–63 characters, lower-case letters, digits and hyphens, starting with a letter or digit.</summary>
    public const string TeamIdRule = "1-63 characters: lower-case letters, digits and hyphens, starting with a letter or digit";

    /// <summary>User ids: 1–64 characters, lower-case letters, digits, '.', '_' and '-', starting with a letter or digit.</summary>
    public const string UserIdRule = "1-64 characters: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit";

    /// <summary>The reserved partition of the operators' keys: no team can have this id.</summary>
    public const string PlatformTeamId = "platform";

    /// <summary>True when <paramref name="value"/> is a well-formed team id.</summary>
    public static bool IsTeamId(string? value) => value is not null && TeamIdPattern().IsMatch(value);

    /// <summary>True when <paramref name="value"/> is a well-formed user id.</summary>
    public static bool IsUserId(string? value) => value is not null && UserIdPattern().IsMatch(value);

    internal static void CheckTeamId(string? value, string field, Dictionary<string, string[]> errors)
    {
        if (!IsTeamId(value))
        {
            errors[field] = [string.IsNullOrEmpty(value) ? Required : $"Must be {TeamIdRule}."];
        }
        else if (value == PlatformTeamId)
        {
            errors[field] = [$"'{PlatformTeamId}' is reserved."];
        }
    }

    internal static void CheckUserId(string? value, string field, Dictionary<string, string[]> errors)
    {
        if (!IsUserId(value))
        {
            errors[field] = [string.IsNullOrEmpty(value) ? Required : $"Must be {UserIdRule}."];
        }
    }

    internal static void CheckRole(string? value, string field, Dictionary<string, string[]> errors)
    {
        // A team's keys are admins or members; operator keys are made only by the operators command.
        if (value is not (TeamRoles.Admin or TeamRoles.Member))
        {
            errors[field] = [string.IsNullOrEmpty(value) ? Required : $"Must be '{TeamRoles.Admin}' or '{TeamRoles.Member}'."];
        }
    }

    internal static Dictionary<string, string[]> NewErrors() => new(StringComparer.Ordinal);

    // \z, not $: $ also matches before a trailing newline, which would let "acme\n" through.
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TeamIdPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex UserIdPattern();
}
