using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CreditFunctions.Waterfall;

namespace CreditFunctions.Forms;

/// <summary>The form tools a form can be registered for; each signs its submissions its own way.</summary>
public static class FormSources
{
    /// <summary>HubSpot (v3 request signatures).</summary>
    public const string HubSpot = "hubspot";

    /// <summary>Typeform (<c>Typeform-Signature</c>).</summary>
    public const string Typeform = "typeform";

    /// <summary>Any other tool or a website form, signed with our own scheme (<see cref="WebhookSender.Sign(string, DateTimeOffset, string)"/>).</summary>
    public const string Generic = "generic";

    /// <summary>All of them.</summary>
    public static IReadOnlyList<string> All { get; } = [HubSpot, Typeform, Generic];
}

/// <summary>What a submission's signature check found.</summary>
public enum SignatureCheck
{
    /// <summary>Signed by the form's secret, in time.</summary>
    Valid,

    /// <summary>No signature header (or no timestamp header where the scheme needs one).</summary>
    Missing,

    /// <summary>A signature that the form's secret did not make.</summary>
    Invalid,

    /// <summary>A well-formed signature whose timestamp is outside the window.</summary>
    Stale,
}

/// <summary>
/// The signature schemes of the form tools, checked over the bytes received (constant-time comparisons):
/// Typeform: <c>Typeform-Signature: sha256=&lt;base64 HMAC-SHA256(secret, body)&gt;</c> (no timestamp: a replay is caught
/// by the submission's dedupe); HubSpot v3: <c>X-HubSpot-Signature-v3</c> = base64 HMAC-SHA256(secret, method + URI +
/// body + timestamp) with <c>X-HubSpot-Request-Timestamp</c> (milliseconds) at most <see cref="Window"/> from now;
/// generic: our own <c>X-CreditFunctions-Signature: t=…,v1=…</c> with the same window.
/// </summary>
public static class FormSignatures
{
    /// <summary>Typeform's header.</summary>
    public const string TypeformHeader = "Typeform-Signature";

    /// <summary>HubSpot's v3 signature header.</summary>
    public const string HubSpotHeader = "X-HubSpot-Signature-v3";

    /// <summary>HubSpot's timestamp header (Unix milliseconds).</summary>
    public const string HubSpotTimestampHeader = "X-HubSpot-Request-Timestamp";

    /// <summary>How old (or how far ahead) a timestamped signature may be.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    /// <summary>Typeform's header value for <paramref name="body"/>.</summary>
    public static string SignTypeform(string secret, ReadOnlySpan<byte> body) =>
        "sha256=" + Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>HubSpot's v3 signature of a request (<paramref name="uri"/> as the tool called it, scheme and host included).</summary>
    public static string SignHubSpot(string secret, string method, string uri, ReadOnlySpan<byte> body, string timestamp)
    {
        var source = new List<byte>(body.Length + 256);
        source.AddRange(Encoding.UTF8.GetBytes(method.ToUpperInvariant() + DecodeHubSpotUri(uri)));
        source.AddRange(body.ToArray());
        source.AddRange(Encoding.UTF8.GetBytes(timestamp));
        return Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), source.ToArray()));
    }

    /// <summary>Checks a Typeform signature.</summary>
    public static SignatureCheck VerifyTypeform(string secret, string? header, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(header))
        {
            return SignatureCheck.Missing;
        }
        return Same(SignTypeform(secret, body), header.Trim()) ? SignatureCheck.Valid : SignatureCheck.Invalid;
    }

    /// <summary>Checks a HubSpot v3 signature: the MAC first, then the window (a forged timestamp is just invalid).</summary>
    public static SignatureCheck VerifyHubSpot(string secret, string? header, string? timestamp, string method, string uri, ReadOnlySpan<byte> body,
        DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(header) || string.IsNullOrEmpty(timestamp))
        {
            return SignatureCheck.Missing;
        }
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            return SignatureCheck.Invalid;
        }
        if (!Same(SignHubSpot(secret, method, uri, body, timestamp), header.Trim()))
        {
            return SignatureCheck.Invalid;
        }
        return (now - DateTimeOffset.FromUnixTimeMilliseconds(ms)).Duration() > Window ? SignatureCheck.Stale : SignatureCheck.Valid;
    }

    /// <summary>Checks our own scheme (<see cref="WebhookSender.Verify"/>), telling a stale signature from a bad one.</summary>
    public static SignatureCheck VerifyGeneric(string secret, string? header, string body, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(header))
        {
            return SignatureCheck.Missing;
        }
        if (WebhookSender.Verify(secret, header, body, now, Window))
        {
            return SignatureCheck.Valid;
        }
        // Signed by the secret but at another time: stale, not forged.
        return WebhookSender.Verify(secret, header, body, now, TimeSpan.MaxValue - TimeSpan.FromDays(1)) ? SignatureCheck.Stale : SignatureCheck.Invalid;
    }

    // HubSpot signs the URI with these escapes decoded (its documented list); anything else stays as sent.
    private static readonly (string Escaped, string Plain)[] s_decoded =
    [
        ("%3A", ":"), ("%2F", "/"), ("%3F", "?"), ("%40", "@"), ("%21", "!"), ("%24", "$"), ("%27", "'"), ("%28", "("), ("%29", ")"),
        ("%2A", "*"), ("%2C", ","), ("%3B", ";"),
    ];

    private static string DecodeHubSpotUri(string uri)
    {
        foreach (var (escaped, plain) in s_decoded)
        {
            uri = uri.Replace(escaped, plain, StringComparison.OrdinalIgnoreCase);
        }
        return uri;
    }

    private static bool Same(string expected, string actual) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(actual));
}
