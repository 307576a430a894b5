using CreditFunctions.Providers;

namespace CreditFunctions.CsvJobs;

/// <summary>
/// Which column holds which field of a lead. A mapping given at create names columns by header name; any field it does
/// not name is found by common header names (case, spaces, <c>_</c> and <c>-</c> ignored: <c>First Name</c>,
/// <c>first_name</c>, <c>Given name</c> …).
/// </summary>
public static class CsvMapping
{
    /// <summary>The fields a column can be mapped to.</summary>
    public static IReadOnlyList<string> Fields { get; } =
        ["firstName", "lastName", "fullName", "email", "companyName", "companyDomain", "linkedInUrl", "phone"];

    private static readonly Dictionary<string, string[]> s_aliases = new(StringComparer.Ordinal)
    {
        ["firstName"] = ["firstname", "first", "givenname", "forename", "prenom"],
        ["lastName"] = ["lastname", "last", "surname", "familyname", "nom"],
        ["fullName"] = ["fullname", "name", "contactname", "contact", "person"],
        ["email"] = ["email", "emailaddress", "workemail", "mail", "businessemail", "e-mail"],
        ["companyName"] = ["company", "companyname", "organization", "organisation", "account", "accountname", "employer"],
        ["companyDomain"] = ["domain", "companydomain", "website", "companywebsite", "url", "web", "companyurl"],
        ["linkedInUrl"] = ["linkedin", "linkedinurl", "linkedinprofile", "linkedinprofileurl", "profileurl", "linkedinlink"],
        ["phone"] = ["phone", "mobile", "phonenumber", "mobilephone", "telephone", "cell"],
    };

    /// <summary>Field → column index for <paramref name="header"/>.</summary>
    /// <exception cref="CsvFileException">A mapped column is not in the header, or no column identifies a lead.</exception>
    public static IReadOnlyDictionary<string, int> Resolve(IReadOnlyList<string> header, IReadOnlyDictionary<string, string>? mapping, bool needsEmail)
    {
        ArgumentNullException.ThrowIfNull(header);
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (field, column) in mapping ?? new Dictionary<string, string>())
        {
            var index = IndexOf(header, column);
            if (index < 0)
            {
                throw new CsvFileException("mapping", $"The mapping names column '{CsvScanner.Shorten(column)}' for {field}, which the header does not have.");
            }
            result[field] = index;
        }
        var normalized = header.Select(Normalize).ToList();
        foreach (var (field, aliases) in s_aliases)
        {
            if (result.ContainsKey(field))
            {
                continue;
            }
            var index = normalized.FindIndex(h => aliases.Contains(h) && !result.ContainsValue(normalized.IndexOf(h)));
            if (index >= 0)
            {
                result[field] = index;
            }
        }
        var hasName = result.ContainsKey("fullName") || (result.ContainsKey("firstName") && result.ContainsKey("lastName"));
        var hasCompany = result.ContainsKey("companyName") || result.ContainsKey("companyDomain");
        if (!result.ContainsKey("linkedInUrl") && !result.ContainsKey("email") && !(hasName && hasCompany))
        {
            throw new CsvFileException("mapping",
                "No column identifies a lead: map a LinkedIn URL, an email, or first and last name (or full name) with a company name or domain.");
        }
        if (needsEmail && !result.ContainsKey("email"))
        {
            throw new CsvFileException("mapping", "Validation needs an email column: map one (mapping.email).");
        }
        return result;
    }

    /// <summary>The lead of one row, or the reason it cannot be processed (no data of the row is in the reason).</summary>
    public static (PersonInput? Person, string? Error) PersonOf(CsvRow row, IReadOnlyDictionary<string, int> columns, int headerCells)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(columns);
        if (row.Cells.Length != headerCells)
        {
            return (null, $"ragged row: {row.Cells.Length} cells, the header has {headerCells}");
        }
        string? Cell(string field) => columns.TryGetValue(field, out var i) && i < row.Cells.Length && row.Cells[i].Trim() is { Length: > 0 } v ? v : null;
        var first = Cell("firstName");
        var last = Cell("lastName");
        var full = Cell("fullName");
        if ((first is null || last is null) && full is not null)
        {
            var space = full.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0)
            {
                first ??= full[..space];
                last ??= full[(space + 1)..].Trim();
            }
        }
        var person = new PersonInput
        {
            FirstName = first,
            LastName = last,
            FullName = full,
            Email = Cell("email"),
            CompanyName = Cell("companyName"),
            CompanyDomain = Cell("companyDomain"),
            LinkedInUrl = Cell("linkedInUrl"),
        };
        var errors = person.Validate();
        if (errors.Count > 0)
        {
            return (null, "unparseable: " + string.Join("; ", errors.Select(e => $"{e.Key} {string.Join(" ", e.Value).ToLowerInvariant()}")));
        }
        var p = person.Normalize();
        if (p.LinkedInUrl is null && p.Email is null && (p.FirstName is null || p.LastName is null || (p.CompanyDomain is null && p.CompanyName is null)))
        {
            return (null, "missing fields: a LinkedIn URL, an email, or first name, last name and company are needed");
        }
        return (p, null);
    }

    private static int IndexOf(IReadOnlyList<string> header, string column)
    {
        for (var i = 0; i < header.Count; i++)
        {
            if (string.Equals(header[i].Trim(), column.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return -1;
    }

    private static string Normalize(string name) =>
        new([.. name.Trim().ToLowerInvariant().Where(c => c is not (' ' or '_' or '-' or '.'))]);
}
