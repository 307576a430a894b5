using System.Net;
using System.Text.Json;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace CreditFunctions.Tests.Platform;

/// <summary>The anonymous health route costs storage at most one probe per few seconds and shows no details.</summary>
public sealed class HealthTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Health_probes_storage_at_most_once_per_five_seconds_however_often_it_is_called()
    {
        var counter = new CountingPolicy();
        await using var app = await StartAsync(counter);
        counter.Reset();

        var burst = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => app.GetAsync("/api/health", key: null)));
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await app.GetAsync("/api/health", key: null)).StatusCode);
        }
        var afterHundredCalls = counter.Count;
        await Task.Delay(TimeSpan.FromSeconds(5.5), Ct);
        await app.GetAsync("/api/health", key: null);

        Assert.All(burst, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(3, afterHundredCalls); // one request per service, once
        Assert.Equal(6, counter.Count);     // and again once the answer is older than 5 s
    }

    [Fact]
    public async Task Queue_details_are_shown_only_to_an_admins_key()
    {
        await using var app = await StartAsync(new CountingPolicy());
        var (team, admin) = await app.NewTeamAsync();
        var member = await app.NewKeyAsync(team, "bob", "member");

        var anonymous = await app.GetAsync("/api/health", key: null);
        var asAdmin = await app.GetAsync("/api/health", admin.Key);
        var asMember = await app.GetAsync("/api/health", member.Key);
        var badKey = await app.GetAsync("/api/health", "cfk_junk");

        var anonymousBody = JsonDocument.Parse(await anonymous.Content.ReadAsStringAsync(Ct)).RootElement;
        var adminBody = JsonDocument.Parse(await asAdmin.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        Assert.Equal("healthy", anonymousBody.GetProperty("status").GetString());
        Assert.False(anonymousBody.TryGetProperty("queues", out _));
        Assert.Equal(HttpStatusCode.OK, asAdmin.StatusCode);
        Assert.Equal(JsonValueKind.Array, adminBody.GetProperty("queues").ValueKind);
        Assert.Equal(HttpStatusCode.Forbidden, asMember.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, badKey.StatusCode);
    }

    private Task<TestApp> StartAsync(CountingPolicy counter) =>
        TestApp.StartAsync(azurite, configureServices: services =>
        {
            // The app's storage clients, counting every request they send.
            var tables = new TableClientOptions();
            tables.AddPolicy(counter, HttpPipelinePosition.PerCall);
            var blobs = new BlobClientOptions();
            blobs.AddPolicy(counter, HttpPipelinePosition.PerCall);
            var queues = new QueueClientOptions();
            queues.AddPolicy(counter, HttpPipelinePosition.PerCall);
            services.AddSingleton(new TableServiceClient(azurite.ConnectionString, tables));
            services.AddSingleton(new BlobServiceClient(azurite.ConnectionString, blobs));
            services.AddSingleton(new QueueServiceClient(azurite.ConnectionString, queues));
        });

    private sealed class CountingPolicy : HttpPipelineSynchronousPolicy
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Reset() => Interlocked.Exchange(ref _count, 0);

        public override void OnSendingRequest(HttpMessage message) => Interlocked.Increment(ref _count);
    }
}
