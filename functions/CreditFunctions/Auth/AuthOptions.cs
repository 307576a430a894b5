using System.Globalization;
using CreditFunctions.Hosting;

namespace CreditFunctions.Auth;

/// <summary>Settings of teams, keys and authentication.</summary>
public sealed record AuthOptions
{
    /// <summary>The setting that names the table (<see cref="TableName"/>).</summary>
    public const string TableSetting = "CREDITFUNCTIONS_TEAMS_TABLE";

    /// <summary>The setting that turns the demo team on or off (<see cref="SeedDemoTeam"/>).</summary>
    public const string DemoSeedSetting = "CREDITFUNCTIONS_DEMO_SEED";

    /// <summary>The setting for <see cref="KeyCacheDuration"/>, in seconds.</summary>
    public const string KeyCacheSecondsSetting = "CREDITFUNCTIONS_KEY_CACHE_SECONDS";

    /// <summary>The setting for <see cref="SessionLifetime"/>, in minutes.</summary>
    public const string SessionMinutesSetting = "CREDITFUNCTIONS_SESSION_MINUTES";

    /// <summary>How long a browser session (<see cref="SessionStore"/>) lasts after sign-in: default 60 minutes, 1 to
    /// 1,440.</summary>
    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromMinutes(60);

    /// <summary>The table that holds teams and API keys; default <c>teams</c>.</summary>
    public string TableName { get; init; } = "teams";

    /// <summary>
    /// How long a server keeps a key it read from storage: default 30 seconds. It bounds how long a revoked key may
    /// still be accepted by a server that saw it before the revocation; zero reads storage on every request.
    /// </summary>
    public TimeSpan KeyCacheDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>At most this many keys are cached per server; default 10,000.</summary>
    public int KeyCacheEntriesMax { get; init; } = 10_000;

    /// <summary>Whether start-up ensures the demo team and prints fresh keys for it (<see cref="DemoSeed"/>); default:
    /// on for a local run, off under the Functions host.</summary>
    public bool SeedDemoTeam { get; init; }

    /// <summary>Reads the options from configuration.</summary>
    /// <exception cref="InvalidOperationException">A setting has a value that cannot work; the message names it.</exception>
    public static AuthOptions From(IConfiguration configuration, AppSettings settings)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(settings);
        var defaults = new AuthOptions();
        var table = configuration[TableSetting] is { Length: > 0 } name ? name : defaults.TableName;
        if (table.Length is < 3 or > 63 || !char.IsAsciiLetter(table[0]) || !table.All(char.IsAsciiLetterOrDigit))
        {
            throw new InvalidOperationException($"{TableSetting} must be a table name: 3-63 letters and digits, starting with a letter.");
        }
        var cache = defaults.KeyCacheDuration;
        if (configuration[KeyCacheSecondsSetting] is { Length: > 0 } seconds)
        {
            cache = int.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out var s)
                ? TimeSpan.FromSeconds(s)
                : throw new InvalidOperationException($"{KeyCacheSecondsSetting} must be a whole number of seconds.");
        }
        var session = defaults.SessionLifetime;
        if (configuration[SessionMinutesSetting] is { Length: > 0 } minutes)
        {
            session = int.TryParse(minutes, NumberStyles.None, CultureInfo.InvariantCulture, out var m) && m is >= 1 and <= 1440
                ? TimeSpan.FromMinutes(m)
                : throw new InvalidOperationException($"{SessionMinutesSetting} must be a whole number of minutes from 1 to 1440.");
        }
        var seed = settings.IsLocalStorage;
        if (configuration[DemoSeedSetting] is { Length: > 0 } flag)
        {
            seed = bool.TryParse(flag, out var on)
                ? on
                : throw new InvalidOperationException($"{DemoSeedSetting} must be true or false.");
        }
        return defaults with { TableName = table, KeyCacheDuration = cache, SessionLifetime = session, SeedDemoTeam = seed };
    }
}
