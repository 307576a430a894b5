using System.Collections.Concurrent;
using System.Net;
using System.Text;
using CreditFunctions.TestSupport;
using CreditFunctions.Triggers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Tests.Hosting;

public sealed class ObservabilityTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task With_an_OTLP_endpoint_the_invocations_traces_metrics_and_logs_with_its_invocation_id_are_exported()
    {
        var received = new ConcurrentDictionary<string, ConcurrentQueue<byte[]>>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var collector = builder.Build();
        collector.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            received.GetOrAdd(signal, _ => new()).Enqueue(body.ToArray());
            return Results.Ok();
        });
        await collector.StartAsync(Ct);
        var endpoint = collector.Urls.Single();
        var function = AzuriteFixture.NewName("traced");
        var invocationId = Guid.NewGuid().ToString();

        await using (var app = await TestApp.StartAsync(azurite, settings: new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        }, configureServices: s => s.AddQueueFunction(function, new QueueTrigger("traced"), (_, _, _) => Task.CompletedTask)))
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/" + function)
            {
                Content = new StringContent("""{"Data":{"message":"hi"},"Metadata":{"DequeueCount":1}}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add(InvocationEnvelope.InvocationIdHeader, invocationId);
            using var response = await app.Client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        bool Exported(string signal, string text) =>
            received.TryGetValue(signal, out var bodies) && bodies.Any(b => Encoding.UTF8.GetString(b).Contains(text, StringComparison.Ordinal));
        Assert.True(Exported("traces", function), "no span of the function was exported");
        Assert.True(Exported("traces", TriggerTelemetry.Name), "the trigger activity source was not exported");
        Assert.True(Exported("traces", "Azure.Core.Http"), "Azure.Core's storage request spans were not exported");
        Assert.True(Exported("metrics", "faas.invocations"), "the invocation counter was not exported");
        Assert.True(Exported("metrics", "storage.client.requests"), "the storage metrics were not exported");
        Assert.True(Exported("logs", invocationId), "no log line carried the invocation id");
    }
}
