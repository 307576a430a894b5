using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace SandboxProviders.Tests;

/// <summary>The reverse-IP vendor: company ranges resolve to their company, ISP and residential addresses are misses,
/// and its latency and failure knobs work like the other vendors'.</summary>
public sealed class ReverseIpTests(SandboxFixture sandbox) : IClassFixture<SandboxFixture>, IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => await sandbox.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private Task<HttpResponseMessage> LookupAsync(string ip, string? key = "sandbox-ipscope-key")
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"ipscope/v1/ip?ip={Uri.EscapeDataString(ip)}");
        if (key is not null)
        {
            request.Headers.Add("X-Api-Key", key);
        }
        return sandbox.Client.SendAsync(request, Ct);
    }

    private (int Index, Company Company) KnownCompany(bool known = true)
    {
        var settings = sandbox.Server.Vendors.Get("ipscope")!;
        var companies = CompanyRanges.Companies(sandbox.Server.People);
        var index = Enumerable.Range(0, companies.Count).First(i => CompanyRanges.Knows("ipscope", settings, companies[i]) == known);
        return (index, companies[index]);
    }

    [Fact]
    public async Task An_address_in_a_known_companys_range_resolves_to_that_company()
    {
        var (index, company) = KnownCompany();

        using var a = await LookupAsync(CompanyRanges.AddressOf(index, 7).ToString());
        using var b = await LookupAsync(CompanyRanges.AddressOf(index, 200).ToString());

        foreach (var response in new[] { a, b })
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
            Assert.Equal("company", body.GetProperty("type").GetString());
            Assert.Equal(company.Domain, body.GetProperty("company").GetProperty("domain").GetString());
        }
    }

    [Theory]
    [InlineData("100.64.3.4", "isp")]
    [InlineData("73.12.0.9", "residential")]
    [InlineData("8.8.8.8", "unknown")]
    [InlineData("2001:db8::1", "unknown")]
    public async Task Isp_residential_and_unknown_addresses_are_misses(string ip, string type)
    {
        using var response = await LookupAsync(ip);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(type, body.GetProperty("type").GetString());
        Assert.False(body.TryGetProperty("company", out _));
    }

    [Fact]
    public async Task A_company_range_the_vendor_does_not_know_is_unknown_and_a_bad_address_or_key_is_refused()
    {
        var (index, _) = KnownCompany(known: false);

        using var unknown = await LookupAsync(CompanyRanges.AddressOf(index).ToString());
        using var malformed = await LookupAsync("not-an-ip");
        using var noKey = await LookupAsync("8.8.8.8", key: null);

        Assert.Equal("unknown", JsonDocument.Parse(await unknown.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
    }

    [Fact]
    public async Task Latency_and_failures_are_tunable_like_the_other_vendors()
    {
        var settings = sandbox.Server.Vendors.Get("ipscope")!;
        await sandbox.PutVendorAsync("ipscope", settings with
        {
            Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = 150 },
        });
        var clock = Stopwatch.StartNew();
        using (var slow = await LookupAsync("8.8.8.8"))
        {
            Assert.Equal(HttpStatusCode.OK, slow.StatusCode);
        }
        Assert.True(clock.ElapsedMilliseconds >= 140, $"answered in {clock.ElapsedMilliseconds} ms");

        await sandbox.PutVendorAsync("ipscope", settings with { Failures = new FailureSettings { ServerErrorRate = 1 } });
        using var failing = await LookupAsync("8.8.8.8");
        Assert.Equal(HttpStatusCode.InternalServerError, failing.StatusCode);
        Assert.Equal(2, (await sandbox.StatsAsync("ipscope")).Total);
    }
}
