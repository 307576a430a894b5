using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using CreditFunctions.Hosting;
using CreditFunctions.Ledger;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace CreditFunctions.CsvJobs;

/// <summary>Why a job could not start: nothing was held.</summary>
public sealed class CsvStartRefusedException(string problem, string message, string? creditType = null, Credits? shortfall = null) : Exception(message)
{
    /// <summary>The problem type name (<c>insufficient-credits</c>, <c>job-not-quoted</c>, …).</summary>
    public string Problem { get; } = problem;

    /// <summary>The short balance, for <c>insufficient-credits</c>.</summary>
    public string? CreditType { get; } = creditType;

    /// <summary>How much is missing.</summary>
    public Credits? Shortfall { get; } = shortfall;
}

/// <summary>What a new job needs.</summary>
public sealed record CsvJobOptions
{
    /// <summary>The file's name (for usage lines).</summary>
    public required string FileName { get; init; }

    /// <summary>Find emails (0.5 a lead found; 1 with validation).</summary>
    public bool Enrich { get; init; }

    /// <summary>Validate emails (0.5 a lead).</summary>
    public bool Validate { get; init; }

    /// <summary>Find mobile numbers (1 phone credit a number found).</summary>
    public bool Phone { get; init; }

    /// <summary>Field → column name.</summary>
    public IReadOnlyDictionary<string, string>? Mapping { get; init; }

    /// <summary>The job may cost at most this (email and phone credits together).</summary>
    public Credits? MaxCredits { get; init; }

    /// <summary>Signed webhook at the end.</summary>
    public string? WebhookUrl { get; init; }

    /// <summary>Start once quoted within <see cref="MaxCredits"/>.</summary>
    public bool AutoStart { get; init; }
}

