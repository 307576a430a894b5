using System.Globalization;
using DevHost;
using DevHost.Azurite;
using DevHost.SampleApp;
using Microsoft.DurableTask.Client;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// The Durable engine's own costs through the dev host's wiring (host.json's <c>extensions.durableTask</c> mapped onto
/// the Durable Task Framework's Azure Storage provider), with no-op activities of a tiny Functions app
/// (<see cref="BenchFunctions"/> in the dev host's sample app), all in one run on one Azurite: a chain of
/// <see cref="ChainLength"/> activities under the repository's host.json (partitionCount 1, maxQueuePollingInterval
/// 100 ms, extended sessions, 100 concurrent activities) and under the provider's defaults (partitionCount 4, polling
/// up to 30 s, no extended sessions, 10 activities per core), a fan-out/fan-in of <see cref="FanOutWidth"/> with one
/// worker process and with a second dev host process on the same hub, and the storage requests per activity.
/// </summary>
/// <remarks>
/// Each measured instance gets a task hub and a dev host of its own. Warm-up instances run first on that hub, so the
/// worker holds its partition leases and its queue pumps run before the clock starts. The time of an instance is
/// its own record: created → last updated (completion), as the provider wrote them. The waiting client is told of the
/// completion in-process by the provider's <c>InstanceStatusUpdate</c> event and polls only as a fallback (every 5 s;
/// those polls are not counted). Storage requests are the HTTP requests this process sent to Azurite between the start
/// and the completion (polling of idle queues and lease renewals included), counted from .NET's HTTP client metrics.
/// </remarks>
internal static class DurableBenchmark
{
    /// <summary>The scenario under which this program runs as the second worker process.</summary>
    public const string WorkerScenario = "durable-worker";

