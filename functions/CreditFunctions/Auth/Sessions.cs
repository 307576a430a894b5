using System.Buffers.Text;
using System.Security.Cryptography;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;

namespace CreditFunctions.Auth;

/// <summary>
/// Browser sessions: an API key exchanged once for a short-lived session token, kept by the browser in an HttpOnly
/// cookie so the key itself is never stored there. A session speaks for its key: the same team, user and role, and it
/// stops working when the key is revoked (within <see cref="AuthOptions.KeyCacheDuration"/> on other servers, at once
/// on the server that revoked it), when it expires, or when it is signed out.
/// </summary>
/// <remarks>
/// Token format <c>cfs_&lt;teamId&gt;.&lt;16 hex digits&gt;_&lt;43 base64url characters&gt;</c>: the session id carries
/// the team, so a session is one point read in the team's partition of the auth table (row key
/// <c>session:&lt;id&gt;</c>). Only SHA-256 of the whole token is stored, for the same reason as keys'
/// (<see cref="ApiKeyToken"/>): a 256-bit random secret needs no slow hash.
/// </remarks>
public sealed class SessionStore
{
    /// <summary>The token prefix.</summary>
    public const string Prefix = "cfs_";
    internal const string RowPrefix = "session:";
    private readonly TableClient _table;
    private readonly TimeProvider _time;

    /// <summary>A store on the auth table.</summary>
    public SessionStore(TableClient table, TimeProvider? timeProvider = null)
    {
        _table = table ?? throw new ArgumentNullException(nameof(table));
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Starts a session for <paramref name="caller"/> (a team's key, not an operator's) lasting
    /// <paramref name="lifetime"/>; returns the token, shown once, and when it expires.</summary>
    public async Task<(string Token, DateTimeOffset ExpiresAt)> CreateAsync(CallerContext caller, TimeSpan lifetime, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (caller.IsOperator)
        {
            throw new ArgumentException("Operator keys have no browser sessions.", nameof(caller));
        }
        var sessionId = caller.TeamId + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var token = Prefix + sessionId + "_" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var now = _time.GetUtcNow();
        var expires = now + lifetime;
        var row = new SessionEntity
        {
            PartitionKey = caller.TeamId, RowKey = RowPrefix + sessionId, TokenHash = ApiKeyToken.Hash(token), KeyId = caller.KeyId,
            CreatedAt = now, ExpiresAt = expires,
        };
        await _table.AddEntityAsync(row, cancellationToken).ConfigureAwait(false);
        return (token, expires);
    }

    /// <summary>The key id a live session speaks for, or null for a malformed, unknown, expired or signed-out token
    /// (the hash is compared in constant time).</summary>
    public async Task<string?> FindKeyIdAsync(string? token, CancellationToken cancellationToken = default)
    {
        if (!TryParse(token, out var sessionId))
        {
            return null;
        }
        var row = await _table.GetEntityOrNullAsync<SessionEntity>(ApiKeyToken.TeamOf(sessionId), RowPrefix + sessionId, cancellationToken).ConfigureAwait(false);
        if (row?.TokenHash is null || row.ExpiresAt is not { } expires || expires <= _time.GetUtcNow()
            || !CryptographicOperations.FixedTimeEquals(ApiKeyToken.Hash(token!), row.TokenHash))
        {
            return null;
        }
        return row.KeyId;
    }

    /// <summary>Ends the session of <paramref name="token"/> (nothing when it is unknown or malformed).</summary>
    public async Task DeleteAsync(string? token, CancellationToken cancellationToken = default)
    {
        if (!TryParse(token, out var sessionId))
        {
            return;
        }
        var row = await _table.GetEntityOrNullAsync<SessionEntity>(ApiKeyToken.TeamOf(sessionId), RowPrefix + sessionId, cancellationToken).ConfigureAwait(false);
        if (row?.TokenHash is null || !CryptographicOperations.FixedTimeEquals(ApiKeyToken.Hash(token!), row.TokenHash))
        {
            return;
        }
        try
        {
            await _table.DeleteEntityAsync(row.PartitionKey, row.RowKey, ETag.All, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // Signed out twice at once: gone either way.
        }
    }

    private static bool TryParse(string? token, out string sessionId)
    {
        sessionId = string.Empty;
        if (token is null || !token.StartsWith(Prefix, StringComparison.Ordinal) || token.Length > 200)
        {
            return false;
        }
        var rest = token[Prefix.Length..];
        var separator = rest.IndexOf('_', StringComparison.Ordinal);
        if (separator < 0 || rest.Length - separator - 1 != 43 || !ApiKeyToken.IsKeyId(rest[..separator]))
        {
            return false;
        }
        foreach (var c in rest.AsSpan(separator + 1))
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_')
            {
                return false;
            }
        }
        sessionId = rest[..separator];
        return true;
    }

    private sealed class SessionEntity : ITableEntity
    {
        public string PartitionKey { get; set; } = string.Empty;
        public string RowKey { get; set; } = string.Empty;
        public DateTimeOffset? Timestamp { get; set; }
        public ETag ETag { get; set; }
        public byte[]? TokenHash { get; set; }
        public string? KeyId { get; set; }
        public DateTimeOffset? CreatedAt { get; set; }
        public DateTimeOffset? ExpiresAt { get; set; }
    }
}

/// <summary>
/// The session cookie and the rule that keeps cookie-authenticated writes from being forged by another site (CSRF).
/// </summary>
/// <remarks>
/// The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page or link makes the browser send
/// it), Secure when the request came over https, scoped to <c>/api</c>, and lasts as long as the session. SameSite is
/// the first defence; the second is that a state-changing request (anything but GET, HEAD, OPTIONS) authenticated by
/// the cookie must carry <see cref="CsrfHeader"/>: a cross-site form cannot set a header, and a cross-site script
/// cannot send one without a CORS preflight, which these routes never grant. When the browser says where a request
/// comes from (<c>Origin</c>, <c>Sec-Fetch-Site</c>), it must be this origin too. GET requests never change state.
/// </remarks>
public static class SessionCookie
{
    /// <summary>The cookie's name.</summary>
    public const string Name = "cf_session";

