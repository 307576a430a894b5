using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>DOMAIN rule 2: the same person is decided by the team's contact identity, not by how a request spells them.</summary>
[Collection(nameof(WaterfallTests))]
public sealed class ContactIdentityTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static async Task<System.Text.Json.JsonElement> RevealAsync(WaterfallTestContext ctx, object person) =>
        await JsonAsync(await ctx.PostAsync("/api/v1/people/reveal", new { person, data = new[] { "email" } }));

    [Fact]
    public async Task A_person_revealed_by_name_and_domain_then_by_linkedin_url_is_charged_once()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var person = sandbox.Sample(knownBy: "leadmine", emailStatus: ("leadmine", EmailStatus.Valid)).First().Person;

        var byName = await RevealAsync(ctx, new { firstName = person.FirstName, lastName = person.LastName, companyDomain = person.CompanyDomain });
        var byProfile = await RevealAsync(ctx, new { linkedInUrl = person.LinkedInUrl });

        Assert.Equal("found", byName.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal("already_owned", byProfile.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal(0m, byProfile.GetProperty("email").GetProperty("credits").GetDecimal());
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_known_email_spelled_otherwise_resolves_to_its_contact_and_calls_no_provider()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var person = sandbox.Sample(knownBy: "leadmine", emailStatus: ("leadmine", EmailStatus.Valid)).Skip(1).First().Person;
        var found = (await RevealAsync(ctx, new { firstName = person.FirstName, lastName = person.LastName, companyDomain = person.CompanyDomain }))
            .GetProperty("email").GetProperty("value").GetString()!;
        var calls = ctx.Calls("leadmine") + ctx.Calls("mailscout");
        var at = found.IndexOf('@', StringComparison.Ordinal);
        var respelled = (found[..at] + "+crm" + found[at..]).ToUpperInvariant();

        var again = await RevealAsync(ctx, new { email = respelled });

        Assert.Equal("already_owned", again.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal(calls, ctx.Calls("leadmine") + ctx.Calls("mailscout"));
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
    }

    [Fact]
    public async Task Identifiers_are_normalised_and_one_kind_never_stands_for_another()
    {
        var ada = new CreditFunctions.Providers.PersonInput { LinkedInUrl = "HTTPS://www.LinkedIn.com/in/ada-lovelace/?trk=x", FirstName = "Ada", LastName = "Lovelace", CompanyDomain = "WWW.Example.com" };
        var same = new CreditFunctions.Providers.PersonInput { LinkedInUrl = "linkedin.com/in/ada-lovelace", FirstName = " ada", LastName = "LOVELACE", CompanyDomain = "example.com." };

        Assert.Equal(ContactIdentity.IdentifiersOf(ada), ContactIdentity.IdentifiersOf(same));
        Assert.Equal("em:ada@example.com", ContactIdentity.ForFound(WaterfallData.Email, "Ada+news@Example.com"));
        Assert.Equal("ph:+14155550100", ContactIdentity.ForFound(WaterfallData.Mobile, "+1 (415) 555-0100"));
        Assert.All(ContactIdentity.IdentifiersOf(ada), id => Assert.Matches("^(li|em|ph|nd):", id));
    }
}
