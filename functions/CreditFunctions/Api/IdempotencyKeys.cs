using System.Buffers;

namespace CreditFunctions.Api;

/// <summary>
/// The one rule for the <c>Idempotency-Key</c> header on every route: 1 to 255 characters, each an ASCII letter or
/// digit or one of <c>- _ . : ~</c>. Anything else is a 400 naming the header — a key is never silently ignored. A
/// caller's key is stored under the <c>api:</c> namespace, so no caller can take a key the system makes for itself
/// (plan allocations, hold releases, waterfall steps, re-verification refunds all live outside it).
/// </summary>
public static class IdempotencyKeys
{
    /// <summary>The header.</summary>
    public const string Header = "Idempotency-Key";

    /// <summary>The longest key.</summary>
    public const int LengthMax = 255;

    /// <summary>The rule, as the 400 states it.</summary>
    public const string Rule = "1 to 255 characters: ASCII letters, digits and - _ . : ~";

    private const string CallerNamespace = "api:";
    private static readonly SearchValues<char> s_allowed = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:~");

    /// <summary>
    /// The caller's key as the ledger and the runs store it (namespaced), or null when the header is absent and
    /// <paramref name="required"/> is false; <paramref name="problem"/> is the 400 to answer otherwise.
    /// </summary>
    public static string? Read(HttpRequest request, bool required, out IResult? problem)
    {
        ArgumentNullException.ThrowIfNull(request);
        problem = null;
        var values = request.Headers[Header];
        if (values.Count == 0)
        {
            if (required)
            {
                problem = Problems.Validation(Header, "header is required: a unique key per operation, reused only to retry it");
            }
            return null;
        }
        var key = values.Count == 1 ? values[0] : null;
        if (key is not { Length: > 0 and <= LengthMax } || key.AsSpan().ContainsAnyExcept(s_allowed))
        {
            problem = Problems.Validation(Header, $"must be {Rule} (one header)");
            return null;
        }
        return CallerNamespace + key;
    }
}
