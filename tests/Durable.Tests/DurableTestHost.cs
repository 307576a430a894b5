using CreditFunctions.TestSupport;

namespace CreditFunctions.Durable.Tests;

/// <summary>A hub of its own on the shared Azurite, with one in-process worker (more on demand) and a client.</summary>
internal sealed class DurableTestHost : IAsyncDisposable
{
    private readonly List<DurableWorker> _workers = [];

    private DurableTestHost(DurableTaskHub hub, DurableTaskRegistry registry)
    {
        Hub = hub;
        Registry = registry;
        Client = hub.CreateClient();
    }

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(60);

    public DurableTaskHub Hub { get; }

    public DurableTaskRegistry Registry { get; }

    public DurableTaskClient Client { get; }

    public static DurableTaskHubOptions FastOptions(string hubName) => new()
    {
        HubName = hubName,
        LeaseDuration = TimeSpan.FromSeconds(3),
        WorkItemVisibilityTimeout = TimeSpan.FromSeconds(5),
        MaxPollingInterval = TimeSpan.FromMilliseconds(200),
    };

    public static async Task<DurableTestHost> StartAsync(AzuriteFixture azurite, Action<DurableTaskRegistry> register, Func<DurableTaskHubOptions, DurableTaskHubOptions>? configure = null)
    {
        var options = FastOptions(AzuriteFixture.NewName("h"));
        options = configure?.Invoke(options) ?? options;
        var registry = new DurableTaskRegistry();
        register(registry);
        var host = new DurableTestHost(DurableTaskHub.FromConnectionString(azurite.ConnectionString, options), registry);
        await host.StartWorkerAsync();
        return host;
    }

    public async Task<DurableWorker> StartWorkerAsync()
    {
        var worker = new DurableWorker(Hub, Registry);
        await worker.StartAsync(Ct);
        _workers.Add(worker);
        return worker;
    }

    public async Task StopWorkersAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }
        _workers.Clear();
    }

    public async Task<OrchestrationMetadata> RunAsync(string name, object? input = null, string? instanceId = null)
    {
        var id = await Client.ScheduleNewOrchestrationInstanceAsync(name, input, new StartOrchestrationOptions { InstanceId = instanceId }, Ct);
        return await WaitAsync(id);
    }

    public async Task<OrchestrationMetadata> WaitAsync(string instanceId)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(Timeout);
        try
        {
            return await Client.WaitForInstanceCompletionAsync(instanceId, true, timeout.Token);
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            var state = await Client.GetInstanceAsync(instanceId, true, Ct);
            Assert.Fail($"Instance {instanceId} did not finish within {Timeout.TotalSeconds} s; it is {state?.RuntimeStatus} with status {state?.SerializedCustomStatus}.");
            throw;
        }
    }

    public async Task<OrchestrationMetadata> WaitUntilAsync(string instanceId, Func<OrchestrationMetadata, bool> condition, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var state = await Client.GetInstanceAsync(instanceId, true, Ct);
            if (state is not null && condition(state))
            {
                return state;
            }
            if (clock.Elapsed > Timeout)
            {
                Assert.Fail($"Timed out waiting for {what}; instance is {state?.RuntimeStatus}.");
            }
            await Task.Delay(50, Ct);
        }
    }

    public async ValueTask DisposeAsync() => await StopWorkersAsync();
}
