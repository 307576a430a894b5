using System.Text.Encodings.Web;
using CreditFunctions.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace CreditFunctions.Auth;

/// <summary>
/// The <c>Bearer</c> API key scheme: <c>Authorization: Bearer &lt;key&gt;</c> becomes a <see cref="CallerContext"/>
/// principal. A challenge answers 401 problem+json with <c>WWW-Authenticate: Bearer</c> (RFC 6750); every kind of
/// bad key gets the same answer.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory loggerFactory, UrlEncoder encoder, ApiKeyAuthenticator keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    private const string BearerPrefix = "Bearer ";
    private const string Realm = "creditfunctions";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var headers = Request.Headers.Authorization;
        if (headers.Count == 0)
        {
            return AuthenticateResult.NoResult();
        }
        var header = headers.Count == 1 ? headers[0] : null;
        if (header is null || !header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            AuthLog.Refused(Logger, ApiKeyCheckStatus.Malformed);
            return AuthenticateResult.Fail("The Authorization header is not 'Bearer <API key>'.");
        }
        var key = header[BearerPrefix.Length..].Trim();
        var check = await keys.CheckAsync(key, Context.RequestAborted).ConfigureAwait(false);
        if (check.Caller is { } caller)
        {
            return AuthenticateResult.Success(new AuthenticationTicket(caller.ToPrincipal(SchemeName), SchemeName));
        }
        if (check.Status is ApiKeyCheckStatus.WrongSecret or ApiKeyCheckStatus.Revoked
            && ApiKeyToken.TryParse(key, out var keyId))
        {
            AuthLog.RefusedKey(Logger, keyId, check.Status);
        }
        else
        {
            AuthLog.Refused(Logger, check.Status);
        }
        return AuthenticateResult.Fail("The API key is not valid.");
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false);
        var presented = result.Failure is not null;
        Response.Headers.WWWAuthenticate = presented
            ? $"Bearer realm=\"{Realm}\", error=\"invalid_token\", error_description=\"The API key is not valid.\""
            : $"Bearer realm=\"{Realm}\"";
        await Problems.Unauthorized(presented
                ? "The API key is not valid. Send 'Authorization: Bearer <API key>' with an active key of your team."
                : "Send an API key as 'Authorization: Bearer <API key>'.")
            .ExecuteAsync(Context).ConfigureAwait(false);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.Forbidden("This API key may not do this.").ExecuteAsync(Context);
}
