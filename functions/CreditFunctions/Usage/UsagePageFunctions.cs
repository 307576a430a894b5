using CreditFunctions.Api;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace CreditFunctions.Usage;

/// <summary>
/// The credit usage page (<c>GET /api/usage</c>) and its fingerprinted assets (<c>GET /api/usage/assets/{name}</c>),
/// and the contact a usage line concerns (<c>GET /api/v1/contacts/{personId}</c>, for the page's "view contact").
/// The page holds no data: it reads the API with the browser's session cookie.
/// </summary>
public sealed class UsagePageFunctions(UsagePageAssets assets, ApiGate gate, ContactStore contacts)
{
    // The page runs only its own script and styles, talks only to this origin, and is never framed.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    [Function("usage-page")]
    public IActionResult Page([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "usage")] HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var headers = request.HttpContext.Response.Headers;
        // Revalidated on every load (cheap: 304 on the entity tag), so a deployment's new assets are picked up at once.
        headers.CacheControl = "no-cache";
        headers.ETag = assets.PageETag;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "same-origin";
        if (request.Headers.IfNoneMatch.ToString() == assets.PageETag)
        {
            return new HttpResultAction(Results.StatusCode(StatusCodes.Status304NotModified));
        }
        return new HttpResultAction(Results.Bytes(assets.Page, "text/html; charset=utf-8"));
    }

    [Function("usage-asset")]
    public IActionResult Asset([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "usage/assets/{name}")] HttpRequest request, string name)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (assets.Find(name) is not { } asset)
        {
            request.HttpContext.Response.Headers.CacheControl = "no-store";
            return new HttpResultAction(Results.NotFound());
        }
        var headers = request.HttpContext.Response.Headers;
        // The name carries the content's hash: it never changes, so any cache may keep it for a year.
        headers.CacheControl = "public, max-age=31536000, immutable";
        headers.ETag = asset.ETag;
        headers.XContentTypeOptions = "nosniff";
        return new HttpResultAction(Results.Bytes(asset.Bytes, asset.ContentType));
    }

    [Function("contact")]
    public Task<IActionResult> ContactAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/contacts/{personId}")] HttpRequest request,
        string personId, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (personId.Length is 0 or > 200)
            {
                return Problems.NotFound("The team has no such contact.");
            }
            // The team's contact store: what the team bought belongs to the team, so any of its keys may see it.
            var contact = await contacts.GetAsync(caller.TeamId, personId, ct);
            return contact is null
                ? Problems.NotFound("The team has no such contact.")
                : Results.Ok(new
                {
                    personId = contact.PersonId, name = contact.Name, email = contact.Email, emailProvider = contact.EmailProvider,
                    emailFoundAt = contact.EmailFoundAt, emailVerification = contact.EmailVerification, mobile = contact.Mobile,
                    mobileProvider = contact.MobileProvider, mobileFoundAt = contact.MobileFoundAt,
                });
        });
}
