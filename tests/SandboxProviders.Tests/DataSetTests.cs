namespace SandboxProviders.Tests;

/// <summary>The seeded data set and the vendors' deterministic knowledge of it, without HTTP.</summary>
public sealed class DataSetTests
{
    private static readonly SandboxConfig Config = SandboxConfig.Default;
    private static PeopleDataSet DefaultPeople => PeopleDataSet.Get(Config.Seed, Config.People);

    [Fact]
    public void Same_seed_generates_the_same_people()
    {
        var first = PeopleDataSet.Generate(7, 3000);
        var second = PeopleDataSet.Generate(7, 3000);

        Assert.NotSame(first, second);
        Assert.Equal(first.People, second.People);
    }

    [Fact]
    public void Different_seeds_generate_different_people()
    {
        var a = PeopleDataSet.Generate(7, 500).People.Select(p => p.WorkEmail);
        var b = PeopleDataSet.Generate(8, 500).People.Select(p => p.WorkEmail);

        Assert.True(a.Intersect(b).Count() < 50);
    }

    [Fact]
    public void Default_data_set_is_the_same_on_every_machine()
    {
        // Pinned: a change of Bogus, its locale data or the generator would silently change every test's people.
        var first = DefaultPeople.People[0];
        Assert.Equal(new Person("sbx-000001", "Minerva", "Sipes", "Wyman Group", "wyman.io", "International Response Associate",
            "https://www.linkedin.com/in/minerva-sipes-4a2b4067", "minerva.sipes@wyman.io", "+16877900718"), first);
    }

    [Fact]
    public void Default_data_set_holds_20000_people_with_unique_ids_emails_and_profiles()
    {
        var people = DefaultPeople.People;

        Assert.Equal(20_000, people.Count);
        Assert.Equal(people.Count, people.Select(p => p.Id).Distinct().Count());
        Assert.Equal(people.Count, people.Select(p => p.WorkEmail).Distinct().Count());
        Assert.Equal(people.Count, people.Select(p => p.LinkedInUrl).Distinct().Count());
        Assert.All(people, p => Assert.Matches(@"^\+1\d{10}$", p.MobilePhone));
        Assert.True(people.Select(p => p.CompanyDomain).Distinct().Count() > 1000);
    }

    [Fact]
    public void Lookups_ignore_case_punctuation_scheme_and_trailing_slash()
    {
        var person = DefaultPeople.People[41];

        Assert.Same(person, DefaultPeople.FindByName(person.FirstName.ToUpperInvariant(), $" {person.LastName} ", "https://www." + person.CompanyDomain));
        Assert.Same(person, DefaultPeople.FindByLinkedIn(person.LinkedInUrl.Replace("https://www.", "http://", StringComparison.Ordinal) + "/"));
        Assert.Same(person, DefaultPeople.FindByEmail(person.WorkEmail.ToUpperInvariant()));
        Assert.Null(DefaultPeople.FindByName(person.FirstName, person.LastName, "elsewhere.example"));
    }

    [Theory]
    [InlineData("leadmine")]
    [InlineData("mailscout")]
    [InlineData("dialbase")]
    public void Vendor_knows_about_its_hit_rate_of_the_data_set(string vendor)
    {
        var settings = Config.Vendors[vendor];

        var coverage = DefaultPeople.People.Count(p => VendorKnowledge.Knows(vendor, settings, p)) / (double)DefaultPeople.People.Count;

        Assert.InRange(coverage, settings.HitRate - 0.015, settings.HitRate + 0.015);
    }

    [Fact]
    public void Vendors_know_different_people()
    {
        var leadmine = Config.Vendors["leadmine"];
        var mailscout = Config.Vendors["mailscout"];

        var both = DefaultPeople.People.Count(p => VendorKnowledge.Knows("leadmine", leadmine, p) && VendorKnowledge.Knows("mailscout", mailscout, p))
            / (double)DefaultPeople.People.Count;

        // Independent decisions: the overlap is the product of the hit rates, so each vendor adds coverage.
        Assert.InRange(both, (leadmine.HitRate * mailscout.HitRate) - 0.02, (leadmine.HitRate * mailscout.HitRate) + 0.02);
    }

    [Fact]
    public void Inaccurate_finder_emails_verify_invalid_and_catch_all_domains_verify_catch_all()
    {
        var leadmine = Config.Vendors["leadmine"];
        var verifly = Config.Vendors["verifly"];
        var found = DefaultPeople.People.Where(p => VendorKnowledge.Knows("leadmine", leadmine, p))
            .Select(p => VendorKnowledge.Verify("verifly", verifly, DefaultPeople, VendorKnowledge.EmailFor("leadmine", leadmine, p)))
            .ToList();

        double Share(EmailStatus status) => found.Count(s => s == status) / (double)found.Count;
        Assert.InRange(Share(EmailStatus.CatchAll), verifly.CatchAllRate - 0.03, verifly.CatchAllRate + 0.03);
        var expectedInvalid = (1 - leadmine.Accuracy) * (1 - verifly.CatchAllRate);
        Assert.InRange(Share(EmailStatus.Invalid), expectedInvalid - 0.03, expectedInvalid + 0.03);
        Assert.InRange(Share(EmailStatus.Unknown), 0.01, verifly.UnknownRate + 0.02);
        Assert.True(Share(EmailStatus.Valid) > 0.5);
    }

    [Fact]
    public void Shipped_configuration_has_two_email_finders_a_mobile_finder_and_a_verifier()
    {
        Assert.Equal(VendorShape.Leadmine, Config.Vendors["leadmine"].Shape);
        Assert.Equal(VendorShape.Mailscout, Config.Vendors["mailscout"].Shape);
        Assert.Equal(VendorShape.Dialbase, Config.Vendors["dialbase"].Shape);
        Assert.Equal(VendorShape.Verifly, Config.Vendors["verifly"].Shape);
        Assert.True(Config.Vendors["leadmine"].HitRate < Config.Vendors["mailscout"].HitRate);
        Assert.All(Config.Vendors.Values, v => Assert.NotNull(v.ApiKey));
    }

    [Fact]
    public void Configuration_file_replaces_the_shipped_one()
    {
        var path = Path.Combine(Path.GetTempPath(), $"vendors-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "seed": 5, "people": 100, "vendors": { "only": { "shape": "leadmine", "hitRate": 0.25 } } }""");
        try
        {
            var config = SandboxConfig.Load(path);

            Assert.Equal(5, config.Seed);
            Assert.Equal(100, config.People);
            Assert.Equal(0.25, Assert.Single(config.Vendors).Value.HitRate);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("""{ "vendors": { "x": { "shape": "leadmine", "hitRate": 1.5 } } }""", "vendor 'x': hitRate must be between 0 and 1")]
    [InlineData("""{ "vendors": { "x": { "shape": "leadmine", "failures": { "serverErrorRate": 0.7, "hangRate": 0.6 } } } }""", "vendor 'x': failures rates add up to more than 1")]
    [InlineData("""{ "vendors": { "x": { "shape": "leadmine", "hitRat": 0.5 } } }""", "hitRat")]
    [InlineData("""{ "vendors": { "x": { "shape": "fax" } } }""", "shape")]
    [InlineData("""{ "vendors": { "Bad Name": { "shape": "leadmine" } } }""", "vendor name 'Bad Name'")]
    public void Invalid_configuration_is_refused_naming_the_vendor_and_knob(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => SandboxConfig.Parse(json));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
