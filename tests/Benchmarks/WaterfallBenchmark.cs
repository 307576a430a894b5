using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using CreditFunctions.AzureStorage.Emulator;
using CreditFunctions.Durable;
using CreditFunctions.Hosting;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// People through the waterfall, each as its own single-person run (<see cref="WaterfallService.StartAsync"/> with
/// <c>bulk: false</c>, email, the API plan), on the real app (<see cref="CreditFunctionsApp.BuildAsync(string[], CreditFunctionsAppOptions, CancellationToken)"/>:
/// durable runtime, ledger, provider layer over HTTP) against its own Azurite and an in-process sandbox whose three
/// vendors used (leadmine and mailscout finding emails, verifly verifying them) all answer in a fixed 20 ms and never
/// fail. Measures people/s, end-to-end latency (start call → terminal state committed) and the orchestration overhead
/// per provider step: (end-to-end − provider calls × 20 ms) ÷ provider calls. Then the money: one charge line per
/// email found, and the ledger's own verification.
/// </summary>
internal static class WaterfallBenchmark
{
    private const double ProviderLatencyMs = 20;
    private const string User = "ada";
    private static readonly TimeSpan s_personTimeout = TimeSpan.FromMinutes(3);
    private static readonly string[] s_providers = ["leadmine", "mailscout", "verifly"];

