using System.Collections.Concurrent;
using CreditFunctions.Platform;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>Every delivery is signed; a rotation keeps the previous secret signing for 24 hours.</summary>
[Collection(nameof(WaterfallTests))]
public sealed class WebhookSignatureTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    [Fact]
    public async Task A_team_that_never_asked_for_a_secret_still_gets_signed_deliveries()
    {
        var deliveries = new ConcurrentQueue<(string Body, string? Signature)>();
        await using var receiver = await StartReceiverAsync(deliveries);
        await using var ctx = await StartAsync(azurite, sandbox, settings: Allow(receiver));

        var state = await RunWithWebhookAsync(ctx, receiver);
        var stored = await ctx.App.Services.GetRequiredService<EnrichmentSettingsStore>().GetAsync(ctx.TeamId, Ct);
        var secrets = await ctx.App.Services.GetRequiredService<EnrichmentSettingsStore>()
            .GetOrCreateWebhookSecretsAsync(ctx.TeamId, () => throw new InvalidOperationException("a second secret was made"), DateTimeOffset.UtcNow, Ct);

        Assert.Equal("delivered", state.GetProperty("webhook").GetString());
        var (body, signature) = Assert.Single(deliveries);
        Assert.NotNull(stored.WebhookSecret);
        Assert.DoesNotContain("whsec_", stored.WebhookSecret, StringComparison.Ordinal);
        Assert.Single(signature!.Split(','), p => p.StartsWith("v1=", StringComparison.Ordinal));
        Assert.True(WebhookSender.Verify(secrets!.Current, signature, body, DateTimeOffset.UtcNow, WebhookSender.TimestampTolerance));
    }

    [Fact]
    public async Task After_a_rotation_deliveries_carry_both_signatures_for_24_hours_then_only_the_new_one()
    {
        var deliveries = new ConcurrentQueue<(string Body, string? Signature)>();
        await using var receiver = await StartReceiverAsync(deliveries);
        await using var ctx = await StartAsync(azurite, sandbox, settings: Allow(receiver));
        var store = ctx.App.Services.GetRequiredService<EnrichmentSettingsStore>();
        var old = (await JsonAsync(await ctx.PostAsync("/api/v1/enrichment/settings/webhook-secret", new { }))).GetProperty("webhookSecret").GetString()!;
        var rotated = await JsonAsync(await ctx.PostAsync("/api/v1/enrichment/settings/webhook-secret", new { }));
        var current = rotated.GetProperty("webhookSecret").GetString()!;

        await RunWithWebhookAsync(ctx, receiver);
        var (body, signature) = Assert.Single(deliveries);
        var in25Hours = await store.GetOrCreateWebhookSecretsAsync(ctx.TeamId, WebhookSender.NewSecret, DateTimeOffset.UtcNow.AddHours(25), Ct);

        Assert.NotEqual(old, current);
        Assert.InRange(rotated.GetProperty("previousSecretValidUntil").GetDateTimeOffset(), DateTimeOffset.UtcNow.AddHours(23.9), DateTimeOffset.UtcNow.AddHours(24.1));
        Assert.Equal(2, signature!.Split(',').Count(p => p.StartsWith("v1=", StringComparison.Ordinal)));
        Assert.True(WebhookSender.Verify(current, signature, body, DateTimeOffset.UtcNow, WebhookSender.TimestampTolerance));
        Assert.True(WebhookSender.Verify(old, signature, body, DateTimeOffset.UtcNow, WebhookSender.TimestampTolerance));
        Assert.Equal(current, in25Hours!.Current);
        Assert.Null(in25Hours.Previous);
    }

    [Fact]
    public void A_signature_older_than_the_five_minute_tolerance_or_of_another_body_does_not_verify()
    {
        var at = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var header = WebhookSender.Sign(["whsec_new", "whsec_old"], at, "{\"a\":1}");

        Assert.True(WebhookSender.Verify("whsec_old", header, "{\"a\":1}", at.AddMinutes(4), WebhookSender.TimestampTolerance));
        Assert.False(WebhookSender.Verify("whsec_old", header, "{\"a\":1}", at.AddMinutes(6), WebhookSender.TimestampTolerance));
        Assert.False(WebhookSender.Verify("whsec_new", header, "{\"a\":2}", at, WebhookSender.TimestampTolerance));
        Assert.False(WebhookSender.Verify("whsec_other", header, "{\"a\":1}", at, WebhookSender.TimestampTolerance));
        Assert.False(WebhookSender.Verify("whsec_new", header.Replace("t=", "t=1,t=", StringComparison.Ordinal), "{\"a\":1}", at, WebhookSender.TimestampTolerance));
        Assert.Equal(TimeSpan.FromMinutes(5), WebhookSender.TimestampTolerance);
    }

    private static Dictionary<string, string?> Allow(WebApplication receiver) => new() { [EgressGuard.AllowSetting] = receiver.Urls.First() };

    private async Task<System.Text.Json.JsonElement> RunWithWebhookAsync(WaterfallTestContext ctx, WebApplication receiver)
    {
        var people = new[] { SandboxVendors.Input(sandbox.KnownBy("leadmine")) };
        var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" }, webhookUrl = receiver.Urls.First() + "/hook" });
        Assert.Equal(System.Net.HttpStatusCode.Accepted, started.StatusCode);
        return await ctx.WaitForRunAsync(started.Headers.Location!.ToString());
    }

    private static async Task<WebApplication> StartReceiverAsync(ConcurrentQueue<(string, string?)> deliveries)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/hook", async (HttpRequest request) =>
        {
            var body = await new StreamReader(request.Body).ReadToEndAsync();
            deliveries.Enqueue((body, request.Headers[WebhookSender.SignatureHeader].FirstOrDefault()));
            return Results.Ok();
        });
        await app.StartAsync(Ct);
        return app;
    }
}
