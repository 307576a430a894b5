using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Tests.Providers;
using CreditFunctions.Tests.Waterfall;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Visitors;

/// <summary>DOMAIN "Website visitors": an identified company costs one identification per site per calendar month, however
/// many visits; bots, excluded ranges, unresolved addresses and suppressed domains cost nothing.</summary>
public sealed class WebsiteVisitorTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private const string Browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";

    private List<(int Index, Company Company)> KnownCompanies()
    {
        var settings = sandbox.Vendors.Get("ipscope")!;
        var companies = CompanyRanges.Companies(sandbox.People);
        return Enumerable.Range(0, companies.Count).Where(i => CompanyRanges.Knows("ipscope", settings, companies[i])).Select(i => (i, companies[i])).Take(10).ToList();
    }

    [Fact]
    public async Task The_same_company_visiting_50_pages_on_3_days_of_one_month_costs_one_identification_and_again_next_month()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var site = await CreateSiteAsync(ctx, new { domain = "acme-demo.com" });
        var (index, company) = KnownCompanies()[0];
        var thisMonth = new DateTimeOffset(DateTimeOffset.UtcNow.Year, DateTimeOffset.UtcNow.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var lastMonth = thisMonth.AddMonths(-1);
        object Visit(int page, int day, int host) => new
        {
            ip = CompanyRanges.AddressOf(index, host).ToString(), page = $"/pricing/{page}", userAgent = Browser, at = lastMonth.AddDays(day).AddHours(10 + (page % 8)),
        };

        using var first = await PostEventsAsync(ctx, site.Key, Enumerable.Range(0, 30).Select(i => Visit(i, i % 3, 5 + (i % 4))).ToArray());
        using var second = await PostEventsAsync(ctx, site.Key, Enumerable.Range(30, 20).Select(i => Visit(i, i % 3, 5 + (i % 4))).ToArray());

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        var seen = await WaitForCompanyAsync(ctx, site.Id, lastMonth, c => c.GetProperty("pages").GetInt32() == 50);
        Assert.Equal(company.Domain, seen.GetProperty("domain").GetString());
        Assert.Equal("identified", seen.GetProperty("status").GetString());
        Assert.Equal(9m, await ctx.AvailableAsync("email"));

        using var next = await PostEventsAsync(ctx, site.Key, Enumerable.Range(0, 5).Select(i => new
        {
            ip = CompanyRanges.AddressOf(index, 9).ToString(), page = "/docs", userAgent = Browser, at = DateTimeOffset.UtcNow.AddMinutes(-i),
        }).ToArray());
        Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
        await WaitForCompanyAsync(ctx, site.Id, thisMonth, c => c.GetProperty("pages").GetInt32() == 5);
        Assert.Equal(8m, await ctx.AvailableAsync("email"));
        var lines = (await ctx.Ledger.QueryUsageAsync(new UsageQuery(ctx.TeamId) { From = lastMonth.AddDays(-1) }, Ct)).Lines
            .Where(l => l.Kind == "charge" && l.Action == "identify_company" && l.Credits.Value > 0).ToList();
        Assert.Equal(2, lines.Count);
    }

    [Fact]
    public async Task An_identified_company_is_matched_to_the_teams_contacts_there_once_a_month_and_announced_once_by_the_sites_signed_webhook()
    {
        var inbox = new Uri(sandbox.Server.BaseAddress, "_webhooks/visits-" + Guid.NewGuid().ToString("N")[..8]);
        await using var ctx = await StartAsync(azurite, sandbox, email: 10,
            settings: new Dictionary<string, string?> { [CreditFunctions.Platform.EgressGuard.AllowSetting] = sandbox.Server.BaseAddress.GetLeftPart(UriPartial.Authority) });
        var (index, company) = KnownCompanies().First(c => sandbox.People.People.Count(p => p.CompanyDomain == c.Company.Domain) >= 2);
        // Two people the team knows at the company (a reveal links them to its contact identity), whatever was found.
        var colleagues = sandbox.People.People.Where(p => p.CompanyDomain == company.Domain).Take(2).ToList();
        foreach (var person in colleagues)
        {
            await ctx.RevealAsync(person, "email");
        }
        var afterReveals = await ctx.AvailableAsync("email");
        var site = await CreateSiteAsync(ctx, new { domain = "acme-demo.com", webhookUrl = inbox.ToString() });
        object Visit(int page) => new { ip = CompanyRanges.AddressOf(index, 20 + page).ToString(), page = $"/p/{page}", userAgent = Browser, at = DateTimeOffset.UtcNow.AddMinutes(-page) };

        using var first = await PostEventsAsync(ctx, site.Key, Visit(1), Visit(2));
        var seen = await WaitForCompanyAsync(ctx, site.Id, DateTimeOffset.UtcNow, c => c.GetProperty("webhook").GetString() == "delivered");
        using var again = await PostEventsAsync(ctx, site.Key, Visit(3));
        await WaitForCompanyAsync(ctx, site.Id, DateTimeOffset.UtcNow, c => c.GetProperty("pages").GetInt32() == 3);

        Assert.Equal(2, seen.GetProperty("matchedContacts").GetArrayLength());
        Assert.Equal(afterReveals - 3, await ctx.AvailableAsync("email")); // one identification and two matches, once
        var matches = (await ctx.Ledger.QueryUsageAsync(new UsageQuery(ctx.TeamId), Ct)).Lines.Where(l => l.Action == "match_contact" && l.Credits.Value > 0).ToList();
        Assert.Equal(2, matches.Count);
        using var http = new HttpClient();
        var deliveries = JsonDocument.Parse(await http.GetStringAsync(inbox, Ct)).RootElement.GetProperty("deliveries");
        var delivery = Assert.Single(deliveries.EnumerateArray());
        var body = delivery.GetProperty("body").GetString()!;
        Assert.Equal(company.Domain, JsonDocument.Parse(body).RootElement.GetProperty("domain").GetString());
        var secrets = await ctx.App.Services.GetRequiredService<CreditFunctions.Waterfall.EnrichmentSettingsStore>()
            .GetOrCreateWebhookSecretsAsync(ctx.TeamId, () => throw new InvalidOperationException("no secret was made"), DateTimeOffset.UtcNow, Ct);
        Assert.True(CreditFunctions.Waterfall.WebhookSender.Verify(secrets!.Current, delivery.GetProperty("headers").GetProperty("X-CreditFunctions-Signature").GetString()!,
            body, DateTimeOffset.UtcNow, CreditFunctions.Waterfall.WebhookSender.TimestampTolerance));
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_batch_that_keeps_failing_goes_to_the_poison_queue_with_nothing_lost_or_charged_twice()
    {
        var box = "poison-" + Guid.NewGuid().ToString("N")[..8];
        var inbox = new Uri(sandbox.Server.BaseAddress, "_webhooks/" + box);
        var queue = AzuriteFixture.NewName("visitors");
        await using var ctx = await StartAsync(azurite, sandbox, email: 10, settings: new Dictionary<string, string?>
        {
            [CreditFunctions.Platform.EgressGuard.AllowSetting] = sandbox.Server.BaseAddress.GetLeftPart(UriPartial.Authority),
            ["CREDITFUNCTIONS_VISITORS_QUEUE"] = queue,
            ["AzureFunctionsJobHost__extensions__queues__visibilityTimeout"] = "00:00:00.200",
            ["AzureFunctionsJobHost__extensions__queues__maxDequeueCount"] = "3",
        });
        using (var http = new HttpClient())
        {
            // The site's receiver fails every delivery: the batch is counted and charged on its first delivery, and each
            // redelivery only tries the announcement again.
            (await http.PutAsync(inbox + "?failNext=10", null, Ct)).EnsureSuccessStatusCode();
        }
        var (index, _) = KnownCompanies()[1];
        var site = await CreateSiteAsync(ctx, new { domain = "acme-demo.com", webhookUrl = inbox.ToString() });

        using var posted = await PostEventsAsync(ctx, site.Key, new { ip = CompanyRanges.AddressOf(index, 3).ToString(), page = "/", userAgent = Browser });

        var poison = new Azure.Storage.Queues.QueueClient(azurite.ConnectionString, queue + "-poison");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!(await poison.ExistsAsync(Ct)).Value || (await poison.PeekMessagesAsync(cancellationToken: Ct)).Value.Length == 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the batch never reached the poison queue");
            await Task.Delay(200, Ct);
        }
        var company = Assert.Single((await CompaniesAsync(ctx, site.Id, DateTimeOffset.UtcNow)).EnumerateArray());
        Assert.Equal(("identified", 1, "pending"), (company.GetProperty("status").GetString(), company.GetProperty("pages").GetInt32(),
            company.GetProperty("webhook").GetString()));
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        using var check = new HttpClient();
        Assert.Equal(3, JsonDocument.Parse(await check.GetStringAsync(inbox, Ct)).RootElement.GetProperty("deliveries").GetArrayLength());
    }

    [Fact]
    public async Task Bots_unresolved_addresses_and_suppressed_domains_are_free_and_an_excluded_range_is_dropped_before_any_lookup()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var known = KnownCompanies();
        var (suppressedIndex, suppressed) = known[1];
        var (excludedIndex, _) = known[2];
        var (botIndex, _) = known[3];
        var (sentinelIndex, sentinel) = known[4];
        var site = await CreateSiteAsync(ctx, new
        {
            domain = "acme-demo.com",
            excludedIps = new[] { CompanyRanges.AddressOf(excludedIndex, 1).ToString()[..^2] + ".0/24" },
            suppressedDomains = new[] { suppressed.Domain },
        });
        var calls = ctx.Calls("ipscope");

        using var response = await PostEventsAsync(ctx, site.Key,
            new { ip = CompanyRanges.AddressOf(botIndex).ToString(), page = "/", userAgent = "Googlebot/2.1 (+http://www.google.com/bot.html)" },
            new { ip = CompanyRanges.AddressOf(suppressedIndex).ToString(), page = "/", userAgent = Browser },
            new { ip = CompanyRanges.AddressOf(excludedIndex).ToString(), page = "/", userAgent = Browser },
            new { ip = "100.64.7.7", page = "/", userAgent = Browser },
            new { ip = "73.1.2.3", page = "/", userAgent = Browser },
            new { ip = CompanyRanges.AddressOf(sentinelIndex).ToString(), page = "/", userAgent = Browser });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var month = new DateTimeOffset(DateTimeOffset.UtcNow.Year, DateTimeOffset.UtcNow.Month, 1, 0, 0, 0, TimeSpan.Zero);
        await WaitForCompanyAsync(ctx, site.Id, month, c => c.GetProperty("domain").GetString() == sentinel.Domain);
        var companies = await CompaniesAsync(ctx, site.Id, month);
        Assert.Equal([sentinel.Domain], companies.EnumerateArray().Select(c => c.GetProperty("domain").GetString()));
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        // Asked: the suppressed company's, the ISP's, the residential and the sentinel's addresses; never the bot's or the excluded one.
        Assert.Equal(4, ctx.Calls("ipscope") - calls);
    }

    [Fact]
    public async Task A_short_balance_records_the_company_as_unidentified_for_credits_and_charges_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 0);
        var site = await CreateSiteAsync(ctx, new { domain = "acme-demo.com" });
        var (index, _) = KnownCompanies()[5];

        using var response = await PostEventsAsync(ctx, site.Key, new { ip = CompanyRanges.AddressOf(index).ToString(), page = "/", userAgent = Browser });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var month = new DateTimeOffset(DateTimeOffset.UtcNow.Year, DateTimeOffset.UtcNow.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var company = await WaitForCompanyAsync(ctx, site.Id, month, _ => true);
        Assert.Equal("unidentified_for_credits", company.GetProperty("status").GetString());
        Assert.Equal(0m, await ctx.AvailableAsync("email"));
        Assert.DoesNotContain((await ctx.Ledger.QueryUsageAsync(new UsageQuery(ctx.TeamId), Ct)).Lines, l => l.Kind == "charge");
    }

    [Fact]
    public async Task Another_teams_site_is_404_a_foreign_origin_403_and_too_many_events_or_a_bad_site_400()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var site = await CreateSiteAsync(ctx, new { domain = "acme-demo.com" });
        var (_, otherAdmin) = await ctx.App.NewTeamAsync("eve");

        Assert.Equal(HttpStatusCode.NotFound, (await ctx.App.GetAsync($"/api/v1/sites/{site.Id}", otherAdmin.Key)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ctx.App.GetAsync($"/api/v1/sites/{site.Id}/companies", otherAdmin.Key)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ctx.App.GetAsync($"/api/v1/sites/{site.Id}/companies", ctx.Key)).StatusCode);

        using var ours = await PostEventsAsync(ctx, site.Key, "https://www.acme-demo.com", new { ip = "8.8.8.8", page = "/", userAgent = Browser });
        using var foreign = await PostEventsAsync(ctx, site.Key, "https://evil.test", new { ip = "8.8.8.8", page = "/", userAgent = Browser });
        using var tooMany = await PostEventsAsync(ctx, site.Key, Enumerable.Range(0, 101).Select(_ => new { ip = "8.8.8.8", page = "/", userAgent = Browser }).ToArray());
        using var badIp = await PostEventsAsync(ctx, site.Key, new { ip = "not-an-ip", page = "/", userAgent = Browser });
        using var unknownKey = await PostEventsAsync(ctx, "sk_000000000000000000000000", new { ip = "8.8.8.8", page = "/", userAgent = Browser });
        using var badSite = await ctx.PostAsync("/api/v1/sites", new { domain = "not a domain", excludedIps = new[] { "10.0.0.0/33" } });

        Assert.Equal(HttpStatusCode.Accepted, ours.StatusCode);
        Assert.Equal("https://www.acme-demo.com", ours.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.True((await Problem.ReadAsync(tooMany)).Errors.ContainsKey("events"));
        Assert.True((await Problem.ReadAsync(badIp)).Errors.ContainsKey("events[0].ip"));
        Assert.Equal(HttpStatusCode.NotFound, unknownKey.StatusCode);
        var problem = await Problem.ReadAsync(badSite);
        Assert.True(problem.Errors.ContainsKey("domain"));
        Assert.True(problem.Errors.ContainsKey("excludedIps[0]"));
    }

    private static async Task<(string Id, string Key)> CreateSiteAsync(WaterfallTestContext ctx, object body)
    {
        using var response = await ctx.PostAsync("/api/v1/sites", body);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var site = await JsonAsync(response);
        return (site.GetProperty("id").GetString()!, site.GetProperty("siteKey").GetString()!);
    }

    private static Task<HttpResponseMessage> PostEventsAsync(WaterfallTestContext ctx, string siteKey, params object[] events) =>
        PostEventsAsync(ctx, siteKey, null, events);

    private static Task<HttpResponseMessage> PostEventsAsync(WaterfallTestContext ctx, string siteKey, string? origin, params object[] events)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/visitors/events") { Content = JsonContent.Create(new { siteKey, events }) };
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }
        return ctx.App.Client.SendAsync(request, Ct);
    }

    private static async Task<JsonElement> CompaniesAsync(WaterfallTestContext ctx, string siteId, DateTimeOffset month)
    {
        var m = month.ToString("yyyy-MM", CultureInfo.InvariantCulture);
        using var response = await ctx.App.GetAsync($"/api/v1/sites/{siteId}/companies?from={m}&to={m}", ctx.Key);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await JsonAsync(response)).GetProperty("companies");
    }

    private static async Task<JsonElement> WaitForCompanyAsync(WaterfallTestContext ctx, string siteId, DateTimeOffset month, Func<JsonElement, bool> done)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var companies = await CompaniesAsync(ctx, siteId, month);
            if (companies.EnumerateArray().FirstOrDefault(done) is { ValueKind: JsonValueKind.Object } company)
            {
                return company;
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"no such company within 30 s: {companies}");
            await Task.Delay(100, Ct);
        }
    }
}
