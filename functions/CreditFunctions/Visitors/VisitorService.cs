using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Storage.Queues;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;

namespace CreditFunctions.Visitors;

/// <summary>Where visitor events wait: <c>CREDITFUNCTIONS_VISITORS_QUEUE</c>; the trusted forwarding proxies:
/// <c>CREDITFUNCTIONS_TRUSTED_PROXIES</c>.</summary>
public sealed record VisitorOptions
{
    /// <summary>The setting naming the events queue (the trigger reads it as <c>%CREDITFUNCTIONS_VISITORS_QUEUE%</c>).</summary>
    public const string QueueSetting = "CREDITFUNCTIONS_VISITORS_QUEUE";

    /// <summary>The setting listing the proxies (CIDR ranges, comma-separated) whose <c>X-Forwarded-For</c> is believed.</summary>
    public const string TrustedProxiesSetting = "CREDITFUNCTIONS_TRUSTED_PROXIES";

    /// <summary>The queue's name when the setting is not given.</summary>
    public const string DefaultQueue = "visitor-events";

    /// <summary>The events queue.</summary>
    public string QueueName { get; init; } = DefaultQueue;

    /// <summary>Proxies whose forwarding header gives the client's address.</summary>
    public IReadOnlyList<IPNetwork2> TrustedProxies { get; init; } = [];