/// <summary>
/// The lifecycle of CSV jobs for the API and the blob trigger: create (with a write-only upload URL for the job's one
/// blob), a new file version (starts its quote, once per version), start (holds the quote, 402 before anything when
/// short), cancel, and the read-only download URL.
/// </summary>
public sealed partial class CsvJobService(CsvJobStore jobs, CsvJobProcessor processor, BlobServiceClient blobs, LedgerService ledger, TimeProvider clock,
    ILogger<CsvJobService> logger)
{
    /// <summary>How long an upload URL works.</summary>
    public static TimeSpan UploadUrlLifetime { get; } = TimeSpan.FromMinutes(55);

    /// <summary>How long a results URL works.</summary>
    public static TimeSpan DownloadUrlLifetime { get; } = TimeSpan.FromMinutes(15);

    /// <summary>How long a started job's holds last at most.</summary>
    public static TimeSpan HoldLifetime { get; } = TimeSpan.FromDays(7);

    /// <summary>The quote orchestration's instance id for one file version.</summary>
    public static string QuoteInstanceId(string teamId, string jobId, string version) =>
        $"csvq:{teamId}:{jobId}:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(version)))[..16]}";

    /// <summary>The processing orchestration's instance id (one per job).</summary>
    public static string RunInstanceId(string teamId, string jobId) => $"csvrun:{teamId}:{jobId}";

    /// <summary>The job, or null when the team has none with that id.</summary>
    public Task<CsvJobRecord?> GetAsync(string teamId, string jobId, CancellationToken cancellationToken) => jobs.GetAsync(teamId, jobId, cancellationToken);

    /// <summary>The team's jobs (only <paramref name="userId"/>'s when given), newest first.</summary>
    public async Task<IReadOnlyList<CsvJobRecord>> ListAsync(string teamId, string? userId, int limit, CancellationToken cancellationToken)
    {
        var all = await jobs.ListAsync(teamId, userId is null ? limit : 1000, cancellationToken).ConfigureAwait(false);
        return [.. all.Where(j => userId is null || j.UserId == userId).Take(limit)];
    }

    /// <summary>Notes why a quoted job did not start by itself.</summary>
    public Task NoteAsync(string teamId, string jobId, string note, CancellationToken cancellationToken) =>
        jobs.UpdateAsync(teamId, jobId, j =>
        {
            j.Error = note;
            return j.Status == CsvJobStatus.Quoted;
        }, cancellationToken);

    /// <summary>Creates a job waiting for its file; the job and a write-only upload URL for its blob. With the same
    /// <paramref name="idempotencyKey"/> and options again, the same job (a fresh URL); with other options, null.</summary>
    public async Task<(CsvJobRecord Job, Uri UploadUrl, DateTimeOffset ExpiresAt)?> CreateAsync(string teamId, string userId, CsvJobOptions options,
        string? idempotencyKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var now = clock.GetUtcNow();
        if (idempotencyKey is not null)
        {
            var fingerprint = Convert.ToHexStringLower(SHA256.HashData(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(options)));
            var newId = CsvJobStore.NewJobId(now);
            var claimed = await jobs.ClaimKeyAsync(teamId, idempotencyKey, fingerprint, newId, cancellationToken).ConfigureAwait(false);
            if (claimed is null)
            {
                return null;
            }
            if (claimed != newId && await jobs.GetAsync(teamId, claimed, cancellationToken).ConfigureAwait(false) is { } existing)
            {
                var again = now + UploadUrlLifetime;
                return (existing, await BlobSas.ForBlobAsync(blobs, processor.UploadBlob(teamId, existing.JobId), BlobSasPermissions.Create | BlobSasPermissions.Write, now, again,
                    cancellationToken).ConfigureAwait(false), again);
            }
            return await AddAsync(teamId, userId, options, claimed, now, cancellationToken).ConfigureAwait(false);
        }
        return await AddAsync(teamId, userId, options, CsvJobStore.NewJobId(now), now, cancellationToken).ConfigureAwait(false);
    }

    private async Task<(CsvJobRecord Job, Uri UploadUrl, DateTimeOffset ExpiresAt)> AddAsync(string teamId, string userId, CsvJobOptions options, string jobId,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var job = new CsvJobRecord
        {
            PartitionKey = teamId, RowKey = jobId, UserId = userId, FileName = options.FileName, Enrich = options.Enrich,
            Validate = options.Validate, Phone = options.Phone, MaxCreditsMilli = options.MaxCredits?.Thousandths, WebhookUrl = options.WebhookUrl,
            AutoStart = options.AutoStart, CreatedAt = now,
            MappingJson = options.Mapping is { Count: > 0 } m ? System.Text.Json.JsonSerializer.Serialize(m) : null,
        };
        var expires = now + UploadUrlLifetime;
        var url = await BlobSas.ForBlobAsync(blobs, processor.UploadBlob(teamId, job.JobId), BlobSasPermissions.Create | BlobSasPermissions.Write, now, expires, cancellationToken)
            .ConfigureAwait(false);
        try
        {
            await jobs.AddAsync(job, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            // A retry of a keyed create whose first try added the job.
            job = (await jobs.GetAsync(teamId, jobId, cancellationToken).ConfigureAwait(false))!;
        }
        return (job, url, expires);
    }

    /// <summary>Stores a small file sent in a request. False when the job no longer takes a file (started or ended).</summary>
    public async Task<bool> UploadAsync(CsvJobRecord job, Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (!CsvJobStatus.AcceptsUpload(job.Status))
        {
            return false;
        }
        try
        {
            await processor.UploadBlob(job.TeamId, job.JobId).UploadAsync(content, new BlobUploadOptions
            {
                HttpHeaders = new BlobHttpHeaders { ContentType = "text/csv" },
            }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            // The blob is leased: the job started.
            return false;
        }
    }

    /// <summary>
    /// A version of an upload blob arrived (the blob trigger; at-least-once). Starts the quote of that version unless it
    /// was started before; a blob of no known job, or of a job that started, is ignored and logged.
    /// </summary>
    public async Task OnUploadAsync(DurableTaskClient durable, string blobName, BlobClient blob, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(durable);
        ArgumentNullException.ThrowIfNull(blobName);
        ArgumentNullException.ThrowIfNull(blob);
        var slash = blobName.IndexOf('/', StringComparison.Ordinal);
        var (teamId, jobId) = slash > 0 && blobName.EndsWith(".csv", StringComparison.Ordinal)
            ? (blobName[..slash], blobName[(slash + 1)..^4]) : (string.Empty, string.Empty);
        var job = teamId.Length == 0 ? null : await jobs.GetAsync(teamId, jobId, cancellationToken).ConfigureAwait(false);
        if (job is null)
        {
            Log.UnknownUpload(logger, blobName);
            return;
        }
        string version;
        try
        {
            version = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.ETag.ToString();
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return;
        }
        var updated = await jobs.UpdateAsync(teamId, jobId, j =>
        {
            if (j.UploadVersion == version || !CsvJobStatus.AcceptsUpload(j.Status))
            {
                return false;
            }
            // A new version before start replaces the last: its quote starts from scratch.
            j.UploadVersion = version;
            j.Status = CsvJobStatus.Uploading;
            j.QuotedVersion = null;
            j.Error = null;
            j.ErrorLimit = null;
            return true;
        }, cancellationToken).ConfigureAwait(false);
        if (updated is null || updated.UploadVersion != version || updated.Status != CsvJobStatus.Uploading)
        {
            if (updated is not null && updated.UploadVersion != version)
            {
                Log.UploadRefused(logger, teamId, jobId, updated.Status);
            }
            return;
        }
        var instanceId = QuoteInstanceId(teamId, jobId, version);
        // A redelivery after a crash between the write above and this start starts it now; after it started, nothing.
        if (await durable.GetInstanceAsync(instanceId, cancellation: cancellationToken).ConfigureAwait(false) is null)
        {
            await durable.ScheduleNewOrchestrationInstanceAsync(CsvJobFunctions.QuoteOrchestrator, new CsvQuoteInput(teamId, jobId, version),
                new StartOrchestrationOptions { InstanceId = instanceId }, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Starts a quoted job: takes a lease on its file (so no later upload can change it), holds the quote (402 before
    /// anything when the balance is short; nothing stays held), marks it running and starts its processing. Starting a
    /// job that runs or ended changes nothing.
    /// </summary>
    /// <exception cref="CsvStartRefusedException">The job cannot start; nothing was held.</exception>
    public async Task<CsvJobRecord> StartAsync(DurableTaskClient durable, CsvJobRecord job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(durable);
        ArgumentNullException.ThrowIfNull(job);
        if (job.Status == CsvJobStatus.Running)
        {
            await EnsureRunAsync(durable, job).ConfigureAwait(false);
            return job;
        }
        if (CsvJobStatus.IsFinal(job.Status))
        {
            return job;
        }
        if (job.Status == CsvJobStatus.Uploading)
        {
            throw new CsvStartRefusedException("job-not-quoted", "The job has no quote yet: upload the file and wait for status 'quoted'.");
        }
        if (job.Status == CsvJobStatus.Failed)
        {
            throw new CsvStartRefusedException("job-failed", "The job failed at its quote: " + job.Error);
        }
        var total = job.QuoteEmailMilli + job.QuotePhoneMilli;
        if (job.MaxCreditsMilli is { } max && total > max)
        {
            throw new CsvStartRefusedException("quote-exceeds-max-credits",
                $"The quote ({new Credits(total)} credits) is above the job's maxCredits ({new Credits(max)}).");
        }
        // From here the start runs to its end whatever the client does: holds must never stay without a run.
        var none = CancellationToken.None;
        var lease = processor.UploadBlob(job.TeamId, job.JobId).GetBlobLeaseClient(LeaseId(job.JobId));
        try
        {
            await lease.AcquireAsync(BlobLeaseClient.InfiniteLeaseDuration, new RequestConditions { IfMatch = new ETag(job.QuotedVersion!) }, none)
                .ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status is 412 or 404)
        {
            throw new CsvStartRefusedException("quote-outdated", "A newer version of the file was uploaded: wait for its quote and start again.");
        }
        var holds = new List<(string Type, string Id)>();
        foreach (var (type, milli, action) in new[] { ("email", job.QuoteEmailMilli, EmailAction(job)), ("phone", job.QuotePhoneMilli, "csv_phone") })
        {
            if (milli == 0)
            {
                continue;
            }
            var result = await ledger.PlaceHoldAsync(new HoldRequest(job.TeamId, job.UserId, "enrichment", action, new Credits(milli),
                clock.GetUtcNow() + HoldLifetime, $"csv-hold:{job.JobId}:{type}")
            {
                Description = $"CSV job {job.FileName}: {job.Rows:N0} leads (maximum)", RelatedRecord = "csv-job:" + job.JobId,
            }).ConfigureAwait(false);
            if (result.Status != LedgerStatus.HoldPlaced || result.HoldId is null)
            {
                foreach (var (_, id) in holds)
                {
                    await ledger.VoidHoldAsync(new VoidRequest(job.TeamId, job.UserId, id, $"release:{id}")).ConfigureAwait(false);
                }
                await ReleaseLeaseAsync(lease).ConfigureAwait(false);
                if (result.Status == LedgerStatus.InsufficientCredits)
                {
                    throw new CsvStartRefusedException("insufficient-credits",
                        $"Not enough {type} credits: the job can cost {new Credits(milli)}, {result.Shortfall} more are needed.", type, result.Shortfall);
                }
                if (result.Status == LedgerStatus.SpendLimitReached)
                {
                    throw new CsvStartRefusedException("spend-limit-reached",
                        $"The job can cost {new Credits(milli)} {type} credits, {result.Shortfall} more than is left of your {result.LimitPeriod} limit of {result.SpendLimit}.",
                        type, result.Shortfall);
                }
                throw new InvalidOperationException($"The {type} hold was refused: {result.Status}.");
            }
            holds.Add((type, result.HoldId));
        }
        var now = clock.GetUtcNow();
        var started = await jobs.UpdateAsync(job.TeamId, job.JobId, j =>
        {
            if (j.Status != CsvJobStatus.Quoted)
            {
                return false;
            }
            j.Status = CsvJobStatus.Running;
            j.HoldIds = string.Join(',', holds.Select(h => $"{h.Type}={h.Id}"));
            j.StartedAt = now;
            j.Error = null;
            return true;
        }, none).ConfigureAwait(false);
        if (started?.Status != CsvJobStatus.Running)
        {
            // Cancelled meanwhile: nothing may stay held.
            foreach (var (_, id) in holds)
            {
                await ledger.VoidHoldAsync(new VoidRequest(job.TeamId, job.UserId, id, $"release:{id}")).ConfigureAwait(false);
            }
            return started ?? job;
        }
        await EnsureRunAsync(durable, started).ConfigureAwait(false);
        return started;
    }

    /// <summary>Cancels a job: one not started ends at once (nothing was held); a running one stops taking new chunks, keeps
    /// what was found and charged, and releases the rest when its chunks under way are done.</summary>
    public async Task<CsvJobRecord?> CancelAsync(DurableTaskClient durable, string teamId, string jobId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(durable);
        var now = clock.GetUtcNow();
        var job = await jobs.UpdateAsync(teamId, jobId, j =>
        {
            if (CsvJobStatus.IsFinal(j.Status) || j.CancelRequested)
            {
                return false;
            }
            if (j.Status == CsvJobStatus.Running)
            {
                j.CancelRequested = true;
            }
            else
            {
                j.Status = CsvJobStatus.Cancelled;
                j.EndedAt = now;
            }
            return true;
        }, cancellationToken).ConfigureAwait(false);
        if (job is { Status: CsvJobStatus.Running, CancelRequested: true })
        {
            try
            {
                await durable.RaiseEventAsync(RunInstanceId(teamId, jobId), CsvJobFunctions.CancelEvent, true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or RequestFailedException)
            {
                // The run checks the flag at its next checkpoint as well.
                Log.CancelNotDelivered(logger, teamId, jobId);
            }
        }
        return job;
    }

    /// <summary>A read-only URL of the results, or null when the storage cannot sign one (then the API streams the file).</summary>
    public async Task<(Uri Url, DateTimeOffset ExpiresAt)?> ResultsUrlAsync(CsvJobRecord job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        var now = clock.GetUtcNow();
        try
        {
            var url = await BlobSas.ForBlobAsync(blobs, processor.ResultBlob(job.TeamId, job.JobId), BlobSasPermissions.Read, now, now + DownloadUrlLifetime, cancellationToken)
                .ConfigureAwait(false);
            return (url, now + DownloadUrlLifetime);
        }
        catch (RequestFailedException)
        {
            return null;
        }
    }

    /// <summary>The results as a stream.</summary>
    public async Task<Stream> OpenResultsAsync(CsvJobRecord job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        return await processor.ResultBlob(job.TeamId, job.JobId).OpenReadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    internal static string EmailAction(CsvJobRecord job) => CsvJobProcessor.Prices(job.Enrich, job.Validate, job.Phone).EmailAction ?? "csv_enrich";

    private static async Task EnsureRunAsync(DurableTaskClient durable, CsvJobRecord job)
    {
        var instanceId = RunInstanceId(job.TeamId, job.JobId);
        if (await durable.GetInstanceAsync(instanceId, cancellation: CancellationToken.None).ConfigureAwait(false) is null)
        {
            await durable.ScheduleNewOrchestrationInstanceAsync(CsvJobFunctions.RunOrchestrator, new CsvRunState(job.TeamId, job.JobId, 0, 0, CsvTotals.Zero),
                new StartOrchestrationOptions { InstanceId = instanceId }, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task ReleaseLeaseAsync(BlobLeaseClient lease)
    {
        try
        {
            await lease.ReleaseAsync(cancellationToken: CancellationToken.None).ConfigureAwait(false);
        }
        catch (RequestFailedException)
        {
            // Released already, or never taken.
        }
    }

    /// <summary>The one lease id of a job's file: a retried start takes the same lease again.</summary>
    private static string LeaseId(string jobId) => new Guid(MD5Free(jobId)).ToString();

    private static byte[] MD5Free(string jobId) => SHA256.HashData(Encoding.UTF8.GetBytes("csv-lease:" + jobId))[..16];

    private static partial class Log
    {
        [LoggerMessage(EventId = 1611, Level = LogLevel.Warning, Message = "Ignored an upload blob of no known CSV job: {BlobName}")]
        public static partial void UnknownUpload(ILogger logger, string blobName);

        [LoggerMessage(EventId = 1612, Level = LogLevel.Warning, Message = "Ignored a new file version of CSV job {TeamId}/{JobId}: it is {Status}")]
        public static partial void UploadRefused(ILogger logger, string teamId, string jobId, string status);

        [LoggerMessage(EventId = 1613, Level = LogLevel.Warning, Message = "The cancel of CSV job {TeamId}/{JobId} was not delivered to its run; its next checkpoint sees it")]
        public static partial void CancelNotDelivered(ILogger logger, string teamId, string jobId);
    }
}
