using System.Text.Json;
using CreditFunctions.Api;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace CreditFunctions.Auth;

/// <summary>
/// Browser sign-in for the usage page: <c>POST /api/v1/session</c> exchanges an API key for a session cookie,
/// <c>DELETE /api/v1/session</c> signs out. Both must pass <see cref="SessionCookie.MayChangeState"/> (the CSRF rule).
/// </summary>
public sealed class SessionFunctions(ApiKeyAuthenticator keys, SessionStore sessions, AuthOptions options)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    [Function("session")]
    public async Task<IActionResult> SessionAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", "delete", Route = "v1/session")] HttpRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var http = request.HttpContext;
        http.Response.Headers.CacheControl = "no-store";
        if (!SessionCookie.MayChangeState(request))
        {
            return new HttpResultAction(Problems.Forbidden($"Signing in and out needs the {SessionCookie.CsrfHeader} header, from this site."));
        }
        if (HttpMethods.IsDelete(request.Method))
        {
            if (request.Cookies.TryGetValue(SessionCookie.Name, out var token))
            {
                await sessions.DeleteAsync(token, ct);
            }
            SessionCookie.Clear(http);
            return new HttpResultAction(Results.NoContent());
        }
        var (body, problem) = await RequestBody.ReadJsonAsync<SignIn>(request, s_json, ct);
        if (problem is not null)
        {
            return new HttpResultAction(problem);
        }
        if (string.IsNullOrWhiteSpace(body?.ApiKey))
        {
            return new HttpResultAction(Problems.Validation("apiKey", "is required"));
        }
        var check = await keys.CheckAsync(body.ApiKey.Trim(), ct);
        if (check.Caller is not { } caller)
        {
            return new HttpResultAction(Problems.Unauthorized("The API key is not valid."));
        }
        if (caller.IsOperator)
        {
            return new HttpResultAction(Problems.Forbidden("Operator keys have no browser sessions."));
        }
        var (session, expiresAt) = await sessions.CreateAsync(caller, options.SessionLifetime, ct);
        SessionCookie.Append(http, session, expiresAt);
        return new HttpResultAction(Results.Ok(new SessionView(caller.TeamId, caller.UserId, caller.Role.ToName(), expiresAt)));
    }

    internal sealed record SignIn(string? ApiKey);

    internal sealed record SessionView(string TeamId, string UserId, string Role, DateTimeOffset ExpiresAt);
}
