using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Azure.Data.Tables;
using CreditFunctions.Auth;
using Microsoft.Extensions.DependencyInjection;

namespace UsagePage.Tests;

/// <summary>Browser sessions over plain HTTP: the cookie's attributes, the CSRF rule, sign-out and revocation, what is
/// stored; and the cache headers of the page, its assets and the API.</summary>
public sealed class SessionTests(SessionTests.App fixture) : IClassFixture<SessionTests.App>
{
    public sealed class App(CreditFunctions.TestSupport.AzuriteFixture azurite) : IAsyncLifetime
    {
        public UsageApp Usage { get; private set; } = null!;

        public async ValueTask InitializeAsync() => Usage = await UsageApp.StartAsync(azurite, TestContext.Current.CancellationToken);

        public async ValueTask DisposeAsync() => await Usage.DisposeAsync();
    }

    private UsageApp Usage => fixture.Usage;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Signing_in_sets_an_HttpOnly_SameSite_Strict_cookie_that_reads_the_API_as_the_key_does()
    {
        using var browser = Browser();
        using var response = await SignInAsync(browser, Usage.MemberKey);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith(SessionCookie.Name + "=cfs_", cookie, StringComparison.Ordinal);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/api", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase); // plain http here; https sets Secure
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());

        var me = await browser.Client.GetFromJsonAsync<Dictionary<string, string>>("/api/v1/me", Ct);
        Assert.Equal("bob", me!["userId"]);
        Assert.Equal("member", me["role"]);
        // A member's session sees only their own usage, as the member's key does.
        Assert.Equal(HttpStatusCode.Forbidden, (await browser.Client.GetAsync("/api/v1/credits/usage?user=ada", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_write_with_the_session_cookie_needs_the_CSRF_header_from_this_origin()
    {
        using var browser = Browser();
        await SignInAsync(browser, Usage.AdminKey);
        HttpRequestMessage Charge(bool csrf, string? origin)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/credits/charges")
            {
                Content = JsonContent.Create(new { feature = "ai_research", action = "person_research", subjectId = "csrf-" + Guid.NewGuid() }),
            };
            request.Headers.Add("Idempotency-Key", "csrf-" + Guid.NewGuid().ToString("n"));
            if (csrf)
            {
                request.Headers.Add(SessionCookie.CsrfHeader, "1");
            }
            if (origin is not null)
            {
                request.Headers.Add("Origin", origin);
            }
            return request;
        }
        var before = await AvailableAsync("ai_research");

        Assert.Equal(HttpStatusCode.Forbidden, (await browser.Client.SendAsync(Charge(csrf: false, origin: null), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await browser.Client.SendAsync(Charge(csrf: true, origin: "http://evil.example"), Ct)).StatusCode);
        Assert.Equal(before, await AvailableAsync("ai_research"));

        var origin = Usage.Address.GetLeftPart(UriPartial.Authority);
        Assert.Equal(HttpStatusCode.Created, (await browser.Client.SendAsync(Charge(csrf: true, origin), Ct)).StatusCode);
        Assert.Equal(before - 1, await AvailableAsync("ai_research"));
        // Signing in is a write too: without the header it is refused.
        using var bare = new HttpClient { BaseAddress = Usage.Address };
        Assert.Equal(HttpStatusCode.Forbidden, (await bare.PostAsJsonAsync("/api/v1/session", new { apiKey = Usage.MemberKey }, Ct)).StatusCode);
    }

    [Fact]
    public async Task Signing_out_ends_the_session()
    {
        using var browser = Browser();
        await SignInAsync(browser, Usage.MemberKey);
        var token = browser.Cookies.GetCookies(new Uri(Usage.Address, "/api/v1/me"))[SessionCookie.Name]!.Value;

        using var signOut = new HttpRequestMessage(HttpMethod.Delete, "/api/v1/session");
        signOut.Headers.Add(SessionCookie.CsrfHeader, "1");
        Assert.Equal(HttpStatusCode.NoContent, (await browser.Client.SendAsync(signOut, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.Client.GetAsync("/api/v1/me", Ct)).StatusCode);

        // The token itself is dead, not only the cookie gone.
        using var replay = new HttpClient { BaseAddress = Usage.Address };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/me");
        request.Headers.Add("Cookie", $"{SessionCookie.Name}={token}");
        Assert.Equal(HttpStatusCode.Unauthorized, (await replay.SendAsync(request, Ct)).StatusCode);
    }

    [Fact]
    public async Task Revoking_the_key_ends_its_sessions_and_only_a_hash_of_the_token_is_stored()
    {
        var keys = Usage.Services.GetRequiredService<ApiKeyStore>();
        var dave = (await keys.CreateAsync(Usage.TeamId, "dave", "member", "test", Ct)).Key!;
        using var browser = Browser();
        await SignInAsync(browser, dave.Key);
        var token = browser.Cookies.GetCookies(new Uri(Usage.Address, "/api/v1/me"))[SessionCookie.Name]!.Value;
        Assert.Equal(HttpStatusCode.OK, (await browser.Client.GetAsync("/api/v1/me", Ct)).StatusCode);

        var table = Usage.Services.GetRequiredService<TableServiceClient>().GetTableClient(Usage.Services.GetRequiredService<AuthOptions>().TableName);
        var sessions = new List<TableEntity>();
        await foreach (var row in table.QueryAsync<TableEntity>($"PartitionKey eq '{Usage.TeamId}' and RowKey ge 'session:' and RowKey lt 'session;'", cancellationToken: Ct))
        {
            sessions.Add(row);
        }
        Assert.NotEmpty(sessions);
        Assert.All(sessions, s => Assert.All(((IDictionary<string, object>)s).Values, v =>
            Assert.DoesNotContain(token[^43..], v as string ?? (v is byte[] b ? Encoding.UTF8.GetString(b) : string.Empty), StringComparison.Ordinal)));

        await keys.RevokeAsync(Usage.TeamId, dave.Record.KeyId, Ct);

        var refused = await browser.Client.GetAsync("/api/v1/me", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        // The browser is told to drop the dead cookie.
        Assert.Contains(refused.Headers.GetValues("Set-Cookie"), c => c.StartsWith(SessionCookie.Name + "=;", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_page_is_revalidated_its_assets_are_cached_for_a_year_and_API_answers_stay_private()
    {
        using var http = new HttpClient { BaseAddress = Usage.Address };
        using var page = await http.GetAsync("/api/usage", Ct);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Equal("no-cache", page.Headers.CacheControl?.ToString());
        Assert.Contains("script-src 'self'", string.Join(' ', page.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        var script = System.Text.RegularExpressions.Regex.Match(html, "usage/assets/usage\\.[0-9a-f]{10}\\.js").Value;
        Assert.NotEmpty(script);

        using var revalidate = new HttpRequestMessage(HttpMethod.Get, "/api/usage");
        revalidate.Headers.IfNoneMatch.Add(page.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await http.SendAsync(revalidate, Ct)).StatusCode);

        using var asset = await http.GetAsync("/api/" + script, Ct);
        Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
        Assert.True(asset.Headers.CacheControl!.Public);
        Assert.Equal(TimeSpan.FromDays(365), asset.Headers.CacheControl.MaxAge);
        Assert.Contains(asset.Headers.CacheControl.Extensions, e => e.Name == "immutable");
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/usage/assets/usage.0000000000.js", Ct)).StatusCode);
        Assert.DoesNotContain("cdn", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http", html.Replace("http://www.w3.org", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);

        using var usage = new HttpRequestMessage(HttpMethod.Get, "/api/v1/credits/usage/summary");
        usage.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Usage.AdminKey);
        using var answer = await http.SendAsync(usage, Ct);
        Assert.True(answer.Headers.CacheControl!.Private);
        Assert.True(answer.Headers.CacheControl.NoCache);
    }

    private async Task<decimal> AvailableAsync(string creditType) =>
        (await Usage.Ledger.GetBalancesAsync(Usage.TeamId, Ct)).Single(b => b.CreditType == creditType).Available.Value;

    /// <summary>An HTTP client that keeps cookies as a browser does.</summary>
    private sealed class CookieBrowser(Uri address) : IDisposable
    {
        public CookieContainer Cookies { get; } = new();
        public HttpClient Client => _client ??= new HttpClient(new HttpClientHandler { CookieContainer = Cookies }) { BaseAddress = address };
        private HttpClient? _client;
        public void Dispose() => _client?.Dispose();
    }

    private CookieBrowser Browser() => new(Usage.Address);

    private static async Task<HttpResponseMessage> SignInAsync(CookieBrowser browser, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/session") { Content = JsonContent.Create(new { apiKey = key }) };
        request.Headers.Add(SessionCookie.CsrfHeader, "1");
        var response = await browser.Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response;
    }
}
