using System.Text;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Durable.Runtime;
using CreditFunctions.TestSupport;
using static CreditFunctions.Durable.Tests.DurableTestHost;

namespace CreditFunctions.Durable.Tests;

public sealed class DurabilityTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_resumed_orchestration_sees_exactly_what_it_saw_before_on_another_worker()
    {
        var activityRuns = 0;
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<int, int>("Once", (_, n) => Task.FromResult(Interlocked.Increment(ref activityRuns)))
            .AddOrchestratorFunc<int, string>("Remembers", async (ctx, _) =>
            {
                var guid = ctx.NewGuid();
                var time = ctx.CurrentUtcDateTime;
                var run = await ctx.CallActivityAsync<int>("Once", 0);
                ctx.SetCustomStatus($"{guid}|{time:O}|{run}");
                await ctx.WaitForExternalEvent<int>("go");
                return $"{guid}|{time:O}|{run}";
            }));
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Remembers", 0, cancellationToken: Ct);
        var before = await host.WaitUntilAsync(id, s => s.SerializedCustomStatus is not null, "the first step");

        // The first worker stops; a new one (empty cache) must wait out the lease, replay the history and go on.
        await host.StopWorkersAsync();
        await host.StartWorkerAsync();
        await host.Client.RaiseEventAsync(id, "go", 1, Ct);
        var result = await host.WaitAsync(id);

        Assert.Equal(before.ReadCustomStatusAs<string>(), result.ReadOutputAs<string>());
        Assert.Equal(1, activityRuns);
    }

    [Fact]
    public async Task Changed_orchestrator_code_fails_the_instance_naming_the_step_and_both_calls()
    {
        var variant = "A";
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<int, int>("A", (_, n) => Task.FromResult(n))
            .AddActivityFunc<int, int>("B", (_, n) => Task.FromResult(n))
            .AddOrchestratorFunc<int, int>("Fickle", async (ctx, _) =>
            {
                await ctx.CallActivityAsync<int>(variant, 1);
                return await ctx.WaitForExternalEvent<int>("go");
            }));
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Fickle", 0, cancellationToken: Ct);
        await host.WaitUntilAsync(id, s => s.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the start");
        await Task.Delay(500, Ct);

        await host.StopWorkersAsync();
        variant = "B";
        await host.StartWorkerAsync();
        await host.Client.RaiseEventAsync(id, "go", 1, Ct);
        var result = await host.WaitAsync(id);

        Assert.Equal(OrchestrationRuntimeStatus.Failed, result.RuntimeStatus);
        Assert.Equal(typeof(NonDeterministicOrchestrationException).FullName, result.FailureDetails!.ErrorType);
        Assert.Contains("step 0", result.FailureDetails.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("'A'", result.FailureDetails.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("'B'", result.FailureDetails.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_timer_survives_a_restart_and_fires_on_the_next_worker()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, string>("Sleeper", async (ctx, _) =>
            {
                var start = ctx.CurrentUtcDateTime;
                await ctx.CreateTimer(start.AddSeconds(4), CancellationToken.None);
                return (ctx.CurrentUtcDateTime - start).TotalSeconds >= 4 ? "woke on time" : "woke early";
            }));
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Sleeper", 0, cancellationToken: Ct);
        await host.WaitUntilAsync(id, s => s.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the start");

        await host.StopWorkersAsync();
        await host.StartWorkerAsync();
        var result = await host.WaitAsync(id);

        Assert.Equal("woke on time", result.ReadOutputAs<string>());
    }

    [Fact]
    public async Task A_timer_further_away_than_one_queue_delay_is_chained()
    {
        await using var host = await DurableTestHost.StartAsync(azurite,
            r => r.AddOrchestratorFunc<int, DateTime>("LongSleeper", async (ctx, _) =>
            {
                await ctx.CreateTimer(ctx.CurrentUtcDateTime.AddSeconds(3), CancellationToken.None);
                return ctx.CurrentUtcDateTime;
            }),
            o => o with { MaxTimerHop = TimeSpan.FromSeconds(1) });
        var started = DateTime.UtcNow;

        var result = await host.RunAsync("LongSleeper", 0);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, result.RuntimeStatus);
        Assert.True(result.ReadOutputAs<DateTime>() >= started.AddSeconds(3), "the timer fired before its time");
    }

    [Fact]
    public async Task A_suspended_instance_holds_its_events_until_resumed()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, string>("Pausable", async (ctx, _) => await ctx.WaitForExternalEvent<string>("data")));
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Pausable", 0, cancellationToken: Ct);
        await host.WaitUntilAsync(id, s => s.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the start");

        await host.Client.SuspendInstanceAsync(id, "maintenance", Ct);
        await host.WaitUntilAsync(id, s => s.RuntimeStatus == OrchestrationRuntimeStatus.Suspended, "the suspension");
        await host.Client.RaiseEventAsync(id, "data", "kept", Ct);
        await Task.Delay(700, Ct);
        var stillSuspended = await host.Client.GetInstanceAsync(id, cancellationToken: Ct);
        await host.Client.ResumeInstanceAsync(id, cancellationToken: Ct);
        var result = await host.WaitAsync(id);

        Assert.Equal(OrchestrationRuntimeStatus.Suspended, stillSuspended!.RuntimeStatus);
        Assert.Equal("kept", result.ReadOutputAs<string>());
    }

    [Fact]
    public async Task A_terminated_instance_stops_with_the_reason_and_ignores_later_events()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, string>("Forever", async (ctx, _) => await ctx.WaitForExternalEvent<string>("never")));
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Forever", 0, cancellationToken: Ct);
        await host.WaitUntilAsync(id, s => s.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the start");

        await host.Client.TerminateInstanceAsync(id, "user cancelled", Ct);
        var result = await host.WaitAsync(id);
        await host.Client.RaiseEventAsync(id, "never", "late", Ct);
        await Task.Delay(500, Ct);

        Assert.Equal(OrchestrationRuntimeStatus.Terminated, result.RuntimeStatus);
        Assert.Equal("user cancelled", result.ReadOutputAs<string>());
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, (await host.Client.GetInstanceAsync(id, cancellationToken: Ct))!.RuntimeStatus);
    }

    [Fact]
    public async Task Large_inputs_and_outputs_go_to_blobs_and_purge_removes_every_row_and_blob()
    {
        var big = new string('x', 200_000);
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<string, string>("Echo", (_, s) => Task.FromResult(s + "y"))
            .AddOrchestratorFunc<string, string>("Big", async (ctx, s) =>
            {
                ctx.SetCustomStatus(s);
                return await ctx.CallActivityAsync<string>("Echo", s);
            }));

        var result = await host.RunAsync("Big", big, "big-1");

        Assert.Equal(big + "y", result.ReadOutputAs<string>());
        Assert.Equal(big, result.ReadInputAs<string>());
        var blobs = await host.Hub.Store.Payloads.GetBlobsAsync(prefix: "big-1/", cancellationToken: Ct).ToListAsync(Ct);
        Assert.NotEmpty(blobs);

        Assert.True(await host.Client.PurgeInstanceAsync("big-1", Ct));

        Assert.Null(await host.Client.GetInstanceAsync("big-1", cancellationToken: Ct));
        Assert.Empty(await host.Hub.Store.Instances.QueryAsync<TableEntity>(TableQueryFilter.Create($"PartitionKey eq {"big-1"}"), cancellationToken: Ct).ToListAsync(Ct));
        Assert.Empty(await host.Hub.Store.Payloads.GetBlobsAsync(prefix: "big-1/", cancellationToken: Ct).ToListAsync(Ct));
        Assert.False(await host.Client.PurgeInstanceAsync("big-1", Ct));
    }

    [Fact]
    public async Task A_running_instance_cannot_be_purged()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, int>("Waits", async (ctx, _) => await ctx.WaitForExternalEvent<int>("x")));
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Waits", 0, cancellationToken: Ct);
        await host.WaitUntilAsync(id, s => s.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the start");

        await Assert.ThrowsAsync<InvalidOperationException>(() => host.Client.PurgeInstanceAsync(id, Ct));
    }

    [Fact]
    public async Task Hubs_sharing_one_account_do_not_see_each_other()
    {
        await using var first = await DurableTestHost.StartAsync(azurite, r => r.AddOrchestratorFunc<int, int>("Id", (_, n) => Task.FromResult(n)));
        await using var second = await DurableTestHost.StartAsync(azurite, r => r.AddOrchestratorFunc<int, int>("Id", (_, n) => Task.FromResult(n + 1)));

        var a = await first.RunAsync("Id", 1, "same-id");
        var b = await second.RunAsync("Id", 1, "same-id");
        var listed = await first.Client.QueryInstancesAsync(new OrchestrationQuery(), Ct);

        Assert.Equal(1, a.ReadOutputAs<int>());
        Assert.Equal(2, b.ReadOutputAs<int>());
        Assert.Single(listed.Instances);
        Assert.NotEqual(first.Hub.WorkQueueName, second.Hub.WorkQueueName);
        Assert.NotEqual(first.Hub.InstancesTableName, second.Hub.InstancesTableName);
        Assert.NotEqual(first.Hub.PayloadContainerName, second.Hub.PayloadContainerName);
    }

    [Fact]
    public async Task Instances_are_listed_by_status_and_creation_time_page_by_page()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, int>("Quick", (_, n) => Task.FromResult(n))
            .AddOrchestratorFunc<int, int>("Waits", async (ctx, _) => await ctx.WaitForExternalEvent<int>("x")));
        var from = DateTimeOffset.UtcNow.AddSeconds(-1);
        for (var i = 0; i < 5; i++)
        {
            await host.RunAsync("Quick", i, $"quick-{i}");
        }
        var waiting = await host.Client.ScheduleNewOrchestrationInstanceAsync("Waits", 0, new StartOrchestrationOptions { InstanceId = "waiting-1" }, Ct);
        await host.WaitUntilAsync(waiting, s => s.RuntimeStatus == OrchestrationRuntimeStatus.Running, "the start");

        var completed = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var page = await host.Client.QueryInstancesAsync(new OrchestrationQuery
            {
                Statuses = [OrchestrationRuntimeStatus.Completed], CreatedFrom = from, PageSize = 2, ContinuationToken = token,
            }, Ct);
            completed.AddRange(page.Instances.Select(i => i.InstanceId));
            token = page.ContinuationToken;
            pages++;
        }
        while (token is not null);
        var running = await host.Client.QueryInstancesAsync(new OrchestrationQuery { Statuses = [OrchestrationRuntimeStatus.Running] }, Ct);
        var future = await host.Client.QueryInstancesAsync(new OrchestrationQuery { CreatedFrom = DateTimeOffset.UtcNow.AddMinutes(1) }, Ct);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"quick-{i}"), completed.Order());
        Assert.True(pages >= 3);
        Assert.Equal(["waiting-1"], running.Instances.Select(i => i.InstanceId));
        Assert.Empty(future.Instances);
    }

    [Fact]
    public async Task A_message_that_keeps_failing_goes_to_the_poison_queue_where_an_operator_can_replay_it()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r.AddOrchestratorFunc<int, int>("Id", (_, n) => Task.FromResult(n)),
            o => o with { MaxDeliveryAttempts = 2 });
        await host.Hub.Store.Work.SendMessageAsync(new BinaryData(Encoding.UTF8.GetBytes("{not json")), cancellationToken: Ct);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        IReadOnlyList<PoisonMessage> poisoned;
        while ((poisoned = await host.Client.GetPoisonMessagesAsync(Ct)).Count == 0)
        {
            Assert.True(clock.Elapsed < DurableTestHost.Timeout, "the message never reached the poison queue");
            await Task.Delay(100, Ct);
        }
        await host.StopWorkersAsync();
        var replayed = await host.Client.ReplayPoisonMessagesAsync(Ct);

        Assert.Equal("{not json", poisoned[0].Body);
        Assert.Equal("unreadable", poisoned[0].Kind);
        Assert.Equal(1, replayed);
        Assert.Empty(await host.Client.GetPoisonMessagesAsync(Ct));
        Assert.Single((await host.Hub.Store.Work.PeekMessagesAsync(32, Ct)).Value);
    }

    [Fact]
    public async Task An_activity_whose_worker_dies_on_every_delivery_fails_its_call_after_the_configured_attempts()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddActivityFunc<int, int>("Crashes", (_, n) => Task.FromResult(n))
            .AddOrchestratorFunc<int, string>("Caller", async (ctx, n) =>
            {
                try
                {
                    return (await ctx.CallActivityAsync<int>("Crashes", n)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                catch (TaskFailedException failed)
                {
                    return failed.FailureDetails.ErrorType;
                }
            }));
        await host.StopWorkersAsync();
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync("Caller", 1, cancellationToken: Ct);
        var worker = new DurableWorker(host.Hub, host.Registry);

        // Deliver the start by hand, then the activity's work item as its sixth delivery: the worker died five times.
        var start = (await host.Hub.Store.Work.ReceiveMessagesAsync(1, TimeSpan.FromSeconds(30), Ct)).Value.Single();
        await worker.HandleMessageAsync(start, Ct);
        await host.Hub.Store.Work.DeleteMessageAsync(start.MessageId, start.PopReceipt, Ct);
        var work = (await host.Hub.Store.Work.ReceiveMessagesAsync(1, TimeSpan.FromSeconds(30), Ct)).Value.Single();
        await worker.HandleMessageAsync(work.Body, dequeueCount: 6, Ct);
        await host.Hub.Store.Work.DeleteMessageAsync(work.MessageId, work.PopReceipt, Ct);
        await host.StartWorkerAsync();
        var result = await host.WaitAsync(id);

        Assert.Equal("WorkItemAbandoned", result.ReadOutputAs<string>());
    }
}
