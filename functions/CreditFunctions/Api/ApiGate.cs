using CreditFunctions.Auth;
using Microsoft.AspNetCore.Mvc;

namespace CreditFunctions.Api;

/// <summary>Who may call an API function.</summary>
public enum ApiAccess
{
    /// <summary>Any valid key of a team.</summary>
    AnyKey,

    /// <summary>An admin key of the team.</summary>
    Admin,

    /// <summary>An operator key (the platform's billing side): grants and manual refunds, naming the team.</summary>
    Operator,
}

/// <summary>
/// The front door of every <c>/api/v1</c> function: checks the <c>Authorization: Bearer &lt;API key&gt;</c> header or,
/// without one, the browser session cookie (<see cref="SessionCookie"/>; a write through it must pass its CSRF rule, 403
/// otherwise); 401 problem+json with <c>WWW-Authenticate</c> otherwise, the same answer for every kind of bad key. It keeps the
/// caller inside its own team (another team's <c>{teamId}</c> is a 404, before the role check) and out of admin
/// functions (403), then runs the function's handler with the <see cref="CallerContext"/>. An unexpected failure of the
/// handler is a 500 problem with a trace id, and a ledger that cannot be reached a 503 with <c>Retry-After</c>.
/// </summary>
public sealed partial class ApiGate(ApiKeyAuthenticator keys, SessionStore sessions, ILogger<ApiGate> logger)
{
    private const string BearerPrefix = "Bearer ";
    private const string Realm = "creditfunctions";

    /// <summary>Authenticates <paramref name="request"/>, applies <paramref name="access"/> and the team scope of
    /// <paramref name="routeTeamId"/> (when the route names a team), and runs <paramref name="handler"/>.</summary>
    public async Task<IActionResult> RunAsync(HttpRequest request, Func<CallerContext, Task<IResult>> handler, ApiAccess access = ApiAccess.AnyKey,
        string? routeTeamId = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(handler);
        var (caller, failure) = await AuthenticateAsync(request).ConfigureAwait(false);
        if (caller is null)
        {
            return new HttpResultAction(failure!);
        }
        // Operators and teams never reach each other's functions: an operator key is not a key of any team.
        if ((access == ApiAccess.Operator) != caller.IsOperator)
        {
            return new HttpResultAction(Problems.Forbidden(caller.IsOperator
                ? "An operator key may only grant credits and refund charges."
                : "Granting credits and refunding charges are platform actions: they need an operator key."));
        }
        if (routeTeamId is not null && TeamScope.EnsureSameTeam(caller, routeTeamId) is { } notFound)
        {
            return new HttpResultAction(notFound);
        }
        if (access == ApiAccess.Admin && TeamScope.EnsureAdmin(caller) is { } forbidden)
        {
            return new HttpResultAction(forbidden);
        }
        try
        {
            var result = await handler(caller).ConfigureAwait(false);
            // A team's data, for this caller only, changing with every charge: no shared cache keeps it, a browser
            // asks again each time. A handler that knows better (a key shown once: no-store) sets its own.
            var headers = request.HttpContext.Response.Headers;
            if (headers.CacheControl.Count == 0)
            {
                headers.CacheControl = "private, no-cache";
                headers.Vary = "Authorization, Cookie";
            }
            return new HttpResultAction(result);
        }
        catch (Ledger.LedgerUnavailableException)
        {
            request.HttpContext.Response.Headers.RetryAfter = "1";
            return new HttpResultAction(Problems.Create(StatusCodes.Status503ServiceUnavailable, "ledger-unavailable", "The ledger is briefly unavailable.",
                "Nothing is known to have changed; retry with the same Idempotency-Key."));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            // One answer for every unexpected failure: a problem with a trace id to quote, nothing internal.
            var traceId = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? request.HttpContext.TraceIdentifier;
            Log.Unexpected(logger, request.Path, traceId, ex);
            return new HttpResultAction(Problems.Create(StatusCodes.Status500InternalServerError, "internal-error", "Something went wrong on our side.",
                "Nothing is known to have changed; retry with the same Idempotency-Key, or quote the trace id.",
                new Dictionary<string, object?> { ["traceId"] = traceId }));
        }
    }

