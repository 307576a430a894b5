using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>
/// The team's contact identity (DOMAIN rule 2): a LinkedIn profile, a work email, or first name + last name + company
/// domain that belong to a known contact resolve to that contact, however a request spells them, and identifiers learned
/// about a contact (the request's, the email a provider found) are linked to it. The index lives in the team's
/// partition of the enrichment table, one row per identifier (<c>i|&lt;hash&gt;</c> → the contact's id); a link is an insert,
/// so an identifier never moves from one contact to another (no silent merges) and two racing requests agree on one.
/// Contacts are also indexed by company domain (<c>x|&lt;domain&gt;|&lt;contact&gt;</c>), for matching a company's website
/// visits to the people the team knows there.
/// </summary>
/// <remarks>
/// Normalisation: LinkedIn URLs lower-cased, without scheme, <c>www.</c>, query or trailing slash (<c>linkedin.com/in/ada</c>);
/// emails lower-cased with a <c>+tag</c> removed from the local part; names and domains lower-cased and trimmed, the
/// domain without <c>www.</c>. Each kind is hashed with its own prefix, so no value of one kind can stand for another.
/// </remarks>
public sealed class ContactIdentity(ContactStore contacts)
{
    private const string RowPrefix = "i|";
    private const string CompanyPrefix = "x|";

    /// <summary>The identifiers a person input carries, strongest first, with the email or number a provider found.</summary>
    public static IReadOnlyList<string> IdentifiersOf(PersonInput person, string? foundEmail = null, string? foundPhone = null)
    {
        ArgumentNullException.ThrowIfNull(person);
        var p = person.Normalize();
        var ids = new List<string>(4);
        if (LinkedIn(p.LinkedInUrl) is { } li)
        {
            ids.Add("li:" + li);
        }
        foreach (var email in new[] { p.Email, foundEmail })
        {
            if (Email(email) is { } em && !ids.Contains("em:" + em))
            {
                ids.Add("em:" + em);
            }
        }
        if (Phone(foundPhone) is { } phone)
        {
            ids.Add("ph:" + phone);
        }
        if (p.FirstName is { Length: > 0 } first && p.LastName is { Length: > 0 } last && Domain(p.CompanyDomain) is { } domain)
        {
            ids.Add($"nd:{first.Trim().ToLowerInvariant()}|{last.Trim().ToLowerInvariant()}|{domain}");
        }
        return ids;
    }

    /// <summary>The known contact any of <paramref name="identifiers"/> belongs to (the strongest that is known, or null),
    /// and which of them are in the index already (to any contact): only the others need linking.</summary>
    public async Task<IdentityMatch> ResolveAsync(string teamId, IReadOnlyList<string> identifiers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(identifiers);
        var rows = await Task.WhenAll(identifiers.Select(id => contacts.Table.GetEntityOrNullAsync<TableEntity>(teamId, RowKey(id), cancellationToken))).ConfigureAwait(false);
        var known = identifiers.Where((_, i) => rows[i] is not null).ToHashSet(StringComparer.Ordinal);
        return new IdentityMatch(rows.Select(r => r?.GetString("PersonId")).FirstOrDefault(id => id is not null), known);
    }