    private const int ChainLength = 200;
    private const int FanOutWidth = 2_000;
    private static readonly TimeSpan s_fallbackPoll = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(string[] args)
    {
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync(args);
        await using var monitor = AzuriteMonitor.Start(azurite.QueuePort);
        using var requests = new StorageRequestCounter(azurite.BlobPort, azurite.QueuePort, azurite.TablePort);
        using var completions = new InstanceCompletions();
        var root = AzuriteProcess.FindRepositoryRoot() ?? throw new InvalidOperationException("The repository root was not found.");
        var local = Path.Combine(root, "host.json");
        var defaults = Path.Combine(Path.GetTempPath(), $"bench-host-defaults-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(defaults, """{ "version": "2.0" }""");
        var bench = new Bench(azurite, monitor, requests, completions);
        Console.WriteLine($"durable benchmark: chain of {ChainLength}, fan-out of {FanOutWidth:N0} no-op activities; Azurite in memory; {BenchmarkOutput.Machine()}");

        var failures = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            await BenchmarkOutput.SurviveAsync("warmup", failures, ct => bench.WarmUpAsync(local, ct), 0);
            var chain = await BenchmarkOutput.SurviveAsync("chain", failures,
                ct => bench.RunAsync("chain, host.json", local, nameof(BenchFunctions.BenchChain), ChainLength, warmups: 4, ct), Run.Failed);
            var chainDefaults = await BenchmarkOutput.SurviveAsync("chain_defaults", failures,
                ct => bench.RunAsync("chain, provider defaults", defaults, nameof(BenchFunctions.BenchChain), ChainLength, warmups: 32, ct), Run.Failed);
            var fan1 = await BenchmarkOutput.SurviveAsync("fanout_1_worker", failures,
                ct => bench.RunAsync("fan-out, 1 worker", local, nameof(BenchFunctions.BenchFanOut), FanOutWidth, warmups: 4, ct), Run.Failed);
            var fan2 = await BenchmarkOutput.SurviveAsync("fanout_2_workers", failures,
                ct => bench.RunAsync("fan-out, 2 worker processes", local, nameof(BenchFunctions.BenchFanOut), FanOutWidth, warmups: 4, ct, secondProcess: true), Run.Failed);

            PrintBreakdown("chain, host.json", chain, ChainLength);
            PrintBreakdown("chain, provider defaults", chainDefaults, ChainLength);
            PrintBreakdown("fan-out, 1 worker", fan1, FanOutWidth);
            await File.WriteAllTextAsync(Path.Combine(BenchmarkOutput.ResultsFolder(), "durable-azurite.csv"), monitor.Timeline());
            var ratio = chain.PerSecond / chainDefaults.PerSecond;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"\ngoal: chain under host.json ≥ 2× the provider's defaults: {ratio:0.00}× ({(ratio >= 2 ? "met" : "missed")})"));
            await BenchmarkOutput.WriteAsync("durable",
            [
                ("sequential_activities_per_s", $"chain of {ChainLength} no-op activities, host.json settings (activities/s)", chain.PerSecond),
                ("sequential_activities_per_s_defaults", $"the same chain, the provider's default settings (activities/s)", chainDefaults.PerSecond),
                ("sequential_local_vs_defaults", "host.json ÷ defaults, chain (goal ≥ 2)", ratio),
                ("fanout_activities_per_s_1_worker", $"fan-out/fan-in of {FanOutWidth:N0} no-op activities, 1 worker process (activities/s)", fan1.PerSecond),
                ("fanout_activities_per_s_2_workers", $"the same fan-out, 2 worker processes on the hub (activities/s)", fan2.PerSecond),
                ("fanout_second_process_share", "share of the 2-process fan-out's activities run by the second process", fan2.SecondProcessShare),
                ("storage_requests_per_activity_sequential", "storage requests per activity, chain, host.json", chain.RequestsPerActivity),
                ("storage_requests_per_activity_sequential_defaults", "storage requests per activity, chain, defaults", chainDefaults.RequestsPerActivity),
                ("storage_requests_per_activity_fanout", "storage requests per activity, fan-out, 1 worker", fan1.RequestsPerActivity),
                ("partitions_chain", "partitions (control queues) of the host.json hub", chain.Partitions),
                ("partitions_chain_defaults", "partitions (control queues) of the defaults hub", chainDefaults.Partitions),
                ("chain_seconds", "chain, host.json: seconds", chain.Seconds),
                ("chain_defaults_seconds", "chain, defaults: seconds", chainDefaults.Seconds),
                ("fanout_1_worker_seconds", "fan-out, 1 worker: seconds", fan1.Seconds),
                ("fanout_2_workers_seconds", "fan-out, 2 workers: seconds", fan2.Seconds),
                ("azurite_cpu_ms_per_activity_chain", "Azurite CPU per activity, chain host.json (ms)", chain.AzuriteCpuMsPerActivity),
                ("self_cpu_ms_per_activity_chain", "this process's CPU per activity, chain host.json (ms)", chain.SelfCpuMsPerActivity),
                ("azurite_cpu_ms_per_activity_chain_defaults", "Azurite CPU per activity, chain defaults (ms)", chainDefaults.AzuriteCpuMsPerActivity),
                ("self_cpu_ms_per_activity_chain_defaults", "this process's CPU per activity, chain defaults (ms)", chainDefaults.SelfCpuMsPerActivity),
                ("azurite_cpu_ms_per_activity_fanout", "Azurite CPU per activity, fan-out 1 worker (ms)", fan1.AzuriteCpuMsPerActivity),
                ("self_cpu_ms_per_activity_fanout", "this process's CPU per activity, fan-out 1 worker (ms)", fan1.SelfCpuMsPerActivity),
                ("azurite_cpu_share_chain", "Azurite CPU, chain host.json (share of one core)", chain.Azurite?.AzuriteCpuShare ?? double.NaN),
                ("azurite_cpu_share_chain_defaults", "Azurite CPU, chain defaults (share of one core)", chainDefaults.Azurite?.AzuriteCpuShare ?? double.NaN),
                ("azurite_cpu_share_fanout_1_worker", "Azurite CPU, fan-out 1 worker (share of one core)", fan1.Azurite?.AzuriteCpuShare ?? double.NaN),
                ("azurite_cpu_share_fanout_2_workers", "Azurite CPU, fan-out 2 workers (share of one core)", fan2.Azurite?.AzuriteCpuShare ?? double.NaN),
                ("self_cpu_share_fanout_1_worker", "this process's CPU, fan-out 1 worker (share of one core)", fan1.Azurite?.SelfCpuShare ?? double.NaN),
                ("machine_busy_fanout_1_worker", "whole machine busy, fan-out 1 worker (share of all cores)", fan1.Azurite?.MachineBusy ?? double.NaN),
                ("azurite_probe_max_ms", "slowest answer of Azurite to the 1-second probe (ms)", monitor.Between(0, monitor.Now).ProbeMaxMs),
                ("azurite_rss_max_mb", "Azurite's largest resident memory (MB)", monitor.Between(0, monitor.Now).AzuriteRssMaxMb),
            ], new Dictionary<string, string>(failures, StringComparer.Ordinal)
            {
                ["emulator"] = BenchmarkOutput.AzuriteNote(args),
                ["method"] = "each figure from its own instance on its own task hub and dev host (warm-up instances first on that hub); time = the instance's "
                    + "created to last-updated timestamps; storage requests = HTTP requests this process sent to Azurite from the start call to the "
                    + "completion (.NET's System.Net.Http metric http.client.request.duration, one per request on the wire, retries included; the provider's "
                    + "own clients included; idle polling and lease renewals included; the waiting client's fallback polls excluded); host.json = the repository's; defaults = a host.json "
                    + "without durableTask settings (the dev host then maps the Durable extension's defaults)",
            });
            return failures.Count == 0 ? 0 : 1;
        }
        finally
        {
            File.Delete(defaults);
        }
    }

    /// <summary>The second worker process: a dev host with the benchmark functions on the hub named in
    /// <paramref name="args"/>. Answers "count" on standard input with the activities it has run; stops when its
    /// standard input closes.</summary>
    public static async Task<int> RunWorkerAsync(string[] args)
    {
        var storage = Environment.GetEnvironmentVariable(DurableWorkerProcess.StorageVariable);
        if (args.Length != 2 || string.IsNullOrEmpty(storage))
        {
            await Console.Error.WriteLineAsync($"usage: {DurableWorkerProcess.StorageVariable}=<connection string> ... {WorkerScenario} <hub> <host.json>");
            return 2;
        }
        await using var host = await StartHostAsync(storage, args[1], args[0]);
        Console.WriteLine(DurableWorkerProcess.ReadyLine);
        await Task.Run(() =>
        {
            while (Console.In.ReadLine() is { } command)
            {
                if (command == DurableWorkerProcess.CountCommand)
                {
                    Console.WriteLine($"{DurableWorkerProcess.CountCommand}={BenchFunctions.NoopRuns.ToString(CultureInfo.InvariantCulture)}");
                }
            }
        });
        await host.StopAsync();
        return 0;
    }

    internal static Task<FunctionsDevHost> StartHostAsync(string storage, string hostJson, string hub) =>
        FunctionsDevHost.StartAsync(new DevHostOptions
        {
            AppAssembly = typeof(BenchFunctions).Assembly,
            ConfigureAppServices = SampleServices.Add,
            HostJsonPath = hostJson,
            Port = 0,
            FunctionFilter = name => name.StartsWith("Bench", StringComparison.Ordinal),
            Settings = new Dictionary<string, string?>
            {
                ["AzureWebJobsStorage"] = storage,
                ["AzureFunctionsJobHost:extensions:durableTask:hubName"] = hub,
                ["Logging:LogLevel:Default"] = "Warning",
                ["Logging:LogLevel:DevHost.Invocation.FunctionInvoker"] = "Warning",
            },
        });

    private static void PrintBreakdown(string title, Run run, int activities)
    {
        if (run.Requests.Count == 0)
        {
            return;
        }
        Console.WriteLine();
        Console.WriteLine($"| {title}: storage request | count | per activity |");
        Console.WriteLine("|---|---|---|");
        foreach (var (kind, count) in run.Requests.OrderByDescending(r => r.Value))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {StorageRequestCounter.Describe(kind)} | {count:N0} | {(double)count / activities:0.00} |"));
        }
    }

    private sealed record Run(double Seconds, double PerSecond, double RequestsPerActivity, Dictionary<string, long> Requests, double SecondProcessShare,
        AzuriteMonitor.Summary? Azurite)
    {
        public int Partitions { get; init; }

        public double AzuriteCpuMsPerActivity { get; init; } = double.NaN;

        public double SelfCpuMsPerActivity { get; init; } = double.NaN;

        public static Run Failed { get; } = new(double.NaN, double.NaN, double.NaN, [], double.NaN, null);
    }

    private sealed class Bench(AzuriteProcess azurite, AzuriteMonitor monitor, StorageRequestCounter requests, InstanceCompletions completions)
    {
        /// <summary>A small chain and fan-out on a hub of their own: the code paths are compiled before anything is measured.</summary>
        public async Task<int> WarmUpAsync(string hostJson, CancellationToken ct)
        {
            await using var host = await StartHostAsync(azurite.ConnectionString, hostJson, NewHub("bwarm"));
            await CompleteAsync(host.DurableClient, nameof(BenchFunctions.BenchChain), 20, ct);
            await CompleteAsync(host.DurableClient, nameof(BenchFunctions.BenchFanOut), 200, ct);
            requests.Take();
            return 0;
        }

        public async Task<Run> RunAsync(string title, string hostJson, string orchestrator, int items, int warmups, CancellationToken ct,
            bool secondProcess = false)
        {
            var hub = NewHub(orchestrator == nameof(BenchFunctions.BenchChain) ? "bchain" : "bfan");
            await using var host = await StartHostAsync(azurite.ConnectionString, hostJson, hub);
            await using var second = secondProcess ? await DurableWorkerProcess.StartAsync(azurite.ConnectionString, hub, hostJson) : null;
            var client = host.DurableClient;
            // Every partition leased and every queue pump polling before the clock starts (the provider hashes an
            // instance id onto a partition: enough instances reach every one of them).
            await Task.WhenAll(Enumerable.Range(0, warmups).Select(_ => CompleteAsync(client, nameof(BenchFunctions.BenchChain), 1, ct)));
            if (second is not null)
            {
                // The second process compiles its code paths on a small fan-out first, as this one did in the warm-up.
                await CompleteAsync(client, nameof(BenchFunctions.BenchFanOut), 200, ct);
            }
            // What the hub really got from the settings: one control queue per partition.
            var partitions = 0;
            await foreach (var queue in new Azure.Storage.Queues.QueueServiceClient(azurite.ConnectionString).GetQueuesAsync(prefix: hub.ToLowerInvariant() + "-control-", cancellationToken: ct))
            {
                partitions += queue is null ? 0 : 1;
            }
            var secondBefore = second is null ? 0 : await second.CountActivitiesAsync();
            var selfBefore = BenchFunctions.NoopRuns;
            var eventsBefore = completions.EventsSeen;

            requests.Take();
            var from = monitor.Now;
            var cpuFrom = monitor.CpuNow();
            var (done, polls) = await CompleteAsync(client, orchestrator, items, ct);
            var counted = requests.Take();
            var to = monitor.Now;
            var cpuTo = monitor.CpuNow();
            var secondRan = second is null ? 0 : await second.CountActivitiesAsync() - secondBefore;
            var selfRan = BenchFunctions.NoopRuns - selfBefore;
            if (done.RuntimeStatus != OrchestrationRuntimeStatus.Completed || done.ReadOutputAs<long>() != (long)items * (items - 1) / 2)
            {
                throw new InvalidOperationException($"{orchestrator} ended {done.RuntimeStatus} with {done.SerializedOutput} ({done.FailureDetails?.ErrorMessage}).");
            }
            // The fallback polls are the waiting client's, not the engine's: one table query each.
            if (polls > 0 && counted.TryGetValue("table GET", out var queries))
            {
                counted["table GET"] = Math.Max(0, queries - polls);
            }
            var seconds = (done.LastUpdatedAt - done.CreatedAt).TotalSeconds;
            var azuriteSummary = monitor.Between(from, to);
            var share = secondProcess ? (double)secondRan / (secondRan + selfRan) : 0;
            var secondNote = secondProcess ? string.Create(CultureInfo.InvariantCulture, $", {share:P0} of the activities ran in the second process") : string.Empty;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{title}: {items / seconds:N1} activities/s ({seconds:0.00} s), {(double)counted.Values.Sum() / items:0.00} storage requests per activity, {partitions} partition(s){secondNote}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {azuriteSummary}; CPU per activity: Azurite {(cpuTo.AzuriteMs - cpuFrom.AzuriteMs) / items:0.0} ms, this process {(cpuTo.SelfMs - cpuFrom.SelfMs) / items:0.0} ms; "
                + $"{(double)(completions.EventsSeen - eventsBefore) / items:0.0} provider events per activity seen in-process"));
            return new Run(seconds, items / seconds, (double)counted.Values.Sum() / items, counted, share, azuriteSummary) 
            {
                Partitions = partitions,
                AzuriteCpuMsPerActivity = (cpuTo.AzuriteMs - cpuFrom.AzuriteMs) / items,
                SelfCpuMsPerActivity = (cpuTo.SelfMs - cpuFrom.SelfMs) / items,
            };
        }

        /// <summary>Starts an instance and waits for it: told in-process by the provider's event, else by a poll every 5 s.</summary>
        private async Task<(OrchestrationMetadata Done, int Polls)> CompleteAsync(DurableTaskClient client, string orchestrator, int items, CancellationToken ct)
        {
            var id = Guid.NewGuid().ToString("N");
            var finished = completions.WaitAsync(id);
            await client.ScheduleNewOrchestrationInstanceAsync(orchestrator, items, new Microsoft.DurableTask.StartOrchestrationOptions { InstanceId = id }, ct);
            var polls = 0;
            while (!finished.IsCompleted)
            {
                if (await Task.WhenAny(finished, Task.Delay(s_fallbackPoll, ct)) == finished)
                {
                    break;
                }
                ct.ThrowIfCancellationRequested();
                polls++;
                if (await client.GetInstanceAsync(id, ct) is { IsCompleted: true })
                {
                    break;
                }
            }
            completions.Forget(id);
            var done = await client.GetInstanceAsync(id, getInputsAndOutputs: true, CancellationToken.None) ?? throw new InvalidOperationException($"Instance {id} vanished.");
            return (done, polls);
        }
    }

    private static string NewHub(string prefix) => prefix + Guid.NewGuid().ToString("N")[..10];
}
