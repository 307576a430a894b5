using System.Net;
using System.Text.RegularExpressions;

namespace CreditFunctions.Providers;

/// <summary>
/// Who to look up: whatever the caller knows of a person. Every field is optional; which ones a provider needs is its
/// definition's business (<see cref="ProviderEndpoint.Requires"/>). Holds personal data: its <see cref="ToString"/>
/// shows none, and it is never logged.
/// </summary>
public sealed partial record PersonInput
{
    private const int TextLengthMax = 256;

    /// <summary>Given name.</summary>
    public string? FirstName { get; init; }

    /// <summary>Family name.</summary>
    public string? LastName { get; init; }

    /// <summary>Full name; when absent, first and last name joined by a space.</summary>
    public string? FullName { get; init; }

    /// <summary>Current employer's name.</summary>
    public string? CompanyName { get; init; }

    /// <summary>Current employer's web domain; a URL is accepted and reduced to its host without <c>www.</c>.</summary>
    public string? CompanyDomain { get; init; }

    /// <summary>LinkedIn profile URL (https, on linkedin.com).</summary>
    public string? LinkedInUrl { get; init; }

    /// <summary>An email address: the one to verify, or one the person is known by.</summary>
    public string? Email { get; init; }

    /// <summary>An IPv4 or IPv6 address, for <see cref="ProviderCapabilities.ReverseIp"/>.</summary>
    public string? IpAddress { get; init; }

    /// <summary>
    /// The problems of this input, by field name (camelCase, as in the API); empty when it is valid. A valid input
    /// has at least one field, no field longer than 256 characters, and well-formed domain, LinkedIn URL, email and
    /// IP address when present.
    /// </summary>
    public IReadOnlyDictionary<string, string[]> Validate()
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var fields = new (string Name, string? Value)[]
        {
            ("firstName", FirstName), ("lastName", LastName), ("fullName", FullName), ("companyName", CompanyName),
            ("companyDomain", CompanyDomain), ("linkedInUrl", LinkedInUrl), ("email", Email), ("ipAddress", IpAddress),
        };
        if (fields.All(f => string.IsNullOrWhiteSpace(f.Value)))
        {
            errors["person"] = ["At least one field is required."];
        }
        foreach (var (name, value) in fields)
        {
            if (value is { Length: > TextLengthMax })
            {
                errors[name] = [$"At most {TextLengthMax} characters."];
            }
        }
        if (Present(CompanyDomain) && !errors.ContainsKey("companyDomain") && !DomainPattern().IsMatch(NormalizeDomain(CompanyDomain!)))
        {
            errors["companyDomain"] = ["Not a domain name (e.g. example.com)."];
        }
        if (Present(LinkedInUrl) && !errors.ContainsKey("linkedInUrl") && !IsLinkedInUrl(LinkedInUrl!.Trim()))
        {
            errors["linkedInUrl"] = ["Not a LinkedIn profile URL (https://www.linkedin.com/in/…)."];
        }
        if (Present(Email) && !errors.ContainsKey("email") && !EmailPattern().IsMatch(Email!.Trim()))
        {
            errors["email"] = ["Not an email address."];
        }
        if (Present(IpAddress) && !IPAddress.TryParse(IpAddress!.Trim(), out _))
        {
            errors["ipAddress"] = ["Not an IP address."];
        }
        return errors;
    }

    /// <summary>This input tidied for sending: fields trimmed (empty ones dropped), the domain reduced to a lower-case
    /// host, the email lower-cased, the full name derived when absent.</summary>
    public PersonInput Normalize()
    {
        var first = Tidy(FirstName);
        var last = Tidy(LastName);
        return new PersonInput
        {
            FirstName = first,
            LastName = last,
            FullName = Tidy(FullName) ?? (first is not null && last is not null ? $"{first} {last}" : null),
            CompanyName = Tidy(CompanyName),
            CompanyDomain = Present(CompanyDomain) ? NormalizeDomain(CompanyDomain!) : null,
            LinkedInUrl = Tidy(LinkedInUrl),
            Email = Tidy(Email)?.ToLowerInvariant(),
            IpAddress = Tidy(IpAddress),
        };
    }

    /// <summary>Shows no personal data.</summary>
    public override string ToString() => nameof(PersonInput);

    /// <summary>The value of a <see cref="PersonFields"/> field, or null.</summary>
    internal string? Field(string field) => field switch
    {
        PersonFields.FirstName => FirstName,
        PersonFields.LastName => LastName,
        PersonFields.FullName => FullName,
        PersonFields.CompanyName => CompanyName,
        PersonFields.CompanyDomain => CompanyDomain,
        PersonFields.LinkedInUrl => LinkedInUrl,
        PersonFields.Email => Email,
        PersonFields.IpAddress => IpAddress,
        _ => null,
    };

    private static bool Present(string? value) => !string.IsNullOrWhiteSpace(value);

    private static string? Tidy(string? value) => Present(value) ? value!.Trim() : null;

    private static string NormalizeDomain(string domain)
    {
        var d = domain.Trim().ToLowerInvariant();
        if (d.Contains("://", StringComparison.Ordinal) && Uri.TryCreate(d, UriKind.Absolute, out var uri))
        {
            d = uri.Host;
        }
        d = d.Split('/')[0].TrimEnd('.');
        return d.StartsWith("www.", StringComparison.Ordinal) ? d[4..] : d;
    }

    private static bool IsLinkedInUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
        && (uri.Host.Equals("linkedin.com", StringComparison.OrdinalIgnoreCase) || uri.Host.EndsWith(".linkedin.com", StringComparison.OrdinalIgnoreCase))
        && uri.AbsolutePath.Length > 1;

    [GeneratedRegex(@"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")]
    private static partial Regex DomainPattern();

    [GeneratedRegex(@"^[^@\s]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")]
    private static partial Regex EmailPattern();
}
