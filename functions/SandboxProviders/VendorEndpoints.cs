using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SandboxProviders;

/// <summary>
/// The vendors' own APIs under <c>/{vendor}/…</c>. Every call goes through the same steps, in this order: route
/// (404 unknown vendor or route), request parsing (400), counting, outage (503), API key (401), scripted or drawn
/// failure (429 with Retry-After, 500, hang then 504), latency, then the shape's answer. The failure draw and the
/// latency come from a hash of (vendor, call sequence number), so a sequence of calls is reproducible.
/// </summary>
internal static class VendorEndpoints
{
    private sealed record Query(string? FirstName, string? LastName, string? Domain, string? CompanyName, string? LinkedInUrl, string? Email, string? Ip = null,
        JsonArray? Contacts = null)
    {
        public IReadOnlyList<JsonObject>? Bulk { get; init; }

        public DateOnly Today { get; init; }
    }

    private delegate JsonObject Answer(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status);

    public static void MapVendors(this WebApplication app, PeopleDataSet people, VendorRegistry vendors) =>
        app.Map("/{vendor}/{**rest}", (HttpContext http, string vendor, string? rest) => HandleAsync(http, vendor, rest ?? string.Empty, people, vendors));

    private static async Task HandleAsync(HttpContext http, string vendor, string rest, PeopleDataSet people, VendorRegistry vendors)
    {
        var state = vendors.Find(vendor);
        if (state is null)
        {
            await WriteAsync(http, 404, new JsonObject { ["error"] = "no such vendor" });
            return;
        }
        var route = Route(state, http.Request.Method, rest);
        if (route is null)
        {
            await WriteAsync(http, 404, new JsonObject { ["error"] = "no such route" });
            return;
        }
        var (parse, answer) = route.Value;
        Query? query;
        try
        {
            query = await parse(http.Request);
        }
        catch (JsonException)
        {
            query = null;
        }
        if (query is null)
        {
            await WriteAsync(http, 400, new JsonObject { ["error"] = "malformed request" });
            return;
        }

        query = query with { Today = DateOnly.FromDateTime(vendors.Clock.GetUtcNow().UtcDateTime) };
        var person = query.LinkedInUrl is not null ? people.FindByLinkedIn(query.LinkedInUrl) : null;
        person ??= people.FindByName(query.FirstName, query.LastName, query.Domain);
        person ??= query.Email is not null ? people.FindByEmail(query.Email) : null;
        var call = state.Begin(vendors.Now, person?.Id);
        var settings = call.Settings;
        var aborted = http.RequestAborted;
        try
        {
            if (settings.Outage)
            {
                await CompleteAsync(http, state, call, 503, new JsonObject { ["error"] = "service unavailable" });
                return;
            }
            if (settings.ApiKey is { } key && !string.Equals(http.Request.Headers[key.Header].ToString(), key.Value, StringComparison.Ordinal))
            {
                await CompleteAsync(http, state, call, 401, new JsonObject { ["error"] = "invalid or missing API key" });
                return;
            }
            switch (call.Scripted ?? Draw(settings.Failures, StableHash.Unit(vendor, "failure", call.Sequence.ToString(CultureInfo.InvariantCulture))))
            {
                case ScriptedResponse.RateLimited:
                    http.Response.Headers.RetryAfter = settings.Failures.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                    await CompleteAsync(http, state, call, 429, new JsonObject { ["error"] = "rate limit exceeded" });
                    return;
                case ScriptedResponse.ServerError:
                    await CompleteAsync(http, state, call, 500, new JsonObject { ["error"] = "internal error" });
                    return;
                case ScriptedResponse.Hang:
                    await Task.Delay(settings.Failures.HangMilliseconds, aborted);
                    await CompleteAsync(http, state, call, 504, new JsonObject { ["error"] = "upstream timeout" });
                    return;
            }
            var sequence = call.Sequence.ToString(CultureInfo.InvariantCulture);
            var latency = settings.Latency.Sample(StableHash.Unit(vendor, "latency", sequence), StableHash.Unit(vendor, "latency2", sequence));
            if (latency > TimeSpan.Zero)
            {
                await Task.Delay(latency, aborted);
            }
            var body = answer(vendor, settings, people, person, query, out var status);
            await CompleteAsync(http, state, call, status, body);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            state.Complete(call, 499);
        }

        ScriptedResponse? Draw(FailureSettings failures, double u) =>
            u < failures.RateLimitedRate ? ScriptedResponse.RateLimited
            : u < failures.RateLimitedRate + failures.ServerErrorRate ? ScriptedResponse.ServerError
            : u < failures.RateLimitedRate + failures.ServerErrorRate + failures.HangRate ? ScriptedResponse.Hang
            : null;
    }

