using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;

namespace CreditFunctions.CsvJobs;

/// <summary>What one chunk (or a whole job so far) did.</summary>
/// <param name="Rows">Rows written to the results.</param>
/// <param name="EmailsFound">Rows with an email found, owned or validated.</param>
/// <param name="PhonesFound">Rows with a phone found or owned.</param>
/// <param name="Errors">Rows reported with an error.</param>
/// <param name="EmailLeadsCharged">Leads charged in email credits.</param>
/// <param name="EmailMilli">Email credits charged, thousandths.</param>
/// <param name="PhoneLeadsCharged">Leads charged in phone credits.</param>
/// <param name="PhoneMilli">Phone credits charged, thousandths.</param>
public sealed record CsvTotals(int Rows, int EmailsFound, int PhonesFound, int Errors, int EmailLeadsCharged, long EmailMilli, int PhoneLeadsCharged,
    long PhoneMilli)
{
    /// <summary>Nothing yet.</summary>
    public static CsvTotals Zero { get; } = new(0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>The sum.</summary>
    public CsvTotals Add(CsvTotals other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(Rows + other.Rows, EmailsFound + other.EmailsFound, PhonesFound + other.PhonesFound, Errors + other.Errors,
            EmailLeadsCharged + other.EmailLeadsCharged, EmailMilli + other.EmailMilli, PhoneLeadsCharged + other.PhoneLeadsCharged, PhoneMilli + other.PhoneMilli);
    }
}

/// <summary>
/// The work of a CSV job, as plain code the functions call: the quote (one streaming pass), the duplicate map, one
/// chunk of rows through the waterfall (the same <see cref="WaterfallEngine"/> and charging rules as the API), and the
/// end (results committed, holds released).
/// </summary>
/// <remarks>
/// At-least-once throughout. A chunk that runs again stages the same block id (replacing its first try's block) and
/// charges with the same keys — <c>csv:{job}:{person}:{data}</c>, one per lead of the file, so duplicate rows of one lead
/// are one charge — so a crash neither loses nor duplicates rows or charges. The results blob is committed once, at the
/// end, from the chunks that finished, in order. Every charge goes into its hold's job line
/// (<see cref="ChargeRequest.RollUp"/>): history shows the job as a line per action and day, while each lead keeps its
/// own key and ownership record.
/// </remarks>
public sealed partial class CsvJobProcessor(CsvJobStore jobs, BlobServiceClient blobs, LedgerService ledger, WaterfallEngine engine, ContactStore contacts,
    ProviderCaller providers, EnrichmentSettingsStore settings, TimeProvider clock, ILogger<CsvJobProcessor> logger)
{
    /// <summary>The container of uploads: <c>{team}/{job}.csv</c>.</summary>
    public const string UploadContainer = "csv-uploads";

    /// <summary>The container of results: <c>{team}/{job}.csv</c>.</summary>
    public const string ResultContainer = "csv-results";

    /// <summary>The container of a job's working data (the duplicate map).</summary>
    public const string WorkContainer = "csv-work";

    /// <summary>Rows per chunk activity.</summary>
    public const int ChunkRows = 500;

    /// <summary>Leads of one chunk looked up at once.</summary>
    public const int LeadsInFlightMax = 32;

    /// <summary>The columns the results add after the file's own.</summary>
    public static IReadOnlyList<string> ResultColumns { get; } =
        ["result_email", "result_email_status", "result_phone", "result_email_provider", "result_phone_provider", "result_credits", "result_error"];

    /// <summary>Tests set this to fail a chunk right after its charges, as a crash would (return true to fail).</summary>
    internal static Func<string, int, bool>? FailAfterChargesForTests { get; set; }

    /// <summary>The upload blob of a job.</summary>
    public BlobClient UploadBlob(string teamId, string jobId) => blobs.GetBlobContainerClient(UploadContainer).GetBlobClient($"{teamId}/{jobId}.csv");

    /// <summary>The results blob of a job.</summary>
    public BlockBlobClient ResultBlob(string teamId, string jobId) => blobs.GetBlobContainerClient(ResultContainer).GetBlockBlobClient($"{teamId}/{jobId}.csv");

    private BlobClient DuplicatesBlob(string teamId, string jobId) => blobs.GetBlobContainerClient(WorkContainer).GetBlobClient($"{teamId}/{jobId}.dup");

    /// <summary>Creates the containers (start-up).</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        foreach (var name in new[] { UploadContainer, ResultContainer, WorkContainer })
        {
            await blobs.GetBlobContainerClient(name).CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The per-lead prices of a job's options: (email action, its price, phone price).</summary>
    public static (string? EmailAction, Credits EmailPrice, Credits PhonePrice) Prices(bool enrich, bool validate, bool phone)
    {
        var emailAction = enrich && validate ? "csv_enrich_validate" : enrich ? "csv_enrich" : validate ? "csv_validate" : null;
        var emailPrice = emailAction is null ? Credits.Zero : Catalog.Default.Find("enrichment", emailAction)!.Price;
        var phonePrice = phone ? Catalog.Default.Find("enrichment", "csv_phone")!.Price : Credits.Zero;
        return (emailAction, emailPrice, phonePrice);
    }

    /// <summary>
    /// Quotes the job's file version <paramref name="version"/>: one streaming pass (<see cref="CsvScanner"/>), the header
    /// against the mapping, the maximum cost. Writes <c>quoted</c> (or <c>failed</c> naming the limit) unless a newer version
    /// arrived or the job started meanwhile. True when the job should start by itself (autoStart within maxCredits).
    /// </summary>
    public async Task<bool> QuoteAsync(string teamId, string jobId, string version, CancellationToken cancellationToken)
    {
        var job = await jobs.GetAsync(teamId, jobId, cancellationToken).ConfigureAwait(false);
        if (job is null || job.UploadVersion != version || job.Status != CsvJobStatus.Uploading)
        {
            return false;
        }
        CsvScan? scan = null;
        IReadOnlyDictionary<string, int>? columns = null;
        CsvFileException? failure = null;
        try
        {
            var blob = UploadBlob(teamId, jobId);
            var stream = await blob.OpenReadAsync(new BlobOpenReadOptions(allowModifications: false)
            {
                Conditions = new BlobRequestConditions { IfMatch = new ETag(version) }, BufferSize = 4 * 1024 * 1024,
            }, cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                scan = await CsvScanner.ScanAsync(stream, stream.Length, ChunkRows, cancellationToken).ConfigureAwait(false);
            }
            var mapping = job.MappingJson is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(job.MappingJson);
            columns = CsvMapping.Resolve(scan.Header, mapping, needsEmail: job.Validate && !job.Enrich);
        }
        catch (CsvFileException ex)
        {
            failure = ex;
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            // A newer version replaced this one: its own trigger quotes it.
            return false;
        }
        var (_, emailPrice, phonePrice) = Prices(job.Enrich, job.Validate, job.Phone);
        var autoStart = false;
        var written = await jobs.UpdateAsync(teamId, jobId, j =>
        {
            if (j.UploadVersion != version || j.Status != CsvJobStatus.Uploading)
            {
                return false;
            }
            if (failure is not null || scan is null || columns is null)
            {
                j.Status = CsvJobStatus.Failed;
                j.Error = failure?.Message ?? "The file could not be read.";
                j.ErrorLimit = failure?.Limit;
                return true;
            }
            j.Status = CsvJobStatus.Quoted;
            j.QuotedVersion = version;
            j.Rows = scan.Rows;
            j.RaggedRows = scan.RaggedRows;
            j.Bytes = scan.Bytes;
            j.HeaderJson = JsonSerializer.Serialize(scan.Header);
            j.ColumnsJson = JsonSerializer.Serialize(columns);
            j.Delimiter = scan.Delimiter.ToString();
            j.Encoding = scan.Encoding.ToString();
            j.ChunkOffsets = MemoryMarshal.AsBytes(scan.ChunkOffsets.ToArray().AsSpan()).ToArray();
            j.QuoteEmailMilli = (emailPrice * scan.Rows).Thousandths;
            j.QuotePhoneMilli = (phonePrice * scan.Rows).Thousandths;
            j.Error = null;
            j.ErrorLimit = null;
            var total = j.QuoteEmailMilli + j.QuotePhoneMilli;
            autoStart = j.AutoStart && (j.MaxCreditsMilli is null || total <= j.MaxCreditsMilli);
            if (j.AutoStart && !autoStart)
            {
                j.Error = "Not started automatically: the quote is above maxCredits.";
            }
            return true;
        }, cancellationToken).ConfigureAwait(false);
        if (written is not null && failure is not null)
        {
            Log.QuoteFailed(logger, teamId, jobId, failure.Limit);
        }
        return autoStart && written?.Status == CsvJobStatus.Quoted;
    }

    /// <summary>Writes the duplicate map of a started job: one bit per data row, set when an earlier row of the file is the
    /// same lead (the lead's charge and credits show on its first row only). Idempotent.</summary>
    public async Task<int> PrepareAsync(string teamId, string jobId, CancellationToken cancellationToken)
    {
        var job = await jobs.GetAsync(teamId, jobId, cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("No such job.");
        var columns = JsonSerializer.Deserialize<Dictionary<string, int>>(job.ColumnsJson!)!;
        var headerCells = JsonSerializer.Deserialize<string[]>(job.HeaderJson!)!.Length;
        var bits = new byte[(job.Rows + 7) / 8];
        var seen = new HashSet<ulong>();
        var offsets = job.Offsets();
        var blob = UploadBlob(teamId, jobId);
        for (var chunk = 0; chunk < offsets.Length; chunk++)
        {
            foreach (var row in await ReadChunkAsync(job, blob, offsets, chunk, cancellationToken).ConfigureAwait(false))
            {
                var (person, _) = CsvMapping.PersonOf(row, columns, headerCells);
                if (person is not null && !seen.Add(Hash64(WaterfallPerson.IdFor(person))))
                {
                    bits[row.Number / 8] |= (byte)(1 << (row.Number % 8));
                }
            }
        }
        await DuplicatesBlob(teamId, jobId).UploadAsync(new BinaryData(bits), overwrite: true, cancellationToken).ConfigureAwait(false);
        return offsets.Length;
    }

    /// <summary>Runs chunk <paramref name="chunk"/> of a started job and stages its block of results.</summary>
    public async Task<CsvTotals> RunChunkAsync(string teamId, string jobId, int chunk, CancellationToken cancellationToken)
    {
        var job = await jobs.GetAsync(teamId, jobId, cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("No such job.");
        var columns = JsonSerializer.Deserialize<Dictionary<string, int>>(job.ColumnsJson!)!;
        var headerCells = JsonSerializer.Deserialize<string[]>(job.HeaderJson!)!.Length;
        var offsets = job.Offsets();
        var rows = await ReadChunkAsync(job, UploadBlob(teamId, jobId), offsets, chunk, cancellationToken).ConfigureAwait(false);
        var duplicates = await ReadDuplicatesAsync(job, rows, cancellationToken).ConfigureAwait(false);

        var (emailAction, emailPrice, _) = Prices(job.Enrich, job.Validate, job.Phone);
        var team = await settings.GetRecentAsync(teamId, WaterfallEngine.SettingsMaxAge, cancellationToken).ConfigureAwait(false);
        var holds = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var type in new[] { "email", "phone" })
        {
            if (job.HoldFor(type) is { } hold)
            {
                holds[type] = hold;
            }
        }
        var data = new List<string>();
        if (job.Enrich)
        {
            data.Add(WaterfallData.Email);
        }
        if (job.Phone)
        {
            data.Add(WaterfallData.Mobile);
        }
        var descriptions = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [WaterfallData.Email] = $"{Catalog.Default.Find("enrichment", emailAction ?? "csv_enrich")!.ActionName} — job {job.FileName}",
            [WaterfallData.Mobile] = $"{Catalog.Default.Find("enrichment", "csv_phone")!.ActionName} — job {job.FileName}",
        };
        var run = new WaterfallRun
        {
            RunId = jobId, TeamId = teamId, UserId = job.UserId, Data = data, People = [],
            Plan = new ChargePlan("enrichment", emailAction is "csv_enrich_validate" ? "csv_enrich_validate" : "csv_enrich", "csv_phone"),
            HoldIds = holds, EmailProviders = team.EmailProviders, MobileProviders = team.MobileProviders, Verifier = team.Verifier,
            VerifyEmails = job.Validate && team.Verifier is not null, ChargeDescriptions = descriptions, RelatedRecord = "csv-job:" + jobId,
            RollUpCharges = true,
        };

        // One lookup per lead of the chunk, however many rows name it.
        var parsed = rows.Select(r => (Row: r, Lead: CsvMapping.PersonOf(r, columns, headerCells))).ToList();
        var leads = new Dictionary<string, PersonInput>(StringComparer.Ordinal);
        foreach (var (_, (person, _)) in parsed)
        {
            if (person is not null)
            {
                leads.TryAdd(WaterfallPerson.IdFor(person), person);
            }
        }
        var outcomes = new ConcurrentDictionary<string, LeadOutcome>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(leads, new ParallelOptions { MaxDegreeOfParallelism = LeadsInFlightMax, CancellationToken = cancellationToken },
            async (lead, ct) =>
            {
                outcomes[lead.Key] = await RunLeadAsync(job, run, team, lead.Key, lead.Value, emailPrice, ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
        if (FailAfterChargesForTests?.Invoke(jobId, chunk) == true)
        {
            throw new IOException("Injected failure after the chunk's charges (as if the worker died).");
        }

        var text = new StringBuilder(rows.Count * 200);
        var delimiter = job.Delimiter![0];
        var totals = CsvTotals.Zero;
        var credited = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (row, (person, error)) in parsed)
        {
            var cells = new string?[headerCells + ResultColumns.Count];
            Array.Copy(row.Cells, cells, Math.Min(row.Cells.Length, headerCells));
            var outcome = person is null ? null : outcomes[WaterfallPerson.IdFor(person)];
            // A lead's credits show on its first row in the file; its other rows show its data at 0 credits.
            var first = person is not null && !duplicates(row.Number) && credited.Add(WaterfallPerson.IdFor(person));
            var rowError = error ?? outcome?.Error;
            cells[headerCells] = outcome?.Email;
            cells[headerCells + 1] = outcome?.EmailStatus;
            cells[headerCells + 2] = outcome?.Phone;
            cells[headerCells + 3] = outcome?.EmailProvider;
            cells[headerCells + 4] = outcome?.PhoneProvider;
            cells[headerCells + 5] = first ? new Credits(outcome!.EmailMilli + outcome.PhoneMilli).ToString() : "0";
            cells[headerCells + 6] = rowError;
            CsvRows.AppendLine(text, cells, delimiter);
            totals = totals.Add(new CsvTotals(1, outcome?.EmailFound == true ? 1 : 0, outcome?.Phone is null ? 0 : 1, rowError is null ? 0 : 1,
                first && outcome!.EmailMilli > 0 ? 1 : 0, first ? outcome!.EmailMilli : 0, first && outcome!.PhoneMilli > 0 ? 1 : 0, first ? outcome!.PhoneMilli : 0));
        }
        await ResultBlob(teamId, jobId).StageBlockAsync(BlockId(chunk), new BinaryData(Encoding.UTF8.GetBytes(text.ToString())).ToStream(),
            cancellationToken: cancellationToken).ConfigureAwait(false);
        return totals;
    }

    /// <summary>
    /// Ends a job: releases what is left of its holds (first, so a failure later cannot keep them), commits the results from
    /// the header and the chunks in <paramref name="chunksDone"/> (in order), and records the outcome. Idempotent. The
    /// webhook body to send, or null.
    /// </summary>
    public async Task<string?> FinishAsync(string teamId, string jobId, string status, IReadOnlyList<int> chunksDone, CsvTotals totals, string? error,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunksDone);
        ArgumentNullException.ThrowIfNull(totals);
        var job = await jobs.GetAsync(teamId, jobId, cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("No such job.");
        // Money first: the holds' rest is released before anything else can fail (each void is idempotent by its key).
        foreach (var type in new[] { "email", "phone" })
        {
            if (job.HoldFor(type) is { } hold)
            {
                await ledger.VoidHoldAsync(new VoidRequest(teamId, job.UserId, hold, $"release:{hold}")).ConfigureAwait(false);
            }
        }
        var header = JsonSerializer.Deserialize<string[]>(job.HeaderJson!)!;
        var text = new StringBuilder("\uFEFF");
        CsvRows.AppendLine(text, header.Concat(ResultColumns), job.Delimiter![0]);
        var results = ResultBlob(teamId, jobId);
        await results.StageBlockAsync(HeaderBlockId, new BinaryData(Encoding.UTF8.GetBytes(text.ToString())).ToStream(), cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        await results.CommitBlockListAsync([HeaderBlockId, .. chunksDone.Order().Select(BlockId)],
            new CommitBlockListOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "text/csv; charset=utf-8" } }, cancellationToken).ConfigureAwait(false);
        var now = clock.GetUtcNow();
        var ended = await jobs.UpdateAsync(teamId, jobId, j =>
        {
            j.Status = status;
            j.EndedAt ??= now;
            j.Error = error ?? j.Error;
            Apply(j, totals);
            j.ResultsReady = true;
            return true;
        }, cancellationToken).ConfigureAwait(false);
        Log.Ended(logger, teamId, jobId, status, totals.Rows);
        return ended?.WebhookUrl is null ? null : JsonSerializer.Serialize(new
        {
            type = "csv_job." + status,
            jobId,
            status,
            rows = ended.Rows,
            rowsDone = totals.Rows,
            emailsFound = totals.EmailsFound,
            phonesFound = totals.PhonesFound,
            rowErrors = totals.Errors,
            creditsCharged = new { email = new Credits(totals.EmailMilli).Value, phone = new Credits(totals.PhoneMilli).Value },
            error = ended.Error,
        }, JsonSerializerOptions.Web);
    }

    /// <summary>
    /// Ends a job whose run was terminated (it runs no more code of its own): the holds' rest is released, the chunks whose
    /// blocks were staged are committed, and the job is <c>cancelled</c> with the run's last progress.
    /// </summary>
    public async Task EndTerminatedAsync(string teamId, string jobId, CsvTotals totals, CancellationToken cancellationToken)
    {
        var chunks = new List<int>();
        try
        {
            var blocks = await ResultBlob(teamId, jobId).GetBlockListAsync(BlockListTypes.All, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var block in blocks.Value.UncommittedBlocks.Concat(blocks.Value.CommittedBlocks))
            {
                var name = Encoding.ASCII.GetString(Convert.FromBase64String(block.Name));
                if (name[0] == 'c' && int.TryParse(name.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var chunk) && !chunks.Contains(chunk))
                {
                    chunks.Add(chunk);
                }
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No chunk staged anything.
        }
        await FinishAsync(teamId, jobId, CsvJobStatus.Cancelled, chunks, totals, "Terminated through the orchestration API.", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Records progress; true when a cancel was asked for.</summary>
    public async Task<bool> CheckpointAsync(string teamId, string jobId, CsvTotals totals, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(totals);
        var job = await jobs.UpdateAsync(teamId, jobId, j =>
        {
            if (j.Status != CsvJobStatus.Running)
            {
                return false;
            }
            Apply(j, totals);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        return job?.CancelRequested == true;
    }

    /// <summary>Records how the webhook went.</summary>
    public Task RecordWebhookAsync(string teamId, string jobId, string outcome, CancellationToken cancellationToken) =>
        jobs.UpdateAsync(teamId, jobId, j =>
        {
            j.Webhook = outcome;
            return true;
        }, cancellationToken);

    private static void Apply(CsvJobRecord job, CsvTotals totals)
    {
        job.RowsDone = totals.Rows;
        job.EmailsFound = totals.EmailsFound;
        job.PhonesFound = totals.PhonesFound;
        job.RowErrors = totals.Errors;
        job.ChargedEmailMilli = totals.EmailMilli;
        job.ChargedPhoneMilli = totals.PhoneMilli;
        job.EmailLeadsCharged = totals.EmailLeadsCharged;
        job.PhoneLeadsCharged = totals.PhoneLeadsCharged;
    }

    private sealed record LeadOutcome(string? Email, string? EmailStatus, string? EmailProvider, bool EmailFound, long EmailMilli, string? Phone,
        string? PhoneProvider, long PhoneMilli, string? Error);

    private async Task<LeadOutcome> RunLeadAsync(CsvJobRecord job, WaterfallRun run, EnrichmentSettings team, string leadId, PersonInput lead, Credits validatePrice,
        CancellationToken ct)
    {
        string? email = null, emailStatus = null, emailProvider = null, phone = null, phoneProvider = null, error = null;
        var emailFound = false;
        long emailMilli = 0, phoneMilli = 0;
        var prefix = $"csv:{job.JobId}:{leadId}";
        if (run.Data.Count > 0)
        {
            var result = (await engine.RunAsync(run, [new WaterfallPerson(0, leadId, lead)], prefix, ct).ConfigureAwait(false))[0];
            if (result.Email is { } e)
            {
                (email, emailProvider, emailMilli) = (e.Value, e.Provider, (long)(e.Credits * 1000));
                emailFound = e.Status is "found" or "already_owned";
                emailStatus = e.Status switch
                {
                    "found" => e.Verification ?? "found",
                    "already_owned" => e.Verification ?? "owned",
                    "not_found" => "not_found",
                    _ => null,
                };
                error = emailStatus is null ? "not charged: " + e.Status : null;
            }
            if (result.Mobile is { } m)
            {
                (phone, phoneProvider, phoneMilli) = (m.Status is "found" or "already_owned" ? m.Value : null, m.Provider, (long)(m.Credits * 1000));
                error ??= m.Status is "found" or "already_owned" or "not_found" ? null : "not charged: " + m.Status;
            }
        }
        if (job.Validate && !job.Enrich && lead.Email is { } own)
        {
            (email, emailStatus, emailProvider, emailMilli, error) = await ValidateAsync(job, run, team, leadId, own, validatePrice, prefix, ct).ConfigureAwait(false);
            emailFound = emailStatus is not null and not "unknown";
        }
        return new LeadOutcome(email, emailStatus, emailProvider, emailFound, emailMilli, phone, phoneProvider, phoneMilli, error);
    }

    /// <summary>Validation of the file's own email: an email the team owns with a known status costs nothing and asks no
    /// vendor; otherwise the verifier is asked, and a verdict (valid, catch-all, invalid) is charged once per lead of the file.</summary>
    private async Task<(string? Email, string? Status, string? Provider, long Milli, string? Error)> ValidateAsync(CsvJobRecord job, WaterfallRun run,
        EnrichmentSettings team, string leadId, string email, Credits price, string prefix, CancellationToken ct)
    {
        var contact = await contacts.GetAsync(job.TeamId, leadId, ct).ConfigureAwait(false);
        if (contact?.Email == email && contact.EmailVerification is { } known)
        {
            return (email, known, contact.EmailProvider ?? "owned", 0, null);
        }
        if (run.Verifier is not { } verifier)
        {
            return (email, null, null, 0, "no email verifier is configured for the team");
        }
        var verdict = await providers.VerifyEmailAsync(verifier, email, settings.ResolveKey(job.TeamId, team, verifier), job.TeamId, ct).ConfigureAwait(false);
        if (verdict is not ProviderVerified verified || verified.Status == EmailVerificationStatus.Unknown)
        {
            return (email, "unknown", verifier, 0, null);
        }
        var charge = await ledger.ChargeAsync(new ChargeRequest(job.TeamId, job.UserId, "enrichment", "csv_validate", prefix + ":validate")
        {
            SubjectId = leadId,
            Description = $"{Catalog.Default.Find("enrichment", "csv_validate")!.ActionName} — job {job.FileName}",
            RelatedRecord = "csv-job:" + job.JobId,
            HoldId = run.HoldIds?.GetValueOrDefault("email"),
            RollUp = run.HoldIds?.ContainsKey("email") == true,
        }).ConfigureAwait(false);
        _ = price;
        return charge.Status == LedgerStatus.Charged
            ? (email, WaterfallEngine.VerificationName(verified.Status), verifier, charge.Amount.Thousandths, null)
            : (email, null, verifier, 0, "not charged: " + charge.Status);
    }

    private static async Task<List<CsvRow>> ReadChunkAsync(CsvJobRecord job, BlobClient blob, long[] offsets, int chunk, CancellationToken ct)
    {
        var from = offsets[chunk];
        var to = chunk + 1 < offsets.Length ? offsets[chunk + 1] : job.Bytes;
        var content = await blob.DownloadContentAsync(new BlobDownloadOptions
        {
            Range = new HttpRange(from, to - from),
            Conditions = new BlobRequestConditions { IfMatch = new ETag(job.QuotedVersion!) },
        }, ct).ConfigureAwait(false);
        var encoding = Enum.Parse<CsvEncoding>(job.Encoding!);
        var text = CsvScan.TextEncoding(encoding).GetString(content.Value.Content.ToMemory().Span);
        var rows = CsvRows.ReadRange(text, job.Delimiter![0], chunk * ChunkRows);
        if (rows.Count > ChunkRows)
        {
            throw new InvalidOperationException($"Chunk {chunk} holds {rows.Count} rows: the file changed since its quote.");
        }
        return rows;
    }

    private async Task<Func<int, bool>> ReadDuplicatesAsync(CsvJobRecord job, List<CsvRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0)
        {
            return _ => false;
        }
        var firstByte = rows[0].Number / 8;
        var lastByte = rows[^1].Number / 8;
        var content = await DuplicatesBlob(job.TeamId, job.JobId).DownloadContentAsync(new BlobDownloadOptions
        {
            Range = new HttpRange(firstByte, lastByte - firstByte + 1),
        }, ct).ConfigureAwait(false);
        var bits = content.Value.Content.ToArray();
        return n => (bits[(n / 8) - firstByte] & (1 << (n % 8))) != 0;
    }

    private static readonly string HeaderBlockId = Convert.ToBase64String(Encoding.ASCII.GetBytes("h000000000"));

    private static string BlockId(int chunk) => Convert.ToBase64String(Encoding.ASCII.GetBytes("c" + chunk.ToString("D9", CultureInfo.InvariantCulture)));

    /// <summary>FNV-1a, 64 bits: stable, and collision-free enough for a million leads (about 3 in 100 million files).</summary>
    private static ulong Hash64(string value)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }
        return hash;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1601, Level = LogLevel.Information, Message = "CSV job {TeamId}/{JobId} failed at its quote: limit {Limit}")]
        public static partial void QuoteFailed(ILogger logger, string teamId, string jobId, string limit);

        [LoggerMessage(EventId = 1602, Level = LogLevel.Information, Message = "CSV job {TeamId}/{JobId} ended {Status} after {Rows} rows")]
        public static partial void Ended(ILogger logger, string teamId, string jobId, string status, int rows);
    }
}
