using System.Diagnostics;
using System.Globalization;
using Azure.Core;
using CreditFunctions.AzureStorage;
using CreditFunctions.AzureStorage.Emulator;
using CreditFunctions.Durable;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// The durable runtime's throughput on one storage account, all in one run: a sequential chain of no-op activities,
/// a fan-out/fan-in with one worker process and with two, the storage requests per activity (every request the
/// worker's storage clients send from the start of the instance to its completion, polling included, by method and
/// path kind), and external events to one instance. Each scenario has a hub of its own; workers run with the
/// default options.
/// </summary>
internal static class DurableBenchmark
{
    /// <summary>The scenario name under which this program runs as the second worker process.</summary>
    public const string WorkerScenario = "durable-worker";

    private const int ChainLength = 200;
    private const int FanOutWidth = 5_000;
    private const int EventCount = 1_000;
    private const string Noop = "Noop";
    private const string Chain = "Chain";
    private const string FanOut = "FanOut";
    private const string EventLoop = "EventLoop";
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(5);
    private static long s_activitiesRun;

    public static async Task<int> RunAsync(string[] args)
    {
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync();
        Console.WriteLine($"durable benchmark: chain of {ChainLength}, fan-out of {FanOutWidth:N0}, {EventCount:N0} events; Azurite in memory; default hub options");

        await WarmUpAsync(azurite);
        var chain = await RunInstanceAsync(azurite, "bseq", Chain, ChainLength);
        Console.WriteLine($"sequential: {chain.PerSecond:N0} activities/s ({chain.Seconds:0.00} s), {chain.RequestsPerItem:0.00} storage requests per activity");
        var fan1 = await RunInstanceAsync(azurite, "bfanone", FanOut, FanOutWidth);
        Console.WriteLine($"fan-out, 1 worker: {fan1.PerSecond:N0} activities/s ({fan1.Seconds:0.00} s), {fan1.RequestsPerItem:0.00} storage requests per activity");
        var fan2 = await RunInstanceAsync(azurite, "bfantwo", FanOut, FanOutWidth, secondProcess: true);
        Console.WriteLine($"fan-out, 2 worker processes: {fan2.PerSecond:N0} activities/s ({fan2.Seconds:0.00} s), {fan2.SecondProcessShare:P0} of the activities ran in the second process");
        var events = await RunEventsAsync(azurite);
        Console.WriteLine($"external events: {events.PerSecond:N0} events/s ({events.Seconds:0.00} s), {events.RequestsPerItem:0.00} storage requests per event");

        PrintBreakdown("sequential chain", chain, ChainLength);
        PrintBreakdown("fan-out, 1 worker", fan1, FanOutWidth);
        PrintBreakdown("external events", events, EventCount);
        PrintAgainstTargets(chain, fan1, fan2, events);
        await BenchmarkOutput.WriteAsync("durable",
        [
            ("sequential_activities_per_s", $"sequential chain of {ChainLength} no-op activities (activities/s)", chain.PerSecond),
            ("fanout_activities_per_s_1_worker", $"fan-out/fan-in of {FanOutWidth:N0} no-op activities, 1 worker process (activities/s)", fan1.PerSecond),
            ("fanout_activities_per_s_2_workers", $"fan-out/fan-in of {FanOutWidth:N0} no-op activities, 2 worker processes (activities/s)", fan2.PerSecond),
            ("fanout_second_process_share", "share of the 2-process fan-out's activities run by the second process", fan2.SecondProcessShare),
            ("storage_ops_per_activity", "storage requests per activity, fan-out, 1 worker", fan1.RequestsPerItem),
            ("storage_ops_per_activity_sequential", "storage requests per activity, sequential chain", chain.RequestsPerItem),
            ("events_per_s", $"{EventCount:N0} external events to one instance (events/s)", events.PerSecond),
            ("storage_ops_per_event", "storage requests per event (worker only)", events.RequestsPerItem),
        ]);
        return 0;
    }

