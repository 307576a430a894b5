using System.Text.Json;

namespace CreditFunctions.Forms;

/// <summary>
/// Where a form tool's payload keeps each of our fields: a path into the submission's JSON. A path is segments joined
/// by dots; a segment is a property name, <c>[n]</c> (the n-th element of an array) or <c>[key=value]</c> (the first
/// element of an array whose property <c>key</c>, itself a dotted path, is the string <c>value</c>). Typeform's answers,
/// for example: <c>form_response.answers[field.ref=work_email].email</c>.
/// </summary>
public static class FieldMap
{
    /// <summary>The fields a map may name.</summary>
    public static IReadOnlyList<string> Fields { get; } =
        ["email", "firstName", "lastName", "fullName", "companyName", "companyDomain", "linkedInUrl", "phone", "submissionId"];

    /// <summary>Longest path accepted.</summary>
    public const int PathLengthMax = 500;

    /// <summary>Why <paramref name="path"/> is not a valid path, or null.</summary>
    public static string? Refusal(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return "must be a non-empty path";
        }
        if (path.Length > PathLengthMax)
        {
            return $"must be at most {PathLengthMax} characters";
        }
        return Parse(path) is null ? "is not a valid path (names joined by '.', '[n]' or '[key=value]')" : null;
    }

    /// <summary>The string (or number, as written) at <paramref name="path"/> in <paramref name="root"/>, trimmed; null
    /// when the path leads nowhere or to something else.</summary>
    public static string? Read(JsonElement root, string path)
    {
        var segments = Parse(path);
        if (segments is null)
        {
            return null;
        }
        var node = Walk(root, segments);
        return node switch
        {
            { ValueKind: JsonValueKind.String } s => s.GetString()?.Trim() is { Length: > 0 } value ? value : null,
            { ValueKind: JsonValueKind.Number } n => n.GetRawText(),
            _ => null,
        };
    }

    private abstract record Segment;

    private sealed record Name(string Value) : Segment;

    private sealed record Index(int Value) : Segment;

    private sealed record Where(IReadOnlyList<Segment> Key, string Value) : Segment;

    private static JsonElement? Walk(JsonElement node, IReadOnlyList<Segment> segments)
    {
        foreach (var segment in segments)
        {
            switch (segment)
            {
                case Name name when node.ValueKind == JsonValueKind.Object && node.TryGetProperty(name.Value, out var child):
                    node = child;
                    break;
                case Index index when node.ValueKind == JsonValueKind.Array && index.Value < node.GetArrayLength():
                    node = node[index.Value];
                    break;
                case Where where when node.ValueKind == JsonValueKind.Array:
                    JsonElement? found = null;
                    foreach (var element in node.EnumerateArray())
                    {
                        if (Walk(element, where.Key) is { ValueKind: JsonValueKind.String } key && key.GetString() == where.Value)
                        {
                            found = element;
                            break;
                        }
                    }
                    if (found is not { } match)
                    {
                        return null;
                    }
                    node = match;
                    break;
                default:
                    return null;
            }
        }
        return node;
    }

    private static List<Segment>? Parse(string path)
    {
        var segments = new List<Segment>();
        var i = 0;
        while (i < path.Length)
        {
            if (path[i] == '[')
            {
                var close = path.IndexOf(']', i);
                if (close < 0)
                {
                    return null;
                }
                var inner = path[(i + 1)..close];
                var eq = inner.IndexOf('=');
                if (eq < 0)
                {
                    if (!int.TryParse(inner, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
                    {
                        return null;
                    }
                    segments.Add(new Index(n));
                }
                else
                {
                    var key = eq == 0 ? null : Parse(inner[..eq]);
                    if (key is null || key.Any(k => k is not Name))
                    {
                        return null;
                    }
                    segments.Add(new Where(key, inner[(eq + 1)..]));
                }
                i = close + 1;
                if (i < path.Length && path[i] == '.')
                {
                    i++;
                    if (i == path.Length)
                    {
                        return null;
                    }
                }
                continue;
            }
            var end = i;
            while (end < path.Length && path[end] is not '.' and not '[')
            {
                end++;
            }
            if (end == i)
            {
                return null;
            }
            segments.Add(new Name(path[i..end]));
            i = end;
            if (i < path.Length && path[i] == '.')
            {
                i++;
                if (i == path.Length)
                {
                    return null;
                }
            }
        }
        return segments.Count == 0 ? null : segments;
    }
}
