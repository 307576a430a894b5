using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.RegularExpressions;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Providers;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

[Collection(nameof(WaterfallTests))]
public sealed class WaterfallBulkAndSettingsTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    [Fact]
    public async Task A_bulk_of_1000_holds_the_maximum_and_charges_exactly_what_was_found()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 1000, settings: RoomyRateLimits());
        var people = sandbox.People.People.Take(1000).Select(SandboxVendors.Input).ToArray();

        var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } });
        var heldWhileRunning = (await ctx.Ledger.GetBalancesAsync(ctx.TeamId, Ct)).Single(b => b.CreditType == "email").Held.Value;
        var state = await ctx.WaitForRunAsync(started.Headers.Location!.ToString());

        var found = state.GetProperty("people").EnumerateArray().Count(p => p.GetProperty("email").GetProperty("status").GetString() == "found");
        var balance = (await ctx.Ledger.GetBalancesAsync(ctx.TeamId, Ct)).Single(b => b.CreditType == "email");
        var lines = new List<UsageLine>();
        await foreach (var line in ctx.Ledger.StreamUsageAsync(new UsageQuery(ctx.TeamId), Ct))
        {
            lines.Add(line);
        }
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        Assert.True(heldWhileRunning > 0, "nothing was held while the run was going");
        Assert.InRange(found, 500, 1000);
        Assert.Equal(found, state.GetProperty("progress").GetProperty("emailsFound").GetInt32());
        Assert.Equal(1000m - found, balance.Available.Value);
        Assert.Equal(0m, balance.Held.Value);
        Assert.Equal(found, lines.Count(l => l.Action == "api_waterfall_email" && l.Credits.Value > 0));
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task The_webhook_receives_the_results_signed_and_is_retried_until_it_accepts()
    {
        var deliveries = new ConcurrentQueue<(string Body, string? Signature, int Answer)>();
        await using var receiver = await StartReceiverAsync(deliveries, failFirst: 1);
        // The receiver is on 127.0.0.1: only its exact origin on the egress allow-list lets the delivery through.
        await using var ctx = await StartAsync(azurite, sandbox, settings: new Dictionary<string, string?> { [EgressGuard.AllowSetting] = receiver.Urls.First() });
        var secret = (await JsonAsync(await ctx.PostAsync("/api/v1/enrichment/settings/webhook-secret", new { }))).GetProperty("webhookSecret").GetString()!;
        var people = new[] { SandboxVendors.Input(sandbox.Sample(knownBy: "leadmine").First().Person) };

        var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" }, webhookUrl = receiver.Urls.First() + "/hook" });
        var state = await ctx.WaitForRunAsync(started.Headers.Location!.ToString());

        Assert.Equal("delivered", state.GetProperty("webhook").GetString());
        Assert.Equal([500, 200], deliveries.Select(d => d.Answer));
        var (body, signature, _) = deliveries.Last();
        Assert.True(WebhookSender.Verify(secret, signature!, body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSender.Verify(secret, signature!, body + " ", DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)));
        Assert.Contains("\"waterfall.completed\"", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_email_that_turns_invalid_on_reverification_is_refunded_once()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        Assert.Equal(HttpStatusCode.OK, (await ctx.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings", new { verifyEmails = false })).StatusCode);
        var person = sandbox.Sample(knownBy: "leadmine", emailStatus: ("leadmine", EmailStatus.Invalid)).First().Person;
        var revealed = await ctx.RevealAsync(person, "email");
        var personId = revealed.GetProperty("personId").GetString();

        var first = await ctx.PostAsync($"/api/v1/people/{personId}/reverify", new { }, "reverify-1");
        var second = await ctx.PostAsync($"/api/v1/people/{personId}/reverify", new { }, "reverify-2");
        var missing = await ctx.PostAsync("/api/v1/people/p_000000000000000000000000/reverify", new { }, "reverify-3");

        var a = await JsonAsync(first);
        Assert.Equal("invalid", a.GetProperty("verification").GetString());
        Assert.Equal(0.5m, a.GetProperty("credits").GetDecimal());
        Assert.NotNull(a.GetProperty("refundLineId").GetString());
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        // 10 − 1 (reveal) + 1 (refund, once) − 0.5 − 0.5 (two re-verifications)
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_teams_own_key_is_sent_to_the_provider_and_never_returned_in_full()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        sandbox.Configure("leadmine", v => v with { ApiKey = new ApiKeySettings("X-Api-Key", "team-own-key-1234") });
        var member = await ctx.App.NewKeyAsync(ctx.TeamId, "bob", "member");

        var put = await ctx.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings", new { keys = new { leadmine = new { apiKey = "team-own-key-1234" } } });
        var text = await put.Content.ReadAsStringAsync(Ct);
        var asMember = await ctx.App.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings", member.Key, JsonContent.Create(new { verifyEmails = false }));
        var unknown = await ctx.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings", new { emailProviders = new[] { "nobody" } });
        var result = await ctx.RevealAsync(sandbox.Sample(knownBy: "leadmine", emailStatus: ("leadmine", EmailStatus.Valid)).First().Person, "email");

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.DoesNotContain("team-own-key-1234", text, StringComparison.Ordinal);
        Assert.Contains("1234", text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, asMember.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.True((await JsonAsync(unknown)).GetProperty("errors").TryGetProperty("emailProviders", out _));
        Assert.Equal("leadmine", result.GetProperty("email").GetProperty("provider").GetString());
    }

    [Fact]
    public async Task The_providers_endpoint_lists_each_provider_with_its_statistics()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        await ctx.RevealAsync(sandbox.Sample(knownBy: "leadmine").First().Person, "email");

        var providers = (await JsonAsync(await ctx.App.GetAsync("/api/v1/enrichment/providers", ctx.Key))).GetProperty("providers");

        Assert.Equal(["dialbase", "ipscope", "jobpulse", "leadmine", "mailscout", "sagewise", "verifly"], providers.EnumerateArray().Select(p => p.GetProperty("name").GetString()).Order());
        var leadmine = providers.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "leadmine");
        Assert.True(leadmine.GetProperty("statistics").GetProperty("attempts").GetInt64() >= 1);
    }

    private static Dictionary<string, string?> RoomyRateLimits() =>
        new() { [ProviderCatalog.FileSetting] = CrashRecovery.RoomyProviders() };

    private static async Task<WebApplication> StartReceiverAsync(ConcurrentQueue<(string, string?, int)> deliveries, int failFirst)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var calls = 0;
        app.MapPost("/hook", async (HttpRequest request) =>
        {
            var body = await new StreamReader(request.Body).ReadToEndAsync();
            var answer = Interlocked.Increment(ref calls) <= failFirst ? 500 : 200;
            deliveries.Enqueue((body, request.Headers[WebhookSender.SignatureHeader].FirstOrDefault(), answer));
            return Results.StatusCode(answer);
        });
        await app.StartAsync(Ct);
        return app;
    }
}
