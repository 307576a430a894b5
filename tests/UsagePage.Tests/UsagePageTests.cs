using System.Globalization;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace UsagePage.Tests;

/// <summary>The usage page in a real browser (Debian's Chromium), against the app under the dev host with seeded usage.</summary>
public sealed partial class UsagePageTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private UsageApp App => fixture.App;

    [Fact]
    public async Task An_admin_sees_every_users_lines()
    {
        var page = await SignedInAsync(App.AdminKey);

        Assert.Equal(App.Seed.Lines(), await page.Locator("#lines tbody tr").CountAsync());
        Assert.Equal(["ada", "bob"], (await Column(page, "user")).Distinct().Order());
        Assert.True(await page.GetByLabel("Team member").IsVisibleAsync());
        Assert.Equal(App.Seed.Charged(), await TotalAsync(page));
        Assert.Equal(0, await page.Locator("#lines tbody tr.refund").CountAsync());
        Assert.True(await page.Locator("#balances .balance").CountAsync() >= 3);
        await Screenshots.SaveAsync(page, nameof(An_admin_sees_every_users_lines));
    }

    [Fact]
    public async Task A_member_sees_only_their_own_lines()
    {
        var page = await SignedInAsync(App.MemberKey);

        Assert.Equal(App.Seed.Lines("bob"), await page.Locator("#lines tbody tr").CountAsync());
        Assert.All(await Column(page, "user"), u => Assert.Equal("bob", u));
        Assert.False(await page.GetByLabel("Team member").IsVisibleAsync());
        Assert.Equal(App.Seed.Charged("bob"), await TotalAsync(page));
        await Screenshots.SaveAsync(page, nameof(A_member_sees_only_their_own_lines));
    }

    [Fact]
    public async Task The_refund_toggle_adds_the_refund_lines_and_changes_the_graphs_totals()
    {
        var page = await SignedInAsync(App.AdminKey);
        Assert.False(await page.GetByLabel("Show refunds").IsCheckedAsync());
        Assert.Equal(0, await page.Locator("#chart .refund-bar").CountAsync());

        await page.GetByLabel("Show refunds").CheckAsync();
        await ReadyAsync(page);

        Assert.Equal(App.Seed.Lines(refunds: true), await page.Locator("#lines tbody tr").CountAsync());
        Assert.Equal(4, await page.Locator("#lines tbody tr.refund").CountAsync());
        Assert.StartsWith("-", await page.Locator("#lines tbody tr.refund td.credits").First.InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(App.Seed.Charged() - App.Seed.Refunded(), await TotalAsync(page));
        Assert.True(await page.Locator("#chart .refund-bar").CountAsync() >= 3);
        Assert.Contains("refunds=1", page.Url, StringComparison.Ordinal);

        // Hovering a day shows its totals, refunds included.
        await page.Locator("#chart .day-hit").Last.HoverAsync();
        var tip = page.Locator("#tooltip");
        await Assertions.Expect(tip).ToBeVisibleAsync();
        Assert.Contains("Net", await tip.InnerTextAsync(), StringComparison.Ordinal);
        await Screenshots.SaveAsync(page, nameof(The_refund_toggle_adds_the_refund_lines_and_changes_the_graphs_totals));
    }

    [Fact]
    public async Task A_feature_filter_narrows_the_table_and_the_graph()
    {
        var page = await SignedInAsync(App.AdminKey);

        await page.GetByLabel("Feature or action").SelectOptionAsync("waterfall_enrichment");
        await ReadyAsync(page);

        Assert.Equal(App.Seed.Lines(feature: "waterfall_enrichment"), await page.Locator("#lines tbody tr").CountAsync());
        Assert.All(await Column(page, "feature"), f => Assert.Equal("waterfall_enrichment", f));
        Assert.Equal(App.Seed.Charged(feature: "waterfall_enrichment"), await TotalAsync(page));
        var graphed = await page.Locator("#chart rect[data-feature]").EvaluateAllAsync<string[]>("rs => rs.map(r => r.dataset.feature)");
        Assert.NotEmpty(graphed);
        Assert.All(graphed, f => Assert.Equal("waterfall_enrichment", f));
        Assert.Equal(1, await page.Locator("#legend li").CountAsync());

        // A single action narrows further; the list offers only what the team used.
        var offered = await page.Locator("#f-usage option").EvaluateAllAsync<string[]>("os => os.map(o => o.value)");
        Assert.DoesNotContain("exports", offered);
        Assert.DoesNotContain("phone_number/dialer_lookup", offered);
        await page.GetByLabel("Feature or action").SelectOptionAsync("waterfall_enrichment/waterfall_mobile");
        await ReadyAsync(page);
        Assert.Equal(8, await page.Locator("#lines tbody tr").CountAsync());
        Assert.Equal(8m, await TotalAsync(page));
        await Screenshots.SaveAsync(page, nameof(A_feature_filter_narrows_the_table_and_the_graph));
    }

    [Fact]
    public async Task The_URL_reproduces_the_view_after_a_reload()
    {
        var page = await SignedInAsync(App.AdminKey);
        await page.GetByLabel("Team member").SelectOptionAsync("bob");
        await ReadyAsync(page);
        await page.GetByLabel("Feature or action").SelectOptionAsync("phone_number");
        await ReadyAsync(page);
        await page.GetByLabel("Show refunds").CheckAsync();
        await ReadyAsync(page);
        var from = DateTime.UtcNow.Date.AddDays(-20).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await page.GetByLabel("From", new() { Exact = true }).FillAsync(from);
        await page.GetByLabel("From", new() { Exact = true }).DispatchEventAsync("change");
        await ReadyAsync(page);
        var url = page.Url;
        var rows = await RowTextsAsync(page);
        var total = await TotalAsync(page);
        Assert.Equal(App.Seed.Lines("bob", "phone_number", refunds: true), rows.Length);

        await page.ReloadAsync();
        await ReadyAsync(page);

        Assert.Equal(url, page.Url);
        Assert.Equal(rows, await RowTextsAsync(page));
        Assert.Equal(total, await TotalAsync(page));
        Assert.Equal("bob", await page.GetByLabel("Team member").InputValueAsync());
        Assert.Equal("phone_number", await page.GetByLabel("Feature or action").InputValueAsync());
        Assert.Equal("custom", await page.GetByLabel("Date range").InputValueAsync());
        Assert.Equal(from, await page.GetByLabel("From", new() { Exact = true }).InputValueAsync());
        Assert.True(await page.GetByLabel("Show refunds").IsCheckedAsync());
        Assert.Contains("range=custom", url, StringComparison.Ordinal);
        await Screenshots.SaveAsync(page, nameof(The_URL_reproduces_the_view_after_a_reload));
    }

    [Fact]
    public async Task CSV_export_downloads_the_filtered_rows_with_formula_cells_escaped()
    {
        var page = await SignedInAsync(App.AdminKey);
        await page.GetByLabel("Feature or action").SelectOptionAsync("email");
        await ReadyAsync(page);

        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Link, new() { Name = "Export CSV" }).ClickAsync());
        var csv = await File.ReadAllTextAsync(await download.PathAsync(), TestContext.Current.CancellationToken);
        var records = csv.TrimStart('\ufeff').Split("\r\n", StringSplitOptions.RemoveEmptyEntries);

        Assert.StartsWith("date,feature,action,description,credits", records[0], StringComparison.Ordinal);
        Assert.Equal(App.Seed.Lines(feature: "email"), records.Length - 1);
        Assert.All(records.Skip(1), r => Assert.Contains(",Email,", r, StringComparison.Ordinal));
        var formula = Assert.Single(records, r => r.Contains("HYPERLINK", StringComparison.Ordinal));
        Assert.Contains("\"'=HYPERLINK(", formula, StringComparison.Ordinal);
        Assert.DoesNotContain(",=HYPERLINK", formula, StringComparison.Ordinal);

        // One row from its menu: the same columns, the same escaping.
        var row = page.Locator("#lines tbody tr", new() { HasText = "HYPERLINK" });
        await row.GetByRole(AriaRole.Button).ClickAsync();
        var single = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Menuitem, new() { Name = "Export row to CSV" }).ClickAsync());
        var one = (await File.ReadAllTextAsync(await single.PathAsync(), TestContext.Current.CancellationToken)).TrimStart('\ufeff')
            .Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, one.Length);
        Assert.Contains("\"'=HYPERLINK(", one[1], StringComparison.Ordinal);
        await Screenshots.SaveAsync(page, nameof(CSV_export_downloads_the_filtered_rows_with_formula_cells_escaped));
    }

    [Fact]
    public async Task View_related_opens_the_contact_and_the_run()
    {
        var page = await SignedInAsync(App.AdminKey);
        var row = page.Locator("#lines tbody tr", new() { HasText = "Person 13-0 at Acme" });

        await row.GetByRole(AriaRole.Button, new() { Name = "Actions for the line" }).ClickAsync();
        await page.GetByRole(AriaRole.Menuitem, new() { Name = "View contact" }).ClickAsync();

        var dialog = page.GetByRole(AriaRole.Dialog);
        await Assertions.Expect(dialog).ToContainTextAsync("Grace Hopper");
        await Assertions.Expect(dialog).ToContainTextAsync("grace@navy.example");
        await Screenshots.SaveAsync(page, nameof(View_related_opens_the_contact_and_the_run));
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(dialog).ToBeHiddenAsync();

        // A waterfall line offers its run (which this seed never started: the API's 404 is shown, not a crash).
        var waterfall = page.Locator("#lines tbody tr", new() { HasText = "Waterfall of 40 people" }).First;
        await waterfall.GetByRole(AriaRole.Button).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Menuitem, new() { Name = "View run" })).ToBeVisibleAsync();
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(page.Locator("#row-menu")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task An_expired_session_returns_to_sign_in()
    {
        var page = await SignedInAsync(App.MemberKey);

        // Past the session's end (60 minutes by default) on the app's clock.
        App.Clock.Advance(TimeSpan.FromMinutes(61));
        try
        {
            await page.GetByLabel("Show refunds").CheckAsync();

            await Assertions.Expect(page.GetByLabel("API key")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#signin-error")).ToContainTextAsync("session has ended");
            Assert.False(await page.Locator("#app").IsVisibleAsync());
            await Screenshots.SaveAsync(page, nameof(An_expired_session_returns_to_sign_in));

            // Signing in again works, and shows the same view (the URL kept it).
            await SignInAsync(page, App.MemberKey);
            Assert.True(await page.GetByLabel("Show refunds").IsCheckedAsync());
        }
        finally
        {
            App.Clock.Set(DateTimeOffset.UtcNow);
        }
    }

    [Fact]
    public async Task Revoking_the_key_ends_its_browser_sessions_and_a_new_member_sees_the_empty_state()
    {
        var carol = await NewMemberKeyAsync("carol");
        var page = await SignedInAsync(carol.Key);
        await Assertions.Expect(page.Locator("#empty")).ToContainTextAsync("No usage yet");
        Assert.Equal(0, await page.Locator("#lines tbody tr").CountAsync());
        await Screenshots.SaveAsync(page, nameof(Revoking_the_key_ends_its_browser_sessions_and_a_new_member_sees_the_empty_state));

        using var http = new HttpClient { BaseAddress = App.Address };
        using var revoke = new HttpRequestMessage(HttpMethod.Delete, $"/api/v1/teams/{App.TeamId}/keys/{carol.Record.KeyId}");
        revoke.Headers.Authorization = new AuthenticationHeaderValue("Bearer", App.AdminKey);
        Assert.True((await http.SendAsync(revoke, TestContext.Current.CancellationToken)).IsSuccessStatusCode);

        await page.ReloadAsync();
        await Assertions.Expect(page.GetByLabel("API key")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Keyboard_alone_signs_in_filters_and_opens_a_rows_menu()
    {
        await using var context = await NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(App.Address, "/api/usage").ToString());
        await page.GetByLabel("API key").WaitForAsync();
        await page.Keyboard.TypeAsync(App.AdminKey);
        await page.Keyboard.PressAsync("Enter");
        await ReadyAsync(page);

        await page.GetByLabel("Show refunds").FocusAsync();
        await page.Keyboard.PressAsync("Space");
        await ReadyAsync(page);
        Assert.Equal(App.Seed.Lines(refunds: true), await page.Locator("#lines tbody tr").CountAsync());

        var first = page.Locator("#lines tbody tr .row-button").First;
        await first.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.GetByRole(AriaRole.Menuitem, new() { Name = "Export row to CSV" })).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(first).ToBeFocusedAsync();

        // Every control of the filters has a label.
        var unlabelled = await page.EvaluateAsync<int>(
            "() => [...document.querySelectorAll('#filters input, #filters select')].filter(c => !document.querySelector(`label[for=\"${c.id}\"]`)).length");
        Assert.Equal(0, unlabelled);
        await Screenshots.SaveAsync(page, nameof(Keyboard_alone_signs_in_filters_and_opens_a_rows_menu));
    }

    private async Task<CreditFunctions.Auth.IssuedApiKey> NewMemberKeyAsync(string user)
    {
        var keys = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<CreditFunctions.Auth.ApiKeyStore>(App.Services);
        return (await keys.CreateAsync(App.TeamId, user, "member", "test", TestContext.Current.CancellationToken)).Key!;
    }

    private Task<IBrowserContext> NewContextAsync() => fixture.Browser.NewContextAsync(new BrowserNewContextOptions
    {
        AcceptDownloads = true, ViewportSize = new ViewportSize { Width = 1360, Height = 1000 }, Locale = "en-US", TimezoneId = "UTC",
    });

    private async Task<IPage> SignedInAsync(string key)
    {
        var context = await NewContextAsync();
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(20_000);
        page.Console += (_, message) => TestContext.Current.SendDiagnosticMessage("browser: " + message.Text);
        page.PageError += (_, error) => TestContext.Current.SendDiagnosticMessage("page error: " + error);
        await page.GotoAsync(new Uri(App.Address, "/api/usage").ToString());
        await SignInAsync(page, key);
        return page;
    }

    private static async Task SignInAsync(IPage page, string key)
    {
        await page.GetByLabel("API key").FillAsync(key);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await ReadyAsync(page);
        // The key went to the server once; nothing the page's script can read keeps it.
        Assert.Equal(string.Empty, await page.GetByLabel("API key", new() { Exact = true }).InputValueAsync());
        var kept = await page.EvaluateAsync<string>("() => document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)");
        Assert.DoesNotContain("cfk_", kept, StringComparison.Ordinal);
        Assert.DoesNotContain("cfs_", kept, StringComparison.Ordinal);
    }

    private static async Task ReadyAsync(IPage page)
    {
        try
        {
            await page.Locator("#app[data-state=ready]").WaitForAsync(new() { Timeout = 20_000 });
        }
        catch (TimeoutException ex)
        {
            await Screenshots.SaveAsync(page, "failed-" + Guid.NewGuid().ToString("n")[..8]);
            throw new TimeoutException($"The page did not get ready. It says: {await page.Locator("body").InnerTextAsync()}", ex);
        }
    }

    private static async Task<decimal> TotalAsync(IPage page) =>
        decimal.Parse(await page.Locator("#totals").GetAttributeAsync("data-total") ?? "-1", CultureInfo.InvariantCulture);

    private static async Task<string[]> Column(IPage page, string data) =>
        await page.Locator("#lines tbody tr").EvaluateAllAsync<string[]>($"rs => rs.map(r => r.dataset.{data})");

    private static async Task<string[]> RowTextsAsync(IPage page) =>
        (await page.Locator("#lines tbody tr").AllInnerTextsAsync()).Select(t => Whitespace().Replace(t, " ")).ToArray();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
