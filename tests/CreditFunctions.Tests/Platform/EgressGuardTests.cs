using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CreditFunctions.Platform;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Platform;

/// <summary>The egress guard: what a customer-given URL may reach, checked at request time and on the connection.</summary>
[Collection(nameof(Waterfall.WaterfallTests))]
public sealed class EgressGuardTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static readonly EgressGuard s_none = new([]);

    [Theory]
    [InlineData("http://hooks.example.com/in")]
    [InlineData("ftp://hooks.example.com/in")]
    [InlineData("hooks.example.com/in")]
    [InlineData("https://user:secret@hooks.example.com/in")]
    [InlineData("https://127.0.0.1/in")]
    [InlineData("https://127.9.9.9/in")]
    [InlineData("https://localhost/in")]
    [InlineData("https://api.localhost/in")]
    [InlineData("https://10.1.2.3/in")]
    [InlineData("https://172.16.0.1/in")]
    [InlineData("https://192.168.1.1/in")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://100.64.0.1/in")]
    [InlineData("https://224.0.0.1/in")]
    [InlineData("https://0.0.0.0/in")]
    [InlineData("https://255.255.255.255/in")]
    [InlineData("https://[::1]/in")]
    [InlineData("https://[::]/in")]
    [InlineData("https://[fe80::1]/in")]
    [InlineData("https://[fd00::1]/in")]
    [InlineData("https://[ff02::1]/in")]
    [InlineData("https://[::ffff:127.0.0.1]/in")]
    [InlineData("https://[::ffff:169.254.169.254]/in")]
    [InlineData("https://[64:ff9b::a00:1]/in")]
    [InlineData("https://[2002:c0a8:101::1]/in")]
    public void A_customer_url_is_refused_unless_https_to_a_public_address(string url) =>
        Assert.NotNull(s_none.Refusal(url));

    [Theory]
    [InlineData("https://hooks.example.com/in?x=1")]
    [InlineData("https://93.184.216.34:8443/in")]
    [InlineData("https://[2606:4700::1111]/in")]
    public void A_public_https_url_passes(string url) => Assert.Null(s_none.Refusal(url));

    [Fact]
    public void Only_the_exact_allowed_origin_passes_on_loopback()
    {
        var guard = new EgressGuard(["http://127.0.0.1:5080"]);

        Assert.Null(guard.Refusal("http://127.0.0.1:5080/_webhooks/demo"));
        Assert.NotNull(guard.Refusal("http://127.0.0.1:5081/_webhooks/demo"));
        Assert.NotNull(guard.Refusal("https://127.0.0.1:5080/_webhooks/demo"));
        Assert.NotNull(guard.Refusal("http://localhost:5080/_webhooks/demo"));
        Assert.NotNull(guard.Refusal("http://127.0.0.2:5080/_webhooks/demo"));
        Assert.Throws<InvalidOperationException>(() => EgressGuard.From(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [EgressGuard.AllowSetting] = "http://127.0.0.1:5080/hook" }).Build()));
    }

    [Fact]
    public async Task A_name_that_resolves_inside_is_refused_on_the_connection_and_nothing_is_connected_to()
    {
        // The machine's own host name passes the check made without DNS, and resolves to a loopback or private address:
        // what a rebinding name does after it passed the check at request time.
        var name = Dns.GetHostName();
        var addresses = await Dns.GetHostAddressesAsync(name, Ct);
        if (addresses.Length == 0 || !addresses.All(EgressGuard.IsRefused))
        {
            Assert.Skip($"'{name}' does not resolve to an inside address here.");
        }
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var http = new HttpClient(s_none.CreateHandler());
        var url = $"https://{name}:{port}/hook";

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => http.PostAsync(url, new StringContent("{}"), Ct));

        Assert.Null(s_none.Refusal(url));
        Assert.IsType<EgressRefusedException>(error.InnerException);
        Assert.False(listener.Pending(), "the guard connected to an inside address");
    }

    [Fact]
    public async Task A_webhook_url_to_an_inside_address_is_400_naming_webhookUrl_and_holds_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var people = new[] { SandboxVendors.Input(sandbox.KnownBy("leadmine")) };

        var responses = new List<HttpResponseMessage>();
        foreach (var url in new[] { "https://169.254.169.254/latest", "http://hooks.example.com/in", $"{sandbox.Server.BaseAddress}_webhooks/x" })
        {
            responses.Add(await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" }, webhookUrl = url }));
        }

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode));
        foreach (var response in responses)
        {
            Assert.True((await JsonAsync(response)).GetProperty("errors").TryGetProperty("webhookUrl", out _));
        }
        Assert.Equal(100m, await ctx.AvailableAsync("email"));
        Assert.Equal(0, ctx.Calls("leadmine"));
    }

    [Fact]
    public async Task A_delivery_refused_on_the_connection_is_recorded_failed_with_the_reason_and_not_retried()
    {
        var name = Dns.GetHostName();
        if (!(await Dns.GetHostAddressesAsync(name, Ct)).All(EgressGuard.IsRefused))
        {
            Assert.Skip($"'{name}' does not resolve to an inside address here.");
        }
        await using var ctx = await StartAsync(azurite, sandbox);
        var people = new[] { SandboxVendors.Input(sandbox.KnownBy("leadmine")) };
        var clock = Stopwatch.StartNew();

        var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" }, webhookUrl = $"https://{name}:9/hook" });
        var state = await ctx.WaitForRunAsync(started.Headers.Location!.ToString());

        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        Assert.Equal("failed", state.GetProperty("webhook").GetString());
        Assert.Contains("resolves to a private, loopback", state.GetProperty("webhookError").GetString(), StringComparison.Ordinal);
        // Six attempts with back-off would take over a minute.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(45), $"the refusal was retried: {clock.Elapsed}");
    }

    [Fact]
    public async Task A_redirecting_receiver_is_not_followed_and_the_delivery_fails_with_the_reason()
    {
        var followed = new ConcurrentQueue<string>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var receiver = builder.Build();
        receiver.MapPost("/hook", () => Results.Redirect("/elsewhere", permanent: false, preserveMethod: true));
        receiver.MapPost("/elsewhere", () => { followed.Enqueue("elsewhere"); return Results.Ok(); });
        await receiver.StartAsync(Ct);
        await using var ctx = await StartAsync(azurite, sandbox, settings: new Dictionary<string, string?> { [EgressGuard.AllowSetting] = receiver.Urls.First() });
        var people = new[] { SandboxVendors.Input(sandbox.KnownBy("leadmine")) };

        var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" }, webhookUrl = receiver.Urls.First() + "/hook" });
        var state = await ctx.WaitForRunAsync(started.Headers.Location!.ToString());

        Assert.Equal("failed", state.GetProperty("webhook").GetString());
        Assert.Contains("redirect", state.GetProperty("webhookError").GetString(), StringComparison.Ordinal);
        Assert.Empty(followed);
    }

    [Theory]
    [InlineData("8.8.8.8", false)]
    [InlineData("2606:4700::1111", false)]
    [InlineData("127.0.0.1", true)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("::127.0.0.1", true)]
    [InlineData("64:ff9b::7f00:1", true)]
    [InlineData("64:ff9b::808:808", false)]
    [InlineData("2002:7f00:1::1", true)]
    [InlineData("fec0::1", true)]
    public void Addresses_inside_or_reserved_are_refused_in_every_form(string address, bool refused) =>
        Assert.Equal(refused, EgressGuard.IsRefused(IPAddress.Parse(address)));
}