    private static (Func<HttpRequest, Task<Query?>> Parse, Answer Answer)? Route(VendorRegistry.VendorState state, string method, string rest) =>
        (state.Settings.Shape, method.ToUpperInvariant(), rest.Trim('/')) switch
        {
            (VendorShape.Crm, "POST", "v1/contacts/batch") => (CrmBatch, (string _, VendorSettings _, PeopleDataSet _, Person? _, Query query, out int status) =>
                CrmReceive(state, query, out status)),
            (VendorShape.Crm, "GET", "v1/contacts") => (_ => Task.FromResult<Query?>(new Query(null, null, null, null, null, null)),
                (string _, VendorSettings _, PeopleDataSet _, Person? _, Query _, out int status) =>
                {
                    status = 200;
                    return new JsonObject { ["contacts"] = new JsonArray([.. state.CrmContacts.Values.OrderBy(c => (long)c["id"]!).Select(c => c.DeepClone())]) };
                }),
            (VendorShape.Leadmine, "GET", "v1/email") => (FromQuery, LeadmineEmail),
            (VendorShape.Mailscout, "POST", "api/find") => (MailscoutBody, MailscoutFind),
            (VendorShape.Dialbase, "GET", "v2/mobile") => (FromQuery, DialbaseMobile),
            (VendorShape.Dialbase, "GET", "v2/job") => (FromQuery, DialbaseJob),
            (VendorShape.Verifly, "POST", "verify") => (VeriflyBody, VeriflyVerify),
            (VendorShape.Sagewise, "POST", "v1/research") => (SagewiseBody, SagewiseResearch),
            (VendorShape.ReverseIp, "GET", "v1/ip") => (IpQuery, ReverseIpLookup),
            (VendorShape.JobHistory, "POST", "v1/jobs/bulk") => (BulkBody, JobsBulk),
            _ => null,
        };

    private static Task<Query?> FromQuery(HttpRequest request)
    {
        string? Get(string name) => request.Query[name] is { Count: > 0 } v && !string.IsNullOrWhiteSpace(v[0]) ? v[0] : null;
        var query = new Query(Get("first_name"), Get("last_name"), Get("domain") ?? Get("company_domain"), null, Get("linkedin_url"), null);
        var identified = query.LinkedInUrl is not null || (query.FirstName is not null && query.LastName is not null && query.Domain is not null);
        return Task.FromResult(identified ? query : null);
    }

    private static async Task<Query?> MailscoutBody(HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        string? Get(string section, string name) => body?[section]?[name]?.GetValueKind() == JsonValueKind.String ? body[section]![name]!.GetValue<string>() : null;
        var query = new Query(Get("person", "first_name"), Get("person", "last_name"), Get("company", "domain"), Get("company", "name"),
            Get("person", "linkedin_url"), null);
        var identified = query.LinkedInUrl is not null || (query.FirstName is not null && query.LastName is not null && query.Domain is not null);
        return identified ? query : null;
    }

    private static async Task<Query?> CrmBatch(HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        if (body?["contacts"] is not JsonArray { Count: > 0 and <= 100 } contacts
            || contacts.Any(c => c is not JsonObject o || o["externalId"]?.GetValueKind() != JsonValueKind.String || o["externalId"]!.GetValue<string>().Length == 0))
        {
            return null;
        }
        return new Query(null, null, null, null, null, null, Contacts: contacts);
    }

