using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Api;
using CreditFunctions.Hosting;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace CreditFunctions.Tracking;

/// <summary>
/// The tracking API under <c>/api/v1/tracking</c>: track (<c>POST contacts</c>, up to 10,000, all or nothing), untrack
/// (<c>DELETE contacts/{id}</c>, <c>POST contacts/untrack</c> by ids or a filter), list (<c>GET contacts</c>), settings
/// (<c>PUT settings</c>: webhook and what a change does), scans (<c>POST scans</c>: today's scan of the team, once a day)
/// and events (<c>GET events?from&amp;to</c>, <c>POST events/{id}/buy</c>).
/// </summary>
public sealed class TrackingFunctions(TrackingService tracking, TrackingScanner scanner, TrackingStore store, TrackingScans scans, EgressGuard guard,
    ApiGate gate, Azure.Storage.Blobs.BlobServiceClient blobs, TimeProvider clock)
{
    /// <summary>The container of tracking files uploaded through a SAS (<c>tracking-uploads/{team}/{id}.csv</c>).</summary>
    public const string UploadContainer = "tracking-uploads";

    /// <summary>How long an upload URL takes writes.</summary>
    public static readonly TimeSpan UploadUrlLifetime = TimeSpan.FromHours(1);
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>The most a track request's body may hold: 10,000 contacts of a few hundred bytes.</summary>
    public const int TrackBodyLimitBytes = 8 * 1024 * 1024;

    [Function("tracking-track")]
    public Task<IActionResult> TrackAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/tracking/contacts")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var key = IdempotencyKeys.Read(request, required: false, out var keyProblem);
            if (keyProblem is not null)
            {
                return keyProblem;
            }
            var (body, problem) = await RequestBody.ReadJsonAsync<TrackBody>(request, s_json, ct, TrackBodyLimitBytes);
            if (problem is not null)
            {
                return problem;
            }
            if (body?.MaxCredits is { } max && max < Credits.Zero)
            {
                return Problems.Validation("maxCredits", "Must be 0 or more.");
            }
            var (items, invalid) = Validate(body?.Contacts);
            return invalid ?? await TrackItemsAsync(caller.TeamId, caller.UserId, items, key, ct, body?.MaxCredits);
        });

    /// <summary>Validates contacts (each a <c>contactId</c> or a <c>person</c>), naming the field of each error.</summary>
    internal static (List<TrackItem> Items, IResult? Problem) Validate(IReadOnlyList<ContactBody?>? contacts)
    {
        if (contacts is null || contacts.Count == 0)
        {
            return ([], Problems.Validation("contacts", "Give 1 to 10000 contacts, each a contactId or a person."));
        }
        if (contacts.Count > TrackingService.ContactsPerRequestMax)
        {
            return ([], Problems.Validation("contacts", $"At most {TrackingService.ContactsPerRequestMax} contacts per request; {contacts.Count} given."));
        }
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var items = new List<TrackItem>(contacts.Count);
        for (var i = 0; i < contacts.Count; i++)
        {
            var c = contacts[i];
            var field = $"contacts[{i}]";
            if (c is null || (c.ContactId is null) == (c.Person is null))
            {
                errors[field] = ["Give either a contactId or a person."];
            }
            else if (c.ContactId is { } id)
            {
                if (id.Length is 0 or > 100 || id.Any(ch => char.IsControl(ch) || ch is '/' or '\\' or '#' or '?'))
                {
                    errors[field + ".contactId"] = ["Not a contact id."];
                }
            }
            else
            {
                WaterfallApiFunctions.AddPersonErrors(errors, field + ".person", c.Person);
            }
            if (errors.Count >= 20)
            {
                break;
            }
            items.Add(new TrackItem(c?.ContactId, c?.Person));
        }
        return errors.Count > 0 ? ([], Problems.Validation(errors)) : (items, null);
    }

    /// <summary>Tracks validated items and answers as the API does (200, 402, 404, 409).</summary>
    internal async Task<IResult> TrackItemsAsync(string teamId, string userId, List<TrackItem> items, string? key, CancellationToken ct,
        Credits? maxCredits = null)
    {
        try
        {
            return Results.Ok(await tracking.TrackAsync(teamId, userId, items, key, ct, maxCredits));
        }
        catch (TrackRefusedException refused) when (refused.Problem == "quote-exceeds-max-credits")
        {
            return Problems.Create(StatusCodes.Status409Conflict, refused.Problem, "The request could hold more than maxCredits.", refused.Message,
                new Dictionary<string, object?> { ["creditType"] = "tracking", ["over"] = refused.Missing });
        }
        catch (TrackRefusedException refused)
        {
            return Problems.Create(StatusCodes.Status402PaymentRequired, refused.Problem, refused.Problem == "spend-limit-reached"
                ? "The member's spend limit is reached." : "Not enough tracking credits.", refused.Message,
                new Dictionary<string, object?> { ["creditType"] = "tracking", ["missing"] = refused.Missing });
        }
        catch (UnknownContactException unknown)
        {
            return Problems.Create(StatusCodes.Status404NotFound, "not-found", "Not found.", unknown.Message,
                new Dictionary<string, object?> { ["field"] = unknown.Field });
        }
        catch (IdempotencyKeyReusedException)
        {
            return Problems.IdempotencyKeyReused();
        }
    }

    /// <summary><c>POST /api/v1/tracking/uploads</c>: a CSV file of contacts (the body, up to the CSV jobs' direct-upload
    /// limit) read by the CSV jobs' scanner and mapping (encoding, delimiter, header aliases, limits), each row a person;
    /// then tracked like a <c>POST contacts</c> of its rows, all or nothing. A row that names no one is a 400 naming it.</summary>
    /// With <c>Content-Type: application/json</c> (an empty object) it answers 201 with an upload instead, the way of a CSV
    /// job: <c>upload.url</c>, a write-only SAS of <c>tracking-uploads/{team}/{id}.csv</c> for an hour, and <c>trackUrl</c>,
    /// which tracks the uploaded file's rows the same way.
    [Function("tracking-upload")]
    public Task<IActionResult> UploadAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/tracking/uploads")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var key = IdempotencyKeys.Read(request, required: false, out var keyProblem);
            if (keyProblem is not null)
            {
                return keyProblem;
            }
            if (request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
            {
                var id = "tu_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
                var container = blobs.GetBlobContainerClient(UploadContainer);
                await container.CreateIfNotExistsAsync(cancellationToken: ct);
                // The team's record of the upload: another team's id is a 404, not an upload still to come.
                await store.Table.AddEntityAsync(new Azure.Data.Tables.TableEntity(caller.TeamId, "u|" + id) { ["CreatedBy"] = caller.UserId }, ct);
                var now = clock.GetUtcNow();
                var url = await BlobSas.ForBlobAsync(blobs, container.GetBlobClient($"{caller.TeamId}/{id}.csv"),
                    Azure.Storage.Sas.BlobSasPermissions.Create | Azure.Storage.Sas.BlobSasPermissions.Write, now, now + UploadUrlLifetime, ct);
                return Results.Json(new
                {
                    id, upload = new { url, expiresAt = now + UploadUrlLifetime, headers = new Dictionary<string, string> { ["x-ms-blob-type"] = "BlockBlob" } },
                    trackUrl = $"{request.Scheme}://{request.Host}{request.PathBase}/api/v1/tracking/uploads/{id}/track",
                }, statusCode: StatusCodes.Status201Created);
            }
            var (bytes, tooLarge) = await RequestBody.ReadAsync(request, CsvJobs.CsvLimits.DirectUploadBytesMax, ct);
            if (tooLarge is not null)
            {
                return tooLarge;
            }
            List<TrackItem> items;
            try
            {
                items = await ReadCsvAsync(bytes!, ct);
            }
            catch (CsvJobs.CsvFileException bad)
            {
                return Problems.Validation(bad.Limit, bad.Message);
            }
            return await TrackItemsAsync(caller.TeamId, caller.UserId, items, key, ct);
        });

    /// <summary><c>POST /api/v1/tracking/uploads/{id}/track</c>: tracks the rows of a file uploaded through the upload's
    /// SAS, with the same parser, limits and answers as a direct upload. Tracking the same upload again answers its first
    /// result (the upload is its idempotency key). 404 for another team's upload, 409 <c>upload-missing</c> before the file.</summary>
    [Function("tracking-upload-track")]
    public Task<IActionResult> TrackUploadAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/tracking/uploads/{id}/track")] HttpRequest request, string id, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (id is not { Length: 27 } || !id.StartsWith("tu_", StringComparison.Ordinal) || !id[3..].All(char.IsAsciiHexDigitLower)
                || await store.Table.GetEntityOrNullAsync<Azure.Data.Tables.TableEntity>(caller.TeamId, "u|" + id, ct) is null)
            {
                return Problems.NotFound($"No tracking upload '{id}' in this team.");
            }
            var blob = blobs.GetBlobContainerClient(UploadContainer).GetBlobClient($"{caller.TeamId}/{id}.csv");
            byte[] bytes;
            try
            {
                var properties = await blob.GetPropertiesAsync(cancellationToken: ct);
                if (properties.Value.ContentLength > CsvJobs.CsvLimits.DirectUploadBytesMax)
                {
                    return Problems.Validation("file",
                        $"The file has {properties.Value.ContentLength:N0} bytes; a tracking file of at most {TrackingService.ContactsPerRequestMax:N0} rows fits in {CsvJobs.CsvLimits.DirectUploadBytesMax:N0}.");
                }
                bytes = (await blob.DownloadContentAsync(ct)).Value.Content.ToArray();
            }
            catch (Azure.RequestFailedException ex) when (ex.Status == 404)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "upload-missing", "Nothing was uploaded yet.",
                    "PUT the file to the upload's URL first; nothing was tracked.");
            }
            List<TrackItem> items;
            try
            {
                items = await ReadCsvAsync(bytes, ct);
            }
            catch (CsvJobs.CsvFileException bad)
            {
                return Problems.Validation(bad.Limit, bad.Message);
            }
            return await TrackItemsAsync(caller.TeamId, caller.UserId, items, "upload:" + id, ct);
        });

    private static async Task<List<TrackItem>> ReadCsvAsync(byte[] bytes, CancellationToken ct)
    {
        using var file = new MemoryStream(bytes, writable: false);
        var scan = await CsvJobs.CsvScanner.ScanAsync(file, bytes.Length, TrackingService.ContactsPerRequestMax, ct);
        if (scan.Rows > TrackingService.ContactsPerRequestMax)
        {
            throw new CsvJobs.CsvFileException("rows", $"The file has {scan.Rows:N0} rows; at most {TrackingService.ContactsPerRequestMax:N0} contacts are tracked per upload.");
        }
        if (scan.Rows == 0)
        {
            throw new CsvJobs.CsvFileException("rows", "The file has a header and no rows.");
        }
        var columns = CsvJobs.CsvMapping.Resolve(scan.Header, null, needsEmail: false);
        var start = (int)scan.ChunkOffsets[0];
        var text = CsvJobs.CsvScan.TextEncoding(scan.Encoding).GetString(bytes, start, bytes.Length - start);
        var items = new List<TrackItem>(scan.Rows);
        foreach (var row in CsvJobs.CsvRows.ReadRange(text, scan.Delimiter, 1))
        {
            var (person, error) = CsvJobs.CsvMapping.PersonOf(row, columns, scan.Header.Count);
            if (person is null)
            {
                throw new CsvJobs.CsvFileException($"rows[{row.Number}]", $"Row {row.Number} cannot be tracked: {error}.");
            }
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            WaterfallApiFunctions.AddPersonErrors(errors, "person", person);
            if (errors.Count > 0)
            {
                throw new CsvJobs.CsvFileException($"rows[{row.Number}]", $"Row {row.Number} cannot be tracked: {string.Join(", ", errors.Keys)}.");
            }
            items.Add(new TrackItem(null, person));
        }
        return items;
    }

    [Function("tracking-untrack")]
    public Task<IActionResult> UntrackAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/tracking/contacts/{id}")] HttpRequest request, string id,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await store.GetContactAsync(caller.TeamId, id, ct) is not { State: TrackingStates.Tracked })
            {
                return Problems.NotFound($"The team does not track contact '{id}'.");
            }
            return Results.Ok(await tracking.UntrackAsync(caller.TeamId, caller.UserId, [id], ct));
        });

    [Function("tracking-untrack-bulk")]
    public Task<IActionResult> UntrackBulkAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/tracking/contacts/untrack")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var (body, problem) = await RequestBody.ReadJsonAsync<UntrackBody>(request, s_json, ct, TrackBodyLimitBytes);
            if (problem is not null)
            {
                return problem;
            }
            if (body is null || (body.ContactIds is null) == (body.Filter is null))
            {
                return Problems.Validation("contactIds", "Give either contactIds (1 to 10000) or a filter ({\"all\":true} or {\"companyDomain\":\"…\"}).");
            }
            if (body.ContactIds is { } ids)
            {
                if (ids.Count is 0 or > TrackingService.ContactsPerRequestMax || ids.Any(string.IsNullOrWhiteSpace))
                {
                    return Problems.Validation("contactIds", "Give 1 to 10000 contact ids.");
                }
                return Results.Ok(await tracking.UntrackAsync(caller.TeamId, caller.UserId, ids, ct));
            }
            var filter = body.Filter!;
            if ((filter.All == true) == (filter.CompanyDomain is not null))
            {
                return Problems.Validation("filter", "Give either all: true or a companyDomain.");
            }
            return Results.Ok(await tracking.UntrackMatchingAsync(caller.TeamId, caller.UserId, filter.CompanyDomain?.Trim(), ct));
        });

    [Function("tracking-list")]
    public Task<IActionResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/tracking/contacts")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var limit = 100;
            if (request.Query["limit"] is { Count: > 0 } l && (!int.TryParse(l[0], CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 1000))
            {
                return Problems.Validation("limit", "Must be between 1 and 1000.");
            }
            var cursor = request.Query["cursor"] is { Count: > 0 } c ? c[0] : null;
            var (rows, next) = await tracking.ListAsync(caller.TeamId, limit, cursor, ct);
            return Results.Ok(new
            {
                contacts = rows.Select(TrackingView.Contact), nextCursor = next,
                trackingCreditsHeld = await tracking.HeldAsync(caller.TeamId, ct),
            });
        });

    [Function("tracking-settings")]
    public Task<IActionResult> SettingsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "put", Route = "v1/tracking/settings")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var settings = await store.GetSettingsAsync(caller.TeamId, ct);
            if (HttpMethods.IsPut(request.Method))
            {
                var (body, problem) = await RequestBody.ReadJsonAsync<SettingsBody>(request, s_json, ct);
                if (problem is not null)
                {
                    return problem;
                }
                if (body?.OnJobChange is { } mode && mode is not (TrackingStore.UpdateContact or TrackingStore.CreateContact))
                {
                    return Problems.Validation("onJobChange", "Must be update_contact or create_contact.");
                }
                if (body?.WebhookUrl is { Length: > 0 } url && guard.Refusal(url) is { } refused)
                {
                    return Problems.Validation("webhookUrl", refused);
                }
                settings.WebhookUrl = body?.WebhookUrl is { Length: > 0 } u ? u : null;
                settings.OnJobChange = body?.OnJobChange ?? settings.OnJobChange;
                await store.SaveSettingsAsync(settings, ct);
            }
            return Results.Ok(new { webhookUrl = settings.WebhookUrl, onJobChange = settings.OnJobChange });
        }, HttpMethods.IsPut(request.Method) ? ApiAccess.Admin : ApiAccess.AnyKey);

    [Function("tracking-scan-now")]
    public Task<IActionResult> ScanNowAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/tracking/scans")] HttpRequest request,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var (instanceId, started) = await scans.StartAsync(durable, caller.TeamId, ct);
            return Results.Ok(new { scanId = instanceId, started });
        }, ApiAccess.Admin);

    [Function("tracking-scan-status")]
    public Task<IActionResult> ScanStatusAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/tracking/scans/{day}")] HttpRequest request, string day,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (!DateOnly.TryParseExact(day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
            {
                return Problems.Validation("day", "Must be a date, yyyy-MM-dd.");
            }
            var instance = await durable.GetInstanceAsync(TrackingScans.InstanceId(caller.TeamId, day), getInputsAndOutputs: true, ct);
            if (instance is null)
            {
                return Problems.NotFound($"No scan of {day}.");
            }
            return Results.Ok(new
            {
                scanId = instance.InstanceId, status = instance.RuntimeStatus.ToString().ToLowerInvariant(),
                totals = instance.RuntimeStatus == OrchestrationRuntimeStatus.Completed ? instance.ReadOutputAs<ScanTotals>() : null,
            });
        });

    [Function("tracking-events")]
    public Task<IActionResult> EventsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/tracking/events")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            DateTimeOffset? Date(string name)
            {
                if (request.Query[name] is not { Count: > 0 } v)
                {
                    return null;
                }
                if (DateTimeOffset.TryParse(v[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var d))
                {
                    return d;
                }
                errors[name] = ["Must be an ISO 8601 date or time."];
                return null;
            }
            var to = Date("to") ?? DateTimeOffset.UtcNow.AddMinutes(1);
            var from = Date("from") ?? to.AddDays(-30);
            if (errors.Count == 0 && from >= to)
            {
                errors["from"] = ["Must be before to."];
            }
            if (errors.Count > 0)
            {
                return Problems.Validation(errors);
            }
            var events = await store.EventsAsync(caller.TeamId, from, to, ct);
            return Results.Ok(new { events = events.Select(TrackingView.Event) });
        });

    [Function("tracking-event-buy")]
    public Task<IActionResult> BuyAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/tracking/events/{id}/buy")] HttpRequest request, string id,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (id.Length != 32 || await store.GetEventAsync(caller.TeamId, id, ct) is not { } change)
            {
                return Problems.NotFound($"No job change '{id}'.");
            }
            if (change.Status is JobChangeStatuses.NotBought)
            {
                var status = await scanner.BuyAsync(caller.TeamId, caller.UserId, change, ct);
                if (status is not (LedgerStatus.Charged or LedgerStatus.AlreadyOwned))
                {
                    return Problems.Create(StatusCodes.Status402PaymentRequired, status == LedgerStatus.SpendLimitReached ? "spend-limit-reached" : "insufficient-credits",
                        "Not enough credits.", "Buying a job change costs 1 email credit; nothing was charged.", new Dictionary<string, object?> { ["creditType"] = "email" });
                }
                await scanner.NotifyAsync(caller.TeamId, await store.GetSettingsAsync(caller.TeamId, ct), change, ct);
            }
            else if (change.Status != JobChangeStatuses.Bought)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "not-buyable", "This job change cannot be bought.", $"Its status is {change.Status}.");
            }
            return Results.Ok(TrackingView.Event(change));
        });

    internal sealed record ContactBody(string? ContactId, PersonInput? Person);

    private sealed record TrackBody(IReadOnlyList<ContactBody?>? Contacts, Credits? MaxCredits = null);

    private sealed record UntrackBody(IReadOnlyList<string>? ContactIds, UntrackFilter? Filter);

    private sealed record UntrackFilter(bool? All, string? CompanyDomain);

    private sealed record SettingsBody(string? WebhookUrl, string? OnJobChange);
}