    /// <summary>The second worker process: a worker with the benchmark's registry on the hub named in
    /// <paramref name="args"/>. Answers "count" on standard input with the activities it has run, and stops when its
    /// standard input closes.</summary>
    public static async Task<int> RunWorkerProcessAsync(string[] args)
    {
        var connectionString = Environment.GetEnvironmentVariable(BenchmarkWorkerProcess.StorageVariable);
        if (args.Length != 1 || string.IsNullOrEmpty(connectionString))
        {
            await Console.Error.WriteLineAsync($"usage: {BenchmarkWorkerProcess.StorageVariable}=<connection string> ... {WorkerScenario} <hub name>");
            return 2;
        }
        var hub = DurableTaskHub.FromConnectionString(connectionString, new DurableTaskHubOptions { HubName = args[0] });
        await using var worker = new DurableWorker(hub, Registry());
        await worker.StartAsync();
        Console.WriteLine(BenchmarkWorkerProcess.ReadyLine);
        await Task.Run(() =>
        {
            while (Console.In.ReadLine() is { } command)
            {
                if (command == BenchmarkWorkerProcess.CountCommand)
                {
                    Console.WriteLine(Interlocked.Read(ref s_activitiesRun).ToString(CultureInfo.InvariantCulture));
                }
            }
        });
        await worker.StopAsync();
        return 0;
    }

    private static DurableTaskRegistry Registry() => new DurableTaskRegistry()
        .AddActivityFunc<int, int>(Noop, (_, n) =>
        {
            Interlocked.Increment(ref s_activitiesRun);
            return Task.FromResult(n);
        })
        .AddOrchestratorFunc<int, long>(Chain, async (ctx, count) =>
        {
            long sum = 0;
            for (var i = 0; i < count; i++)
            {
                sum += await ctx.CallActivityAsync<int>(Noop, i);
            }
            return sum;
        })
        .AddOrchestratorFunc<int, long>(FanOut, async (ctx, count) =>
        {
            var results = await Task.WhenAll(Enumerable.Range(0, count).Select(i => ctx.CallActivityAsync<int>(Noop, i)));
            return results.Sum(x => (long)x);
        })
        .AddOrchestratorFunc<int, long>(EventLoop, async (ctx, count) =>
        {
            long sum = 0;
            for (var i = 0; i < count; i++)
            {
                sum += await ctx.WaitForExternalEvent<int>("e");
            }
            return sum;
        });

    private sealed record Run(double Seconds, double PerSecond, double RequestsPerItem, Dictionary<string, long> Requests, double SecondProcessShare = 0);

    /// <summary>One instance of <paramref name="orchestrator"/> on <paramref name="items"/> activities, on a hub with a
    /// counted worker in this process (and, when asked, a second worker process). The clock runs from the instance's
    /// creation to its completion as recorded in its row.</summary>
    private static async Task<Run> RunInstanceAsync(AzuriteProcess azurite, string hubPrefix, string orchestrator, int items, bool secondProcess = false)
    {
        var hubName = hubPrefix + Guid.NewGuid().ToString("N")[..8];
        var counter = new StorageRequestCounter(azurite.Connection);
        await using var worker = await StartWorkerAsync(azurite, hubName, counter);
        await using var second = secondProcess ? await BenchmarkWorkerProcess.StartAsync(azurite.ConnectionString, hubName) : null;
        // The client has a hub object of its own, so its start and status reads are not counted as the worker's.
        var client = DurableTaskHub.FromConnectionString(azurite.ConnectionString, new DurableTaskHubOptions { HubName = hubName }).CreateClient();
        if (second is not null)
        {
            // The second process compiles its code paths on a small run first, as this one did in the warm-up.
            await CompleteAsync(client, await client.ScheduleNewOrchestrationInstanceAsync(orchestrator, 500));
        }
        var secondBefore = second is null ? 0 : await second.CountActivitiesAsync();

        counter.Take();
        var id = await client.ScheduleNewOrchestrationInstanceAsync(orchestrator, items);
        var done = await CompleteAsync(client, id);
        var requests = counter.Take();
        var secondRan = second is null ? 0 : await second.CountActivitiesAsync() - secondBefore;
        if (done.RuntimeStatus != OrchestrationRuntimeStatus.Completed || done.ReadOutputAs<long>() != SumBelow(items))
        {
            throw new InvalidOperationException($"{orchestrator} ended {done.RuntimeStatus} with {done.SerializedOutput} ({done.FailureDetails?.ErrorMessage}).");
        }
        var seconds = (done.LastUpdatedAt - done.CreatedAt).TotalSeconds;
        return new Run(seconds, items / seconds, (double)requests.Values.Sum() / items, requests, (double)secondRan / items);
    }