    private static JsonObject CrmReceive(VendorRegistry.VendorState state, Query query, out int status)
    {
        var results = new JsonArray();
        foreach (var contact in query.Contacts!.Cast<JsonObject>())
        {
            var externalId = contact["externalId"]!.GetValue<string>();
            var created = false;
            var stored = state.CrmContacts.AddOrUpdate(externalId,
                _ =>
                {
                    created = true;
                    var fresh = (JsonObject)contact.DeepClone();
                    fresh["id"] = Interlocked.Increment(ref state.NextCrmId);
                    fresh["updates"] = 0;
                    return fresh;
                },
                (_, old) =>
                {
                    var merged = (JsonObject)contact.DeepClone();
                    merged["id"] = (long)old["id"]!;
                    merged["updates"] = (int)old["updates"]! + 1;
                    return merged;
                });
            results.Add(new JsonObject { ["externalId"] = externalId, ["id"] = (long)stored["id"]!, ["created"] = created });
        }
        status = 200;
        return new JsonObject { ["results"] = results };
    }

    private static Task<Query?> IpQuery(HttpRequest request) =>
        Task.FromResult(request.Query["ip"] is { Count: > 0 } v && System.Net.IPAddress.TryParse(v[0], out var ip)
            ? new Query(null, null, null, null, null, null, ip.ToString())
            : null);

    private static JsonObject ReverseIpLookup(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status)
    {
        status = 200;
        return CompanyRanges.Resolve(vendor, settings, people, System.Net.IPAddress.Parse(query.Ip!)) switch
        {
            { Company: { } company } => new JsonObject
            {
                ["type"] = "company",
                ["company"] = new JsonObject { ["name"] = company.Name, ["domain"] = company.Domain },
                ["confidence"] = Math.Round(0.6 + StableHash.Unit(vendor, "ip-confidence", company.Domain) * 0.4, 2),
            },
            { Kind: "isp" } => new JsonObject { ["type"] = "isp", ["isp"] = "Sandbox Mobile Carrier" },
            { Kind: var kind } => new JsonObject { ["type"] = kind },
        };
    }

    private static async Task<Query?> BulkBody(HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        if (body?["people"] is not JsonArray array || array.Count is 0 or > JobHistories.BulkMax || array.Any(p => p is not JsonObject))
        {
            return null;
        }
        return new Query(null, null, null, null, null, null) { Bulk = [.. array.Select(p => (JsonObject)p!)] };
    }

    private static JsonObject JobsBulk(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status)
    {
        status = 200;
        return JobHistories.Answer(vendor, settings, people, query.Bulk!, query.Today);
    }

    private static async Task<Query?> VeriflyBody(HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        var email = body?["email"]?.GetValueKind() == JsonValueKind.String ? body["email"]!.GetValue<string>().Trim() : null;
        return email is { Length: > 2 } && email.Contains('@', StringComparison.Ordinal) ? new Query(null, null, null, null, null, email) : null;
    }

    private static async Task<Query?> SagewiseBody(HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        string? Get(string name) => body?[name]?.GetValueKind() == JsonValueKind.String && body[name]!.GetValue<string>() is { Length: > 0 } v ? v : null;
        var query = new Query(Get("first_name"), Get("last_name"), Get("company_domain"), null, Get("linkedin_url"), null);
        return query.LinkedInUrl is not null || query.Domain is not null ? query : null;
    }

    private static JsonObject SagewiseResearch(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status)
    {
        var company = query.LinkedInUrl is null && query.FirstName is null ? people.FindAnyAt(query.Domain) : null;
        if (company is not null)
        {
            status = 200;
            return new JsonObject
            {
                ["status"] = "ok",
                ["summary"] = $"{company.CompanyName} ({company.CompanyDomain}) is a company of the sandbox data set; people there include {company.JobTitle}s.",
                ["company"] = new JsonObject { ["name"] = company.CompanyName, ["domain"] = company.CompanyDomain },
            };
        }
        if (person is null || !VendorKnowledge.Knows(vendor, settings, person))
        {
            status = 404;
            return new JsonObject { ["status"] = "not_found" };
        }
        status = 200;
        return new JsonObject
        {
            ["status"] = "ok",
            ["summary"] = $"{person.FirstName} {person.LastName} is {person.JobTitle} at {person.CompanyName}.",
            ["company"] = new JsonObject { ["name"] = person.CompanyName, ["domain"] = person.CompanyDomain },
        };
    }

