using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace CreditFunctions.Waterfall;

/// <summary>
/// Posts signed webhooks. The signature header is <c>X-CreditFunctions-Signature: t=&lt;unix seconds&gt;,v1=&lt;hex&gt;</c>
/// where v1 = HMAC-SHA256(team's webhook secret, "&lt;t&gt;.&lt;body&gt;"); receivers recompute it and reject old
/// timestamps. <c>X-CreditFunctions-Delivery</c> carries a stable id so a receiver can ignore a redelivery.
/// </summary>
public sealed class WebhookSender(HttpClient http, EnrichmentSettingsStore settings, TimeProvider clock)
{
    /// <summary>The signature header.</summary>
    public const string SignatureHeader = "X-CreditFunctions-Signature";

    /// <summary>The delivery id header.</summary>
    public const string DeliveryHeader = "X-CreditFunctions-Delivery";

    /// <summary>Signs and posts <paramref name="body"/>; returns the status code.</summary>
    /// <exception cref="HttpRequestException">The receiver did not answer 2xx (the caller retries).</exception>
    public async Task<int> SendAsync(string teamId, string url, string body, string deliveryId, CancellationToken cancellationToken)
    {
        var team = await settings.GetAsync(teamId, cancellationToken).ConfigureAwait(false);
        var secret = settings.WebhookSecret(teamId, team);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(DeliveryHeader, deliveryId);
        if (secret is not null)
        {
            request.Headers.Add(SignatureHeader, Sign(secret, clock.GetUtcNow(), body));
        }
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"The webhook answered {(int)response.StatusCode}.", null, response.StatusCode);
        }
        return (int)response.StatusCode;
    }

    /// <summary>The signature header's value for <paramref name="body"/> at <paramref name="at"/>.</summary>
    public static string Sign(string secret, DateTimeOffset at, string body)
    {
        var timestamp = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(timestamp + "." + body));
        return $"t={timestamp},v1={Convert.ToHexStringLower(mac)}";
    }

    /// <summary>Whether <paramref name="header"/> is a valid signature of <paramref name="body"/>, made within
    /// <paramref name="tolerance"/> of <paramref name="now"/> (constant-time comparison).</summary>
    public static bool Verify(string secret, string header, string body, DateTimeOffset now, TimeSpan tolerance)
    {
        ArgumentNullException.ThrowIfNull(header);
        var parts = header.Split(',').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (!parts.TryGetValue("t", out var t) || !parts.TryGetValue("v1", out var v1) || !long.TryParse(t, CultureInfo.InvariantCulture, out var seconds))
        {
            return false;
        }
        var at = DateTimeOffset.FromUnixTimeSeconds(seconds);
        if ((now - at).Duration() > tolerance)
        {
            return false;
        }
        var expected = Sign(secret, at, body)[(t.Length + 6)..];
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(v1));
    }
}
