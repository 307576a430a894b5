using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace CreditFunctions.Providers;

/// <summary>
/// The small languages of a definition: JSON paths (<c>data.email</c>, <c>phones[0].number</c>, an optional leading
/// <c>$.</c>) and templates (literal text with <c>{field}</c> placeholders).
/// </summary>
internal static partial class ProviderTemplates
{
    /// <summary>True when <paramref name="path"/> is a dotted path of member names, each optionally indexed.</summary>
    public static bool IsValidPath(string path) => PathPattern().IsMatch(path);

    /// <summary>True when <paramref name="path"/> is a dotted path of member names without indexes (for request bodies).</summary>
    public static bool IsValidMemberPath(string path) => IsValidPath(path) && !path.Contains('[', StringComparison.Ordinal);

    /// <summary>The element at <paramref name="path"/>, or null when it is absent or JSON null.</summary>
    public static JsonElement? Select(JsonElement root, string path)
    {
        var current = root;
        foreach (Match segment in SegmentPattern().Matches(path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(segment.Groups["name"].Value, out current))
            {
                return null;
            }
            foreach (Capture index in segment.Groups["index"].Captures)
            {
                var i = int.Parse(index.Value, CultureInfo.InvariantCulture);
                if (current.ValueKind != JsonValueKind.Array || i >= current.GetArrayLength())
                {
                    return null;
                }
                current = current[i];
            }
        }
        return current.ValueKind == JsonValueKind.Null ? null : current;
    }

    /// <summary>A scalar's text (strings as they are, numbers and booleans as written); null for absent, null, objects
    /// and arrays.</summary>
    public static string? Text(JsonElement? element) => element?.ValueKind switch
    {
        JsonValueKind.String => element.Value.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => element.Value.GetRawText(),
        _ => null,
    };

    /// <summary>Sets the string at a member path, creating the objects on the way.</summary>
    public static void Set(JsonObject root, string path, string value)
    {
        var names = (path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path).Split('.');
        var current = root;
        foreach (var name in names[..^1])
        {
            if (current[name] is not JsonObject next)
            {
                next = [];
                current[name] = next;
            }
            current = next;
        }
        current[names[^1]] = value;
    }

    /// <summary>The fields a template names, or null when it is malformed (a stray brace).</summary>
    public static IReadOnlyList<string>? Fields(string template)
    {
        var fields = new List<string>();
        var rest = PlaceholderPattern().Replace(template, m =>
        {
            fields.Add(m.Groups["field"].Value);
            return string.Empty;
        });
        return rest.Contains('{', StringComparison.Ordinal) || rest.Contains('}', StringComparison.Ordinal) ? null : fields;
    }

    /// <summary>The template with each placeholder replaced by the field's value (escaped with
    /// <paramref name="escape"/>), or null when a field it names is absent.</summary>
    public static string? Render(string template, PersonInput person, Func<string, string> escape)
    {
        var missing = false;
        var result = PlaceholderPattern().Replace(template, m =>
        {
            var value = person.Field(m.Groups["field"].Value);
            missing |= value is null;
            return value is null ? string.Empty : escape(value);
        });
        return missing ? null : result;
    }

    /// <summary>Path + query string for an endpoint; query parameters naming absent fields are left out.</summary>
    public static string? RenderPathAndQuery(ProviderEndpoint endpoint, PersonInput person)
    {
        var path = Render(endpoint.Path, person, Uri.EscapeDataString);
        if (path is null)
        {
            return null;
        }
        var builder = new StringBuilder(path);
        var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        foreach (var (name, template) in endpoint.Query)
        {
            if (Render(template, person, v => v) is { } value)
            {
                builder.Append(separator).Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(value));
                separator = '&';
            }
        }
        return builder.ToString();
    }

    /// <summary>The JSON body for an endpoint, or null when it sends none; members naming absent fields are left out.</summary>
    public static JsonObject? RenderBody(ProviderEndpoint endpoint, PersonInput person)
    {
        if (endpoint.Body is null)
        {
            return null;
        }
        var body = new JsonObject();
        foreach (var (path, template) in endpoint.Body)
        {
            if (Render(template, person, v => v) is { } value)
            {
                Set(body, path, value);
            }
        }
        return body;
    }

    /// <summary>Every field the endpoint's templates name.</summary>
    public static IEnumerable<string> ReferencedFields(ProviderEndpoint endpoint) =>
        new[] { endpoint.Path }.Concat(endpoint.Query.Values).Concat(endpoint.Body?.Values ?? [])
            .SelectMany(t => Fields(t) ?? []).Distinct(StringComparer.Ordinal);

    /// <summary>True when the person has what the endpoint requires (see <see cref="ProviderEndpoint.Requires"/>).</summary>
    public static bool HasRequiredFields(ProviderEndpoint endpoint, PersonInput person)
    {
        bool Has(IEnumerable<string> fields) => fields.All(f => person.Field(f) is not null);
        return endpoint.Requires.Count == 0
            ? Has(ReferencedFields(endpoint)) && Render(endpoint.Path, person, v => v) is not null
            : endpoint.Requires.Any(Has) && Render(endpoint.Path, person, v => v) is not null;
    }

    [GeneratedRegex(@"^(\$\.)?[A-Za-z0-9_\-]+(\[\d{1,4}\])*(\.[A-Za-z0-9_\-]+(\[\d{1,4}\])*)*$")]
    private static partial Regex PathPattern();

    [GeneratedRegex(@"(?<name>[A-Za-z0-9_\-]+)(\[(?<index>\d+)\])*")]
    private static partial Regex SegmentPattern();

    [GeneratedRegex(@"\{(?<field>[a-z_]+)\}")]
    private static partial Regex PlaceholderPattern();
}
