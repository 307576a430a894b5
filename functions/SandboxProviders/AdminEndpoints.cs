using System.Text.Json;

namespace SandboxProviders;

/// <summary>
/// The sandbox's own controls under <c>/_admin</c>: vendors' settings (read, replace), their call statistics (read,
/// reset), and the data set (page through it, look up a person, pick people a vendor knows or not).
/// </summary>
internal static class AdminEndpoints
{
    private const int TakeMax = 1000;

    public static void MapAdmin(this WebApplication app, PeopleDataSet people, VendorRegistry vendors)
    {
        var admin = app.MapGroup("/_admin");
        admin.MapGet("/vendors", () => Json(vendors.Names.ToDictionary(n => n, n => vendors.Get(n), StringComparer.Ordinal)));
        admin.MapGet("/vendors/{name}", (string name) => vendors.Get(name) is { } settings ? Json(settings) : NotFound($"no vendor '{name}'"));
        admin.MapPut("/vendors/{name}", async (string name, HttpRequest request) =>
        {
            VendorSettings? settings;
            try
            {
                settings = await JsonSerializer.DeserializeAsync<VendorSettings>(request.Body, SandboxJson.Options, request.HttpContext.RequestAborted);
            }
            catch (JsonException ex)
            {
                return BadRequest($"malformed settings: {ex.Message}");
            }
            var errors = SandboxConfig.ValidateVendor(name, settings).ToList();
            if (errors.Count > 0)
            {
                return BadRequest(string.Join("; ", errors));
            }
            vendors.Set(name, settings!);
            return Json(settings!);
        });
        admin.MapGet("/vendors/{name}/stats", (string name) => vendors.Stats(name) is { } stats ? Json(stats) : NotFound($"no vendor '{name}'"));
        admin.MapDelete("/stats", () =>
        {
            vendors.ResetStats();
            return Results.NoContent();
        });
        admin.MapPost("/reset", () =>
        {
            vendors.Reset();
            return Results.NoContent();
        });

        admin.MapGet("/clock", () => Json(new { now = vendors.Clock.GetUtcNow(), @fixed = vendors.Clock.Fixed is not null }));
        admin.MapPut("/clock", async (HttpRequest request) =>
        {
            ClockBody? body;
            try
            {
                body = await JsonSerializer.DeserializeAsync<ClockBody>(request.Body, SandboxJson.Options, request.HttpContext.RequestAborted);
            }
            catch (JsonException ex)
            {
                return BadRequest($"malformed clock: {ex.Message}");
            }
            if (body?.Now is not { } now)
            {
                return BadRequest("now is required");
            }
            vendors.Clock.Fixed = now;
            return Json(new { now = vendors.Clock.GetUtcNow(), @fixed = true });
        });
        admin.MapDelete("/clock", () =>
        {
            vendors.Clock.Fixed = null;
            return Results.NoContent();
        });
        admin.MapGet("/people/{id}/jobs", (string id) =>
            people.FindById(id) is { } person ? Json(new { id, jobs = JobHistories.Of(people, person) }) : NotFound($"no person '{id}'"));

        admin.MapGet("/people", (int? skip, int? take) =>
        {
            var (s, t) = (Math.Max(0, skip ?? 0), Math.Clamp(take ?? 100, 1, TakeMax));
            return Json(new
            {
                total = people.People.Count,
                skip = s,
                take = t,
                people = people.People.Skip(s).Take(t).Select(p => VendorKnowledge.View(people, vendors, p)).ToList(),
            });
        });
        admin.MapGet("/people/{id}", (string id) =>
            people.FindById(id) is { } person ? Json(VendorKnowledge.View(people, vendors, person)) : NotFound($"no person '{id}'"));
        admin.MapGet("/people/sample", (string? knownBy, string? unknownBy, string? emailStatus, int? skip, int? take) =>
        {
            var known = List(knownBy);
            var unknown = List(unknownBy);
            var statuses = new List<(string Vendor, EmailStatus Status)>();
            foreach (var pair in List(emailStatus))
            {
                var parts = pair.Split(':', 2);
                if (parts.Length != 2 || !TryParseStatus(parts[1], out var status))
                {
                    return BadRequest($"emailStatus '{pair}' must be vendor:valid|catch_all|invalid|unknown");
                }
                statuses.Add((parts[0], status));
            }
            var missing = known.Concat(unknown).Concat(statuses.Select(s => s.Vendor)).FirstOrDefault(v => vendors.Get(v) is null);
            if (missing is not null)
            {
                return BadRequest($"no vendor '{missing}'");
            }
            var matches = people.People
                .Select(p => VendorKnowledge.View(people, vendors, p))
                .Where(v => known.All(k => v.Vendors[k].Known) && unknown.All(u => !v.Vendors[u].Known)
                    && statuses.All(s => v.Vendors[s.Vendor].Known && v.Vendors[s.Vendor].EmailStatus == s.Status))
                .Skip(Math.Max(0, skip ?? 0))
                .Take(Math.Clamp(take ?? 10, 1, TakeMax))
                .ToList();
            return Json(new { people = matches });
        });
    }

    private sealed record ClockBody(DateTimeOffset? Now);

    private static List<string> List(string? csv) => [.. (csv ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static bool TryParseStatus(string text, out EmailStatus status)
    {
        status = text switch
        {
            "valid" => EmailStatus.Valid,
            "catch_all" => EmailStatus.CatchAll,
            "invalid" => EmailStatus.Invalid,
            "unknown" => EmailStatus.Unknown,
            _ => (EmailStatus)(-1),
        };
        return Enum.IsDefined(status);
    }

    private static IResult Json<T>(T value) => Results.Json(value, SandboxJson.Options);

    private static IResult NotFound(string error) => Results.Json(new { error }, SandboxJson.Options, statusCode: 404);

    private static IResult BadRequest(string error) => Results.Json(new { error }, SandboxJson.Options, statusCode: 400);
}
