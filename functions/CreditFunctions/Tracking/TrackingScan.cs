using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;
using Polly;
using Polly.Retry;

namespace CreditFunctions.Tracking;

/// <summary>What one chunk of a scan did (summed over the scan).</summary>
/// <param name="Checked">Contacts checked with the job vendor.</param>
/// <param name="Changes">Job changes found.</param>
/// <param name="Charged">Changes bought for credits.</param>
/// <param name="AlreadyOwned">Changes the team already owned (free).</param>
/// <param name="NotBought">Changes found when the balance was short.</param>
/// <param name="Untracked">Changes of contacts whose tracking stopped before they were settled (never charged).</param>
public sealed record ScanTotals(int Checked, int Changes, int Charged, int AlreadyOwned, int NotBought, int Untracked)
{
    /// <summary>Nothing yet.</summary>
    public static ScanTotals Zero { get; } = new(0, 0, 0, 0, 0, 0);

    /// <summary>The sum.</summary>
    public ScanTotals Add(ScanTotals other) => new(Checked + other.Checked, Changes + other.Changes, Charged + other.Charged,
        AlreadyOwned + other.AlreadyOwned, NotBought + other.NotBought, Untracked + other.Untracked);
}

/// <summary>One chunk's result: the last row it read (the next chunk starts after it), whether the team has no more.</summary>
public sealed record ScanPage(string? LastRowKey, bool Done, ScanTotals Totals);

