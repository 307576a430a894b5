using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Api;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace CreditFunctions.Visitors;

/// <summary>Sites (<c>/api/v1/sites</c>), the public events URL (<c>/api/visitors/events</c>, no API key: the site key
/// and the site's origin) and the events queue's function.</summary>
public sealed class VisitorFunctions(VisitorService visitors, Platform.EgressGuard egress, Waterfall.EnrichmentSettingsStore secrets, ApiGate gate)
{
    /// <summary>Registers a site (admin): <c>{domain, excludedIps: [CIDR…], suppressedDomains: […], webhookUrl?}</c> → 201 with
    /// its id and public site key.</summary>
    [Function("sites-create")]
    public Task<IActionResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/sites")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var (read, bodyProblem) = await RequestBody.ReadJsonAsync<SiteBody>(request, s_json, ct);
            if (bodyProblem is not null)
            {
                return bodyProblem;
            }
            SiteBody body = read ?? new SiteBody();
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            var domain = body.Domain is null ? string.Empty : VisitorService.NormalizeDomain(body.Domain);
            if (domain.Length is 0 or > 253 || !domain.Contains('.', StringComparison.Ordinal) || domain.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '-')))
            {
                errors["domain"] = ["must be a domain name (example.com)"];
            }
            var excluded = body.ExcludedIps ?? [];
            for (var i = 0; i < excluded.Count; i++)
            {
                if (!IPNetwork2.TryParse(excluded[i], out _) || !excluded[i].Contains('/', StringComparison.Ordinal))
                {
                    errors[$"excludedIps[{i}]"] = ["must be a CIDR range (203.0.113.0/24)"];
                }
            }
            if (excluded.Count > 500 || (body.SuppressedDomains?.Count ?? 0) > 5000)
            {
                errors["body"] = ["at most 500 excluded ranges and 5,000 suppressed domains"];
            }
            if (body.WebhookUrl is { } url
                && (egress.Refusal(url) ?? (secrets.CanProtectSecrets ? null : $"Webhooks are signed: set {Waterfall.SecretProtector.KeySetting}.")) is { } refused)
            {
                errors["webhookUrl"] = [refused];
            }
            if (errors.Count > 0)
            {
                return Problems.Validation(errors);
            }
            var site = await visitors.RegisterAsync(caller.TeamId, domain, excluded, body.SuppressedDomains ?? [], body.WebhookUrl, ct);
            return Results.Json(View(site), statusCode: StatusCodes.Status201Created);
        }, ApiAccess.Admin);

    /// <summary>The team's site; another team's is 404.</summary>
    [Function("sites-get")]
    public Task<IActionResult> GetAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sites/{siteId}")] HttpRequest request, string siteId,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
            await visitors.GetAsync(caller.TeamId, siteId, ct) is { } site ? Results.Ok(View(site)) : Problems.NotFound("No such site."));

    /// <summary>The site's identified companies, months <c>from</c>..<c>to</c> (<c>yyyy-MM</c>, default this month).</summary>
    [Function("sites-companies")]
    public Task<IActionResult> CompaniesAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sites/{siteId}/companies")] HttpRequest request,
        string siteId, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await visitors.GetAsync(caller.TeamId, siteId, ct) is null)
            {
                return Problems.NotFound("No such site.");
            }
            var thisMonth = DateTimeOffset.UtcNow.ToString("yyyy-MM", CultureInfo.InvariantCulture);
            var from = request.Query["from"].FirstOrDefault() ?? thisMonth;
            var to = request.Query["to"].FirstOrDefault() ?? thisMonth;
            foreach (var (name, value) in new[] { ("from", from), ("to", to) })
            {
                if (!DateTime.TryParseExact(value, "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
                {
                    return Problems.Validation(name, "must be a month, yyyy-MM");
                }
            }
            var rows = await visitors.ListCompaniesAsync(siteId, from, to, ct);
            return Results.Ok(new
            {
                companies = rows.OrderByDescending(r => r.LastSeen).Select(r => new
                {
                    month = r.Month, domain = r.Domain, name = r.Name, status = r.Status, visits = r.Visits, pages = r.Pages,
                    firstSeen = r.FirstSeen, lastSeen = r.LastSeen, matchedContacts = r.Matched(), webhook = r.Webhook,
                }),
            });
        });

    /// <summary>
    /// The events a site's snippet posts: <c>{siteKey, events: [{ip?, page, referrer, userAgent, at}]}</c> (or one event's
    /// fields beside <c>siteKey</c>), at most 100. CORS: a browser's <c>Origin</c> must be the site's domain or a subdomain
    /// (403 otherwise; preflight answered). The address is the event's <c>ip</c>, else the connection's, else a trusted
    /// proxy's <c>X-Forwarded-For</c>. 202 once queued; 404 for an unknown site key.
    /// </summary>
    [Function("visitors-events")]
    public async Task<IActionResult> EventsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", "options", Route = "visitors/events")] HttpRequest request,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var origin = request.Headers.Origin.FirstOrDefault();
        if (HttpMethods.IsOptions(request.Method))
        {
            // The site is known only from the body: a preflight is answered for any origin, the POST itself is checked.
            if (origin is not null)
            {
                request.HttpContext.Response.Headers.AccessControlAllowOrigin = origin;
                request.HttpContext.Response.Headers.AccessControlAllowMethods = "POST";
                request.HttpContext.Response.Headers.AccessControlAllowHeaders = "Content-Type";
                request.HttpContext.Response.Headers.AccessControlMaxAge = "600";
                request.HttpContext.Response.Headers.Vary = "Origin";
            }
            return new HttpResultAction(Results.NoContent());
        }
        var (bytes, tooLarge) = await RequestBody.ReadAsync(request, RequestBody.LimitBytesDefault, ct).ConfigureAwait(false);
        if (tooLarge is not null)
        {
            return new HttpResultAction(tooLarge);
        }
        EventsBody body;
        try
        {
            body = JsonSerializer.Deserialize<EventsBody>(bytes!.Length == 0 ? "{}"u8 : bytes, s_events) ?? new EventsBody();
        }
        catch (JsonException ex)
        {
            var (field, message) = RequestBody.Describe(ex);
            return new HttpResultAction(Problems.Validation(field, message));
        }
        var site = await visitors.GetByKeyAsync(body.SiteKey, ct).ConfigureAwait(false);
        if (site is null)
        {
            return new HttpResultAction(body.SiteKey is null ? Problems.Validation("siteKey", "is required") : Problems.NotFound("No such site key."));
        }
        if (origin is not null)
        {
            var host = Uri.TryCreate(origin, UriKind.Absolute, out var uri) ? VisitorService.NormalizeDomain(uri.Host) : string.Empty;
            if (host != site.Domain && !host.EndsWith("." + site.Domain, StringComparison.Ordinal))
            {
                return new HttpResultAction(Problems.Forbidden("Events are accepted from the site's own origin only."));
            }
            request.HttpContext.Response.Headers.AccessControlAllowOrigin = origin;
            request.HttpContext.Response.Headers.Vary = "Origin";
        }
        var given = body.Events ?? (body.Page is not null || body.Ip is not null || body.UserAgent is not null
            ? [new EventBody { Ip = body.Ip, Page = body.Page, Referrer = body.Referrer, UserAgent = body.UserAgent, At = body.At }]
            : []);
        if (given.Count is 0 or > VisitorService.EventsMax)
        {
            return new HttpResultAction(Problems.Validation("events", $"must hold 1 to {VisitorService.EventsMax} events"));
        }
        var client = visitors.ClientAddress(request.HttpContext.Connection.RemoteIpAddress, request.Headers["X-Forwarded-For"].FirstOrDefault());
        var events = new List<VisitEvent>(given.Count);
        for (var i = 0; i < given.Count; i++)
        {
            var e = given[i];
            IPAddress? ip = client;
            if (e.Ip is not null && !IPAddress.TryParse(e.Ip, out ip))
            {
                return new HttpResultAction(Problems.Validation($"events[{i}].ip", "must be an IP address"));
            }
            if (ip is null)
            {
                continue;
            }
            events.Add(new VisitEvent(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4().ToString() : ip.ToString(), Cut(e.Page), Cut(e.UserAgent), visitors.TimeOf(e.At)));
        }
        await visitors.QueueAsync(site, events, ct).ConfigureAwait(false);
        return new HttpResultAction(Results.Json(new { queued = events.Count }, statusCode: StatusCodes.Status202Accepted));
    }

    /// <summary>Processes a batch of events (at least once; a failing provider makes it come back, 5 times, then the poison queue).</summary>
    [Function("visitor-events")]
    public Task ProcessAsync([QueueTrigger("%" + VisitorOptions.QueueSetting + "%")] VisitBatch batch, CancellationToken ct) => visitors.ProcessAsync(batch, ct);

    private static string? Cut(string? text) => text is { Length: > VisitorService.TextLengthMax } ? text[..VisitorService.TextLengthMax] : text;

    private static object View(SiteRow site) => new
    {
        id = site.SiteId,
        siteKey = VisitorService.KeyOf(site),
        domain = site.Domain,
        excludedIps = site.ExcludedIps(),
        suppressedDomains = site.SuppressedDomains(),
        webhookUrl = site.WebhookUrl,
        createdAt = site.CreatedAt,
    };

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    private static readonly JsonSerializerOptions s_events = new(JsonSerializerDefaults.Web);

    private sealed class SiteBody
    {
        public string? Domain { get; set; }
        public List<string>? ExcludedIps { get; set; }
        public List<string>? SuppressedDomains { get; set; }
        public string? WebhookUrl { get; set; }
    }

    private class EventBody
    {
        public string? Ip { get; set; }
        public string? Page { get; set; }
        public string? Referrer { get; set; }
        public string? UserAgent { get; set; }
        public DateTimeOffset? At { get; set; }
    }

    private sealed class EventsBody : EventBody
    {
        public string? SiteKey { get; set; }
        public List<EventBody>? Events { get; set; }
    }
}

/// <summary>Registers website visitors.</summary>
public static class VisitorsSetup
{
    /// <summary>Adds the site store and the visitor service (in the inbound table). Settings:
    /// <c>CREDITFUNCTIONS_VISITORS_QUEUE</c> (default <c>visitor-events</c>; the trigger needs it set),
    /// <c>CREDITFUNCTIONS_TRUSTED_PROXIES</c> (empty).</summary>
    public static IServiceCollection AddVisitors(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(VisitorOptions.From(configuration));
        services.AddSingleton(sp => new VisitorStore(sp.GetRequiredService<Forms.FormStore>().Table));
        services.AddSingleton<VisitorService>();
        return services;
    }
}
