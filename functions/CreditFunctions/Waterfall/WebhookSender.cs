using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using CreditFunctions.Platform;

namespace CreditFunctions.Waterfall;

/// <summary>What became of one delivery attempt that is not worth retrying.</summary>
/// <param name="StatusCode">The receiver's 2xx answer; null when the delivery was refused.</param>
/// <param name="Refused">Why the delivery was refused without retry (the egress guard, a redirect, no secrets key).</param>
public sealed record WebhookResult(int? StatusCode, string? Refused)
{
    /// <summary>Whether the receiver accepted the delivery.</summary>
    public bool Delivered => Refused is null;
}

/// <summary>
/// Posts signed webhooks through the <see cref="EgressGuard"/>. Every delivery is signed:
/// <c>X-CreditFunctions-Signature: t=&lt;unix seconds&gt;,v1=&lt;hex&gt;[,v1=&lt;hex&gt;]</c> where each v1 =
/// HMAC-SHA256(secret, "&lt;t&gt;.&lt;body&gt;"), the first with the team's current secret, the second with the previous
/// one for 24 hours after a rotation; a team without a secret gets one generated on its first delivery (never shown;
/// an admin rotates to see one). Receivers accept when any v1 matches and t is within <see cref="TimestampTolerance"/>.
/// <c>X-CreditFunctions-Delivery</c> carries a stable id so a receiver can ignore a redelivery. Redirects are not
/// followed.
/// </summary>
public sealed class WebhookSender(HttpClient http, EgressGuard guard, EnrichmentSettingsStore settings, TimeProvider clock)
{
    /// <summary>The signature header.</summary>
    public const string SignatureHeader = "X-CreditFunctions-Signature";

    /// <summary>The delivery id header.</summary>
    public const string DeliveryHeader = "X-CreditFunctions-Delivery";

    /// <summary>How far from the receiver's clock a signature's timestamp may be (documented for receivers).</summary>
    public static readonly TimeSpan TimestampTolerance = TimeSpan.FromMinutes(5);

    /// <summary>A new random webhook secret (<c>whsec_</c> and 48 hex digits).</summary>
    public static string NewSecret() => "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    /// <summary>Signs and posts <paramref name="body"/>. A refusal that retrying cannot change (the URL or the address
    /// it resolves to is refused, the receiver redirects, no secrets key to sign with) is returned, not thrown.</summary>
    /// <exception cref="HttpRequestException">The receiver did not answer 2xx or could not be reached (the caller retries).</exception>
    public async Task<WebhookResult> SendAsync(string teamId, string url, string body, string deliveryId, CancellationToken cancellationToken)
    {
        if (guard.Refusal(url) is { } refusal)
        {
            return new WebhookResult(null, refusal);
        }
        var now = clock.GetUtcNow();
        var secrets = await settings.GetOrCreateWebhookSecretsAsync(teamId, NewSecret, now, cancellationToken).ConfigureAwait(false);
        if (secrets is null)
        {
            return new WebhookResult(null, $"This deployment cannot sign webhooks ({SecretProtector.KeySetting} is not set).");
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(DeliveryHeader, deliveryId);
        request.Headers.Add(SignatureHeader, Sign(secrets.Previous is { } previous ? [secrets.Current, previous] : [secrets.Current], now, body));
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.InnerException is EgressRefusedException refused)
        {
            return new WebhookResult(null, refused.Message);
        }
        using (response)
        {
            var status = (int)response.StatusCode;
            if (status is >= 300 and < 400)
            {
                return new WebhookResult(null, $"The receiver answered {status} (a redirect): redirects are not followed.");
            }
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"The webhook answered {status}.", null, response.StatusCode);
            }
            return new WebhookResult(status, null);
        }
    }

    /// <summary>The signature header's value for <paramref name="body"/> at <paramref name="at"/>: one v1 per secret, in order.</summary>
    public static string Sign(IReadOnlyList<string> secrets, DateTimeOffset at, string body)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        var timestamp = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"t={timestamp}" + string.Concat(secrets.Select(s => ",v1=" + Mac(s, timestamp, body)));
    }

    /// <summary>The signature header's value for one secret.</summary>
    public static string Sign(string secret, DateTimeOffset at, string body) => Sign([secret], at, body);

    /// <summary>Whether <paramref name="header"/> holds a valid signature of <paramref name="body"/> by
    /// <paramref name="secret"/> (any of its v1 values), made within <paramref name="tolerance"/> of
    /// <paramref name="now"/>; constant-time comparison. What a receiver does.</summary>
    public static bool Verify(string secret, string header, string body, DateTimeOffset now, TimeSpan tolerance)
    {
        ArgumentNullException.ThrowIfNull(header);
        var parts = header.Split(',').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToList();
        var timestamps = parts.Where(p => p[0] == "t").Select(p => p[1]).ToList();
        if (timestamps is not [var t] || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            return false;
        }
        if ((now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > tolerance)
        {
            return false;
        }
        var expected = Encoding.ASCII.GetBytes(Mac(secret, t, body));
        var match = false;
        foreach (var v1 in parts.Where(p => p[0] == "v1").Select(p => p[1]))
        {
            match |= CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(v1));
        }
        return match;
    }

    private static string Mac(string secret, string timestamp, string body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(timestamp + "." + body)));
}
