using System.Text.Json;
using CreditFunctions.Api;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace CreditFunctions.Auth;

/// <summary>
/// The feature's HTTP functions under <c>/api/v1</c>: <c>GET me</c> for any caller; the team's keys for its admins
/// (<c>GET|POST teams/{teamId}/keys</c>, <c>DELETE teams/{teamId}/keys/{keyId}</c>).
/// </summary>
public sealed class AuthFunctions(ApiGate gate, ApiKeyStore store, ApiKeyAuthenticator authenticator)
{
    [Function("me")]
    public Task<IActionResult> MeAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/me")] HttpRequest request) =>
        gate.RunAsync(request, caller => Task.FromResult(Results.Ok(new CallerView(caller.TeamId, caller.UserId, caller.Role.ToName(), caller.KeyId))));

    [Function("team-keys")]
    public Task<IActionResult> KeysAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = "v1/teams/{teamId}/keys")] HttpRequest request,
        string teamId, CancellationToken ct) =>
        gate.RunAsync(request, async caller => HttpMethods.IsGet(request.Method)
            ? Results.Ok((await store.ListAsync(teamId, ct)).Select(KeyView.From))
            : await CreateKeyAsync(teamId, caller, request.HttpContext, store, ct), ApiAccess.Admin, teamId);

    [Function("team-key")]
    public Task<IActionResult> RevokeAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/teams/{teamId}/keys/{keyId}")] HttpRequest request,
        string teamId, string keyId, CancellationToken ct) =>
        gate.RunAsync(request, _ => RevokeKeyAsync(teamId, keyId, store, authenticator, ct), ApiAccess.Admin, teamId);

    private static async Task<IResult> CreateKeyAsync(string teamId, CallerContext caller, HttpContext http, ApiKeyStore store, CancellationToken ct)
    {
        CreateKeyRequest? request;
        try
        {
            request = await http.Request.ReadFromJsonAsync<CreateKeyRequest>(ct);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return Problems.Validation("body", "The body must be JSON: {\"userId\": \"…\", \"role\": \"admin|member\"}.");
        }
        var created = await store.CreateAsync(teamId, request?.UserId, request?.Role, "user:" + caller.UserId, ct);
        switch (created.Status)
        {
            case CreateKeyStatus.Created:
                var key = created.Key!;
                // The only copy of the key: no cache on the way may keep it.
                http.Response.Headers.CacheControl = "no-store";
                return Results.Created($"/api/v1/teams/{teamId}/keys/{key.Record.KeyId}", CreatedKeyView.From(key));
            case CreateKeyStatus.Invalid:
                return Problems.Validation(created.Errors);
            default:
                // The caller's own team, so only a race with the team's removal gets here.
                return TeamScope.TeamNotFound();
        }
    }

    private static async Task<IResult> RevokeKeyAsync(string teamId, string keyId, ApiKeyStore store, ApiKeyAuthenticator authenticator, CancellationToken ct)
    {
        var status = await store.RevokeAsync(teamId, keyId, ct);
        authenticator.Forget(keyId);
        return status == RevokeKeyStatus.KeyNotFound ? Problems.NotFound("The team has no such key.") : Results.NoContent();
    }

    internal sealed record CreateKeyRequest(string? UserId, string? Role);

    internal sealed record CallerView(string TeamId, string UserId, string Role, string KeyId);

    internal sealed record KeyView(string KeyId, string UserId, string Role, DateTimeOffset CreatedAt, string IssuedBy, DateTimeOffset? RevokedAt)
    {
        public static KeyView From(ApiKeyRecord r) => new(r.KeyId, r.UserId, r.Role.ToName(), r.CreatedAt, r.IssuedBy, r.RevokedAt);
    }

    /// <summary>A new key's record and, once, the key itself (<c>apiKey</c>).</summary>
    internal sealed record CreatedKeyView(string KeyId, string UserId, string Role, DateTimeOffset CreatedAt, string ApiKey)
    {
        public static CreatedKeyView From(IssuedApiKey k) => new(k.Record.KeyId, k.Record.UserId, k.Record.Role.ToName(), k.Record.CreatedAt, k.Key);
    }
}
