using System.Text.RegularExpressions;

namespace CreditFunctions.Triggers;

/// <summary>
/// The <c>%SETTING%</c> binding expressions of trigger settings, as the Functions host resolves them: each
/// <c>%NAME%</c> is replaced by the app setting <c>NAME</c>.
/// </summary>
public static partial class BindingExpressions
{
    /// <summary>Replaces every <c>%NAME%</c> in <paramref name="value"/> with the setting <c>NAME</c>.</summary>
    /// <exception cref="InvalidOperationException">A referenced setting is missing or empty; the message names it.</exception>
    public static string Resolve(string value, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(configuration);
        return SettingPattern().Replace(value, m => configuration[m.Groups[1].Value] is { Length: > 0 } resolved
            ? resolved
            : throw new InvalidOperationException($"The app setting '{m.Groups[1].Value}' that a trigger refers to (%{m.Groups[1].Value}%) is not set."));
    }

    /// <summary>True when <paramref name="value"/> refers to at least one setting.</summary>
    public static bool HasSettings(string value) => SettingPattern().IsMatch(value ?? string.Empty);

    [GeneratedRegex("%([A-Za-z_][A-Za-z0-9_.:-]*)%")]
    private static partial Regex SettingPattern();
}

/// <summary>Checks trigger settings when a function is declared, so a typo fails at start-up, not at delivery.</summary>
internal static partial class FunctionBindingValidation
{
    public static void Validate(string function, FunctionTrigger trigger)
    {
        switch (trigger)
        {
            case QueueTrigger queue:
                if (!BindingExpressions.HasSettings(queue.QueueName) && !QueueNamePattern().IsMatch(queue.QueueName ?? string.Empty))
                {
                    throw new ArgumentException($"Function '{function}': '{queue.QueueName}' is not a queue name (3-63 lower-case letters, digits and single hyphens) nor %SETTING%.");
                }
                break;
            case BlobTrigger blob:
                _ = BlobPathPattern.Parse(blob.Path ?? string.Empty, function);
                break;
            case TimerTrigger timer:
                if (!BindingExpressions.HasSettings(timer.Schedule) && !CronSchedule.TryParse(timer.Schedule, out _, out var error))
                {
                    throw new ArgumentException($"Function '{function}': {error}");
                }
                break;
            case HttpTrigger http:
                if (string.IsNullOrWhiteSpace(http.Route) || http.Methods.Count == 0)
                {
                    throw new ArgumentException($"Function '{function}': an HTTP trigger needs a route and at least one method.");
                }
                break;
            default:
                break;
        }
        var connection = trigger switch { QueueTrigger q => q.Connection, BlobTrigger b => b.Connection, _ => FunctionTrigger.DefaultConnection };
        if (string.IsNullOrWhiteSpace(connection))
        {
            throw new ArgumentException($"Function '{function}': the connection must name an app setting.");
        }
    }

    [GeneratedRegex("^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")]
    internal static partial Regex QueueNamePattern();
}

/// <summary>A blob trigger's path: a container and a name pattern with <c>{parameter}</c> captures.</summary>
internal sealed partial class BlobPathPattern
{
    private readonly Regex _name;

    private BlobPathPattern(string container, string prefix, Regex name, IReadOnlyList<string> parameters)
    {
        Container = container;
        Prefix = prefix;
        _name = name;
        Parameters = parameters;
    }

    /// <summary>The container (may be <c>%SETTING%</c> until resolved).</summary>
    public string Container { get; }

    /// <summary>The literal start of the blob names that can match: the listing prefix.</summary>
    public string Prefix { get; }

    /// <summary>The capture names, in order.</summary>
    public IReadOnlyList<string> Parameters { get; }

    /// <exception cref="ArgumentException">The path is not <c>container/pattern</c>.</exception>
    public static BlobPathPattern Parse(string path, string function)
    {
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == path.Length - 1)
        {
            throw new ArgumentException($"Function '{function}': the blob path '{path}' must be container/pattern, e.g. csv-uploads/{{name}}.");
        }
        var container = path[..slash];
        if (!BindingExpressions.HasSettings(container) && !ContainerPattern().IsMatch(container))
        {
            throw new ArgumentException($"Function '{function}': '{container}' is not a container name (3-63 lower-case letters, digits and single hyphens).");
        }
        var pattern = path[(slash + 1)..];
        var regex = new System.Text.StringBuilder("^");
        var parameters = new List<string>();
        var last = 0;
        foreach (Match capture in CapturePattern().Matches(pattern))
        {
            regex.Append(Regex.Escape(pattern[last..capture.Index]));
            var name = capture.Groups[1].Value;
            if (parameters.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"Function '{function}': the blob path '{path}' captures {{{name}}} twice.");
            }
            parameters.Add(name);
            regex.Append("(?<").Append(name).Append(">.+?)");
            last = capture.Index + capture.Length;
        }
        regex.Append(Regex.Escape(pattern[last..])).Append('$');
        var firstCapture = pattern.IndexOf('{', StringComparison.Ordinal);
        var prefix = firstCapture < 0 ? pattern : pattern[..firstCapture];
        return new BlobPathPattern(container, prefix, new Regex(regex.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline), parameters);
    }

    /// <summary>The captures when <paramref name="blobName"/> (within the container) matches; otherwise null.</summary>
    public IReadOnlyDictionary<string, string>? Match(string blobName)
    {
        var match = _name.Match(blobName);
        return match.Success ? Parameters.ToDictionary(p => p, p => match.Groups[p].Value, StringComparer.Ordinal) : null;
    }

    [GeneratedRegex("^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex ContainerPattern();

    [GeneratedRegex(@"\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex CapturePattern();
}