    private async Task<(CallerContext? Caller, IResult? Failure)> AuthenticateAsync(HttpRequest request)
    {
        var headers = request.Headers.Authorization;
        if (headers.Count == 0)
        {
            return request.Cookies.TryGetValue(SessionCookie.Name, out var token) && !string.IsNullOrEmpty(token)
                ? await AuthenticateSessionAsync(request, token).ConfigureAwait(false)
                : (null, Challenge(request, presented: false));
        }
        var header = headers.Count == 1 ? headers[0] : null;
        if (header is null || !header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            AuthLog.Refused(logger, ApiKeyCheckStatus.Malformed);
            return (null, Challenge(request, presented: true));
        }
        var key = header[BearerPrefix.Length..].Trim();
        var check = await keys.CheckAsync(key, request.HttpContext.RequestAborted).ConfigureAwait(false);
        if (check.Caller is { } caller)
        {
            return (caller, null);
        }
        if (check.Status is ApiKeyCheckStatus.WrongSecret or ApiKeyCheckStatus.Revoked && ApiKeyToken.TryParse(key, out var keyId))
        {
            AuthLog.RefusedKey(logger, keyId, check.Status);
        }
        else
        {
            AuthLog.Refused(logger, check.Status);
        }
        return (null, Challenge(request, presented: true));
    }

    private async Task<(CallerContext? Caller, IResult? Failure)> AuthenticateSessionAsync(HttpRequest request, string token)
    {
        if (!SessionCookie.MayChangeState(request))
        {
            return (null, Problems.Forbidden($"A change made with a session cookie needs the {SessionCookie.CsrfHeader} header, from this site."));
        }
        var keyId = await sessions.FindKeyIdAsync(token, request.HttpContext.RequestAborted).ConfigureAwait(false);
        var check = keyId is null ? default : await keys.CheckKeyIdAsync(keyId, request.HttpContext.RequestAborted).ConfigureAwait(false);
        if (check.Caller is { } caller)
        {
            return (caller, null);
        }
        // Expired, signed out, or its key revoked: the browser drops the cookie and signs in again.
        SessionCookie.Clear(request.HttpContext);
        request.HttpContext.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{Realm}\", error=\"invalid_token\", error_description=\"The session has ended.\"";
        return (null, Problems.Unauthorized("The session has expired or ended. Sign in again with an API key."));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1201, Level = LogLevel.Error, Message = "Unexpected failure on {Path} (trace {TraceId})")]
        public static partial void Unexpected(ILogger logger, string path, string traceId, Exception exception);
    }

    private static IResult Challenge(HttpRequest request, bool presented)
    {
        request.HttpContext.Response.Headers.WWWAuthenticate = presented
            ? $"Bearer realm=\"{Realm}\", error=\"invalid_token\", error_description=\"The API key is not valid.\""
            : $"Bearer realm=\"{Realm}\"";
        return Problems.Unauthorized(presented
            ? "The API key is not valid. Send 'Authorization: Bearer <API key>' with an active key of your team."
            : "Send an API key as 'Authorization: Bearer <API key>'.");
    }
}

/// <summary>An ASP.NET Core <see cref="IResult"/> (what <see cref="Results"/> and <see cref="Problems"/> build) as the
/// <see cref="IActionResult"/> an HTTP function returns.</summary>
public sealed class HttpResultAction(IResult result) : IActionResult
{
    /// <summary>The result this action executes.</summary>
    public IResult Result { get; } = result ?? throw new ArgumentNullException(nameof(result));

    /// <inheritdoc />
    public Task ExecuteResultAsync(ActionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Result.ExecuteAsync(context.HttpContext);
    }
}
