using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text;
using System.Text.Json;
using CreditFunctions.Durable;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Triggers;

public sealed class DurableWorkContractTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_work_item_in_the_hosts_queue_envelope_is_run_by_the_durable_worker()
    {
        await using var app = await TestApp.StartAsync(azurite);
        var client = app.Services.GetRequiredService<DurableTaskClient>();
        // Scheduled an hour ahead, so the local pump does not see the start message: only the envelope delivers it.
        var id = await client.ScheduleNewOrchestrationInstanceAsync("NotRegisteredHere", 1,
            new StartOrchestrationOptions { StartAt = DateTimeOffset.UtcNow.AddHours(1) }, Ct);
        var message = JsonSerializer.Serialize(new { k = 0, i = id });
        var envelope = JsonSerializer.Serialize(new
        {
            Data = new { message },
            Metadata = new
            {
                DequeueCount = 1, Id = Guid.NewGuid().ToString(), InsertionTime = DateTimeOffset.UtcNow, PopReceipt = "AgAAAAMAAAAAAAAAAgtnj8x+1QE=",
                sys = new { MethodName = "durable-work", UtcNow = DateTimeOffset.UtcNow, RandGuid = Guid.NewGuid().ToString() },
            },
        });

        using var request = new HttpRequestMessage(HttpMethod.Post, "/durable-work") { Content = new StringContent(envelope, Encoding.UTF8, "application/json") };
        request.Headers.Add("x-azure-functions-invocationid", Guid.NewGuid().ToString());
        using var response = await app.Client.SendAsync(request, Ct);
        var state = await client.GetInstanceAsync(id, cancellationToken: Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(OrchestrationRuntimeStatus.Failed, state!.RuntimeStatus);
        Assert.Contains("No orchestrator named 'NotRegisteredHere'", state.FailureDetails!.ErrorMessage, StringComparison.Ordinal);
    }
}
