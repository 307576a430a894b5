using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Sas;
using CreditFunctions.Hosting;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;
using CsvHelper;

namespace CreditFunctions.Prospects;

/// <summary>A list export's outcome.</summary>
/// <param name="ExportId">The export (its file is <c>list-exports/{team}/{exportId}.csv</c>).</param>
/// <param name="DryRun">Only the cost was answered.</param>
/// <param name="Enriched">Enriched (charged) or raw (free).</param>
/// <param name="Rows">Leads in the file.</param>
/// <param name="AtMost">What it could cost at most: 1 email credit per lead whose email is not owned, and with phone 1
/// phone credit per lead whose number is not owned.</param>
/// <param name="EmailCredits">Email credits charged.</param>
/// <param name="PhoneCredits">Phone credits charged.</param>
/// <param name="EmailsFound">Emails bought by this export.</param>
/// <param name="PhonesFound">Numbers bought by this export.</param>
/// <param name="DownloadUrl">A read-only link to the file, valid until <paramref name="ExpiresAt"/>.</param>
/// <param name="ExpiresAt">When the link stops working (ask again for a new one: the same key answers the same export).</param>
public sealed record ListExportResult(string ExportId, bool DryRun, bool Enriched, int Rows, decimal AtMost, decimal EmailCredits, decimal PhoneCredits,
    int EmailsFound, int PhonesFound, Uri? DownloadUrl, DateTimeOffset? ExpiresAt);

/// <summary>An export that would cost more than the request's <c>maxCredits</c>: nothing was charged.</summary>
public sealed class ExportOverMaxCreditsException(decimal atMost, decimal maxCredits)
    : Exception($"The export can cost up to {atMost} credits, above its maxCredits ({maxCredits}); nothing was charged.");

/// <summary>A list too large to enrich in one request: nothing was charged.</summary>
public sealed class ListTooLargeToEnrichException(int members)
    : Exception($"The list has {members} leads; an enriched export takes at most {ListExportService.EnrichedMax} (upload the rest as a CSV job).");

