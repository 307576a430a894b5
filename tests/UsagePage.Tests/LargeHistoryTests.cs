using System.Diagnostics;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace UsagePage.Tests;

/// <summary>A team with 10,000 lines in the range: the page pages through them with the API's cursor and draws the
/// graph from the day summaries.</summary>
public sealed class LargeHistoryTests(LargeHistoryTests.Fixture fixture) : IClassFixture<LargeHistoryTests.Fixture>
{
    public const int Lines = 10_000;

    public sealed class Fixture(AzuriteFixture azurite) : BrowserFixture(azurite)
    {
        public string TeamId { get; private set; } = string.Empty;
        public string AdminKey { get; private set; } = string.Empty;

        protected override async Task SeedMoreAsync(UsageApp app)
        {
            var ct = TestContext.Current.CancellationToken;
            TeamId = AzuriteFixture.NewName("big");
            AdminKey = (await app.Services.GetRequiredService<TeamStore>().CreateAsync(TeamId, "ada", "test", ct)).AdminKey!.Key;
            var today = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero);
            app.Clock.Set(today.AddDays(-20));
            await app.Ledger.GrantAsync(new GrantRequest(TeamId, "operator.test", "ai_research", new Credits(Lines * 1000L), GrantKind.TopUp, "big-grant"));
            // 500 lines a day for 20 days, by five users, committed concurrently (the team's group commit batches them).
            for (var day = 0; day < 20; day++)
            {
                app.Clock.Set(today.AddDays(-20 + day).AddHours(10));
                var results = await Task.WhenAll(Enumerable.Range(0, Lines / 20).Select(i => app.Ledger.ChargeAsync(
                    new ChargeRequest(TeamId, $"user{i % 5}", "ai_research", i % 4 == 0 ? "company_research" : "person_research", $"big-{day}-{i}")
                    {
                        SubjectId = $"subject-{day}-{i}", Description = $"Research {day}-{i}",
                    })));
                if (results.Any(r => r.Status != LedgerStatus.Charged))
                {
                    throw new InvalidOperationException("Seeding the large history failed.");
                }
            }
            app.Clock.Set(DateTimeOffset.UtcNow);
        }
    }

    [Fact]
    public async Task Ten_thousand_lines_page_with_load_more_and_the_graph_comes_from_the_day_summaries()
    {
        await using var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 1360, Height = 1000 }, Locale = "en-US", TimezoneId = "UTC",
        });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(new Uri(fixture.App.Address, "/api/usage").ToString());
        await page.GetByLabel("API key").FillAsync(fixture.AdminKey);
        var clock = Stopwatch.StartNew();
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.Locator("#app[data-state=ready]").WaitForAsync();
        var firstView = clock.Elapsed;

        Assert.Equal(200, await page.Locator("#lines tbody tr").CountAsync());
        Assert.Equal((decimal)Lines, decimal.Parse(await page.Locator("#totals").GetAttributeAsync("data-total") ?? "-1", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(20, await page.Locator("#chart rect[data-feature]").EvaluateAllAsync<int>("rs => new Set(rs.map(r => r.getAttribute('x'))).size"));

        clock.Restart();
        for (var i = 0; i < 4; i++)
        {
            await page.GetByRole(AriaRole.Button, new() { Name = "Load more" }).ClickAsync();
            await page.Locator("#app[data-state=ready]").WaitForAsync();
        }
        var fourMore = clock.Elapsed;
        var ids = await page.Locator("#lines tbody tr .row-button").EvaluateAllAsync<string[]>("bs => bs.map(b => b.dataset.line)");
        Assert.Equal(1000, ids.Length);
        Assert.Equal(ids.Length, ids.Distinct().Count()); // the cursor never repeats a line
        await Screenshots.SaveAsync(page, nameof(Ten_thousand_lines_page_with_load_more_and_the_graph_comes_from_the_day_summaries));
        TestContext.Current.AddAttachment("timings", $"10,000 lines: first view {firstView.TotalMilliseconds:F0} ms, four more pages {fourMore.TotalMilliseconds:F0} ms");
        // Generous bounds for a shared 2-core machine; the figures are in the README.
        Assert.True(firstView < TimeSpan.FromSeconds(15), $"first view took {firstView}");
        Assert.True(fourMore < TimeSpan.FromSeconds(20), $"four more pages took {fourMore}");

        // The month's graph is read from at most one summary row per day.
        var summaries = 0;
        var table = fixture.App.Services.GetRequiredService<Azure.Data.Tables.TableServiceClient>()
            .GetTableClient(fixture.App.Services.GetRequiredService<LedgerOptions>().TableName);
        await foreach (var _ in table.QueryAsync<Azure.Data.Tables.TableEntity>($"PartitionKey eq '{fixture.TeamId}' and RowKey ge 'D|t|' and RowKey lt 'D|t}}'", select: ["RowKey"], cancellationToken: TestContext.Current.CancellationToken))
        {
            summaries++;
        }
        Assert.Equal(20, summaries);
    }
}
