using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Tests.Ledger;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace CreditFunctions.Tests.Alerts;

/// <summary>DOMAIN rule 10: a team is told once when an available balance falls below its threshold, and again only after
/// the balance went back above it; the alert is decided in the commit that crossed.</summary>
public sealed class LowBalanceAlertTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Twenty_concurrent_charges_crossing_the_threshold_fire_one_signed_webhook_and_it_fires_again_only_after_a_top_up()
    {
        var deliveries = new ConcurrentQueue<(string Body, string? Signature, string? Delivery)>();
        await using var receiver = await StartReceiverAsync(deliveries);
        await using var app = await TestApp.StartAsync(azurite, settings: new Dictionary<string, string?> { [EgressGuard.AllowSetting] = receiver.Urls.First() });
        var (team, admin) = await app.NewTeamAsync();
        var ledger = app.Services.GetRequiredService<LedgerService>();
        await GrantAsync(ledger, team, 30);

        using var set = await SendAsync(app, HttpMethod.Put, "/api/v1/alerts/low-balance/email", admin.Key, new { threshold = 25, webhookUrl = receiver.Urls.First() + "/hook" });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);

        var charges = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
            ledger.ChargeAsync(new ChargeRequest(team, "ada", "enrichment", "csv_validate", Guid.NewGuid().ToString("N")))));
        Assert.All(charges, c => Assert.Equal(LedgerStatus.Charged, c.Status));
        await WaitForAsync(() => !deliveries.IsEmpty);
        await Task.Delay(TimeSpan.FromSeconds(3), Ct); // room for a second, wrong delivery to arrive

        var (body, signature, delivery) = Assert.Single(deliveries);
        var alert = JsonDocument.Parse(body).RootElement;
        Assert.Equal(("low_balance", "email", 25m), (alert.GetProperty("type").GetString(), alert.GetProperty("creditType").GetString(), alert.GetProperty("threshold").GetDecimal()));
        Assert.InRange(alert.GetProperty("available").GetDecimal(), 20m, 24.5m);
        Assert.Equal(alert.GetProperty("alertId").GetString(), delivery);
        var secrets = await app.Services.GetRequiredService<EnrichmentSettingsStore>()
            .GetOrCreateWebhookSecretsAsync(team, () => throw new InvalidOperationException("the delivery made no secret"), DateTimeOffset.UtcNow, Ct);
        Assert.True(WebhookSender.Verify(secrets!.Current, signature!, body, DateTimeOffset.UtcNow, WebhookSender.TimestampTolerance));
        var listed = (await (await app.GetAsync("/api/v1/alerts/low-balance", admin.Key)).Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("alerts")[0];
        Assert.False(listed.GetProperty("armed").GetBoolean());

        // Still below: more charges fire nothing. Back above re-arms; below again fires a new alert.
        await ledger.ChargeAsync(new ChargeRequest(team, "ada", "enrichment", "csv_validate", Guid.NewGuid().ToString("N")));
        await GrantAsync(ledger, team, 10);
        for (var i = 0; i < 10; i++) // 29.5 back above 25 re-arms; down to 24.5 fires again
        {
            await ledger.ChargeAsync(new ChargeRequest(team, "ada", "enrichment", "csv_validate", Guid.NewGuid().ToString("N")));
        }
        await WaitForAsync(() => deliveries.Count >= 2);
        await Task.Delay(TimeSpan.FromSeconds(1), Ct);
        Assert.Equal(2, deliveries.Count);
        Assert.Equal(2, deliveries.Select(d => d.Delivery).Distinct().Count());
    }

    [Fact]
    public async Task An_alert_needs_an_admin_a_threshold_and_a_webhook_the_egress_guard_accepts_and_a_refused_one_sets_nothing()
    {
        await using var app = await TestApp.StartAsync(azurite);
        var (team, admin) = await app.NewTeamAsync();
        var member = await app.NewKeyAsync(team, "bob", "member");

        using var byMember = await SendAsync(app, HttpMethod.Put, "/api/v1/alerts/low-balance/email", member.Key, new { threshold = 5, webhookUrl = "https://example.com/hook" });
        using var internalUrl = await SendAsync(app, HttpMethod.Put, "/api/v1/alerts/low-balance/email", admin.Key, new { threshold = 5, webhookUrl = "http://169.254.169.254/latest" });
        using var noThreshold = await SendAsync(app, HttpMethod.Put, "/api/v1/alerts/low-balance/email", admin.Key, new { webhookUrl = "https://example.com/hook" });
        using var badType = await SendAsync(app, HttpMethod.Put, "/api/v1/alerts/low-balance/gold", admin.Key, new { threshold = 5, webhookUrl = "https://example.com/hook" });

        Assert.Equal(HttpStatusCode.Forbidden, byMember.StatusCode);
        Assert.True((await Problem.ReadAsync(internalUrl)).Errors.ContainsKey("webhookUrl"));
        Assert.True((await Problem.ReadAsync(noThreshold)).Errors.ContainsKey("threshold"));
        Assert.True((await Problem.ReadAsync(badType)).Errors.ContainsKey("creditType"));
        var listed = await (await app.GetAsync("/api/v1/alerts/low-balance", admin.Key)).Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(0, listed.GetProperty("alerts").GetArrayLength());
    }

    [Fact]
    public async Task An_alert_fired_but_never_delivered_is_offered_again_by_the_next_process_until_it_is_acknowledged()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        var first = new CapturingSink();
        var ledger = NewLedger(ctx, first);
        await ctx.GrantAsync("t1", "email", 10);
        await ledger.SetAlertAsync(new AlertRequest("t1", "ada", "email", Credits.FromDecimal(9), "https://example.com/hook", LedgerTestContext.Key()));
        await ledger.ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_validate", LedgerTestContext.Key()));
        await ledger.ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_validate", LedgerTestContext.Key()));
        await ledger.ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_validate", LedgerTestContext.Key()));
        var fired = Assert.Single(first.Alerts);
        Assert.Equal(8.5m, fired.Available.Value);

        // The process stopped before delivering: the next one to load the team's ledger offers it again, once.
        var second = new CapturingSink();
        var restarted = NewLedger(ctx, second);
        await restarted.ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_validate", LedgerTestContext.Key()));
        await restarted.ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_validate", LedgerTestContext.Key()));
        Assert.Equal(fired.AlertId, Assert.Single(second.Alerts).AlertId);

        await restarted.AcknowledgeAlertAsync("t1", "email", fired.AlertId);
        var third = new CapturingSink();
        await NewLedger(ctx, third).ChargeAsync(new ChargeRequest("t1", "ada", "enrichment", "csv_validate", LedgerTestContext.Key()));
        Assert.Empty(third.Alerts);
        await ctx.AssertVerifiedAsync("t1");
    }

    private static LedgerService NewLedger(LedgerTestContext ctx, ILowBalanceAlertSink sink) =>
        new(new TableServiceClient(ctx.Azurite.ConnectionString), Catalog.Default, new LedgerOptions { TableName = ctx.TableName }, ctx.Clock,
            NullLogger<LedgerService>.Instance, sink);

    private sealed class CapturingSink : ILowBalanceAlertSink
    {
        public ConcurrentQueue<LowBalanceAlert> Alerts { get; } = new();

        public void Raised(LowBalanceAlert alert) => Alerts.Enqueue(alert);
    }

    private static async Task GrantAsync(LedgerService ledger, string team, decimal amount) =>
        Assert.Equal(LedgerStatus.Granted, (await ledger.GrantAsync(new GrantRequest(team, "ops", "email", Credits.FromDecimal(amount), GrantKind.TopUp, Guid.NewGuid().ToString("N")))).Status);

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var waited = 0; !condition(); waited += 100)
        {
            Assert.True(waited < 30_000, "no delivery within 30 s");
            await Task.Delay(100, Ct);
        }
    }

    private static Task<HttpResponseMessage> SendAsync(TestApp app, HttpMethod method, string path, string key, object? body)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", key);
        return app.Client.SendAsync(request, Ct);
    }

    private static async Task<WebApplication> StartReceiverAsync(ConcurrentQueue<(string, string?, string?)> deliveries)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var receiver = builder.Build();
        receiver.MapPost("/hook", async (HttpRequest request) =>
        {
            var body = await new StreamReader(request.Body).ReadToEndAsync();
            deliveries.Enqueue((body, request.Headers[WebhookSender.SignatureHeader].FirstOrDefault(), request.Headers[WebhookSender.DeliveryHeader].FirstOrDefault()));
            return Results.Ok();
        });
        await receiver.StartAsync(Ct);
        return receiver;
    }
}