    /// <summary>From configuration.</summary>
    /// <exception cref="InvalidOperationException">A trusted proxy is not a CIDR range.</exception>
    public static VisitorOptions From(IConfiguration configuration) => new()
    {
        QueueName = configuration[QueueSetting] is { Length: > 0 } queue ? queue : DefaultQueue,
        TrustedProxies = (configuration[TrustedProxiesSetting] ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(c => IPNetwork2.TryParse(c, out var network) ? network : throw new InvalidOperationException($"{TrustedProxiesSetting}: '{c}' is not a CIDR range."))
            .ToList(),
    };
}

/// <summary>One visit event as queued.</summary>
public sealed record VisitEvent(string Ip, string? Page, string? UserAgent, DateTimeOffset At);

/// <summary>A batch of one site's events on the queue.</summary>
public sealed record VisitBatch(string BatchId, string SiteId, IReadOnlyList<VisitEvent> Events);

/// <summary>
/// Website visitors (DOMAIN "Website visitors"): sites register; their snippet's events are queued in batches; a batch
/// drops bots and excluded addresses, resolves each address once through the team's reverse-IP provider, drops
/// unresolved ones and suppressed domains (all free), and counts the rest per company and calendar month (UTC). The first
/// visit of a company in a month charges one identification (<c>inbound_visitors</c> / <c>identify_company</c>, subject
/// <c>site:{id}:{yyyy-MM}:{domain}</c>, so the ledger's ownership makes every later visit that month free); a short
/// balance records the company as <c>unidentified_for_credits</c>, charged nothing, then or later, for those visits.
/// An identified company is matched to the team's contacts known at its domain (the contact identity's company index):
/// each costs one <c>match_contact</c> a month (subject <c>site:{id}:{yyyy-MM}:contact:{contact}</c>), at most
/// <see cref="MatchesMax"/> a company; a short balance leaves a contact unmatched and uncharged. The site's webhook, when
/// it has one, announces each company newly identified in a month, once (delivery id <c>site:{id}:{yyyy-MM}:{domain}</c>).
/// </summary>
/// <remarks>At least once: a redelivered batch charges with the same keys (the batch id and the company) and is not
/// counted twice in a company's row (the row remembers its last batches).</remarks>
public sealed partial class VisitorService(VisitorStore store, QueueServiceClient queues, VisitorOptions options, ProviderCatalog catalog, ProviderCaller providers,
    EnrichmentSettingsStore settings, LedgerService ledger, ContactIdentity identity, WebhookSender webhooks, TimeProvider clock)
{
    /// <summary>Most known contacts matched to one company in a month.</summary>
    public const int MatchesMax = 25;

    /// <summary>Most events in one request.</summary>
    public const int EventsMax = 100;

    /// <summary>Events per queue message (a message stays well under the queue's 64 KB).</summary>
    public const int EventsPerMessageMax = 25;

    /// <summary>How old an event's <c>at</c> may be (older or future ones are taken as now).</summary>
    public static readonly TimeSpan EventAgeMax = TimeSpan.FromDays(62);

    /// <summary>Longest page or user agent kept.</summary>
    public const int TextLengthMax = 300;

    /// <summary>Registers a site.</summary>
    public async Task<SiteRow> RegisterAsync(string teamId, string domain, IReadOnlyList<string> excludedIps, IReadOnlyList<string> suppressedDomains,
        string? webhookUrl, CancellationToken cancellationToken)
    {
        var site = new SiteRow
        {
            TeamId = teamId, SiteId = "site_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), Domain = NormalizeDomain(domain),
            ExcludedIpsJson = JsonSerializer.Serialize(excludedIps), SuppressedDomainsJson = JsonSerializer.Serialize(suppressedDomains.Select(NormalizeDomain).ToList()),
            CreatedAt = clock.GetUtcNow(), WebhookUrl = webhookUrl,
        };
        await store.AddAsync(site, cancellationToken).ConfigureAwait(false);
        return site;
    }

    /// <summary>The site of a public key, or null.</summary>
    public Task<SiteRow?> GetByKeyAsync(string? siteKey, CancellationToken cancellationToken) =>
        siteKey is { Length: 27 } && siteKey.StartsWith("sk_", StringComparison.Ordinal)
            ? store.GetAsync("site_" + siteKey[3..], cancellationToken)
            : Task.FromResult<SiteRow?>(null);

    /// <summary>The team's site, or null (another team's too).</summary>
    public async Task<SiteRow?> GetAsync(string teamId, string siteId, CancellationToken cancellationToken) =>
        await store.GetAsync(siteId, cancellationToken).ConfigureAwait(false) is { } site && site.TeamId == teamId ? site : null;

    /// <summary>The public key of a site.</summary>
    public static string KeyOf(SiteRow site) => "sk_" + (site ?? throw new ArgumentNullException(nameof(site))).SiteId[5..];

    /// <summary>The client's address: the connection's, or the first address of <c>X-Forwarded-For</c> when the
    /// connection comes from a trusted proxy.</summary>
    public IPAddress? ClientAddress(IPAddress? remote, string? forwardedFor)
    {
        if (remote is not null && remote.IsIPv4MappedToIPv6)
        {
            remote = remote.MapToIPv4();
        }
        if (remote is not null && forwardedFor is { Length: > 0 } && options.TrustedProxies.Any(p => p.Contains(remote))
            && IPAddress.TryParse(forwardedFor.Split(',')[0].Trim(), out var forwarded))
        {
            return forwarded;
        }
        return remote;
    }

    /// <summary>Queues the events of a site (already validated) in batches.</summary>
    public async Task QueueAsync(SiteRow site, IReadOnlyList<VisitEvent> events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(site);
        ArgumentNullException.ThrowIfNull(events);
        var queue = queues.GetQueueClient(options.QueueName);
        foreach (var chunk in events.Chunk(EventsPerMessageMax))
        {
            var batch = new VisitBatch(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), site.SiteId, chunk);
            await queue.SendMessageAsync(JsonSerializer.Serialize(batch, JsonSerializerOptions.Web), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>An event's time: its own <c>at</c> when within <see cref="EventAgeMax"/> and not ahead of now, else now.</summary>
    public DateTimeOffset TimeOf(DateTimeOffset? at)
    {
        var now = clock.GetUtcNow();
        return at is { } given && given <= now.AddMinutes(5) && now - given <= EventAgeMax ? given.ToUniversalTime() : now;
    }

    /// <summary>Processes one batch (see the class summary).</summary>
    public async Task ProcessAsync(VisitBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var site = await store.GetAsync(batch.SiteId, cancellationToken).ConfigureAwait(false);
        if (site is null)
        {
            return;
        }
        var excluded = site.ExcludedIps().Select(c => IPNetwork2.TryParse(c, out var n) ? n : null).Where(n => n is not null).Select(n => n!).ToList();
        var suppressed = site.SuppressedDomains();
        var kept = batch.Events.Where(e => !IsBot(e.UserAgent) && IPAddress.TryParse(e.Ip, out var ip) && !excluded.Any(n => n.Contains(ip))).ToList();
        var provider = catalog.WithCapability(ProviderCapabilities.ReverseIp).Select(p => p.Name).FirstOrDefault();
        if (kept.Count == 0 || provider is null)
        {
            return;
        }
        var team = await settings.GetRecentAsync(site.TeamId, WaterfallEngine.SettingsMaxAge, cancellationToken).ConfigureAwait(false);
        var resolved = new Dictionary<string, (string Domain, string? Name)?>(StringComparer.Ordinal);
        foreach (var ip in kept.Select(e => e.Ip).Distinct(StringComparer.Ordinal))
        {
            var outcome = await providers.LookupAsync(provider, ProviderCapabilities.ReverseIp, new PersonInput { IpAddress = ip },
                settings.ResolveKey(site.TeamId, team, provider), site.TeamId, cancellationToken).ConfigureAwait(false);
            if (outcome is ProviderFailed failed && failed.Kind is not (ProviderErrorKind.Rejected or ProviderErrorKind.Unauthorized))
            {
                // Retried by the queue (the batch is idempotent); after 5 deliveries it goes to the poison queue.
                throw new HttpRequestException($"The reverse-IP provider failed: {failed.Kind}.");
            }
            resolved[ip] = outcome is ProviderHit { Data.CompanyDomain: { Length: > 0 } domain } hit ? (NormalizeDomain(domain), hit.Data.CompanyName) : null;
        }
        var byCompany = kept
            .Select(e => (Event: e, Company: resolved[e.Ip]))
            .Where(x => x.Company is { } c && !suppressed.Any(s => c.Domain == s || c.Domain.EndsWith("." + s, StringComparison.Ordinal)))
            .GroupBy(x => (Month: x.Event.At.ToUniversalTime().ToString("yyyy-MM", CultureInfo.InvariantCulture), x.Company!.Value.Domain));
        foreach (var group in byCompany)
        {
            await RecordAsync(site, batch.BatchId, group.Key.Month, group.Key.Domain, group.First().Company!.Value.Name, group.Select(x => x.Event).ToList(), cancellationToken)
                .ConfigureAwait(false);
        }
    }

    /// <summary>The team's site's companies for months <paramref name="fromMonth"/>..<paramref name="toMonth"/>.</summary>
    public Task<IReadOnlyList<CompanyVisitRow>> ListCompaniesAsync(string siteId, string fromMonth, string toMonth, CancellationToken cancellationToken) =>
        store.ListCompaniesAsync(siteId, fromMonth, toMonth, cancellationToken);

    private async Task RecordAsync(SiteRow site, string batchId, string month, string domain, string? name, List<VisitEvent> events, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var row = await store.GetCompanyAsync(site.SiteId, month, domain, ct).ConfigureAwait(false);
            var isNew = row is null;
            row ??= new CompanyVisitRow
            {
                PartitionKey = VisitorStore.PartitionOf(site.SiteId), RowKey = VisitorStore.RowKeyOf(month, domain), Month = month, Domain = domain, Name = name,
                FirstSeen = events.Min(e => e.At), LastSeen = events.Max(e => e.At), Status = VisitorStatus.UnidentifiedForCredits,
            };
            var batches = JsonSerializer.Deserialize<List<string>>(row.BatchesJson) ?? [];
            if (batches.Contains(batchId))
            {
                // Counted already: a redelivery only finishes the announcement a failed receiver left pending.
                await AnnounceAsync(site, row, ct).ConfigureAwait(false);
                return;
            }
            if (row.Status != VisitorStatus.Identified)
            {
                // One identification per site, company and month: the subject makes every later charge of it AlreadyOwned.
                var result = await ledger.ChargeAsync(new ChargeRequest(site.TeamId, "visitors", "inbound_visitors", "identify_company", $"visit:{batchId}:{month}:{domain}")
                {
                    SubjectId = $"site:{site.SiteId}:{month}:{domain}",
                    Description = $"{name ?? domain} visited {site.Domain}",
                    RelatedRecord = "site:" + site.SiteId,
                }).ConfigureAwait(false);
                if (result.Status is LedgerStatus.Charged or LedgerStatus.AlreadyOwned)
                {
                    (row.Status, row.LineId) = (VisitorStatus.Identified, result.LineId);
                    row.Webhook = site.WebhookUrl is null ? null : "pending";
                }
            }
            if (row.Status == VisitorStatus.Identified)
            {
                await MatchAsync(site, row, ct).ConfigureAwait(false);
            }
            row.Pages += events.Count;
            row.Visits += events.Select(e => (e.Ip, e.At.UtcDateTime.Date)).Distinct().Count();
            row.FirstSeen = events.Min(e => e.At) < row.FirstSeen ? events.Min(e => e.At) : row.FirstSeen;
            row.LastSeen = events.Max(e => e.At) > row.LastSeen ? events.Max(e => e.At) : row.LastSeen;
            row.Name ??= name;
            batches.Add(batchId);
            row.BatchesJson = JsonSerializer.Serialize(batches.TakeLast(20));
            if (await store.TrySaveCompanyAsync(row, isNew, ct).ConfigureAwait(false))
            {
                await AnnounceAsync(site, row, ct).ConfigureAwait(false);
                return;
            }
            if (attempt >= 16)
            {
                throw new InvalidOperationException("The company's row kept changing.");
            }
        }
    }

    /// <summary>Matches the identified company of <paramref name="row"/> to the team's contacts at its domain, each charged
    /// once a month; a contact the balance cannot pay for stays unmatched (and uncharged) until a later visit.</summary>
    private async Task MatchAsync(SiteRow site, CompanyVisitRow row, CancellationToken ct)
    {
        var matched = row.Matched().ToList();
        if (matched.Count >= MatchesMax)
        {
            return;
        }
        foreach (var contact in await identity.ContactsAtAsync(site.TeamId, row.Domain, MatchesMax, ct).ConfigureAwait(false))
        {
            if (matched.Contains(contact, StringComparer.Ordinal) || matched.Count >= MatchesMax)
            {
                continue;
            }
            var result = await ledger.ChargeAsync(new ChargeRequest(site.TeamId, "visitors", "inbound_visitors", "match_contact",
                $"visit-match:{site.SiteId}:{row.Month}:{contact}")
            {
                SubjectId = $"site:{site.SiteId}:{row.Month}:contact:{contact}",
                Description = $"A contact at {row.Name ?? row.Domain} visited {site.Domain}",
                RelatedRecord = "site:" + site.SiteId,
            }).ConfigureAwait(false);
            if (result.Status is LedgerStatus.Charged or LedgerStatus.AlreadyOwned)
            {
                matched.Add(contact);
            }
        }
        row.MatchedJson = JsonSerializer.Serialize(matched);
    }

    /// <summary>Posts the identification to the site's webhook when it is pending, and records the outcome.</summary>
    /// <exception cref="HttpRequestException">The receiver failed: the queue delivers the batch again, which sends it again.</exception>
    private async Task AnnounceAsync(SiteRow site, CompanyVisitRow row, CancellationToken ct)
    {
        if (row.Webhook != "pending" || site.WebhookUrl is not { } url)
        {
            return;
        }
        var body = JsonSerializer.Serialize(new
        {
            @event = "company_identified", siteId = site.SiteId, month = row.Month, domain = row.Domain, name = row.Name,
            firstSeen = row.FirstSeen, visits = row.Visits, pages = row.Pages, matchedContacts = row.Matched(),
        }, JsonSerializerOptions.Web);
        var result = await webhooks.SendAsync(site.TeamId, url, body, $"site:{site.SiteId}:{row.Month}:{row.Domain}", ct).ConfigureAwait(false);
        row.Webhook = result.Delivered ? "delivered" : "refused";
        // Lost only to a batch that changed the row meanwhile: the receiver dedupes a second delivery by its id.
        await store.TrySaveCompanyAsync(row, isNew: false, ct).ConfigureAwait(false);
    }

    /// <summary>Whether a user agent is a bot's (crawlers, previews, headless browsers, scripts) or missing.</summary>
    public static bool IsBot(string? userAgent) => string.IsNullOrWhiteSpace(userAgent) || BotPattern().IsMatch(userAgent);

    /// <summary>A domain lower-cased, without scheme, <c>www.</c>, path or trailing dot.</summary>
    public static string NormalizeDomain(string domain)
    {
        var value = (domain ?? string.Empty).Trim().ToLowerInvariant();
        var scheme = value.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            value = value[(scheme + 3)..];
        }
        value = value.Split('/', ':')[0].TrimEnd('.');
        return value.StartsWith("www.", StringComparison.Ordinal) ? value[4..] : value;
    }

    [GeneratedRegex(@"bot\b|bot/|crawl|spider|slurp|headless|lighthouse|preview|curl/|wget/|python-requests|httpclient|go-http-client|java/|facebookexternalhit|monitor",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex BotPattern();
}