/// <summary>
/// Exports a list to CSV in Blob Storage with a short-lived download link (DOMAIN rule 6). Raw: the leads as the team
/// has them, free (a 0-credit line under *Exports* / *Raw export*). Enriched: each lead's email through the waterfall
/// (validation included), 1 email credit per lead whose email is not owned and only when found; with phone, 1 phone
/// credit per number found and not owned. The maximum is held before any provider is asked (402 when short), and a
/// <c>maxCredits</c> below the maximum refuses the export before anything. Cells a spreadsheet would run as formulas
/// are escaped.
/// </summary>
public sealed class ListExportService(ProspectStore store, ProspectService prospects, ContactStore contacts,
    EnrichmentSettingsStore settings, LedgerService ledger, BlobServiceClient blobs, TimeProvider clock)
{
    /// <summary>The container of the export files.</summary>
    public const string Container = "list-exports";

    /// <summary>Most leads of an enriched export (the request waits for the lookups).</summary>
    public const int EnrichedMax = 1_000;

    /// <summary>How long a download link works.</summary>
    public static TimeSpan DownloadUrlLifetime { get; } = TimeSpan.FromMinutes(15);

    private static readonly CsvWriterOptions s_csv = new() { Injection = CsvInjection.Escape, FormatProvider = CultureInfo.InvariantCulture };

    /// <summary>Creates the export container.</summary>
    public Task InitializeAsync(CancellationToken ct) => blobs.GetBlobContainerClient(Container).CreateIfNotExistsAsync(cancellationToken: ct);

    /// <summary>Exports list <paramref name="listId"/> (see the class summary).</summary>
    /// <exception cref="ProspectTargetNotFoundException">The list is not the team's.</exception>
    /// <exception cref="ListTooLargeToEnrichException">An enriched export of more than <see cref="EnrichedMax"/> leads.</exception>
    /// <exception cref="ExportOverMaxCreditsException">The maximum is above <paramref name="maxCredits"/>.</exception>
    /// <exception cref="WaterfallRefusedException">The balance or the member's limit is short of the maximum.</exception>
    /// <exception cref="IdempotencyKeyReusedException">The key came with another request.</exception>
    public async Task<ListExportResult> ExportAsync(string teamId, string userId, string listId, bool enrich, bool phone, Credits? maxCredits, bool dryRun,
        string? idempotencyKey, CancellationToken ct)
    {
        var list = await store.GetAsync(teamId, CollectionKind.List, listId, ct).ConfigureAwait(false)
            ?? throw new ProspectTargetNotFoundException("id", $"No list '{listId}' in this team.");
        var exportId = "lx_" + (idempotencyKey is null ? Guid.NewGuid().ToString("N")[..24]
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(teamId + "\n" + idempotencyKey)))[..24]);
        var fingerprint = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(new { listId, enrich, phone, max = maxCredits?.Thousandths })));
        if (idempotencyKey is not null && !dryRun)
        {
            var claim = await contacts.ClaimRequestAsync(teamId, "list-export:" + idempotencyKey, fingerprint, ct).ConfigureAwait(false);
            if (!claim.Same)
            {
                throw new IdempotencyKeyReusedException();
            }
            if (claim.StoredResult is { } first)
            {
                // The same export again: the same file, with a new link.
                return await LinkAsync(teamId, JsonSerializer.Deserialize<ListExportResult>(first, JsonSerializerOptions.Web)!, ct).ConfigureAwait(false);
            }
        }
        var members = new List<MemberRow>();
        for (string? after = null; ;)
        {
            var page = await store.MembersAsync(teamId, listId, after, 1000, ct).ConfigureAwait(false);
            members.AddRange(page);
            if (page.Count < 1000)
            {
                break;
            }
            after = page[^1].ContactId;
        }
        if (enrich && members.Count > EnrichedMax)
        {
            throw new ListTooLargeToEnrichException(members.Count);
        }
        var leads = await prospects.ResolveAsync(teamId, [.. members.Select(m => new LeadInput(m.ContactId,
            enrich && m.InputJson is { } input ? JsonSerializer.Deserialize<PersonInput>(input, JsonSerializerOptions.Web) : null))], ct).ConfigureAwait(false);
        var emailsToBuy = enrich ? leads.Count(l => l.Person is not null && l.Contact?.Email is null) : 0;
        var phonesToBuy = enrich && phone ? leads.Count(l => l.Person is not null && l.Contact?.Mobile is null) : 0;
        var atMost = emailsToBuy + phonesToBuy;
        if (maxCredits is { } max && atMost > max.Value)
        {
            throw new ExportOverMaxCreditsException(atMost, max.Value);
        }
        if (dryRun)
        {
            return new ListExportResult(exportId, true, enrich, members.Count, atMost, 0m, 0m, 0, 0, null, null);
        }

        IReadOnlyDictionary<int, PersonResult> found = new Dictionary<int, PersonResult>();
        if (enrich)
        {
            found = await EnrichAsync(teamId, userId, exportId, list, leads, emailsToBuy, phonesToBuy, phone, ct).ConfigureAwait(false);
        }
        else
        {
            // Raw rows are free; the 0-credit line shows the export in the usage history.
            await ledger.ChargeAsync(new ChargeRequest(teamId, userId, "exports", "raw_export", $"{exportId}:{teamId}:raw")
            {
                Description = $"Raw export of list '{list.Name}' ({members.Count} leads)", RelatedRecord = "list-export:" + exportId,
            }).ConfigureAwait(false);
        }
        await WriteAsync(teamId, exportId, members, leads, found, enrich, phone, ct).ConfigureAwait(false);
        var results = found.Values.ToList();
        var result = new ListExportResult(exportId, false, enrich, members.Count, atMost,
            results.Sum(r => r.Email?.Credits ?? 0m), results.Sum(r => r.Mobile?.Credits ?? 0m),
            results.Count(r => r.Email is { Status: "found", Credits: > 0 }), results.Count(r => r.Mobile is { Status: "found", Credits: > 0 }), null, null);
        if (idempotencyKey is not null)
        {
            await contacts.SaveRequestResultAsync(teamId, "list-export:" + idempotencyKey, JsonSerializer.Serialize(result, JsonSerializerOptions.Web), ct)
                .ConfigureAwait(false);
        }
        return await LinkAsync(teamId, result, ct).ConfigureAwait(false);
    }

    private async Task<IReadOnlyDictionary<int, PersonResult>> EnrichAsync(string teamId, string userId, string exportId, CollectionRow list,
        IReadOnlyList<ResolvedLead> leads, int emails, int phones, bool phone, CancellationToken ct)
    {
        var people = leads.Where(l => l.Person is not null).Select(l => l.Person!).ToList();
        if (people.Count == 0)
        {
            return new Dictionary<int, PersonResult>();
        }
        var context = $"export of list '{list.Name}'";
        var run = new WaterfallRun
        {
            RunId = exportId, TeamId = teamId, UserId = userId, Data = phone ? [WaterfallData.Email, WaterfallData.Mobile] : [WaterfallData.Email], People = people,
            Plan = new ChargePlan("exports", "list_export", "list_export_phone"), RelatedRecord = "list-export:" + exportId, ChargeContext = context,
        };
        var holds = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            if (emails > 0)
            {
                holds["email"] = await prospects.HoldAsync(run, WaterfallData.Email, emails, context, ct).ConfigureAwait(false);
            }
            if (phones > 0)
            {
                holds["phone"] = await prospects.HoldAsync(run, WaterfallData.Mobile, phones, context, ct).ConfigureAwait(false);
            }
            var team = await settings.GetRecentAsync(teamId, WaterfallEngine.SettingsMaxAge, ct).ConfigureAwait(false);
            run = run with
            {
                HoldIds = holds, EmailProviders = team.EmailProviders, MobileProviders = team.MobileProviders, Verifier = team.Verifier,
                // Validation is included in an enriched export.
                VerifyEmails = team.Verifier is not null,
            };
            return await prospects.RunResolvedAsync(run, team, leads, $"{exportId}:{teamId}", ct).ConfigureAwait(false);
        }
        finally
        {
            foreach (var hold in holds.Values)
            {
                await ledger.VoidHoldAsync(new VoidRequest(teamId, userId, hold, "release:" + hold)).ConfigureAwait(false);
            }
        }
    }

    private async Task WriteAsync(string teamId, string exportId, List<MemberRow> members, IReadOnlyList<ResolvedLead> leads,
        IReadOnlyDictionary<int, PersonResult> found, bool enrich, bool phone, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await using (var csv = CsvWriter.Create(buffer, s_csv, leaveOpen: true))
        {
            csv.WriteHeader(enrich
                ? ["contact_id", "name", "email", "email_status", "phone", "credits", "added_at"]
                : ["contact_id", "name", "email", "phone", "added_at"]);
            for (var i = 0; i < members.Count; i++)
            {
                var (member, lead, result) = (members[i], leads[i], found.GetValueOrDefault(i));
                csv.WriteField(member.ContactId);
                csv.WriteField(member.Name ?? lead.Contact?.Name ?? string.Empty);
                csv.WriteField(result?.Email?.Value ?? lead.Contact?.Email ?? member.Email ?? string.Empty);
                if (enrich)
                {
                    csv.WriteField(result?.Email?.Verification ?? lead.Contact?.EmailVerification ?? (result?.Email?.Status == "not_found" ? "not_found" : string.Empty));
                }
                csv.WriteField((phone ? result?.Mobile?.Value : null) ?? lead.Contact?.Mobile ?? string.Empty);
                if (enrich)
                {
                    csv.WriteField((result?.Email?.Credits ?? 0m) + (result?.Mobile?.Credits ?? 0m), "0.###");
                }
                csv.WriteField(member.AddedAt.ToUniversalTime(), "yyyy-MM-ddTHH:mm:ssZ");
                await csv.EndRecordAsync(ct).ConfigureAwait(false);
            }
        }
        buffer.Position = 0;
        await blobs.GetBlobContainerClient(Container).GetBlobClient($"{teamId}/{exportId}.csv")
            .UploadAsync(buffer, new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "text/csv; charset=utf-8" } }, ct).ConfigureAwait(false);
    }

    private async Task<ListExportResult> LinkAsync(string teamId, ListExportResult result, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var blob = blobs.GetBlobContainerClient(Container).GetBlobClient($"{teamId}/{result.ExportId}.csv");
        var url = await BlobSas.ForBlobAsync(blobs, blob, BlobSasPermissions.Read, now, now + DownloadUrlLifetime, ct).ConfigureAwait(false);
        return result with { DownloadUrl = url, ExpiresAt = now + DownloadUrlLifetime };
    }
}