    private static JsonObject LeadmineEmail(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status)
    {
        status = 200;
        if (person is null || !VendorKnowledge.Knows(vendor, settings, person))
        {
            return new JsonObject { ["data"] = null };
        }
        return new JsonObject
        {
            ["data"] = new JsonObject
            {
                ["email"] = VendorKnowledge.EmailFor(vendor, settings, person),
                ["confidence"] = (int)Math.Round(VendorKnowledge.ConfidenceFor(vendor, settings, person) * 100),
                ["sources"] = 1 + (int)(StableHash.Unit(vendor, "sources", person.Id) * 5),
            },
        };
    }

    private static JsonObject MailscoutFind(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status)
    {
        if (person is null || !VendorKnowledge.Knows(vendor, settings, person))
        {
            status = 404;
            return new JsonObject { ["result"] = "not_found" };
        }
        status = 200;
        return new JsonObject
        {
            ["result"] = "found",
            ["score"] = VendorKnowledge.ConfidenceFor(vendor, settings, person),
            ["person"] = new JsonObject
            {
                ["first_name"] = person.FirstName,
                ["last_name"] = person.LastName,
                ["work_email"] = VendorKnowledge.EmailFor(vendor, settings, person),
                ["title"] = person.JobTitle,
            },
            ["company"] = new JsonObject { ["name"] = person.CompanyName, ["domain"] = person.CompanyDomain },
        };
    }

    private static JsonObject DialbaseMobile(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status)
    {
        status = 200;
        if (person is null || !VendorKnowledge.Knows(vendor, settings, person))
        {
            return new JsonObject { ["status"] = "no_match", ["phones"] = new JsonArray() };
        }
        return new JsonObject
        {
            ["status"] = "ok",
            ["phones"] = new JsonArray(new JsonObject { ["type"] = "mobile", ["number"] = person.MobilePhone, ["country"] = "US" }),
        };
    }

    private static JsonObject DialbaseJob(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status)
    {
        status = 200;
        if (person is null || !VendorKnowledge.Knows(vendor, settings, person))
        {
            return new JsonObject { ["status"] = "no_match" };
        }
        return new JsonObject
        {
            ["status"] = "ok",
            ["position"] = new JsonObject
            {
                ["title"] = person.JobTitle,
                ["company"] = new JsonObject { ["name"] = person.CompanyName, ["domain"] = person.CompanyDomain },
            },
        };
    }

    private static JsonObject VeriflyVerify(string vendor, VendorSettings settings, PeopleDataSet people, Person? person, Query query, out int status)
    {
        status = 200;
        var email = query.Email!;
        var verdict = VendorKnowledge.Verify(vendor, settings, people, email);
        return new JsonObject
        {
            ["email"] = email,
            ["result"] = verdict switch
            {
                EmailStatus.Valid => "deliverable",
                EmailStatus.CatchAll => "accept_all",
                EmailStatus.Invalid => "undeliverable",
                _ => "unknown",
            },
            ["score"] = verdict switch { EmailStatus.Valid => 0.97, EmailStatus.CatchAll => 0.5, EmailStatus.Invalid => 0.02, _ => 0.3 },
        };
    }

    private static async Task CompleteAsync(HttpContext http, VendorRegistry.VendorState state, VendorRegistry.CallRecord call, int status, JsonNode? body)
    {
        // Recorded before the answer is written: a caller that has its answer finds the call in the stats.
        state.Complete(call, status);
        await WriteAsync(http, status, body);
    }

    private static async Task WriteAsync(HttpContext http, int status, JsonNode? body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(body?.ToJsonString() ?? "null", http.RequestAborted);
    }
}
