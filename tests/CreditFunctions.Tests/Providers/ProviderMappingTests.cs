using CreditFunctions.Providers;
using SandboxProviders;

namespace CreditFunctions.Tests.Providers;

/// <summary>The embedded definitions read each sandbox vendor's own request and answer shape.</summary>
public sealed class ProviderMappingTests : IClassFixture<SandboxVendors>
{
    private readonly SandboxVendors _sandbox;

    public ProviderMappingTests(SandboxVendors sandbox)
    {
        _sandbox = sandbox;
        sandbox.Reset();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Leadmine_query_and_data_shape_map_to_an_email_hit_with_its_confidence()
    {
        var view = _sandbox.Sample(knownBy: "leadmine").First();
        await using var caller = _sandbox.NewCaller();

        var outcome = await caller.LookupAsync("leadmine", ProviderCapabilities.Email, SandboxVendors.Input(view.Person), cancellationToken: Ct);

        var hit = Assert.IsType<ProviderHit>(outcome);
        Assert.Equal(view.Vendors["leadmine"].Email, hit.Data.Email);
        Assert.Equal(Math.Round((decimal)VendorKnowledge.ConfidenceFor("leadmine", _sandbox.Vendors.Get("leadmine")!, view.Person), 2), hit.Confidence);
        Assert.Equal("leadmine", hit.Provenance.Provider);
        Assert.Equal(1, hit.Provenance.Attempts);
        Assert.Equal(1, _sandbox.Stats("leadmine").ByPerson[view.Person.Id]);
    }

    [Fact]
    public async Task Leadmine_data_null_is_a_miss()
    {
        var person = _sandbox.Sample(unknownBy: "leadmine").First().Person;
        await using var caller = _sandbox.NewCaller();

        var outcome = await caller.LookupAsync("leadmine", ProviderCapabilities.Email, SandboxVendors.Input(person), cancellationToken: Ct);

        Assert.IsType<ProviderMiss>(outcome);
        Assert.Equal(1, _sandbox.Stats("leadmine").ByStatus["200"]);
    }

    [Fact]
    public async Task Mailscout_json_body_maps_to_an_email_hit_found_by_linkedin_url_alone()
    {
        var view = _sandbox.Sample(knownBy: "mailscout").First();
        await using var caller = _sandbox.NewCaller();

        var outcome = await caller.LookupAsync("mailscout", ProviderCapabilities.Email,
            new PersonInput { LinkedInUrl = view.Person.LinkedInUrl }, cancellationToken: Ct);

        var hit = Assert.IsType<ProviderHit>(outcome);
        Assert.Equal(view.Vendors["mailscout"].Email, hit.Data.Email);
        Assert.Equal(view.Person.JobTitle, hit.Data.JobTitle);
        Assert.Equal(view.Person.CompanyDomain, hit.Data.CompanyDomain);
        Assert.InRange(hit.Confidence!.Value, 0.4m, 1m);
    }

    [Fact]
    public async Task Mailscout_404_is_a_miss()
    {
        var person = _sandbox.Sample(unknownBy: "mailscout").First().Person;
        await using var caller = _sandbox.NewCaller();

        var outcome = await caller.LookupAsync("mailscout", ProviderCapabilities.Email, SandboxVendors.Input(person), cancellationToken: Ct);

        Assert.IsType<ProviderMiss>(outcome);
        Assert.Equal(1, _sandbox.Stats("mailscout").ByStatus["404"]);
    }

    [Fact]
    public async Task Dialbase_first_phone_maps_to_a_mobile_hit_and_no_match_status_to_a_miss()
    {
        var known = _sandbox.KnownBy("dialbase");
        var unknown = _sandbox.Sample(unknownBy: "dialbase").First().Person;
        await using var caller = _sandbox.NewCaller();

        var hit = await caller.LookupAsync("dialbase", ProviderCapabilities.Mobile, SandboxVendors.Input(known), cancellationToken: Ct);
        var miss = await caller.LookupAsync("dialbase", ProviderCapabilities.Mobile, SandboxVendors.Input(unknown), cancellationToken: Ct);

        Assert.Equal(known.MobilePhone, Assert.IsType<ProviderHit>(hit).Data.Phone);
        Assert.IsType<ProviderMiss>(miss);
    }

    [Fact]
    public async Task Dialbase_job_maps_title_and_company_by_name_and_domain()
    {
        var known = _sandbox.KnownBy("dialbase");
        await using var caller = _sandbox.NewCaller();

        var outcome = await caller.LookupAsync("dialbase", ProviderCapabilities.Job,
            new PersonInput { FirstName = known.FirstName, LastName = known.LastName, CompanyDomain = known.CompanyDomain }, cancellationToken: Ct);

        var hit = Assert.IsType<ProviderHit>(outcome);
        Assert.Equal(known.JobTitle, hit.Data.JobTitle);
        Assert.Equal(known.CompanyName, hit.Data.CompanyName);
    }

    [Theory]
    [InlineData(EmailStatus.Valid, EmailVerificationStatus.Valid, "deliverable")]
    [InlineData(EmailStatus.CatchAll, EmailVerificationStatus.CatchAll, "accept_all")]
    [InlineData(EmailStatus.Invalid, EmailVerificationStatus.Invalid, "undeliverable")]
    [InlineData(EmailStatus.Unknown, EmailVerificationStatus.Unknown, "unknown")]
    public async Task Verifly_statuses_map_to_verdicts(EmailStatus sandboxStatus, EmailVerificationStatus expected, string providerStatus)
    {
        var email = _sandbox.Sample(emailStatus: ("leadmine", sandboxStatus)).First().Vendors["leadmine"].Email!;
        await using var caller = _sandbox.NewCaller();

        var outcome = await caller.VerifyEmailAsync("verifly", email, cancellationToken: Ct);

        var verified = Assert.IsType<ProviderVerified>(outcome);
        Assert.Equal(expected, verified.Status);
        Assert.Equal(providerStatus, verified.ProviderStatus);
    }

    [Fact]
    public async Task Person_without_the_fields_a_provider_needs_is_not_sent()
    {
        await using var caller = _sandbox.NewCaller();

        var outcome = await caller.LookupAsync("leadmine", ProviderCapabilities.Email,
            new PersonInput { FirstName = "Ada", LastName = "Lovelace" }, cancellationToken: Ct);

        var failed = Assert.IsType<ProviderFailed>(outcome);
        Assert.Equal(ProviderErrorKind.InsufficientInput, failed.Kind);
        Assert.Equal(0, failed.Provenance.Attempts);
        Assert.Equal(0, _sandbox.Stats("leadmine").Total);
    }

    [Fact]
    public async Task Unknown_provider_capability_or_invalid_person_is_a_caller_error()
    {
        await using var caller = _sandbox.NewCaller();
        var person = new PersonInput { FirstName = "Ada", LastName = "Lovelace", CompanyDomain = "example.com" };

        await Assert.ThrowsAsync<ArgumentException>(() => caller.LookupAsync("nobody", ProviderCapabilities.Email, person, cancellationToken: Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => caller.LookupAsync("leadmine", ProviderCapabilities.Mobile, person, cancellationToken: Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => caller.LookupAsync("leadmine", ProviderCapabilities.Email,
            person with { CompanyDomain = "not a domain" }, cancellationToken: Ct));
        Assert.Equal(0, _sandbox.Stats("leadmine").Total);
    }
}