    /// <summary>Links <paramref name="identifiers"/> to <paramref name="personId"/>; an identifier that already belongs to a
    /// contact stays with it. The company domains among them (of a name + domain, of a work email) index the contact by
    /// company too (<see cref="ContactsAtAsync"/>).</summary>
    public async Task LinkAsync(string teamId, string personId, IReadOnlyList<string> identifiers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(identifiers);
        var companies = identifiers.Select(CompanyDomainOf).OfType<string>().Distinct(StringComparer.Ordinal)
            .Select(domain => contacts.Table.UpsertEntityAsync(new TableEntity(teamId, CompanyPrefix + domain + "|" + personId) { ["PersonId"] = personId },
                TableUpdateMode.Replace, cancellationToken));
        await Task.WhenAll(identifiers.Select(async id =>
        {
            try
            {
                await contacts.Table.AddEntityAsync(new TableEntity(teamId, RowKey(id)) { ["PersonId"] = personId }, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (ex.Status == 409)
            {
                // Known already (to this contact, or to another one: identifiers never move).
            }
        }).Concat(companies)).ConfigureAwait(false);
    }

    /// <summary>The team's contacts known at the company of <paramref name="domain"/> (at most <paramref name="max"/>, in
    /// id order): those linked with a name and that domain, or an email at it.</summary>
    public async Task<IReadOnlyList<string>> ContactsAtAsync(string teamId, string domain, int max, CancellationToken cancellationToken = default)
    {
        var prefix = CompanyPrefix + (Domain(domain) ?? string.Empty) + "|";
        var found = new List<string>();
        if (prefix.Length <= CompanyPrefix.Length + 1)
        {
            return found;
        }
        await foreach (var row in contacts.Table.QueryAsync<TableEntity>(r => r.PartitionKey == teamId && r.RowKey.CompareTo(prefix) >= 0 && r.RowKey.CompareTo(prefix + "~") < 0,
            maxPerPage: max, select: ["PersonId"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            found.Add(row.GetString("PersonId"));
            if (found.Count == max)
            {
                break;
            }
        }
        return found;
    }

    /// <summary>The company domain an identifier names: a name + domain's domain, a work email's domain; null for the others.
    /// Only what can be a row key (no <c>/ \ # ?</c> or control characters).</summary>
    internal static string? CompanyDomainOf(string identifier)
    {
        var domain = identifier.StartsWith("nd:", StringComparison.Ordinal) ? identifier[(identifier.LastIndexOf('|') + 1)..]
            : identifier.StartsWith("em:", StringComparison.Ordinal) ? identifier[(identifier.IndexOf('@') + 1)..]
            : null;
        return domain is { Length: > 0 and <= 253 } && !domain.Any(c => c is '/' or '\\' or '#' or '?' or '|' || char.IsControl(c)) ? domain : null;
    }

    /// <summary>The index row linking <paramref name="identifier"/> to <paramref name="personId"/>, for a caller that inserts
    /// it in a transaction with other rows of the team (an insert, like <see cref="LinkAsync"/>).</summary>
    public static TableEntity LinkRow(string teamId, string personId, string identifier) => new(teamId, RowKey(identifier)) { ["PersonId"] = personId };

    /// <summary>The identifier of a found value: an email (<c>em:</c>) or a phone number (<c>ph:</c>).</summary>
    public static string? ForFound(string data, string value) =>
        data == WaterfallData.Email ? Email(value) is { } em ? "em:" + em : null : Phone(value) is { } ph ? "ph:" + ph : null;

    private static string? Phone(string? phone)
    {
        if (string.IsNullOrWhiteSpace(phone))
        {
            return null;
        }
        var digits = new string(phone.Where(char.IsAsciiDigit).ToArray());
        return digits.Length >= 7 ? "+" + digits : null;
    }

    private static string RowKey(string identifier) =>
        RowPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identifier)).AsSpan(0, 20));

    private static string? LinkedIn(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return null;
        }
        var value = url.Trim().ToLowerInvariant();
        value = value.Split('?', '#')[0];
        foreach (var scheme in new[] { "https://", "http://" })
        {
            if (value.StartsWith(scheme, StringComparison.Ordinal))
            {
                value = value[scheme.Length..];
            }
        }
        if (value.StartsWith("www.", StringComparison.Ordinal))
        {
            value = value[4..];
        }
        return value.TrimEnd('/');
    }

    private static string? Email(string? email)
    {
        if (string.IsNullOrWhiteSpace(email) || email.IndexOf('@') is var at && at <= 0)
        {
            return null;
        }
        var value = email.Trim().ToLowerInvariant();
        at = value.IndexOf('@');
        var local = value[..at];
        var plus = local.IndexOf('+');
        return (plus > 0 ? local[..plus] : local) + value[at..];
    }

    private static string? Domain(string? domain)
    {
        if (string.IsNullOrWhiteSpace(domain))
        {
            return null;
        }
        var value = domain.Trim().ToLowerInvariant().TrimEnd('.');
        return value.StartsWith("www.", StringComparison.Ordinal) ? value[4..] : value;
    }
}

/// <summary>What the index knows of a request's identifiers.</summary>
/// <param name="PersonId">The contact the strongest known identifier belongs to; null when none is known.</param>
/// <param name="Known">The identifiers already in the index.</param>
public sealed record IdentityMatch(string? PersonId, IReadOnlySet<string> Known);