/// <summary>
/// The work of a scan's chunk: up to <see cref="ChunkSize"/> tracked contacts after a row key, asked of the job vendor in
/// bulk requests of <see cref="BulkSize"/> (several at once), and each change settled: the event row, the contact's row
/// (under its ETag, so a contact untracked meanwhile is not charged), the charge under <c>job_change</c> (only if the team
/// does not own the record: the ledger's ownership of <see cref="JobChangeSubject"/>), the contact store, the webhook.
/// </summary>
/// <remarks>
/// At least once: a chunk run again (a crash, a retry) skips contacts already checked on the scan's day, settles a change
/// whose row still names it as pending, and charges with the same key (<c>tracking:jobchange:{team}:{event}</c>), so each
/// change is charged once. Order per change: event row inserted (found) → contact row updated under its ETag with the
/// new role seen and the event pending → tracking checked again → charge → event bought / not bought → contact row
/// shows the bought role, pending cleared → webhook.
/// </remarks>
public sealed partial class TrackingScanner(TrackingStore store, ContactStore contacts, LedgerService ledger, ProviderCaller providers, WebhookSender webhooks,
    TrackingService tracking, TimeProvider clock, ILogger<TrackingScanner> logger)
{
    /// <summary>Contacts per chunk activity.</summary>
    public const int ChunkSize = 500;

    /// <summary>People per vendor request (the vendor's limit).</summary>
    public const int BulkSize = 100;

    /// <summary>Vendor requests of one chunk under way at once.</summary>
    public const int RequestsInFlightMax = 5;

    /// <summary>The job vendor.</summary>
    public const string Provider = "jobpulse";

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    /// <summary>The subject of a job-change record in the ledger: the contact and the new role (the same change seen again
    /// is the same record, already owned).</summary>
    public static string JobChangeSubject(string contactId, string? newDomain, string? newTitle, string? since) =>
        $"jobchange:{contactId}:{TrackingStore.Hash($"{newDomain?.ToLowerInvariant()}|{newTitle}|{since}")}";

    /// <summary>The event id of a change.</summary>
    public static string EventId(string contactId, string? newDomain, string? newTitle, string? since) =>
        TrackingStore.Hash($"{contactId}|{newDomain?.ToLowerInvariant()}|{newTitle}|{since}");

    /// <summary>Before the first chunk: finishes the untracks and the track requests a crash interrupted.</summary>
    public async Task PrepareAsync(string teamId, CancellationToken ct)
    {
        await tracking.FinishUntracksAsync(teamId, ct).ConfigureAwait(false);
        await tracking.FinishClaimsAsync(teamId, ct).ConfigureAwait(false);
    }

    /// <summary>Scans the chunk after <paramref name="afterRowKey"/> for <paramref name="day"/>.</summary>
    public async Task<ScanPage> ScanChunkAsync(string teamId, string day, string? afterRowKey, CancellationToken ct)
    {
        var rows = await store.PageAsync(teamId, afterRowKey, ChunkSize, null, ct).ConfigureAwait(false);
        var last = rows.Count > 0 ? rows[^1].RowKey : afterRowKey;
        var due = rows.Where(r => r.State == TrackingStates.Tracked && (r.ScanDay != day || !string.IsNullOrEmpty(r.PendingEventId))).ToList();
        var totals = ScanTotals.Zero;
        if (due.Count == 0)
        {
            return new ScanPage(last, rows.Count < ChunkSize, totals);
        }
        var settings = await store.GetSettingsAsync(teamId, ct).ConfigureAwait(false);
        var jobs = new Dictionary<string, VendorJob>(StringComparer.Ordinal);
        var batches = due.Where(r => string.IsNullOrEmpty(r.PendingEventId)).Chunk(BulkSize).ToList();
        var answers = new VendorJob?[batches.Count][];
        await Parallel.ForEachAsync(Enumerable.Range(0, batches.Count), new ParallelOptions { MaxDegreeOfParallelism = RequestsInFlightMax, CancellationToken = ct },
            async (i, token) => answers[i] = await LookupAsync(teamId, batches[i], token).ConfigureAwait(false)).ConfigureAwait(false);
        for (var b = 0; b < batches.Count; b++)
        {
            for (var i = 0; i < batches[b].Length; i++)
            {
                if (answers[b][i] is { } job)
                {
                    jobs[batches[b][i].ContactId] = job;
                }
            }
        }
        var now = clock.GetUtcNow();
        var quiet = new List<TrackedContactRow>();
        var outcomes = new System.Collections.Concurrent.ConcurrentBag<ScanTotals>();
        var changed = new List<(TrackedContactRow Row, VendorJob? Job)>();
        foreach (var row in due)
        {
            if (!string.IsNullOrEmpty(row.PendingEventId))
            {
                changed.Add((row, null));
                continue;
            }
            var job = jobs.GetValueOrDefault(row.ContactId);
            if (job is null || !IsChange(row, job))
            {
                if (job is not null)
                {
                    (row.SeenDomain, row.SeenCompany, row.SeenTitle) = (job.Domain, job.Company, job.Title);
                    row.Company ??= job.Company;
                    row.CompanyDomain ??= job.Domain;
                    row.Title ??= job.Title;
                }
                (row.LastCheckedAt, row.ScanDay) = (now, day);
                quiet.Add(row);
            }
            else
            {
                changed.Add((row, job));
            }
        }
        totals = totals with { Checked = due.Count(r => string.IsNullOrEmpty(r.PendingEventId)) };
        await SaveQuietAsync(quiet, ct).ConfigureAwait(false);
        await Parallel.ForEachAsync(changed, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (c, token) =>
            outcomes.Add(await SettleAsync(teamId, day, settings, c.Row, c.Job, now, token).ConfigureAwait(false))).ConfigureAwait(false);
        foreach (var outcome in outcomes)
        {
            totals = totals.Add(outcome);
        }
        return new ScanPage(last, rows.Count < ChunkSize, totals);
    }

    private static bool IsChange(TrackedContactRow row, VendorJob job)
    {
        var domain = row.SeenDomain ?? row.KnownDomain;
        if (domain is not null && !string.Equals(domain, job.Domain, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        return row.SeenTitle is not null && !string.Equals(row.SeenTitle, job.Title, StringComparison.Ordinal);
    }

    /// <summary>Records the check of contacts without a change: under their ETags (a contact untracked meanwhile stays
    /// untracked), in transactions of 100, falling back to one by one.</summary>
    private async Task SaveQuietAsync(List<TrackedContactRow> rows, CancellationToken ct)
    {
        foreach (var batch in rows.Chunk(100))
        {
            try
            {
                await store.Table.SubmitTransactionAsync(batch.Select(r => new TableTransactionAction(TableTransactionActionType.UpdateMerge, r, r.ETag)), ct).ConfigureAwait(false);
                continue;
            }
            catch (TableTransactionFailedException)
            {
                // A row changed or went: one by one.
            }
            foreach (var row in batch)
            {
                try
                {
                    await store.Table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Merge, ct).ConfigureAwait(false);
                }
                catch (RequestFailedException ex) when (ex.Status is 404 or 412)
                {
                    // Untracked (or written by another run of this chunk): nothing to record.
                }
            }
        }
    }

    /// <summary>Settles one change (see the class remarks); <paramref name="job"/> null: a change left pending by an
    /// earlier run, read from its event.</summary>
    private async Task<ScanTotals> SettleAsync(string teamId, string day, TrackingSettingsRow settings, TrackedContactRow row, VendorJob? job, DateTimeOffset now,
        CancellationToken ct)
    {
        JobChangeRow? change;
        if (job is null)
        {
            change = await store.GetEventAsync(teamId, row.PendingEventId!, ct).ConfigureAwait(false);
            if (change is null)
            {
                return ScanTotals.Zero;
            }
        }
        else
        {
            var eventId = EventId(row.ContactId, job.Domain, job.Title, job.Since);
            change = new JobChangeRow
            {
                PartitionKey = teamId, RowKey = TrackingStore.EventPrefix + eventId, EventId = eventId, ContactId = row.ContactId, Name = row.Name,
                PreviousCompany = row.SeenCompany ?? row.Company, PreviousDomain = row.SeenDomain ?? row.KnownDomain, PreviousTitle = row.SeenTitle ?? row.Title,
                NewCompany = job.Company, NewDomain = job.Domain, NewTitle = job.Title, Since = job.Since, DetectedAt = now, Status = JobChangeStatuses.Found,
                Action = settings.OnJobChange,
            };
            try
            {
                await store.Table.AddEntityAsync(change, ct).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (ex.Status == 409)
            {
                change = await store.GetEventAsync(teamId, eventId, ct).ConfigureAwait(false) ?? change;
            }
            (row.SeenDomain, row.SeenCompany, row.SeenTitle) = (job.Domain, job.Company, job.Title);
            (row.LastCheckedAt, row.LastChangeAt, row.ScanDay, row.PendingEventId) = (now, now, day, eventId);
            try
            {
                await store.Table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Merge, ct).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
                // Untracked meanwhile (or the row changed): decided below from a fresh read.
            }
        }
        var totals = ScanTotals.Zero with { Changes = job is null ? 0 : 1 };
        if (change.Status != JobChangeStatuses.Found)
        {
            await ClearPendingAsync(teamId, row.ContactId, change, ct).ConfigureAwait(false);
            return totals;
        }
        // Checked right before the charge: a contact whose tracking stopped is never charged.
        if (await store.GetContactAsync(teamId, row.ContactId, ct).ConfigureAwait(false) is not { State: TrackingStates.Tracked } fresh || fresh.PendingEventId != change.EventId)
        {
            change.Status = JobChangeStatuses.Untracked;
            await store.Table.UpdateEntityAsync(change, ETag.All, TableUpdateMode.Replace, ct).ConfigureAwait(false);
            return totals with { Untracked = 1 };
        }
        var bought = await BuyAsync(teamId, "tracking", change, ct).ConfigureAwait(false);
        totals = bought switch
        {
            LedgerStatus.Charged => totals with { Charged = 1 },
            LedgerStatus.AlreadyOwned => totals with { AlreadyOwned = 1 },
            _ => totals with { NotBought = 1 },
        };
        await ClearPendingAsync(teamId, row.ContactId, change, ct).ConfigureAwait(false);
        await NotifyAsync(teamId, settings, change, ct).ConfigureAwait(false);
        return totals;
    }

    /// <summary>Charges a found (or not bought) change and records the outcome on the event: <see cref="LedgerStatus.Charged"/>
    /// or <see cref="LedgerStatus.AlreadyOwned"/> bought it; a short balance leaves it <c>not_bought</c>. The key is the
    /// event's, so a scan and a later purchase through the API charge it once between them.</summary>
    public async Task<LedgerStatus> BuyAsync(string teamId, string userId, JobChangeRow change, CancellationToken ct)
    {
        var action = change.Action is TrackingStore.CreateContact ? TrackingStore.CreateContact : TrackingStore.UpdateContact;
        var charge = await ledger.ChargeAsync(new ChargeRequest(teamId, userId, "job_change", action, "tracking:jobchange:" + TrackingStore.Hash(teamId + "|" + change.EventId))
        {
            SubjectId = JobChangeSubject(change.ContactId, change.NewDomain, change.NewTitle, change.Since),
            Description = $"Job change: {change.Name ?? change.ContactId} now {change.NewTitle} at {change.NewCompany}",
            RelatedRecord = "tracking:" + change.ContactId,
        }).ConfigureAwait(false);
        if (charge.Status is LedgerStatus.Charged or LedgerStatus.AlreadyOwned)
        {
            if (action == TrackingStore.CreateContact)
            {
                change.NewContactId = await CreateContactAsync(teamId, change, ct).ConfigureAwait(false);
            }
            else
            {
                await contacts.Table.UpsertEntityAsync(new TableEntity(teamId, ContactStore.RowPrefix + change.ContactId)
                {
                    ["JobTitle"] = change.NewTitle, ["CompanyName"] = change.NewCompany, ["CompanyDomain"] = change.NewDomain,
                }, TableUpdateMode.Merge, ct).ConfigureAwait(false);
            }
            (change.Status, change.ChargeId, change.Credits) = (JobChangeStatuses.Bought, charge.LineId, (double)charge.Amount.Value);
        }
        else if (charge.Status is LedgerStatus.InsufficientCredits or LedgerStatus.SpendLimitReached)
        {
            change.Status = JobChangeStatuses.NotBought;
        }
        else
        {
            throw new LedgerUnavailableException($"The job change could not be charged ({charge.Status}).", null);
        }
        await store.Table.UpdateEntityAsync(change, ETag.All, TableUpdateMode.Replace, ct).ConfigureAwait(false);
        return charge.Status;
    }

    private async Task<string> CreateContactAsync(string teamId, JobChangeRow change, CancellationToken ct)
    {
        var row = await store.GetContactAsync(teamId, change.ContactId, ct).ConfigureAwait(false);
        var person = new PersonInput { FirstName = row?.FirstName, LastName = row?.LastName, CompanyDomain = change.NewDomain, CompanyName = change.NewCompany };
        var id = WaterfallPerson.IdFor(person);
        await contacts.Table.UpsertEntityAsync(new TableEntity(teamId, ContactStore.RowPrefix + id)
        {
            ["Name"] = change.Name, ["JobTitle"] = change.NewTitle, ["CompanyName"] = change.NewCompany, ["CompanyDomain"] = change.NewDomain,
            ["CreatedFromJobChange"] = change.EventId,
        }, TableUpdateMode.Merge, ct).ConfigureAwait(false);
        return id;
    }

    /// <summary>The contact's row shows the bought role and no longer names the change as pending.</summary>
    private async Task ClearPendingAsync(string teamId, string contactId, JobChangeRow change, CancellationToken ct)
    {
        // A merge cannot remove a property: "no pending change" is the empty string.
        var entity = new TableEntity(teamId, TrackingStore.ContactPrefix + contactId) { ["PendingEventId"] = string.Empty };
        if (change.Status == JobChangeStatuses.Bought && change.Action != TrackingStore.CreateContact)
        {
            entity["Company"] = change.NewCompany;
            entity["CompanyDomain"] = change.NewDomain;
            entity["Title"] = change.NewTitle;
        }
        try
        {
            await store.Table.UpdateEntityAsync(entity, ETag.All, TableUpdateMode.Merge, ct).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // Untracked meanwhile.
        }
    }

    /// <summary>How a failing receiver is asked again: 3 more times, 0.5 s, 1 s and 2 s apart (with jitter); receivers
    /// dedupe by the delivery id.</summary>
    private static readonly ResiliencePipeline s_webhookRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>(), MaxRetryAttempts = 3,
            BackoffType = DelayBackoffType.Exponential, Delay = TimeSpan.FromMilliseconds(500), UseJitter = true,
        })
        .Build();

    /// <summary>Posts the event to the team's webhook (signed, egress-guarded), once it is settled, asking a failing
    /// receiver again (<see cref="s_webhookRetry"/>); a delivery that still fails is logged and left for the events route.</summary>
    public async Task NotifyAsync(string teamId, TrackingSettingsRow settings, JobChangeRow change, CancellationToken ct)
    {
        if (settings.WebhookUrl is not { Length: > 0 } url || change.Notified)
        {
            return;
        }
        var body = JsonSerializer.Serialize(new { type = "job_change", teamId, @event = TrackingView.Event(change) }, s_json);
        try
        {
            var sent = await s_webhookRetry.ExecuteAsync(async token => await webhooks.SendAsync(teamId, url, body, "jobchange:" + change.EventId, token)
                .ConfigureAwait(false), ct).ConfigureAwait(false);
            if (sent.Delivered)
            {
                change.Notified = true;
                await store.Table.UpdateEntityAsync(change, ETag.All, TableUpdateMode.Merge, ct).ConfigureAwait(false);
            }
            else
            {
                Log.WebhookRefused(logger, teamId, change.EventId);
            }
        }
        catch (HttpRequestException)
        {
            Log.WebhookFailed(logger, teamId, change.EventId);
        }
    }

    private sealed record VendorJob(string? Title, string? Company, string? Domain, string? Since);

    private async Task<VendorJob?[]> LookupAsync(string teamId, TrackedContactRow[] batch, CancellationToken ct)
    {
        var people = new JsonArray();
        for (var i = 0; i < batch.Length; i++)
        {
            var r = batch[i];
            people.Add(new JsonObject
            {
                ["ref"] = i.ToString(CultureInfo.InvariantCulture), ["linkedin_url"] = r.LinkedInUrl, ["first_name"] = r.FirstName, ["last_name"] = r.LastName,
                ["company_domain"] = r.KnownDomain, ["email"] = r.Email,
            });
        }
        var bytes = await providers.PostBulkAsync(Provider, ProviderCapabilities.Job, new JsonObject { ["people"] = people }, teamId, ct).ConfigureAwait(false);
        var answer = new VendorJob?[batch.Length];
        using var doc = JsonDocument.Parse(bytes);
        foreach (var result in doc.RootElement.GetProperty("results").EnumerateArray())
        {
            if (result.TryGetProperty("ref", out var r) && int.TryParse(r.GetString(), CultureInfo.InvariantCulture, out var index) && index >= 0 && index < batch.Length
                && result.GetProperty("status").GetString() == "ok")
            {
                var company = result.TryGetProperty("company", out var c) ? c : default;
                answer[index] = new VendorJob(Text(result, "title"), company.ValueKind == JsonValueKind.Object ? Text(company, "name") : null,
                    company.ValueKind == JsonValueKind.Object ? Text(company, "domain") : null, Text(result, "since"));
            }
        }
        return answer;

        static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4401, Level = LogLevel.Warning, Message = "Team {TeamId}: the webhook refused job change {EventId}")]
        public static partial void WebhookRefused(ILogger logger, string teamId, string eventId);

        [LoggerMessage(EventId = 4402, Level = LogLevel.Warning, Message = "Team {TeamId}: the webhook of job change {EventId} failed")]
        public static partial void WebhookFailed(ILogger logger, string teamId, string eventId);
    }
}

/// <summary>How the API shows tracking's rows.</summary>
public static class TrackingView
{
    /// <summary>A tracked contact.</summary>
    public static object Contact(TrackedContactRow row) => new
    {
        contactId = row.ContactId, name = row.Name, company = row.Company, companyDomain = row.CompanyDomain, title = row.Title,
        trackedAt = row.TrackedAt, lastCheckedAt = row.LastCheckedAt, lastChangeAt = row.LastChangeAt,
    };

    /// <summary>An event: the new role only once bought.</summary>
    public static object Event(JobChangeRow e)
    {
        var bought = e.Status == JobChangeStatuses.Bought;
        return new
        {
            id = e.EventId, contact = new { id = e.ContactId, name = e.Name },
            previous = new { company = e.PreviousCompany, companyDomain = e.PreviousDomain, title = e.PreviousTitle },
            @new = bought ? new { company = e.NewCompany, companyDomain = e.NewDomain, title = e.NewTitle } : null,
            since = bought ? e.Since : null,
            detectedAt = e.DetectedAt, status = e.Status, action = e.Action, credits = e.Credits, chargeId = e.ChargeId, newContactId = e.NewContactId,
            buyable = e.Status == JobChangeStatuses.NotBought,
        };
    }
}
