using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using Bogus;

namespace SandboxProviders;

/// <summary>One person of the sandbox data set: what a vendor may know about them.</summary>
/// <param name="Id">Stable id, <c>sbx-000001</c> upwards in generation order.</param>
/// <param name="FirstName">Given name.</param>
/// <param name="LastName">Family name.</param>
/// <param name="CompanyName">Current employer.</param>
/// <param name="CompanyDomain">The employer's web domain (lower case, no scheme).</param>
/// <param name="JobTitle">Current title.</param>
/// <param name="LinkedInUrl">Profile URL, unique in the set.</param>
/// <param name="WorkEmail">The real mailbox, <c>first.last@domain</c>, unique in the set.</param>
/// <param name="MobilePhone">Mobile number in E.164 form.</param>
public sealed record Person(
    string Id,
    string FirstName,
    string LastName,
    string CompanyName,
    string CompanyDomain,
    string JobTitle,
    string LinkedInUrl,
    string WorkEmail,
    string MobilePhone)
{
    /// <summary>First and last name separated by a space.</summary>
    public string FullName => $"{FirstName} {LastName}";
}

/// <summary>
/// The people every sandbox vendor draws on, generated with Bogus from a seed: the same seed and count always give
/// the same people in the same order (ids, names, companies, emails, phones), on every machine. Read-only and
/// thread-safe. Lookups ignore case and the punctuation of names (<c>O'Neil</c> matches <c>oneil</c>).
/// </summary>
public sealed class PeopleDataSet
{
    private static readonly ConcurrentDictionary<(int Seed, int Count), Lazy<PeopleDataSet>> s_cache = new();

    private readonly FrozenDictionary<string, Person> _byId;
    private readonly FrozenDictionary<string, Person> _byName;
    private readonly FrozenDictionary<string, Person> _byLinkedIn;
    private readonly FrozenDictionary<string, Person> _byEmail;

    private PeopleDataSet(int seed, IReadOnlyList<Person> people)
    {
        Seed = seed;
        People = people;
        _byId = people.ToFrozenDictionary(p => p.Id, StringComparer.Ordinal);
        _byName = people.ToFrozenDictionary(p => NameKey(p.FirstName, p.LastName, p.CompanyDomain), StringComparer.Ordinal);
        _byLinkedIn = people.ToFrozenDictionary(p => NormalizeLinkedIn(p.LinkedInUrl), StringComparer.Ordinal);
        _byEmail = people.ToFrozenDictionary(p => p.WorkEmail, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The seed the set was generated from.</summary>
    public int Seed { get; }

    /// <summary>Everyone, in id order.</summary>
    public IReadOnlyList<Person> People { get; }

    /// <summary>
    /// The data set for <paramref name="seed"/> and <paramref name="count"/>. Generated once per process and shared
    /// (20,000 people take a few hundred milliseconds).
    /// </summary>
    public static PeopleDataSet Get(int seed, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return s_cache.GetOrAdd((seed, count), key => new Lazy<PeopleDataSet>(() => Generate(key.Seed, key.Count))).Value;
    }

    /// <summary>The person with this id, or null.</summary>
    public Person? FindById(string id) => _byId.GetValueOrDefault(id);

    /// <summary>Someone working at <paramref name="domain"/>, when the data set has anyone there.</summary>
    public Person? FindAnyAt(string? domain) =>
        string.IsNullOrWhiteSpace(domain) ? null : People.FirstOrDefault(p => string.Equals(p.CompanyDomain, domain.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The person with this first name, last name and company domain, or null.</summary>
    public Person? FindByName(string? firstName, string? lastName, string? domain) =>
        string.IsNullOrWhiteSpace(firstName) || string.IsNullOrWhiteSpace(lastName) || string.IsNullOrWhiteSpace(domain)
            ? null
            : _byName.GetValueOrDefault(NameKey(firstName, lastName, NormalizeDomain(domain)));

    /// <summary>The person with this LinkedIn profile URL (scheme, <c>www.</c> and a trailing slash ignored), or null.</summary>
    public Person? FindByLinkedIn(string? url) =>
        string.IsNullOrWhiteSpace(url) ? null : _byLinkedIn.GetValueOrDefault(NormalizeLinkedIn(url));

    /// <summary>The person whose real work email this is, or null.</summary>
    public Person? FindByEmail(string? email) => string.IsNullOrWhiteSpace(email) ? null : _byEmail.GetValueOrDefault(email.Trim());

    internal static string Slug(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value.Normalize(NormalizationForm.FormD))
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                builder.Append(char.ToLowerInvariant(c));
            }
        }
        return builder.ToString();
    }

    internal static string NormalizeDomain(string domain)
    {
        var d = domain.Trim().ToLowerInvariant();
        foreach (var prefix in new[] { "https://", "http://", "www." })
        {
            if (d.StartsWith(prefix, StringComparison.Ordinal))
            {
                d = d[prefix.Length..];
            }
        }
        var slash = d.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? d : d[..slash];
    }

    private static string NameKey(string first, string last, string domain) => $"{Slug(first)}|{Slug(last)}|{domain}";

    private static string NormalizeLinkedIn(string url)
    {
        var u = url.Trim().ToLowerInvariant().TrimEnd('/');
        foreach (var prefix in new[] { "https://", "http://", "www." })
        {
            if (u.StartsWith(prefix, StringComparison.Ordinal))
            {
                u = u[prefix.Length..];
            }
        }
        return u;
    }

    internal static PeopleDataSet Generate(int seed, int count)
    {
        // One Faker with its own Randomizer: no global state, so concurrent generations cannot disturb each other.
        var faker = new Faker("en") { Random = new Randomizer(seed) };
        var companies = new List<(string Name, string Domain)>();
        var domains = new HashSet<string>(StringComparer.Ordinal);
        var companyCount = Math.Max(1, count / 8);
        while (companies.Count < companyCount)
        {
            var name = faker.Company.CompanyName();
            var stem = string.Concat(name.Split([' ', ',', '-'], StringSplitOptions.RemoveEmptyEntries)
                .Where(w => w is not ("and" or "LLC" or "Inc" or "Group")).Select(Slug));
            if (stem.Length == 0)
            {
                continue;
            }
            var domain = $"{stem[..Math.Min(stem.Length, 24)]}{faker.PickRandom(".com", ".com", ".io", ".co")}";
            if (domains.Add(domain))
            {
                companies.Add((name, domain));
            }
        }

        var people = new List<Person>(count);
        var emails = new HashSet<string>(StringComparer.Ordinal);
        while (people.Count < count)
        {
            var first = faker.Name.FirstName();
            var last = faker.Name.LastName();
            var (companyName, companyDomain) = faker.PickRandom(companies);
            var title = faker.Name.JobTitle();
            var profileSuffix = faker.Random.String2(8, "0123456789abcdef");
            var phone = string.Create(CultureInfo.InvariantCulture,
                $"+1{faker.Random.Int(201, 989)}{faker.Random.Int(200, 999)}{faker.Random.Int(0, 9999):D4}");
            var email = $"{Slug(first)}.{Slug(last)}@{companyDomain}";
            // The same name at the same company would be two people no vendor could tell apart: skip the repeat.
            if (!emails.Add(email))
            {
                continue;
            }
            var id = string.Create(CultureInfo.InvariantCulture, $"sbx-{people.Count + 1:D6}");
            people.Add(new Person(id, first, last, companyName, companyDomain, title,
                $"https://www.linkedin.com/in/{Slug(first)}-{Slug(last)}-{profileSuffix}", email, phone));
        }
        return new PeopleDataSet(seed, people);
    }
}
