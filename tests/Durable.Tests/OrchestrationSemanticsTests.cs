using System.Collections.Concurrent;
using CreditFunctions.TestSupport;
using static CreditFunctions.Durable.Tests.DurableTestHost;

namespace CreditFunctions.Durable.Tests;

public sealed class OrchestrationSemanticsTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Sequential_activities_run_in_order_and_the_output_is_recorded()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<string, string>("Append", (_, s) => Task.FromResult(s + "."))
            .AddOrchestratorFunc<string, string>("Chain", async (ctx, input) =>
            {
                var value = input;
                for (var i = 0; i < 5; i++)
                {
                    value = await ctx.CallActivityAsync<string>("Append", value + i);
                }
                return value;
            }));

        var result = await host.RunAsync("Chain", "x");

        Assert.Equal(OrchestrationRuntimeStatus.Completed, result.RuntimeStatus);
        Assert.Equal("x0.1.2.3.4.", result.ReadOutputAs<string>());
        Assert.Equal("x", result.ReadInputAs<string>());
    }

    [Fact]
    public async Task Fan_out_runs_every_activity_and_fan_in_sees_every_result()
    {
        var concurrent = 0;
        var peak = 0;
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<int, int>("Square", async (_, n) =>
            {
                var now = Interlocked.Increment(ref concurrent);
                InterlockedMax(ref peak, now);
                await Task.Delay(20);
                Interlocked.Decrement(ref concurrent);
                return n * n;
            })
            .AddOrchestratorFunc<int, long>("FanOut", async (ctx, count) =>
            {
                var results = await Task.WhenAll(Enumerable.Range(1, count).Select(i => ctx.CallActivityAsync<int>("Square", i)));
                return results.Sum(x => (long)x);
            }));

        var result = await host.RunAsync("FanOut", 300);

        Assert.Equal(Enumerable.Range(1, 300).Sum(i => (long)i * i), result.ReadOutputAs<long>());
        Assert.True(peak > 1, $"activities ran one at a time (peak {peak})");
    }

    [Fact]
    public async Task A_failed_activity_is_retried_by_its_policy_with_the_same_step_key()
    {
        var keys = new ConcurrentQueue<(string Key, int Attempt)>();
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<string, string>("Flaky", (ctx, s) =>
            {
                keys.Enqueue((ctx.StepKey, ctx.Attempt));
                return ctx.Attempt < 3 ? throw new TimeoutException("vendor timed out") : Task.FromResult(s + "!");
            })
            .AddOrchestratorFunc<string, string>("Retrying", (ctx, s) =>
                ctx.CallActivityAsync<string>("Flaky", s, new RetryPolicy(5, TimeSpan.FromMilliseconds(100)) { Handle = f => f.IsCausedBy<TimeoutException>() })));

        var result = await host.RunAsync("Retrying", "ok");

        Assert.Equal("ok!", result.ReadOutputAs<string>());
        Assert.Equal([1, 2, 3], keys.Select(k => k.Attempt));
        Assert.Single(keys.Select(k => k.Key).Distinct());
    }

    [Fact]
    public async Task An_activity_failure_the_policy_does_not_handle_fails_the_instance_with_its_details()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<string, string>("Broken", (_, _) => throw new InvalidOperationException("provider said no"))
            .AddOrchestratorFunc<string, string>("Fails", (ctx, s) =>
                ctx.CallActivityAsync<string>("Broken", s, new RetryPolicy(3, TimeSpan.Zero) { Handle = f => f.IsCausedBy<TimeoutException>() })));

        var result = await host.RunAsync("Fails", "x");

        Assert.Equal(OrchestrationRuntimeStatus.Failed, result.RuntimeStatus);
        Assert.Equal(typeof(InvalidOperationException).FullName, result.FailureDetails!.ErrorType);
        Assert.Equal("provider said no", result.FailureDetails.ErrorMessage);
    }

    [Fact]
    public async Task Starting_an_existing_instance_id_returns_it_and_runs_it_once()
    {
        var runs = 0;
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<int, int>("Count", (_, n) => Task.FromResult(Interlocked.Increment(ref runs)))
            .AddOrchestratorFunc<int, int>("Once", (ctx, n) => ctx.CallActivityAsync<int>("Count", n)));
        var options = new StartOrchestrationOptions { InstanceId = "webhook-42" };

        var ids = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => host.Client.ScheduleNewOrchestrationInstanceAsync("Once", 1, options, Ct)));
        await host.WaitAsync("webhook-42");
        var again = await host.Client.ScheduleNewOrchestrationInstanceAsync("Once", 2, options, Ct);
        await Task.Delay(300, Ct);

        Assert.All(ids, id => Assert.Equal("webhook-42", id));
        Assert.Equal("webhook-42", again);
        Assert.Equal(1, runs);
        Assert.Equal(1, (await host.Client.GetInstanceAsync("webhook-42", true, Ct))!.ReadInputAs<int>());
    }

    [Fact]
    public async Task An_event_raised_before_the_orchestrator_waits_is_buffered_not_lost()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, string>("LateWaiter", async (ctx, _) =>
            {
                await ctx.CreateTimer(ctx.CurrentUtcDateTime.AddSeconds(1), CancellationToken.None);
                var first = await ctx.WaitForExternalEvent<string>("approval");
                var second = await ctx.WaitForExternalEvent<string>("Approval");
                return first + "," + second;
            }));

        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("LateWaiter", 0, cancellationToken: Ct);
        await host.WaitUntilAsync(id, s => s.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the start");
        await host.Client.RaiseEventAsync(id, "approval", "yes", Ct);
        await host.Client.RaiseEventAsync(id, "approval", "again", Ct);
        var result = await host.WaitAsync(id);

        // Queues do not keep order between two messages, so either may be first; neither is lost.
        Assert.Equal(["again", "yes"], result.ReadOutputAs<string>()!.Split(',').Order());
    }

    [Fact]
    public async Task Waiting_for_an_event_that_never_comes_times_out()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, string>("Impatient", async (ctx, _) =>
            {
                try
                {
                    return await ctx.WaitForExternalEvent<string>("never", TimeSpan.FromMilliseconds(500));
                }
                catch (TimeoutException)
                {
                    return "timed out";
                }
            }));

        var result = await host.RunAsync("Impatient", 0);

        Assert.Equal("timed out", result.ReadOutputAs<string>());
    }

    [Fact]
    public async Task A_sub_orchestration_returns_its_output_and_its_failure_reaches_the_parent()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<int, int>("Double", (_, n) => n < 0 ? throw new ArgumentException("negative") : Task.FromResult(n * 2))
            .AddOrchestratorFunc<int, int>("Child", (ctx, n) => ctx.CallActivityAsync<int>("Double", n))
            .AddOrchestratorFunc<int, string>("Parent", async (ctx, n) =>
            {
                var ok = await ctx.CallSubOrchestratorAsync<int>("Child", n);
                try
                {
                    await ctx.CallSubOrchestratorAsync<int>("Child", -1);
                    return "unexpected";
                }
                catch (TaskFailedException failed)
                {
                    return $"{ok}:{failed.FailureDetails.ErrorMessage}";
                }
            }));

        var result = await host.RunAsync("Parent", 21, "parent-1");

        Assert.Equal("42:negative", result.ReadOutputAs<string>());
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await host.Client.GetInstanceAsync("parent-1:0", cancellationToken: Ct))!.RuntimeStatus);
    }

    [Fact]
    public async Task Continue_as_new_restarts_with_the_new_input_and_keeps_history_small()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<int, int>("Inc", (_, n) => Task.FromResult(n + 1))
            .AddOrchestratorFunc<int, int>("Counter", async (ctx, n) =>
            {
                var next = await ctx.CallActivityAsync<int>("Inc", n);
                if (next < 5)
                {
                    ctx.ContinueAsNew(next);
                }
                return next;
            }));

        var result = await host.RunAsync("Counter", 0, "counter-1");

        Assert.Equal(5, result.ReadOutputAs<int>());
        Assert.Equal(4, result.ReadInputAs<int>());
        var table = host.Hub.Store.Instances;
        var rows = await table.QueryAsync<AzureStorage.Tables.TableEntity>(AzureStorage.Tables.TableQueryFilter.Create($"PartitionKey eq {"counter-1"}"), cancellationToken: Ct).ToListAsync(Ct);
        Assert.DoesNotContain(rows, r => r.RowKey.StartsWith("h000000", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Custom_status_shows_progress_while_running()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, int>("Progress", async (ctx, _) =>
            {
                ctx.SetCustomStatus(new { done = 1, total = 2 });
                await ctx.WaitForExternalEvent<int>("next");
                ctx.SetCustomStatus(new { done = 2, total = 2 });
                return 2;
            }));

        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Progress", 0, cancellationToken: Ct);
        var running = await host.WaitUntilAsync(id, s => s.SerializedCustomStatus is not null, "progress");
        await host.Client.RaiseEventAsync(id, "next", 1, Ct);
        var done = await host.WaitAsync(id);

        Assert.Equal("{\"done\":1,\"total\":2}", running.SerializedCustomStatus);
        Assert.Equal("{\"done\":2,\"total\":2}", done.SerializedCustomStatus);
    }

    [Fact]
    public async Task A_worker_that_takes_over_an_instance_continues_its_history()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<string, string>("Append", (_, s) => Task.FromResult(s + "."))
            .AddOrchestratorFunc<string, string>("Handover", async (ctx, input) =>
            {
                var first = await ctx.CallActivityAsync<string>("Append", input);
                ctx.SetCustomStatus("waiting");
                var resumed = await ctx.WaitForExternalEvent<string>("resume");
                return await ctx.CallActivityAsync<string>("Append", first + resumed);
            }));

        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Handover", "a", cancellationToken: Ct);
        await host.WaitUntilAsync(id, s => s.SerializedCustomStatus is not null, "the first activity's result");
        await host.StopWorkersAsync();
        await host.StartWorkerAsync(); // another worker id: it takes the instance over once the first lease expires
        await host.Client.RaiseEventAsync(id, "resume", "b", Ct);
        var result = await host.WaitAsync(id);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, result.RuntimeStatus);
        Assert.Equal("a.b.", result.ReadOutputAs<string>());
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