    public static async Task<int> RunAsync(string[] args)
    {
        // waterfall [people] [in flight] [--trace] [--work-items=N]
        var numbers = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
        var count = numbers.Count > 0 ? int.Parse(numbers[0], CultureInfo.InvariantCulture) : 2_000;
        var concurrency = numbers.Count > 1 ? int.Parse(numbers[1], CultureInfo.InvariantCulture) : 64;
        var workItems = args.FirstOrDefault(a => a.StartsWith("--work-items=", StringComparison.Ordinal)) is { } w
            ? int.Parse(w["--work-items=".Length..], CultureInfo.InvariantCulture) : (int?)null;
        // Azurite's once-a-minute queue garbage collection is quadratic in the extents (message bodies) deleted since
        // the last sweep and, after a minute of this load, blocks it for minutes; see azurite-queue-gc.cjs.
        var nodeOptions = Environment.GetEnvironmentVariable("NODE_OPTIONS");
        Environment.SetEnvironmentVariable("NODE_OPTIONS",
            $"{nodeOptions} --require \"{Path.Combine(AppContext.BaseDirectory, "azurite-queue-gc.cjs")}\"".Trim());
        AzuriteProcess azuriteProcess;
        try
        {
            azuriteProcess = await BenchmarkOutput.StartAzuriteAsync();
        }
        finally
        {
            Environment.SetEnvironmentVariable("NODE_OPTIONS", nodeOptions);
        }
        await using var azurite = azuriteProcess;

        // Every vendor at a fixed 20 ms, no failures; hit rates and accuracy as shipped (leadmine 0.55, mailscout 0.75).
        var quiet = SandboxConfig.Default.Quiet();
        var sandboxConfig = quiet with
        {
            Vendors = quiet.Vendors.ToDictionary(v => v.Key, v => v.Value with
            {
                Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = ProviderLatencyMs },
            }, StringComparer.Ordinal),
        };
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { Config = sandboxConfig });
        if (sandbox.People.People.Count < count + 600)
        {
            throw new InvalidOperationException($"The sandbox data set has {sandbox.People.People.Count} people; {count + 600} are needed.");
        }

        var providersFile = WriteProvidersFileWithoutRateLimits();
        var signals = new CompletionSignals();
        var storage = new StorageOpCounter();
        var settings = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => (string?)k.Value, StringComparer.Ordinal);
        settings["AzureWebJobsStorage"] = azurite.ConnectionString;
        settings[ProviderCatalog.SandboxUrlSetting] = sandbox.BaseAddress.ToString();
        settings[ProviderCatalog.FileSetting] = providersFile;
        settings["CREDITFUNCTIONS_TEAMS_TABLE"] = "wfbteams";
        settings["CREDITFUNCTIONS_LEDGER_TABLE"] = "wfbledger";
        settings["CREDITFUNCTIONS_DEMO_SEED"] = "false";
        settings["CREDITFUNCTIONS_DURABLE_HUB"] = "wfbhub";
        settings["CREDITFUNCTIONS_ENRICHMENT_TABLE"] = "wfbenrich";
        settings["CREDITFUNCTIONS_SECRETS_KEY"] = Convert.ToBase64String(new byte[32]);
        settings["CREDITFUNCTIONS_LOCALHOST"] = "false";
        settings["CREDITFUNCTIONS_LOCAL_PORT"] = "0";
        settings["Logging:Console:LogLevel:Default"] = "None";

        var app = await CreditFunctionsApp.BuildAsync([], new CreditFunctionsAppOptions
        {
            Settings = settings,
            Console = TextWriter.Null,
            ConfigureServices = services =>
            {
                services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(signals);
                storage.Register(services);
                if (workItems is { } items)
                {
                    // An experiment: the in-process pump's work-item slots (32 by default).
                    services.AddSingleton(sp => new DurableTaskHub(new DurableTaskHubOptions { HubName = "wfbhub", MaxConcurrentWorkItems = items },
                        sp.GetRequiredService<CreditFunctions.AzureStorage.Tables.TableServiceClient>(), sp.GetRequiredService<CreditFunctions.AzureStorage.Queues.QueueServiceClient>(),
                        sp.GetRequiredService<CreditFunctions.AzureStorage.Blobs.BlobServiceClient>()));
                }
            },
        });
        await app.StartAsync();
        try
        {
            var bench = new Bench(app.Services, signals);
            Console.WriteLine($"waterfall benchmark: {count:N0} people, each its own single-person run, {concurrency} in flight; "
                + "email via leadmine → mailscout, verified by verifly (3 providers), each at a fixed 20 ms; Azurite in memory");

            // Warm-up (JIT, connection pools, tables), then one person at a time (no queueing: the floor), then the run.
            var warm = people(sandbox, count + 100, 64);
            var warmRun = await bench.RunPhaseAsync("wfbwarm", warm, 16);
            var soloPeople = people(sandbox, count, 100);
            storage.Reset();
            storage.Tracing = true;
            var solo = await bench.RunPhaseAsync("wfbsolo", soloPeople, 1);
            storage.Tracing = false;
            var soloOps = storage.Snapshot();
            if (args.Contains("--trace"))
            {
                PrintTimeline(storage, solo.Runs[^1]);
            }
            Console.WriteLine($"one in flight ({soloPeople.Count} people): e2e p50 {solo.E2eP50:0.0} ms, overhead per provider step p50 {solo.OverheadP50:0.00} ms");
            storage.Reset();
            storage.Tracing = true;
            var eight = await bench.RunPhaseAsync("wfbeight", people(sandbox, count + 200, 400), 8);
            storage.Tracing = false;
            var eightOps = storage.Snapshot();
            if (args.Contains("--trace"))
            {
                PrintTimeline(storage, eight.Runs[^1]);
            }
            Console.WriteLine($"8 in flight (400 people): {eight.PeoplePerSecond:0.0} people/s, e2e p50 {eight.E2eP50:0.0} ms, overhead per provider step p50 {eight.OverheadP50:0.00} ms");

            sandbox.Vendors.ResetStats();
            app.Services.GetRequiredService<ProviderStatistics>().Reset();
            storage.Reset();
            var main = await bench.RunPhaseAsync("wfbmain", people(sandbox, 0, count), concurrency);
            var ops = storage.Snapshot();
            var vendorCalls = s_providers.ToDictionary(p => p, p => sandbox.Vendors.Stats(p)!.Total, StringComparer.Ordinal);
            var providerStats = app.Services.GetRequiredService<ProviderStatistics>();
            var providerP50 = s_providers.Select(p => providerStats.Snapshot(p)).Where(s => s.LatencyP50Milliseconds is not null)
                .Select(s => (s.Provider, P50: s.LatencyP50Milliseconds!.Value)).ToList();

            Console.WriteLine($"CPU per person: app {main.AppCpuMsPerPerson:0.0} ms, Azurite {main.AzuriteCpuMsPerPerson:0.0} ms (one in flight: {solo.AppCpuMsPerPerson:0.0} / {solo.AzuriteCpuMsPerPerson:0.0} ms)");
            Console.WriteLine($"{concurrency} in flight: {main.PeoplePerSecond:0.0} people/s, e2e p50 {main.E2eP50:0.0} ms / p99 {main.E2eP99:0.0} ms, "
                + $"overhead per provider step p50 {main.OverheadP50:0.00} ms / p99 {main.OverheadP99:0.00} ms");
            Console.WriteLine($"provider calls: {main.ProviderCalls:N0} from results, {vendorCalls.Values.Sum():N0} received by the sandbox "
                + $"({string.Join(", ", vendorCalls.Select(v => $"{v.Key} {v.Value:N0}"))})");
            Console.WriteLine($"provider call latency p50 as the app measured it: {string.Join(", ", providerP50.Select(p => $"{p.Provider} {p.P50:0.0} ms"))}");
            Console.WriteLine($"start call (reads + instance row + start message) p50 {main.StartP50:0.0} ms (one in flight: {solo.StartP50:0.0} ms)");
            Console.WriteLine($"terminal state committed → waiting client has read it, p50 {main.NoticeP50:0.0} ms (one in flight: {solo.NoticeP50:0.0} ms); "
                + $"runs whose worker logged no commit: {main.MissingCommitEvents}");
            PrintStorage($"storage requests, one in flight", soloOps, soloPeople.Count);
            PrintStorage($"storage requests, 8 in flight", eightOps, eight.Runs.Count);
            PrintStorage($"storage requests, {concurrency} in flight", ops, count);
            foreach (var phase in new[] { warmRun, solo, eight, main })
            {
                Console.WriteLine($"{phase.Team}: {phase.Runs.Count} people, {phase.Found} emails found, charges expected {phase.ChargesExpected}, "
                    + $"recorded {phase.ChargesRecorded}, spent {phase.Spent}, ledger verify {(phase.VerifyOk ? "ok" : "PROBLEMS")}, failed runs {phase.FailedRuns}");
            }

            var moneyOk = new[] { warmRun, solo, eight, main }.All(p => p.ChargesExpected == p.ChargesRecorded && p.Spent == p.ChargesExpected && p.VerifyOk && p.FailedRuns == 0);
            var callsOk = main.ProviderCalls == vendorCalls.Values.Sum();
            await BenchmarkOutput.WriteAsync("waterfall",
            [
                ("people", "people (each its own single-person run)", count),
                ("concurrency", "runs in flight", concurrency),
                ("providers", "providers: leadmine, mailscout (email), verifly (verification), 20 ms each", 3),
                ("people_per_s", "people/s", main.PeoplePerSecond),
                ("p50_ms", "end-to-end latency p50 (ms)", main.E2eP50),
                ("p99_ms", "end-to-end latency p99 (ms)", main.E2eP99),
                ("provider_calls_per_person", "provider calls per person (mean)", (double)main.ProviderCalls / count),
                ("overhead_ms_per_step_p50", "overhead per provider step p50 (ms)", main.OverheadP50),
                ("overhead_ms_per_step_p99", "overhead per provider step p99 (ms)", main.OverheadP99),
                ("overhead_ms_per_activity_p50", "overhead per durable activity p50 (ms)", main.OverheadPerActivityP50),
                ("solo_people_per_s", "one in flight: people/s", solo.PeoplePerSecond),
                ("solo_p50_ms", "one in flight: end-to-end p50 (ms)", solo.E2eP50),
                ("solo_overhead_ms_per_step_p50", "one in flight: overhead per provider step p50 (ms)", solo.OverheadP50),
                ("solo_start_p50_ms", "one in flight: start call p50 (ms)", solo.StartP50),
                ("c8_people_per_s", "8 in flight: people/s", eight.PeoplePerSecond),
                ("c8_p50_ms", "8 in flight: end-to-end p50 (ms)", eight.E2eP50),
                ("c8_overhead_ms_per_step_p50", "8 in flight: overhead per provider step p50 (ms)", eight.OverheadP50),
                ("start_p50_ms", "start call p50 (ms)", main.StartP50),
                ("completion_notice_p50_ms", "terminal state committed → waiting client has read it, p50 (ms)", main.NoticeP50),
                ("solo_completion_notice_p50_ms", "one in flight: committed → client has read it, p50 (ms)", solo.NoticeP50),
                ("app_cpu_ms_per_person", "CPU per person: app, sandbox and driver (ms)", main.AppCpuMsPerPerson),
                ("provider_client_p50_ms", "provider call latency p50 as the app measured it (ms)", providerP50.Count == 0 ? 0 : providerP50.Average(p => p.P50)),
                ("azurite_cpu_ms_per_person", "CPU per person: Azurite (ms)", main.AzuriteCpuMsPerPerson),
                ("storage_requests_per_person", "storage requests per person", (double)ops.Sum(o => o.Count) / count),
                ("emails_found", "emails found", main.Found),
                ("charges_expected", "charges expected (emails found)", main.ChargesExpected),
                ("charges_recorded", "charge lines recorded in the ledger", main.ChargesRecorded),
                ("ledger_verify_ok", "ledger verification ok (1 = yes)", main.VerifyOk ? 1 : 0),
                ("failed_runs", "runs not completed", main.FailedRuns),
                ("provider_calls_match_sandbox", "provider calls from results = calls the sandbox received (1 = yes)", callsOk ? 1 : 0),
            ], new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["provider_names"] = "leadmine, mailscout (email, in this order), verifly (verification); each a fixed 20 ms, no failures",
                ["method"] = "each person its own single-person run (bulk: false, api_waterfall_email); end-to-end = start call to "
                    + "WaitForInstanceCompletionAsync returning; steps = provider calls from the result (tried, plus one verification per hit); "
                    + "overhead per step = (end-to-end - steps x 20 ms) / steps",
            });
            return moneyOk && callsOk ? 0 : 1;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            File.Delete(providersFile);
        }

        static List<Person> people(SandboxServer sandbox, int from, int take) => [.. sandbox.People.People.Skip(from).Take(take)];
    }

    private static void PrintStorage(string title, List<StorageOpCounter.Op> ops, int people)
    {
        Console.WriteLine($"{title}: {(double)ops.Sum(o => o.Count) / people:0.0} per person");
        foreach (var op in ops.OrderByDescending(o => o.Count))
        {
            Console.WriteLine($"  {op.Name,-20} {(double)op.Count / people,6:0.00} per person, p50 {op.P50,5:0.0} ms, p99 {op.P99,6:0.0} ms");
        }
    }

    /// <summary>The embedded provider definitions with their rate limits lifted: the sandbox has none, and a token bucket
    /// of 10–20 calls/s would measure the bucket, not the orchestration.</summary>
    private static string WriteProvidersFileWithoutRateLimits()
    {
        using var stream = typeof(ProviderCatalog).Assembly.GetManifestResourceStream("CreditFunctions.Providers.providers.json")
            ?? throw new InvalidOperationException("The embedded providers.json is missing.");
        var document = JsonNode.Parse(stream)!;
        foreach (var provider in document["providers"]!.AsArray())
        {
            provider!["rateLimit"] = new JsonObject { ["permitsPerSecond"] = 0 };
        }
        var path = Path.Combine(Path.GetTempPath(), $"wfbench-providers-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, document.ToJsonString());
        return path;
    }

    private static void PrintTimeline(StorageOpCounter storage, PersonRun run)
    {
        Console.WriteLine($"timeline of one person ({run.ProviderCalls} provider calls, {run.E2eMs:0.0} ms), storage requests by start offset:");
        foreach (var (started, ended, name) in storage.Timeline(run.StartedAt, run.FinishedAt))
        {
            Console.WriteLine($"  {Stopwatch.GetElapsedTime(run.StartedAt, started).TotalMilliseconds,6:0.0} ms  {Stopwatch.GetElapsedTime(started, ended).TotalMilliseconds,5:0.0} ms  {name}");
        }
    }

    private sealed record PersonRun(double E2eMs, double StartMs, int ProviderCalls, int Activities, string Status, decimal Credits)
    {
        public long StartedAt { get; init; }

        public long FinishedAt { get; init; }

        /// <summary>From the terminal state's commit to the waiting client having read it.</summary>
        public double? NoticeMs { get; init; }
    }

    private sealed record Phase(string Team, List<PersonRun> Runs, double Seconds, int FailedRuns, int ChargesExpected, int ChargesRecorded, long Spent, bool VerifyOk)
    {
        public double AppCpuMsPerPerson { get; init; }

        public double AzuriteCpuMsPerPerson { get; init; }

        private List<PersonRun> Done => [.. Runs.Where(r => r.ProviderCalls > 0)];

        public int Found => Runs.Count(r => r.Status == "found");

        public int ProviderCalls => Runs.Sum(r => r.ProviderCalls);

        public double PeoplePerSecond => Runs.Count / Seconds;

        public double E2eP50 => P(Runs.Select(r => r.E2eMs), 50);

        public double E2eP99 => P(Runs.Select(r => r.E2eMs), 99);

        public double StartP50 => P(Runs.Select(r => r.StartMs), 50);

        public double NoticeP50 => P(Runs.Where(r => r.NoticeMs is not null).Select(r => r.NoticeMs!.Value), 50);

        public int MissingCommitEvents => Runs.Count(r => r.NoticeMs is null);

        public double OverheadP50 => P(Done.Select(PerStep), 50);

        public double OverheadP99 => P(Done.Select(PerStep), 99);

        public double OverheadPerActivityP50 => P(Done.Select(r => (r.E2eMs - (r.ProviderCalls * ProviderLatencyMs)) / r.Activities), 50);

        private static double PerStep(PersonRun r) => (r.E2eMs - (r.ProviderCalls * ProviderLatencyMs)) / r.ProviderCalls;

        private static double P(IEnumerable<double> values, double p)
        {
            var sorted = values.ToList();
            sorted.Sort();
            return BenchmarkOutput.Percentile(sorted, p);
        }
    }

    private sealed class Bench(IServiceProvider services, CompletionSignals signals)
    {
        private readonly CpuMeter _cpu = new();
        private readonly WaterfallService _waterfall = services.GetRequiredService<WaterfallService>();
        private readonly DurableTaskClient _durable = services.GetRequiredService<DurableTaskClient>();
        private readonly LedgerService _ledger = services.GetRequiredService<LedgerService>();
        private readonly EnrichmentSettingsStore _settings = services.GetRequiredService<EnrichmentSettingsStore>();

        public async Task<Phase> RunPhaseAsync(string team, List<Person> people, int concurrency)
        {
            await _ledger.GrantAsync(new GrantRequest(team, User, "email", Credits.FromDecimal(people.Count + 1_000), GrantKind.TopUp, "bench-grant"));
            await _settings.UpdateAsync(team, s => s with
            {
                EmailProviders = ["leadmine", "mailscout"], MobileProviders = ["dialbase"], Verifier = "verifly", VerifyEmails = true,
            });
            var runs = new PersonRun?[people.Count];
            var failed = 0;
            var next = -1;
            var cpuBefore = _cpu.Now();
            var watch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < people.Count)
                {
                    runs[i] = await RunPersonAsync(team, people[i], i);
                    if (runs[i] is null)
                    {
                        Interlocked.Increment(ref failed);
                    }
                }
            })));
            watch.Stop();
            var cpuAfter = _cpu.Now();

            var done = runs.Where(r => r is not null).Select(r => r!).ToList();
            var expected = done.Count(r => r.Status == "found" && r.Credits > 0);
            var recorded = 0;
            await foreach (var line in _ledger.StreamUsageAsync(new UsageQuery(team)))
            {
                if (line.Kind == "charge" && line.Action == ChargePlan.ApiWaterfall.EmailAction && line.Credits > Credits.Zero)
                {
                    recorded++;
                }
            }
            var spent = (await _ledger.GetBalancesAsync(team)).Single(b => b.CreditType == "email").Spent;
            var verify = await _ledger.VerifyAsync(team);
            return new Phase(team, done, watch.Elapsed.TotalSeconds, failed, expected, recorded, (long)spent.Value, verify.Ok)
            {
                AppCpuMsPerPerson = (cpuAfter.SelfMs - cpuBefore.SelfMs) / people.Count,
                AzuriteCpuMsPerPerson = (cpuAfter.AzuriteMs - cpuBefore.AzuriteMs) / people.Count,
            };
        }

        private async Task<PersonRun?> RunPersonAsync(string team, Person person, int index)
        {
            var input = new PersonInput
            {
                FirstName = person.FirstName, LastName = person.LastName, CompanyName = person.CompanyName, CompanyDomain = person.CompanyDomain,
                LinkedInUrl = person.LinkedInUrl,
            };
            var started = Stopwatch.GetTimestamp();
            var runId = await _waterfall.StartAsync(team, User, [input], [WaterfallData.Email], ChargePlan.ApiWaterfall, null,
                $"bench-{index}", bulk: false, CancellationToken.None);
            var startReturned = Stopwatch.GetTimestamp();
            var instanceId = WaterfallRun.InstanceIdFor(team, runId);
            OrchestrationMetadata meta;
            using (var limit = new CancellationTokenSource(s_personTimeout))
            {
                try
                {
                    // What a caller of the API sees: the reveal endpoint waits the same way.
                    meta = await _durable.WaitForInstanceCompletionAsync(instanceId, getInputsAndOutputs: true, limit.Token);
                }
                catch (OperationCanceledException)
                {
                    Console.Error.WriteLine($"{instanceId} did not finish within {s_personTimeout}");
                    return null;
                }
            }
            var seen = Stopwatch.GetTimestamp();
            // When the worker committed the terminal state (its "finished" log event): the wait's own delay is seen - committed.
            // A worker whose terminal commit failed on its side (e.g. the answer was lost and the retry found its own
            // write) logs nothing: the instance still finished; such runs have no notice time.
            var commitEvent = signals.WaitAsync(instanceId);
            await Task.WhenAny(commitEvent, Task.Delay(TimeSpan.FromSeconds(5)));
            long? committed = commitEvent.IsCompletedSuccessfully ? commitEvent.Result : null;
            if (meta.RuntimeStatus != OrchestrationRuntimeStatus.Completed || meta.ReadOutputAs<WaterfallOutput>() is not { } output)
            {
                Console.Error.WriteLine($"{instanceId} ended {meta.RuntimeStatus}: {meta.FailureDetails?.ErrorMessage}");
                return null;
            }
            var email = output.People.Single().Email!;
            // Every provider asked is one call; every hit (kept or found invalid) was also verified: one call more.
            var calls = email.Tried.Count + email.Tried.Count(t => t.Outcome is "hit" or "invalid");
            var activities = 1 + email.Tried.Count + email.Tried.Count(t => t.Outcome is "hit" or "invalid") + (email.Status == "not_found" ? 0 : 1);
            return new PersonRun(Stopwatch.GetElapsedTime(started, seen).TotalMilliseconds, Stopwatch.GetElapsedTime(started, startReturned).TotalMilliseconds,
                calls, activities, email.Status, email.Credits)
            {
                StartedAt = started, FinishedAt = seen, NoticeMs = committed is { } at ? Stopwatch.GetElapsedTime(at, seen).TotalMilliseconds : null,
            };
        }
    }
}
