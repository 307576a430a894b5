using System.Net;
using System.Text;
using CreditFunctions.Ledger;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>
/// The bad-input corpus, over every route that takes a body: each case is a 4xx problem+json naming the field, and
/// nothing is written (balances, usage, holds and runs unchanged; the ledger verifies).
/// </summary>
[Collection(nameof(WaterfallTests))]
public sealed class BadInputCorpusTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private const string Person = """{"firstName":"Ada","lastName":"Lovelace","companyDomain":"example.com"}""";

    public static TheoryData<string, string, string> Corpus() => new()
    {
        // route, body, the field the answer must name
        { "/api/v1/credits/charges", "{not json", "body" },
        { "/api/v1/credits/charges", "[]", "body" },
        { "/api/v1/credits/charges", """{"feature":"enrichment","action":"csv_validate","subjectId":["p"]}""", "subjectId" },
        { "/api/v1/credits/charges", """{"feature":null,"action":"csv_validate"}""", "feature" },
        { "/api/v1/credits/charges", """{"feature":"enrichment","action":"csv_validate","subjectId":"p","description":"D\u0000x"}""", "description" },
        { "/api/v1/credits/charges", """{"feature":"enrichment","action":"csv_validate","subjectId":"p","extra":true}""", "extra" },
        { "/api/v1/credits/charges", """{"feature":"enrichment","action":"' or PartitionKey ne '","subjectId":"p"}""", "action" },
        { "/api/v1/credits/charges", """{"feature":"enrichment","action":"csv_validate","subjectId":"p","holdId":"../../H|x"}""", "holdId" },
        { "/api/v1/credits/holds", """{"feature":"enrichment","action":"csv_validate","amount":-1,"expiresAt":"2099-01-01T00:00:00Z"}""", "amount" },
        { "/api/v1/credits/holds", """{"feature":"enrichment","action":"csv_validate","amount":0.0001,"expiresAt":"2099-01-01T00:00:00Z"}""", "amount" },
        { "/api/v1/credits/holds", """{"feature":"enrichment","action":"csv_validate","amount":1e300,"expiresAt":"2099-01-01T00:00:00Z"}""", "amount" },
        { "/api/v1/credits/holds", """{"feature":"enrichment","action":"csv_validate","amount":"ten","expiresAt":"2099-01-01T00:00:00Z"}""", "amount" },
        { "/api/v1/credits/holds", """{"feature":"enrichment","action":"csv_validate","amount":1,"expiresAt":"tomorrow"}""", "expiresAt" },
        { "/api/v1/credits/holds", """{"feature":"enrichment","action":"csv_validate","amount":1,"expiresAt":"2099-01-01T00:00:00Z"}""", "expiresAt" },
        { "/api/v1/credits/holds/../../verify/capture", """{"amount":1}""", "*" },
        { "/api/v1/people/reveal", "{not json", "body" },
        { "/api/v1/people/reveal", """{"data":["email"]}""", "person" },
        { "/api/v1/people/reveal", """{"person":""" + Person + ""","data":["fax"]}""", "data" },
        { "/api/v1/people/reveal", """{"person":{"firstName":7},"data":["email"]}""", "person.firstName" },
        { "/api/v1/people/reveal", """{"person":{"linkedInUrl":"=HYPERLINK(\"http://evil\")"},"data":["email"]}""", "person.linkedInUrl" },
        { "/api/v1/enrichment/waterfall", """{"people":[],"data":["email"]}""", "people" },
        { "/api/v1/enrichment/waterfall", """{"people":[""" + Person + """],"data":[]}""", "data" },
        { "/api/v1/enrichment/waterfall", """{"people":[""" + Person + """],"data":["email"],"webhookUrl":"http://169.254.169.254/latest"}""", "webhookUrl" },
        { "/api/v1/enrichment/waterfall", """{"people":[""" + Person + """,{"email":42}],"data":["email"]}""", "people[1].email" },
        { "/api/v1/enrichment/waterfall", """{"people":"everyone","data":["email"]}""", "people" },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task Bad_input_is_a_4xx_problem_naming_the_field_and_nothing_is_written(string route, string body, string field)
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10, phone: 10);
        var request = new HttpRequestMessage(HttpMethod.Post, route) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", ctx.Key);
        request.Headers.Add("Idempotency-Key", "corpus-1");

        var response = await ctx.App.Client.SendAsync(request, Ct);

        Assert.InRange((int)response.StatusCode, 400, 499);
        if (field != "*")
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await Problem.ReadAsync(response);
            Assert.True(problem.Errors.Keys.Any(k => string.Equals(k, field, StringComparison.OrdinalIgnoreCase)),
                $"expected an error for '{field}', got [{string.Join(", ", problem.Errors.Keys)}]: {problem.Detail}");
        }
        var balances = await ctx.Ledger.GetBalancesAsync(ctx.TeamId, Ct);
        Assert.All(balances.Where(b => b.CreditType is "email" or "phone"), b => Assert.Equal((10m, 0m), (b.Available.Value, b.Held.Value)));
        Assert.Empty((await ctx.Ledger.QueryUsageAsync(new UsageQuery(ctx.TeamId) { IncludeRefunds = true }, Ct)).Lines);
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
        Assert.Equal(0, ctx.Calls("leadmine"));
    }
}
