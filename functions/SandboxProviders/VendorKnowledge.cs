namespace SandboxProviders;

/// <summary>What an email verifier says about an address.</summary>
public enum EmailStatus
{
    /// <summary>A real mailbox.</summary>
    Valid,

    /// <summary>The domain accepts every address, so this one cannot be told apart.</summary>
    CatchAll,

    /// <summary>No such mailbox.</summary>
    Invalid,

    /// <summary>The verifier could not decide.</summary>
    Unknown,
}

/// <summary>What one vendor would answer for one person, as the admin endpoints show it.</summary>
/// <param name="Known">True when the vendor finds the person (finders; verifiers always answer).</param>
/// <param name="Email">The email an email finder returns (the real one, or its guess), when known.</param>
/// <param name="EmailStatus">What the sandbox's first verifier says about <paramref name="Email"/> (for a verifier: about
/// the person's real email).</param>
/// <param name="Phone">The mobile a phone finder returns, when known.</param>
/// <param name="JobTitle">The title a job finder returns, when known.</param>
/// <param name="CompanyName">The company a job finder returns, when known.</param>
public sealed record VendorView(bool Known, string? Email, EmailStatus? EmailStatus, string? Phone, string? JobTitle, string? CompanyName);

/// <summary>A person with what every vendor would answer for them.</summary>
/// <param name="Person">The person.</param>
/// <param name="Vendors">Vendor name → its answer.</param>
public sealed record PersonView(Person Person, IReadOnlyDictionary<string, VendorView> Vendors);

/// <summary>
/// The vendors' deterministic knowledge: who a vendor knows, which email it returns, what a verifier says. A pure
/// function of the data set, the vendor's name and its settings, so tests can ask in advance what a call will answer.
/// </summary>
public static class VendorKnowledge
{
    /// <summary>True when the vendor (a finder) knows the person: hash(vendor, person) &lt; hit rate.</summary>
    public static bool Knows(string vendor, VendorSettings settings, Person person) =>
        settings.Shape is not (VendorShape.Verifly or VendorShape.ReverseIp) && StableHash.Unit(vendor, person.Id) < settings.HitRate;

    /// <summary>The email an email finder returns for a person it knows: the real mailbox, or (for the inaccurate share)
    /// a <c>flast@domain</c> guess that is nobody's mailbox.</summary>
    public static string EmailFor(string vendor, VendorSettings settings, Person person) =>
        IsAccurate(vendor, settings, person)
            ? person.WorkEmail
            : $"{PeopleDataSet.Slug(person.FirstName)[..1]}{PeopleDataSet.Slug(person.LastName)}@{person.CompanyDomain}";

    /// <summary>A finder's confidence in [0, 1] for a person it knows: higher for the real email than for a guess.</summary>
    public static double ConfidenceFor(string vendor, VendorSettings settings, Person person)
    {
        var u = StableHash.Unit(vendor, "confidence", person.Id);
        return Math.Round(IsAccurate(vendor, settings, person) ? 0.8 + (0.2 * u) : 0.4 + (0.3 * u), 2);
    }

    /// <summary>What a verifier says about an address: catch-all when its domain is one of the catch-all share (a
    /// property of the domain, so all verifiers agree on the order), valid for a real mailbox (unknown for the
    /// verifier's undecided share), invalid for anything else.</summary>
    public static EmailStatus Verify(string vendor, VendorSettings settings, PeopleDataSet people, string email)
    {
        var normalized = email.Trim().ToLowerInvariant();
        var at = normalized.LastIndexOf('@');
        var domain = at < 0 ? normalized : normalized[(at + 1)..];
        if (StableHash.Unit("catch-all", domain) < settings.CatchAllRate)
        {
            return EmailStatus.CatchAll;
        }
        if (people.FindByEmail(normalized) is null)
        {
            return EmailStatus.Invalid;
        }
        return StableHash.Unit(vendor, "unknown", normalized) < settings.UnknownRate ? EmailStatus.Unknown : EmailStatus.Valid;
    }

    /// <summary>What every vendor in <paramref name="vendors"/> would answer for <paramref name="person"/> now.</summary>
    public static PersonView View(PeopleDataSet people, VendorRegistry vendors, Person person)
    {
        var all = vendors.Names.Select(n => (Name: n, Settings: vendors.Get(n))).Where(v => v.Settings is not null).ToList();
        var verifier = all.FirstOrDefault(v => v.Settings!.Shape == VendorShape.Verifly);
        EmailStatus? StatusOf(string email) => verifier.Settings is null ? null : Verify(verifier.Name, verifier.Settings, people, email);

        var views = new Dictionary<string, VendorView>(StringComparer.Ordinal);
        foreach (var (name, settings) in all)
        {
            var known = Knows(name, settings!, person);
            views[name] = settings!.Shape switch
            {
                VendorShape.Verifly => new VendorView(true, null, Verify(name, settings, people, person.WorkEmail), null, null, null),
                VendorShape.ReverseIp => new VendorView(false, null, null, null, null, null),
                VendorShape.Dialbase => known
                    ? new VendorView(true, null, null, person.MobilePhone, person.JobTitle, person.CompanyName)
                    : new VendorView(false, null, null, null, null, null),
                _ => known
                    ? new VendorView(true, EmailFor(name, settings, person), StatusOf(EmailFor(name, settings, person)), null, null, null)
                    : new VendorView(false, null, null, null, null, null),
            };
        }
        return new PersonView(person, views);
    }

    private static bool IsAccurate(string vendor, VendorSettings settings, Person person) =>
        StableHash.Unit(vendor, "accuracy", person.Id) < settings.Accuracy;
}
