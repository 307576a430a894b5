using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;

namespace CreditFunctions.CsvJobs;

/// <summary>The status names of a job, as the API shows them.</summary>
public static class CsvJobStatus
{
    /// <summary>Created; waiting for the file (or quoting it).</summary>
    public const string Uploading = "uploading";

    /// <summary>The file is counted and the maximum cost quoted; nothing is held.</summary>
    public const string Quoted = "quoted";

    /// <summary>Held and processing.</summary>
    public const string Running = "running";

    /// <summary>Every row processed; the results are committed, the hold's rest released.</summary>
    public const string Completed = "completed";

    /// <summary>Stopped by the user: what was found stays charged, the rest was released.</summary>
    public const string Cancelled = "cancelled";

    /// <summary>The file could not be quoted, or the job could not finish; nothing stays held.</summary>
    public const string Failed = "failed";

    /// <summary>Whether a job in <paramref name="status"/> can take a new version of its file.</summary>
    public static bool AcceptsUpload(string status) => status is Uploading or Quoted or Failed;

    /// <summary>Whether the job has ended.</summary>
    public static bool IsFinal(string status) => status is Completed or Cancelled;
}

/// <summary>One CSV job: the team's partition, the job id as row key.</summary>
public sealed class CsvJobRecord : ITableEntity
{
    /// <summary>The team.</summary>
    public string PartitionKey { get; set; } = string.Empty;

    /// <summary>The job id.</summary>
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>See <see cref="CsvJobStatus"/>.</summary>
    public string Status { get; set; } = CsvJobStatus.Uploading;

    /// <summary>Who created it.</summary>
    public string UserId { get; set; } = string.Empty;

    /// <summary>The file's name as the user gave it (shown in usage lines).</summary>
    public string FileName { get; set; } = string.Empty;

    /// <summary>Find emails.</summary>
    public bool Enrich { get; set; }

    /// <summary>Validate emails (found ones, or the file's own when not enriching).</summary>
    public bool Validate { get; set; }

    /// <summary>Find mobile numbers.</summary>
    public bool Phone { get; set; }

    /// <summary>Field → column name, JSON; null for auto-detection only.</summary>
    public string? MappingJson { get; set; }

    /// <summary>The cap on the job's cost in thousandths of a credit (email and phone together); null for none.</summary>
    public long? MaxCreditsMilli { get; set; }

    /// <summary>Where the signed end-of-job webhook goes.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>Start as soon as the quote is within <see cref="MaxCreditsMilli"/>.</summary>
    public bool AutoStart { get; set; }

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The ETag of the upload blob version the job was last told about.</summary>
    public string? UploadVersion { get; set; }

    /// <summary>The ETag of the version the quote describes.</summary>
    public string? QuotedVersion { get; set; }

    /// <summary>Data rows.</summary>
    public int Rows { get; set; }

    /// <summary>Rows with another number of cells than the header (reported as errors).</summary>
    public int RaggedRows { get; set; }

    /// <summary>The file's length.</summary>
    public long Bytes { get; set; }

    /// <summary>The header's cells (JSON array).</summary>
    public string? HeaderJson { get; set; }

    /// <summary>Field → column index (JSON).</summary>
    public string? ColumnsJson { get; set; }

    /// <summary>The detected delimiter.</summary>
    public string? Delimiter { get; set; }

    /// <summary>The detected encoding (<see cref="CsvEncoding"/> name).</summary>
    public string? Encoding { get; set; }

    /// <summary>Byte offsets of the chunks' first rows (little-endian int64s).</summary>
    public byte[]? ChunkOffsets { get; set; }

    /// <summary>The quoted maximum in email credits (thousandths).</summary>
    public long QuoteEmailMilli { get; set; }

    /// <summary>The quoted maximum in phone credits (thousandths).</summary>
    public long QuotePhoneMilli { get; set; }

    /// <summary>Why the job failed (or why an automatic start did not happen); never any row's data.</summary>
    public string? Error { get; set; }

    /// <summary>The limit or rule the file broke.</summary>
    public string? ErrorLimit { get; set; }

    /// <summary>Holds (email, phone) as <c>type=id</c> pairs joined by <c>,</c>.</summary>
    public string? HoldIds { get; set; }

    /// <summary>When processing started.</summary>
    public DateTimeOffset? StartedAt { get; set; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? EndedAt { get; set; }

    /// <summary>A cancel was asked for.</summary>
    public bool CancelRequested { get; set; }

    /// <summary>Rows processed, as of the last checkpoint or the end.</summary>
    public int RowsDone { get; set; }

    /// <summary>Emails found or owned.</summary>
    public int EmailsFound { get; set; }

    /// <summary>Phones found or owned.</summary>
    public int PhonesFound { get; set; }

    /// <summary>Rows reported with an error.</summary>
    public int RowErrors { get; set; }

    /// <summary>Email credits charged (thousandths).</summary>
    public long ChargedEmailMilli { get; set; }

    /// <summary>Phone credits charged (thousandths).</summary>
    public long ChargedPhoneMilli { get; set; }

    /// <summary>Leads charged in email credits.</summary>
    public int EmailLeadsCharged { get; set; }

    /// <summary>Leads charged in phone credits.</summary>
    public int PhoneLeadsCharged { get; set; }

    /// <summary>Whether the results blob is committed.</summary>
    public bool ResultsReady { get; set; }

    /// <summary><c>delivered</c> or <c>failed</c> once the webhook was tried.</summary>
    public string? Webhook { get; set; }

    /// <summary>The job id.</summary>
    public string JobId => RowKey;

    /// <summary>The team.</summary>
    public string TeamId => PartitionKey;

    /// <summary>The hold of a credit type, or null.</summary>
    public string? HoldFor(string creditType) =>
        HoldIds?.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).FirstOrDefault(p => p[0] == creditType)?[1];

