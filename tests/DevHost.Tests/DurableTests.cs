using System.Text.Json;
using DevHost.SampleApp;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace DevHost.Tests;

/// <summary>One dev host on its own task hub for this class; each test uses its own instance ids.</summary>
public sealed class DurableHostFixture : IAsyncLifetime
{
    public FunctionsDevHost Host { get; private set; } = null!;

    public DurableTaskClient Client => Host.DurableClient;

    public async ValueTask InitializeAsync()
    {
        var azurite = AzuriteFixture.Current ?? throw new InvalidOperationException("The Azurite assembly fixture has not started.");
        Host = await FunctionsDevHost.StartAsync(TestHosts.Options(TestHosts.Settings(azurite.ConnectionString),
            "Chain", "SayHello", "FanOut", "Square", "Parent", "Sleeper", "AwaitApproval", "Retrying", "Flaky", "Failing", "Boom", "Counter", "WaitForGo"));
    }

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}

public sealed class DurableTests(DurableHostFixture fixture) : IClassFixture<DurableHostFixture>
{
    private DurableTaskClient Client => fixture.Client;

    private static CancellationToken Timeout()
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TestHosts.Timeout);
        return cts.Token;
    }

    private async Task<OrchestrationMetadata> RunAsync(string name, object? input = null, string? instanceId = null)
    {
        var id = await Client.ScheduleNewOrchestrationInstanceAsync(name, input, new StartOrchestrationOptions(instanceId), Timeout());
        return await Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, Timeout());
    }

    [Fact]
    public async Task Activity_chain_gets_its_typed_input_and_returns_outputs()
    {
        var done = await RunAsync("Chain", new ChainInput(["x", "y", "z"]));

        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.Equal(["Hello x (SayHello)", "Hello y (SayHello)", "Hello z (SayHello)"], done.ReadOutputAs<List<string>>());
        Assert.Equal(["x", "y", "z"], done.ReadInputAs<ChainInput>()!.Names);
    }

    [Fact]
    public async Task Fan_out_fan_in_sums_every_activity()
    {
        var done = await RunAsync("FanOut", 20);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.Equal(Enumerable.Range(1, 20).Sum(i => i * i), done.ReadOutputAs<int>());
    }

    [Fact]
    public async Task Sub_orchestration_result_reaches_the_parent()
    {
        var done = await RunAsync("Parent");

        Assert.Equal("parent got Hello child (SayHello)", done.ReadOutputAs<string>());
    }

    [Fact]
    public async Task Durable_timer_delays_the_orchestration()
    {
        var done = await RunAsync("Sleeper");

        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        // A 2 s timer; the provider may fire it up to 1 s early (visibility in whole seconds).
        var slept = int.Parse(done.ReadOutputAs<string>()!["slept ".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(slept, 1, 10);
        Assert.True(done.LastUpdatedAt - done.CreatedAt >= TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task External_event_is_received_and_custom_status_is_visible()
    {
        var id = await Client.ScheduleNewOrchestrationInstanceAsync("AwaitApproval", new ApprovalInput(60), Timeout());
        await TestHosts.EventuallyAsync(async () => (await Client.GetInstanceAsync(id, Timeout()))?.SerializedCustomStatus == """{"stage":"waiting"}""");

        await Client.RaiseEventAsync(id, "approve", new Approval("ann"), Timeout());

        var done = await Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, Timeout());
        Assert.Equal("approved by ann", done.ReadOutputAs<string>());
        Assert.Equal("approved", done.ReadCustomStatusAs<JsonElement>().GetProperty("stage").GetString());
    }

    [Fact]
    public async Task External_event_wait_times_out()
    {
        var done = await RunAsync("AwaitApproval", new ApprovalInput(1));

        Assert.Equal("timed out", done.ReadOutputAs<string>());
    }

    [Fact]
    public async Task Activity_is_retried_by_its_retry_policy()
    {
        var done = await RunAsync("Retrying");

        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.Equal(3, done.ReadOutputAs<int>());
    }

    [Fact]
    public async Task Activity_failure_fails_the_orchestration_with_failure_details()
    {
        var done = await RunAsync("Failing");

        Assert.Equal(OrchestrationRuntimeStatus.Failed, done.RuntimeStatus);
        Assert.NotNull(done.FailureDetails);
        Assert.Contains("Boom on x.", done.FailureDetails.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Continue_as_new_restarts_with_the_new_input()
    {
        var done = await RunAsync("Counter", 0);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.Equal(3, done.ReadOutputAs<int>());
    }

    [Fact]
    public async Task Terminated_instance_stops_with_status_terminated()
    {
        var id = await Client.ScheduleNewOrchestrationInstanceAsync("WaitForGo", Timeout());
        await Client.WaitForInstanceStartAsync(id, Timeout());

        await Client.TerminateInstanceAsync(id, "enough", Timeout());

        var done = await Client.WaitForInstanceCompletionAsync(id, Timeout());
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, done.RuntimeStatus);
    }

    [Fact]
    public async Task Suspended_instance_waits_until_resumed()
    {
        var id = await Client.ScheduleNewOrchestrationInstanceAsync("WaitForGo", Timeout());
        await Client.WaitForInstanceStartAsync(id, Timeout());

        await Client.SuspendInstanceAsync(id, "hold", Timeout());
        await TestHosts.EventuallyAsync(async () => (await Client.GetInstanceAsync(id, Timeout()))?.RuntimeStatus == OrchestrationRuntimeStatus.Suspended);
        await Client.RaiseEventAsync(id, "go", 21, Timeout());
        await Task.Delay(1_000, Timeout());
        Assert.Equal(OrchestrationRuntimeStatus.Suspended, (await Client.GetInstanceAsync(id, Timeout()))!.RuntimeStatus);

        await Client.ResumeInstanceAsync(id, "go on", Timeout());

        var done = await Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, Timeout());
        Assert.Equal(42, done.ReadOutputAs<int>());
    }

    [Fact]
    public async Task Purged_instance_is_gone()
    {
        var done = await RunAsync("Chain", new ChainInput(["p"]));

        var purged = await Client.PurgeInstanceAsync(done.InstanceId, Timeout());

        Assert.Equal(1, purged.PurgedInstanceCount);
        Assert.Null(await Client.GetInstanceAsync(done.InstanceId, Timeout()));
    }

    [Fact]
    public async Task Start_with_the_id_of_a_running_instance_starts_nothing()
    {
        var id = "idem-" + Guid.NewGuid().ToString("N");
        await Client.ScheduleNewOrchestrationInstanceAsync("WaitForGo", new StartOrchestrationOptions(id), Timeout());
        var first = await Client.WaitForInstanceStartAsync(id, Timeout());

        var again = await Client.ScheduleNewOrchestrationInstanceAsync("WaitForGo", new StartOrchestrationOptions(id), Timeout());

        Assert.Equal(id, again);
        var current = await Client.GetInstanceAsync(id, Timeout());
        Assert.Equal(OrchestrationRuntimeStatus.Running, current!.RuntimeStatus);
        Assert.Equal(first.CreatedAt, current.CreatedAt);
        await Client.RaiseEventAsync(id, "go", 1, Timeout());
        Assert.Equal(2, (await Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, Timeout())).ReadOutputAs<int>());
    }

    [Fact]
    public async Task Query_filters_by_status_and_instance_id_prefix_with_paging()
    {
        var prefix = "q-" + Guid.NewGuid().ToString("N")[..8] + "-";
        for (var i = 0; i < 3; i++)
        {
            await RunAsync("Chain", new ChainInput(["q"]), prefix + i);
        }
        var waiting = await Client.ScheduleNewOrchestrationInstanceAsync("WaitForGo", new StartOrchestrationOptions(prefix + "w"), Timeout());
        await Client.WaitForInstanceStartAsync(waiting, Timeout());

        var completed = await CollectAsync(Client.GetAllInstancesAsync(new OrchestrationQuery
        {
            InstanceIdPrefix = prefix,
            Statuses = [OrchestrationRuntimeStatus.Completed],
            PageSize = 2,
        }).AsPages());
        var running = await CollectAsync(Client.GetAllInstancesAsync(new OrchestrationQuery { InstanceIdPrefix = prefix, Statuses = [OrchestrationRuntimeStatus.Running] }));
        var createdLater = await CollectAsync(Client.GetAllInstancesAsync(new OrchestrationQuery { InstanceIdPrefix = prefix, CreatedFrom = DateTimeOffset.UtcNow.AddMinutes(1) }));

        Assert.Equal(3, completed.Sum(p => p.Values.Count));
        Assert.True(completed.Count >= 2, "page size 2 gives at least two pages for three instances");
        Assert.Equal([prefix + "w"], running.Select(m => m.InstanceId));
        Assert.Empty(createdLater);
        await Client.TerminateInstanceAsync(waiting, cancellation: Timeout());
    }

    private static async Task<List<T>> CollectAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items.WithCancellation(Timeout()))
        {
            list.Add(item);
        }
        return list;
    }
}
