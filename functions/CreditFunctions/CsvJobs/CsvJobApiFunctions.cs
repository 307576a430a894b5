using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Api;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace CreditFunctions.CsvJobs;

/// <summary>
/// The CSV jobs API: <c>POST /csv-jobs</c> (create, with an upload URL), <c>GET /csv-jobs</c>, <c>GET /csv-jobs/{id}</c>,
/// <c>PUT /csv-jobs/{id}/file</c> (≤ 10 MB), <c>POST /csv-jobs/{id}/start</c>, <c>POST /csv-jobs/{id}/cancel</c>,
/// <c>GET /csv-jobs/{id}/results</c>. Another team's job is a 404 (a member reaches only the jobs they created); bad
/// input is a 400 naming the field, and writes nothing.
/// </summary>
public sealed class CsvJobApiFunctions(ApiGate gate, CsvJobService service, LedgerService ledger, EgressGuard egress, EnrichmentSettingsStore settings,
    TimeProvider clock)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new CreditsJsonConverter() },
    };

    [Function("csv-jobs")]
    public Task<IActionResult> JobsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = "v1/csv-jobs")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, caller => HttpMethods.IsGet(request.Method) ? ListAsync(request, caller, ct) : CreateAsync(request, caller, ct));

    [Function("csv-job")]
    public Task<IActionResult> JobAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/csv-jobs/{id}")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller => await FindAsync(caller, id, ct) is { } job
            ? Results.Ok(await ViewAsync(durable, job, ct))
            : NotFound(id));

    [Function("csv-job-file")]
    public Task<IActionResult> FileAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = "v1/csv-jobs/{id}/file")] HttpRequest request, string id,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await FindAsync(caller, id, ct) is not { } job)
            {
                return NotFound(id);
            }
            if (request.ContentLength > CsvLimits.DirectUploadBytesMax)
            {
                return RequestBody.TooLarge(CsvLimits.DirectUploadBytesMax);
            }
            if (!CsvJobStatus.AcceptsUpload(job.Status))
            {
                return Started(job);
            }
            var limited = new LimitedStream(request.Body, CsvLimits.DirectUploadBytesMax);
            try
            {
                if (!await service.UploadAsync(job, limited, ct))
                {
                    return Started(job);
                }
            }
            catch (Exception ex) when (LimitedStream.IsOverLimit(ex))
            {
                return RequestBody.TooLarge(CsvLimits.DirectUploadBytesMax);
            }
            return Results.Accepted($"/api/v1/csv-jobs/{job.JobId}", new { id = job.JobId, status = CsvJobStatus.Uploading, bytes = limited.BytesRead });
        });

    [Function("csv-job-start")]
    public Task<IActionResult> StartAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/csv-jobs/{id}/start")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            _ = IdempotencyKeys.Read(request, required: false, out var keyProblem);
            if (keyProblem is not null)
            {
                return keyProblem;
            }
            if (await FindAsync(caller, id, ct) is not { } job)
            {
                return NotFound(id);
            }
            try
            {
                var started = await service.StartAsync(durable, job, ct);
                return Results.Accepted($"/api/v1/csv-jobs/{job.JobId}", await ViewAsync(durable, started, ct));
            }
            catch (CsvStartRefusedException refused) when (refused.Problem is "insufficient-credits" or "spend-limit-reached")
            {
                return Problems.Create(StatusCodes.Status402PaymentRequired, refused.Problem,
                    refused.Problem == "insufficient-credits" ? "Not enough credits." : "The member's spend limit is reached.", refused.Message,
                    new Dictionary<string, object?> { ["creditType"] = refused.CreditType, ["shortfall"] = refused.Shortfall?.Value });
            }
            catch (CsvStartRefusedException refused)
            {
                return Problems.Create(StatusCodes.Status409Conflict, refused.Problem, "The job cannot start.", refused.Message);
            }
        });

    [Function("csv-job-cancel")]
    public Task<IActionResult> CancelAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/csv-jobs/{id}/cancel")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await FindAsync(caller, id, ct) is null)
            {
                return NotFound(id);
            }
            var job = await service.CancelAsync(durable, caller.TeamId, id, ct);
            return job is null ? NotFound(id) : Results.Accepted($"/api/v1/csv-jobs/{id}", await ViewAsync(durable, job, ct));
        });

    [Function("csv-job-results")]
    public Task<IActionResult> ResultsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/csv-jobs/{id}/results")] HttpRequest request,
        string id, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await FindAsync(caller, id, ct) is not { } job)
            {
                return NotFound(id);
            }
            if (!job.ResultsReady)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "results-not-ready", "The results are not ready.",
                    $"The job is {job.Status}: results exist once it has ended.");
            }
            var stream = request.Query["download"] == "true";
            if (!stream && await service.ResultsUrlAsync(job, ct) is { } signed)
            {
                return Results.Ok(new { url = signed.Url, expiresAt = signed.ExpiresAt });
            }
            return Results.Stream(await service.OpenResultsAsync(job, ct), "text/csv; charset=utf-8", $"{Path.GetFileNameWithoutExtension(job.FileName)}-results.csv");
        });

    private async Task<IResult> ListAsync(HttpRequest request, CallerContext caller, CancellationToken ct)
    {
        var limit = 50;
        if (request.Query["limit"] is { Count: > 0 } raw && (!int.TryParse(raw, out limit) || limit is < 1 or > 500))
        {
            return Problems.Validation("limit", "must be an integer from 1 to 500");
        }
        var jobs = await service.ListAsync(caller.TeamId, caller.VisibleUserId, limit, ct);
        return Results.Ok(new { jobs = jobs.Select(j => Summary(j)) });
    }

    private async Task<IResult> CreateAsync(HttpRequest request, CallerContext caller, CancellationToken ct)
    {
        var (read, key, bodyProblem) = await RequestBody.ReadKeyedJsonAsync<CreateBody>(request, s_json, ct);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }
        CreateBody? body = read;
        if (body is null)
        {
            return Problems.Validation("body", "A JSON object is required.");
        }
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var (field, column) in body.Mapping ?? [])
        {
            if (!CsvMapping.Fields.Contains(field, StringComparer.Ordinal))
            {
                errors[$"mapping.{field}"] = [$"is not a field; one of {string.Join(", ", CsvMapping.Fields)}"];
            }
            else if (string.IsNullOrWhiteSpace(column) || column.Length > 256)
            {
                errors[$"mapping.{field}"] = ["must name a column of the header (1 to 256 characters)"];
            }
        }
        if (body.MaxCredits is { } max && max < Credits.Zero)
        {
            errors["maxCredits"] = ["must be 0 or more"];
        }
        var fileName = string.IsNullOrWhiteSpace(body.FileName) ? "upload.csv" : body.FileName.Trim();
        if (fileName.Length > 200 || fileName.Any(char.IsControl))
        {
            errors["fileName"] = ["at most 200 characters, no control characters"];
        }
        if (body.WebhookUrl is { } url && (egress.Refusal(url) ?? (settings.CanProtectSecrets ? null : $"Webhooks are signed: set {SecretProtector.KeySetting}.")) is { } why)
        {
            errors["webhookUrl"] = [why];
        }
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }
        var options = new CsvJobOptions
        {
            FileName = fileName, Enrich = body.Enrich ?? false, Validate = body.Validate ?? false, Phone = body.Phone ?? false, Mapping = body.Mapping,
            MaxCredits = body.MaxCredits, WebhookUrl = body.WebhookUrl, AutoStart = body.AutoStart ?? false,
        };
        var created = await service.CreateAsync(caller.TeamId, caller.UserId, options, key, ct);
        if (created is null)
        {
            return Problems.IdempotencyKeyReused();
        }
        var (job, uploadUrl, expiresAt) = created.Value;
        return Results.Created($"/api/v1/csv-jobs/{job.JobId}", new
        {
            id = job.JobId,
            status = job.Status,
            upload = new
            {
                url = uploadUrl,
                method = "PUT",
                headers = new Dictionary<string, string> { ["x-ms-blob-type"] = "BlockBlob" },
                expiresAt,
                directUpload = $"/api/v1/csv-jobs/{job.JobId}/file",
                directUploadBytesMax = CsvLimits.DirectUploadBytesMax,
            },
        });
    }

    private async Task<CsvJobRecord?> FindAsync(CallerContext caller, string id, CancellationToken ct)
    {
        var job = await service.GetAsync(caller.TeamId, id, ct);
        // A member reaches only the jobs they created.
        return job is not null && (caller.IsAdmin || job.UserId == caller.UserId) ? job : null;
    }

    private static IResult NotFound(string id) => Problems.NotFound($"No CSV job '{id}' in this team.");

    private static IResult Started(CsvJobRecord job) =>
        Problems.Create(StatusCodes.Status409Conflict, "job-started", "The job no longer takes a file.",
            $"The job is {job.Status}: a file can be replaced only before the job starts.");

    private static object Summary(CsvJobRecord job) => new
    {
        id = job.JobId,
        fileName = job.FileName,
        status = job.Status,
        createdAt = job.CreatedAt,
        rows = job.Status == CsvJobStatus.Uploading ? (int?)null : job.Rows,
        rowsDone = job.RowsDone,
        creditsCharged = new { email = new Credits(job.ChargedEmailMilli).Value, phone = new Credits(job.ChargedPhoneMilli).Value },
    };

    private async Task<object> ViewAsync(DurableTaskClient durable, CsvJobRecord job, CancellationToken ct)
    {
        var totals = new CsvTotals(job.RowsDone, job.EmailsFound, job.PhonesFound, job.RowErrors, job.EmailLeadsCharged, job.ChargedEmailMilli,
            job.PhoneLeadsCharged, job.ChargedPhoneMilli);
        decimal heldEmail = 0, heldPhone = 0;
        if (job.Status == CsvJobStatus.Running)
        {
            var run = await durable.GetInstanceAsync(CsvJobService.RunInstanceId(job.TeamId, job.JobId), getInputsAndOutputs: true, ct);
            if (run?.ReadCustomStatusAs<CsvProgress>() is { } progress && progress.Totals.Rows >= totals.Rows)
            {
                totals = progress.Totals;
            }
            foreach (var type in new[] { "email", "phone" })
            {
                if (job.HoldFor(type) is { } holdId && await ledger.GetHoldAsync(job.TeamId, holdId, ct) is { } hold)
                {
                    var left = hold.Remaining.Value;
                    (heldEmail, heldPhone) = type == "email" ? (left, heldPhone) : (heldEmail, left);
                }
            }
        }
        double? secondsLeft = null;
        if (job.Status == CsvJobStatus.Running && job.StartedAt is { } started && totals.Rows > 0)
        {
            var elapsed = (clock.GetUtcNow() - started).TotalSeconds;
            secondsLeft = Math.Round(elapsed / totals.Rows * Math.Max(0, job.Rows - totals.Rows), 1);
        }
        var columns = job.ColumnsJson is null ? null : JsonSerializer.Deserialize<Dictionary<string, int>>(job.ColumnsJson);
        var header = job.HeaderJson is null ? null : JsonSerializer.Deserialize<string[]>(job.HeaderJson);
        var emailAction = Catalog.Default.Find("enrichment", CsvJobService.EmailAction(job))!;
        var phoneAction = Catalog.Default.Find("enrichment", "csv_phone")!;
        var usage = new List<object>();
        if (job.Enrich || job.Validate)
        {
            usage.Add(new
            {
                feature = emailAction.FeatureName, action = emailAction.ActionName, relatedRecord = "csv-job:" + job.JobId,
                description = $"{emailAction.ActionName} — job {job.FileName}: {totals.EmailLeadsCharged:N0} leads, {new Credits(totals.EmailMilli)} credits",
                leads = totals.EmailLeadsCharged, credits = new Credits(totals.EmailMilli).Value,
            });
        }
        if (job.Phone)
        {
            usage.Add(new
            {
                feature = phoneAction.FeatureName, action = phoneAction.ActionName, relatedRecord = "csv-job:" + job.JobId,
                description = $"{phoneAction.ActionName} — job {job.FileName}: {totals.PhoneLeadsCharged:N0} leads, {new Credits(totals.PhoneMilli)} credits",
                leads = totals.PhoneLeadsCharged, credits = new Credits(totals.PhoneMilli).Value,
            });
        }
        return new
        {
            id = job.JobId,
            fileName = job.FileName,
            status = job.Status,
            options = new { enrich = job.Enrich, validate = job.Validate, phone = job.Phone, autoStart = job.AutoStart },
            maxCredits = job.MaxCreditsMilli is { } max ? new Credits(max).Value : (decimal?)null,
            createdAt = job.CreatedAt,
            startedAt = job.StartedAt,
            endedAt = job.EndedAt,
            quote = job.QuotedVersion is null ? null : new
            {
                rows = job.Rows,
                raggedRows = job.RaggedRows,
                bytes = job.Bytes,
                delimiter = job.Delimiter,
                encoding = job.Encoding,
                columns = columns?.ToDictionary(c => c.Key, c => header?[c.Value]),
                maximumCredits = new { email = new Credits(job.QuoteEmailMilli).Value, phone = new Credits(job.QuotePhoneMilli).Value },
            },
            progress = new { rowsDone = totals.Rows, emailsFound = totals.EmailsFound, phonesFound = totals.PhonesFound, rowErrors = totals.Errors },
            credits = new
            {
                held = new { email = heldEmail, phone = heldPhone },
                charged = new { email = new Credits(totals.EmailMilli).Value, phone = new Credits(totals.PhoneMilli).Value },
            },
            estimatedSecondsLeft = secondsLeft,
            cancelRequested = job.CancelRequested,
            error = job.Error,
            errorLimit = job.ErrorLimit,
            resultsReady = job.ResultsReady,
            webhook = job.Webhook,
            usage,
        };
    }

    private sealed record CreateBody(string? FileName, bool? Enrich, bool? Validate, bool? Phone, Dictionary<string, string>? Mapping, Credits? MaxCredits,
        string? WebhookUrl, bool? AutoStart);

    /// <summary>A read-only view of a request body that fails once more than its limit was read.</summary>
    private sealed class LimitedStream(Stream inner, long limit) : Stream
    {
        public long BytesRead { get; private set; }

        public static bool IsOverLimit(Exception ex) => ex is OverLimitException || ex.InnerException is OverLimitException;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int read)
        {
            BytesRead += read;
            return BytesRead > limit ? throw new OverLimitException() : read;
        }
    }

    private sealed class OverLimitException : IOException;
}
