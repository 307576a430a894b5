using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;

namespace CreditFunctions.Visitors;

/// <summary>A registered site (row <c>def</c> of the site's partition in the inbound table).</summary>
public sealed class SiteRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = "def";

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>The owning team.</summary>
    public string TeamId { get; set; } = string.Empty;

    /// <summary>The site's id (<c>site_</c> + 24 hex digits); its public key is <c>sk_</c> + the same digits.</summary>
    public string SiteId { get; set; } = string.Empty;

    /// <summary>The site's domain (events are accepted from its origin and its subdomains').</summary>
    public string Domain { get; set; } = string.Empty;

    /// <summary>Excluded CIDR ranges, JSON.</summary>
    public string ExcludedIpsJson { get; set; } = "[]";

    /// <summary>Suppressed company domains (the team's customers), JSON.</summary>
    public string SuppressedDomainsJson { get; set; } = "[]";

    /// <summary>When it was registered.</summary>
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Where each newly identified company is announced (egress-guarded, signed), or null.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>The excluded ranges.</summary>
    public IReadOnlyList<string> ExcludedIps() => JsonSerializer.Deserialize<List<string>>(ExcludedIpsJson) ?? [];

    /// <summary>The suppressed domains.</summary>
    public IReadOnlyList<string> SuppressedDomains() => JsonSerializer.Deserialize<List<string>>(SuppressedDomainsJson) ?? [];
}

/// <summary>An identified (or refused-for-credits) company of a site in one calendar month (UTC): row
/// <c>co|&lt;yyyy-MM&gt;|&lt;domain&gt;</c> of the site's partition.</summary>
public sealed class CompanyVisitRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>The month, <c>yyyy-MM</c>.</summary>
    public string Month { get; set; } = string.Empty;

    /// <summary>The company's domain.</summary>
    public string Domain { get; set; } = string.Empty;

    /// <summary>The company's name as the provider gave it.</summary>
    public string? Name { get; set; }

    /// <summary><c>identified</c> (charged once this month, or owned) or <c>unidentified_for_credits</c> (the balance was short:
    /// nothing charged, never charged later for these visits).</summary>
    public string Status { get; set; } = VisitorStatus.Identified;

    /// <summary>Visits (distinct address and day per batch).</summary>
    public int Visits { get; set; }

    /// <summary>Pages viewed (events).</summary>
    public int Pages { get; set; }

    /// <summary>First visit.</summary>
    public DateTimeOffset FirstSeen { get; set; }

    /// <summary>Last visit.</summary>
    public DateTimeOffset LastSeen { get; set; }

    /// <summary>The identification's ledger line.</summary>
    public string? LineId { get; set; }

    /// <summary>The last batches counted in (a redelivered batch is not counted twice), JSON.</summary>
    public string BatchesJson { get; set; } = "[]";

    /// <summary>The team's contacts at the company matched this month (each charged once), as a JSON array of ids.</summary>
    public string MatchedJson { get; set; } = "[]";

    /// <summary>The announcement of the identification: null (no webhook), <c>pending</c>, <c>delivered</c> or <c>refused</c>.</summary>
    public string? Webhook { get; set; }

    /// <summary>The matched contacts.</summary>
    public IReadOnlyList<string> Matched() => JsonSerializer.Deserialize<List<string>>(MatchedJson) ?? [];
}

/// <summary>What a site's company row says.</summary>
public static class VisitorStatus
{
    /// <summary>Identified and charged (once per site per month).</summary>
    public const string Identified = "identified";

    /// <summary>Resolved, but the balance was short: not charged.</summary>
    public const string UnidentifiedForCredits = "unidentified_for_credits";
}

/// <summary>Sites and their monthly companies in the inbound table, one partition per site.</summary>
public sealed class VisitorStore(TableClient table)
{
    internal const string CompanyPrefix = "co|";

    /// <summary>The table.</summary>
    public TableClient Table { get; } = table;

    /// <summary>The partition of a site.</summary>
    public static string PartitionOf(string siteId) => "site|" + siteId;

    /// <summary>Adds a site.</summary>
    public Task AddAsync(SiteRow site, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(site);
        site.PartitionKey = PartitionOf(site.SiteId);
        site.RowKey = "def";
        return Table.AddEntityAsync(site, cancellationToken);
    }

    /// <summary>The site, or null.</summary>
    public Task<SiteRow?> GetAsync(string siteId, CancellationToken cancellationToken) =>
        IsSiteId(siteId) ? Table.GetEntityOrNullAsync<SiteRow>(PartitionOf(siteId), "def", cancellationToken) : Task.FromResult<SiteRow?>(null);

    /// <summary>The company row of a month, or null.</summary>
    public Task<CompanyVisitRow?> GetCompanyAsync(string siteId, string month, string domain, CancellationToken cancellationToken) =>
        Table.GetEntityOrNullAsync<CompanyVisitRow>(PartitionOf(siteId), RowKeyOf(month, domain), cancellationToken);

    /// <summary>Writes a company row under its ETag (or as new), moving the ETag on; false when another writer got there first.</summary>
    public async Task<bool> TrySaveCompanyAsync(CompanyVisitRow row, bool isNew, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(row);
        try
        {
            var response = isNew
                ? await Table.AddEntityAsync(row, cancellationToken).ConfigureAwait(false)
                : await Table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            row.ETag = response.Headers.ETag ?? row.ETag;
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            return false;
        }
    }

    /// <summary>The site's companies of the months <paramref name="fromMonth"/> to <paramref name="toMonth"/> (inclusive).</summary>
    public async Task<IReadOnlyList<CompanyVisitRow>> ListCompaniesAsync(string siteId, string fromMonth, string toMonth, CancellationToken cancellationToken)
    {
        var partition = PartitionOf(siteId);
        var low = CompanyPrefix + fromMonth + "|";
        var high = CompanyPrefix + toMonth + "|~";
        var rows = new List<CompanyVisitRow>();
        await foreach (var row in Table.QueryAsync<CompanyVisitRow>(r => r.PartitionKey == partition && r.RowKey.CompareTo(low) >= 0 && r.RowKey.CompareTo(high) < 0,
            cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>The row key of a month's company.</summary>
    public static string RowKeyOf(string month, string domain) => CompanyPrefix + month + "|" + domain;

    /// <summary>Whether <paramref name="siteId"/> has the shape of a site id.</summary>
    public static bool IsSiteId(string? siteId) =>
        siteId is { Length: 29 } && siteId.StartsWith("site_", StringComparison.Ordinal) && siteId[5..].All(char.IsAsciiHexDigitLower);
}
