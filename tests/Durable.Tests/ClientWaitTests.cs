using System.Collections.Concurrent;
using System.Diagnostics;
using CreditFunctions.TestSupport;
using static CreditFunctions.Durable.Tests.DurableTestHost;

namespace CreditFunctions.Durable.Tests;

public sealed class ClientWaitTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_client_in_the_workers_process_reads_the_finished_state_at_once_not_at_its_next_poll()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<string, string>("Waits", async (ctx, s) => await ctx.WaitForExternalEvent<string>("go") + s));
        var finishedAt = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        host.Hub.Store.InstanceFinished += id => finishedAt.TryAdd(id, Stopwatch.GetTimestamp());

        var ids = new List<string>();
        var waits = new List<Task<(OrchestrationMetadata State, long ReturnedAt)>>();
        for (var i = 0; i < 3; i++)
        {
            var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Waits", "!", cancellationToken: Ct);
            ids.Add(id);
            waits.Add(Task.Run(async () =>
            {
                var state = await host.WaitAsync(id);
                return (state, Stopwatch.GetTimestamp());
            }, Ct));
            await Task.Delay(170, Ct); // waits at different points of their polling schedules
        }
        // By now each wait polls every 340 to 500 ms.
        await Task.Delay(1_300, Ct);
        foreach (var id in ids)
        {
            await host.Client.RaiseEventAsync(id, "go", "done", Ct);
        }

        for (var i = 0; i < ids.Count; i++)
        {
            var (state, returnedAt) = await waits[i];
            Assert.Equal(OrchestrationRuntimeStatus.Completed, state.RuntimeStatus);
            Assert.Equal("done!", state.ReadOutputAs<string>());
            Assert.True(Stopwatch.GetElapsedTime(finishedAt[ids[i]], returnedAt) < TimeSpan.FromMilliseconds(250),
                $"the wait returned {Stopwatch.GetElapsedTime(finishedAt[ids[i]], returnedAt).TotalMilliseconds:0} ms after the finish");
        }
    }

    [Fact]
    public async Task A_wait_that_is_cancelled_throws_and_leaves_no_subscription_behind()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<string, string>("Waits", async (ctx, s) => await ctx.WaitForExternalEvent<string>("go") + s));
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Waits", "!", cancellationToken: Ct);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => host.Client.WaitForInstanceCompletionAsync(id, true, cancel.Token));

        Assert.Null(typeof(Runtime.DurableStore).GetField("InstanceFinished", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
            .GetValue(host.Hub.Store));
    }
}