    /// <summary>The header a cookie-authenticated write must carry, with the value <c>1</c>.</summary>
    public const string CsrfHeader = "X-CreditFunctions-Csrf";

    /// <summary>Sets the session cookie on the response.</summary>
    public static void Append(HttpContext http, string token, DateTimeOffset expiresAt)
    {
        ArgumentNullException.ThrowIfNull(http);
        http.Response.Cookies.Append(Name, token, Options(http, expiresAt));
    }

    /// <summary>Tells the browser to drop the session cookie.</summary>
    public static void Clear(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        http.Response.Cookies.Delete(Name, Options(http, null));
    }

    /// <summary>True for a request that cannot change state (GET, HEAD, OPTIONS), or that carries
    /// <see cref="CsrfHeader"/> and, where the browser names its origin, comes from this origin.</summary>
    public static bool MayChangeState(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method))
        {
            return true;
        }
        if (request.Headers[CsrfHeader].ToString() != "1")
        {
            return false;
        }
        if (request.Headers["Sec-Fetch-Site"] is { Count: > 0 } site && site.ToString() is not ("same-origin" or "none"))
        {
            return false;
        }
        if (request.Headers.Origin is { Count: > 0 } origin)
        {
            var self = request.Scheme + "://" + request.Host.Value;
            return string.Equals(origin.ToString(), self, StringComparison.OrdinalIgnoreCase);
        }
        return true;
    }

    private static CookieOptions Options(HttpContext http, DateTimeOffset? expiresAt) => new()
    {
        HttpOnly = true,
        Secure = http.Request.IsHttps,
        SameSite = SameSiteMode.Strict,
        Path = "/api",
        Expires = expiresAt,
        IsEssential = true,
    };
}