    /// <summary>An instance that waits for <see cref="EventCount"/> events; they are raised 16 at a time, and the clock
    /// runs from the first raise to the instance's completion.</summary>
    private static async Task<Run> RunEventsAsync(AzuriteProcess azurite)
    {
        var hubName = "bevt" + Guid.NewGuid().ToString("N")[..8];
        var counter = new StorageRequestCounter(azurite.Connection);
        await using var worker = await StartWorkerAsync(azurite, hubName, counter);
        var client = DurableTaskHub.FromConnectionString(azurite.ConnectionString, new DurableTaskHubOptions { HubName = hubName }).CreateClient();
        var id = await client.ScheduleNewOrchestrationInstanceAsync(EventLoop, EventCount);
        var clock = Stopwatch.StartNew();
        while ((await client.GetInstanceAsync(id))?.RuntimeStatus != OrchestrationRuntimeStatus.Running)
        {
            if (clock.Elapsed > s_timeout)
            {
                throw new TimeoutException("The event loop did not start.");
            }
            await Task.Delay(10);
        }

        counter.Take();
        var firstRaise = DateTimeOffset.UtcNow;
        await Parallel.ForEachAsync(Enumerable.Range(0, EventCount), new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (i, ct) => await client.RaiseEventAsync(id, "e", i, ct));
        var done = await CompleteAsync(client, id);
        var requests = counter.Take();
        if (done.RuntimeStatus != OrchestrationRuntimeStatus.Completed || done.ReadOutputAs<long>() != SumBelow(EventCount))
        {
            throw new InvalidOperationException($"{EventLoop} ended {done.RuntimeStatus} with {done.SerializedOutput}.");
        }
        var seconds = (done.LastUpdatedAt - firstRaise).TotalSeconds;
        return new Run(seconds, EventCount / seconds, (double)requests.Values.Sum() / EventCount, requests);
    }

    private static long SumBelow(int n) => (long)n * (n - 1) / 2;

    private static async Task<DurableWorker> StartWorkerAsync(AzuriteProcess azurite, string hubName, StorageRequestCounter? counter)
    {
        var storageOptions = new StorageClientOptions();
        if (counter is not null)
        {
            storageOptions.AddPolicy(counter, HttpPipelinePosition.PerCall);
        }
        var hub = DurableTaskHub.FromConnectionString(azurite.ConnectionString, new DurableTaskHubOptions { HubName = hubName }, storageOptions);
        var worker = new DurableWorker(hub, Registry());
        await worker.StartAsync();
        return worker;
    }

    /// <summary>Polls every 20 ms (the client's requests, not counted), so the counts stop soon after completion.</summary>
    private static async Task<OrchestrationMetadata> CompleteAsync(DurableTaskClient client, string instanceId)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var state = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true);
            if (state?.IsCompleted == true)
            {
                return state;
            }
            if (clock.Elapsed > s_timeout)
            {
                throw new TimeoutException($"Instance {instanceId} did not finish within {s_timeout}; it is {state?.RuntimeStatus}.");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>A small chain and fan-out first, so the measured runs do not pay for compiling the code paths.</summary>
    private static async Task WarmUpAsync(AzuriteProcess azurite)
    {
        var hubName = "bwarm" + Guid.NewGuid().ToString("N")[..8];
        await using var worker = await StartWorkerAsync(azurite, hubName, counter: null);
        var client = worker.Hub.CreateClient();
        await CompleteAsync(client, await client.ScheduleNewOrchestrationInstanceAsync(Chain, 20));
        await CompleteAsync(client, await client.ScheduleNewOrchestrationInstanceAsync(FanOut, 500));
    }

    private static void PrintBreakdown(string scenario, Run run, int items)
    {
        Console.WriteLine();
        Console.WriteLine($"| {scenario}: storage request | count | per item |");
        Console.WriteLine("|---|---|---|");
        foreach (var (kind, count) in run.Requests.OrderByDescending(r => r.Value))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {kind} | {count:N0} | {(double)count / items:0.000} |"));
        }
    }

    private static void PrintAgainstTargets(Run chain, Run fan1, Run fan2, Run events)
    {
        Console.WriteLine();
        Console.WriteLine("| metric | measured | target | Durable Functions, Azure Storage provider (published) |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| sequential activities/s | {chain.PerSecond:N0} | ≥ 100 | 5 |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| fan-out activities/s, 1 worker | {fan1.PerSecond:N0} | ≥ 1,000 | 100 (fan-in: 150 responses/s) |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| fan-out activities/s, 2 worker processes | {fan2.PerSecond:N0} | | |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| storage requests per activity, fan-out | {fan1.RequestsPerItem:0.00} | ≤ 3 | |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| storage requests per activity, sequential | {chain.RequestsPerItem:0.00} | | |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| external events/s, one instance | {events.PerSecond:N0} | | 50 |"));
    }
}