    /// <summary>The chunk offsets.</summary>
    public long[] Offsets() => ChunkOffsets is null ? [] : [.. System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(ChunkOffsets)];
}

/// <summary>Jobs in Table storage, partition = team: a team reads only its own jobs, and another team's id is simply
/// not there. Writes are conditional on the row's ETag; a lost race is re-read by the caller.</summary>
public sealed class CsvJobStore(TableClient table)
{
    /// <summary>The table.</summary>
    public TableClient Table { get; } = table;

    /// <summary>The job, or null when the team has none with that id.</summary>
    public Task<CsvJobRecord?> GetAsync(string teamId, string jobId, CancellationToken cancellationToken = default) =>
        IsJobId(jobId) ? Table.GetEntityOrNullAsync<CsvJobRecord>(teamId, jobId, cancellationToken) : Task.FromResult<CsvJobRecord?>(null);

    /// <summary>Adds a new job.</summary>
    public Task AddAsync(CsvJobRecord job, CancellationToken cancellationToken = default) => Table.AddEntityAsync(job, cancellationToken);

    /// <summary>Replaces the job if it has not changed since it was read; false when it had.</summary>
    public async Task<bool> TryReplaceAsync(CsvJobRecord job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        try
        {
            var response = await Table.UpdateEntityAsync(job, job.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            job.ETag = response.Headers.ETag ?? job.ETag;
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 412)
        {
            return false;
        }
    }

    /// <summary>Reads the job, applies <paramref name="change"/> (return false to write nothing) and writes it under its
    /// ETag, retrying a lost race; the job as written, or null when there is no such job.</summary>
    public async Task<CsvJobRecord?> UpdateAsync(string teamId, string jobId, Func<CsvJobRecord, bool> change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(change);
        while (true)
        {
            var job = await GetAsync(teamId, jobId, cancellationToken).ConfigureAwait(false);
            if (job is null || !change(job))
            {
                return job;
            }
            if (await TryReplaceAsync(job, cancellationToken).ConfigureAwait(false))
            {
                return job;
            }
        }
    }

    /// <summary>The team's jobs, newest first, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<CsvJobRecord>> ListAsync(string teamId, int limit, CancellationToken cancellationToken = default)
    {
        var jobs = new List<CsvJobRecord>();
        // Job ids start with an inverted timestamp, so the partition's order is newest first.
        // Job ids are hex, so below "g": the request rows ("k|…") are left out.
        await foreach (var job in Table.QueryAsync<CsvJobRecord>(j => j.PartitionKey == teamId && j.RowKey.CompareTo("g") < 0, maxPerPage: Math.Min(limit, 1000),
            select: null, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            jobs.Add(job);
            if (jobs.Count >= limit)
            {
                break;
            }
        }
        return jobs;
    }

    /// <summary>
    /// Claims a caller's Idempotency-Key for a create with <paramref name="fingerprint"/>: the job id it created first
    /// (the same request again), <paramref name="jobId"/> when the key is new, or null when another request used the key.
    /// </summary>
    public async Task<string?> ClaimKeyAsync(string teamId, string key, string fingerprint, string jobId, CancellationToken cancellationToken = default)
    {
        var rowKey = "k|" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)));
        try
        {
            await Table.AddEntityAsync(new TableEntity(teamId, rowKey) { ["Fingerprint"] = fingerprint, ["JobId"] = jobId }, cancellationToken).ConfigureAwait(false);
            return jobId;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            var stored = await Table.GetEntityOrNullAsync<TableEntity>(teamId, rowKey, cancellationToken).ConfigureAwait(false);
            return stored?.GetString("Fingerprint") == fingerprint ? stored.GetString("JobId") : null;
        }
    }

    /// <summary>A new job id: an inverted timestamp (newest sorts first) and random digits, 32 lower-case hex.</summary>
    public static string NewJobId(DateTimeOffset now) =>
        (long.MaxValue - now.UtcTicks).ToString("x16", System.Globalization.CultureInfo.InvariantCulture)
        + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));

    /// <summary>Whether <paramref name="jobId"/> has the shape of a job id.</summary>
    public static bool IsJobId(string? jobId) => jobId is { Length: 32 } && jobId.All(char.IsAsciiHexDigitLower);
}
