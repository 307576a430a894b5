using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;
using DevHost;
using DevHost.Azurite;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// The waterfall on the real app run by the dev host (HTTP functions, Durable Functions on the Azure Storage provider,
/// the ledger, the provider layer over HTTP) against its own Azurite and an in-process sandbox whose vendors answer in
/// a fixed 20 ms and never fail; email only, found by leadmine then mailscout and verified by verifly; the providers'
/// token-bucket rate limits lifted (the sandbox has none; a bucket of 10–20 calls/s would measure the bucket). All in
/// one run, each part with people and a team of its own (so data a team already owns never makes a later part free):
/// one bulk run of <see cref="BulkPeople"/> through <c>POST /api/v1/enrichment/waterfall</c>; the same work as a plain
/// loop (<see cref="WaterfallEngine.RunAsync"/> on the same chunks, all at once, as the bulk run's activities run them;
/// charges straight through the ledger, no orchestration, no holds); each person its own orchestration (round 1's
/// design, <see cref="InFlight"/> at a time); single reveals through <c>POST /api/v1/people/reveal</c> one at a time and
/// <see cref="InFlight"/> at a time, against the vendors' own time inside them. Then the money: one charge line per
/// email found, and the ledger's verification of every team.
/// </summary>
internal static class WaterfallBenchmark
{
    private const double VendorLatencyMs = 20;
    private const int BulkPeople = 1_000;
    private const int SinglePeople = 1_000;
    private const int InFlight = 64;
    private const int RevealsAlone = 200;
    private const int RevealsInFlight = 1_000;
    private const string User = "ada";
    private static readonly string[] s_emailProviders = ["leadmine", "mailscout"];
    private const string Verifier = "verifly";
    private static readonly TimeSpan s_runTimeout = TimeSpan.FromMinutes(5);

    public static async Task<int> RunAsync(string[] args)
    {
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync(args);
        await using var monitor = AzuriteMonitor.Start(azurite.QueuePort);
        using var requests = new StorageRequestCounter(azurite.BlobPort, azurite.QueuePort, azurite.TablePort);
        using var completions = new InstanceCompletions();

        var quiet = SandboxConfig.Default.Quiet();
        var sandboxConfig = quiet with
        {
            Vendors = quiet.Vendors.ToDictionary(v => v.Key, v => v.Value with
            {
                Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = VendorLatencyMs },
            }, StringComparer.Ordinal),
        };
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { Config = sandboxConfig });
        using var vendors = new VendorTimer(sandbox.BaseAddress.Port);
        var providersFile = WriteProvidersFileWithoutRateLimits();
        var settings = BenchmarkApp.Settings("wfb", azurite.ConnectionString, sandbox.BaseAddress, providersFile);
        var failures = new Dictionary<string, string>(StringComparer.Ordinal);
        var host = await BenchmarkApp.StartAsync(settings);
        try
        {
            using var http = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
            var bench = new Bench(host, http, sandbox, vendors, completions, monitor, requests);
            Console.WriteLine($"waterfall benchmark: email via {string.Join(" → ", s_emailProviders)}, verified by {Verifier}, each a fixed "
                + $"{VendorLatencyMs} ms, no failures, rate limits lifted; Azurite in memory; {BenchmarkOutput.Machine()}");

            // Warm-up (JIT, connection pools, tables, the task hub's partition lease) with people of its own.
            await BenchmarkOutput.SurviveAsync("warmup", failures, async ct =>
            {
                await bench.DirectAsync("wfwarmdirect", bench.Take(100), ct);
                await bench.BulkAsync("wfwarmbulk", bench.Take(100), ct);
                await bench.SingleRunsAsync("wfwarmsingle", bench.Take(50), 16, ct);
                await bench.RevealsAsync("wfwarmreveal", bench.Take(50), 8, ct);
                return 0;
            }, 0);

            var direct = await BenchmarkOutput.SurviveAsync("direct", failures, ct => bench.DirectAsync("wfdirect", bench.Take(BulkPeople), ct), Phase.Failed);
            var bulk = await BenchmarkOutput.SurviveAsync("bulk", failures, ct => bench.BulkAsync("wfbulk", bench.Take(BulkPeople), ct), Phase.Failed);
            var single = await BenchmarkOutput.SurviveAsync("single_runs", failures, ct => bench.SingleRunsAsync("wfsingle", bench.Take(SinglePeople), InFlight, ct), Phase.Failed);
            var alone = await BenchmarkOutput.SurviveAsync("reveal", failures, ct => bench.RevealsAsync("wfreveal", bench.Take(RevealsAlone), 1, ct), Phase.Failed);
            var many = await BenchmarkOutput.SurviveAsync("reveal64", failures, ct => bench.RevealsAsync("wfreveal64", bench.Take(RevealsInFlight), InFlight, ct), Phase.Failed);
            var phases = new[] { direct, bulk, single, alone, many };

            Console.WriteLine();
            foreach (var phase in phases.Where(p => p.Team.Length > 0))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{phase.Team}: {phase.People} people in {phase.Seconds:0.00} s, {phase.Found} emails found, charges expected {phase.ChargesExpected}, recorded {phase.ChargesRecorded}, "
                    + $"ledger problems {phase.VerifyProblems}, unfinished {phase.Unfinished}, {phase.StorageRequestsPerPerson:0.0} storage requests per person, "
                    + $"CPU per person: this process {phase.SelfCpuMsPerPerson:0.0} ms, Azurite {phase.AzuriteCpuMsPerPerson:0.0} ms"));
                Console.WriteLine($"  {phase.Azurite}");
                Console.WriteLine("  storage requests per person: " + string.Join(", ", phase.Requests.OrderByDescending(r => r.Value)
                    .Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Key} {(double)r.Value / phase.People:0.00}"))));
            }
            var statistics = host.Services.GetRequiredService<ProviderStatistics>();
            var providerFailures = s_emailProviders.Append(Verifier).Sum(p => statistics.Snapshot(p).Failures.Values.Sum());
            var expected = phases.Sum(p => p.ChargesExpected);
            var recorded = phases.Sum(p => p.ChargesRecorded);
            var problems = phases.Sum(p => p.VerifyProblems);
            var unfinished = phases.Sum(p => p.Unfinished);
            var goals = new List<(string Goal, double Measured, double Target)>
            {
                ("bulk ≥ 0.67 × direct", bulk.PeoplePerSecond / direct.PeoplePerSecond, 0.67),
                ("bulk ≥ 5 × single runs", bulk.PeoplePerSecond / single.PeoplePerSecond, 5),
                ("reveal p50 ≤ 1.5 × vendor p50", alone.LatencyP50 / alone.VendorP50, 1.5),
            };
            Console.WriteLine();
            foreach (var (goal, measured, target) in goals)
            {
                var met = goal.Contains('≤', StringComparison.Ordinal) ? measured <= target : measured >= target;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"goal {goal}: {measured:0.00} ({(met ? "met" : "missed")})"));
            }
            await File.WriteAllTextAsync(Path.Combine(BenchmarkOutput.ResultsFolder(), "waterfall-azurite.csv"), monitor.Timeline());
            await BenchmarkOutput.WriteAsync("waterfall",
            [
                ("bulk_people_per_s", $"one bulk run of {BulkPeople:N0} through POST /enrichment/waterfall until completed (people/s)", bulk.PeoplePerSecond),
                ("direct_people_per_s", $"the same work as a plain loop of WaterfallEngine.RunAsync, same chunks and concurrency (people/s)", direct.PeoplePerSecond),
                ("single_runs_people_per_s", $"each person its own orchestration, {InFlight} in flight, {SinglePeople:N0} people (people/s)", single.PeoplePerSecond),
                ("bulk_vs_direct", "bulk ÷ direct (goal ≥ 0.67)", bulk.PeoplePerSecond / direct.PeoplePerSecond),
                ("bulk_vs_single_runs", "bulk ÷ single runs (goal ≥ 5)", bulk.PeoplePerSecond / single.PeoplePerSecond),
                ("bulk_orchestration_seconds", "bulk: the orchestration's own created → completed (s)", bulk.InstanceSeconds),
                ("bulk_start_ms", "bulk: the POST (validation, hold, start) (ms)", bulk.StartMs),
                ("single_runs_p50_ms", "single runs: start → output read, p50 (ms)", single.LatencyP50),
                ("reveal_p50_ms", $"reveal, one at a time ({RevealsAlone}), p50 (ms)", alone.LatencyP50),
                ("reveal_p99_ms", "reveal, one at a time, p99 (ms)", alone.LatencyP99),
                ("vendor_p50_ms", "the sandbox's own time inside a reveal, one at a time, p50 (ms)", alone.VendorP50),
                ("vendor_p99_ms", "the sandbox's own time inside a reveal, one at a time, p99 (ms)", alone.VendorP99),
                ("reveal_vs_vendor_p50", "reveal p50 ÷ vendor p50 (goal ≤ 1.5)", alone.LatencyP50 / alone.VendorP50),
                ("reveal_overhead_p50_ms", "reveal minus its vendor time, p50 (ms)", alone.OverheadP50),
                ("reveal64_p50_ms", $"reveal, {InFlight} in flight ({RevealsInFlight:N0}), p50 (ms)", many.LatencyP50),
                ("reveal64_p99_ms", $"reveal, {InFlight} in flight, p99 (ms)", many.LatencyP99),
                ("vendor64_p50_ms", $"the sandbox's own time inside a reveal, {InFlight} in flight, p50 (ms)", many.VendorP50),
                ("vendor64_p99_ms", $"the sandbox's own time inside a reveal, {InFlight} in flight, p99 (ms)", many.VendorP99),
                ("reveal64_people_per_s", $"reveals, {InFlight} in flight (people/s)", many.PeoplePerSecond),
                ("vendor_calls_per_reveal", "sandbox calls per reveal (mean, one at a time)", alone.VendorCallsPerPerson),
                ("storage_requests_per_person_bulk", "storage requests per person, bulk", bulk.StorageRequestsPerPerson),
                ("storage_requests_per_person_direct", "storage requests per person, direct", direct.StorageRequestsPerPerson),
                ("storage_requests_per_person_single_runs", "storage requests per person, single runs", single.StorageRequestsPerPerson),
                ("storage_requests_per_reveal", "storage requests per reveal, one at a time", alone.StorageRequestsPerPerson),
                ("self_cpu_ms_per_person_bulk", "CPU per person, this process (app, dev host, sandbox, driver), bulk (ms)", bulk.SelfCpuMsPerPerson),
                ("self_cpu_ms_per_person_direct", "CPU per person, this process, direct (ms)", direct.SelfCpuMsPerPerson),
                ("self_cpu_ms_per_person_single_runs", "CPU per person, this process, single runs (ms)", single.SelfCpuMsPerPerson),
                ("azurite_cpu_ms_per_person_bulk", "CPU per person, Azurite, bulk (ms)", bulk.AzuriteCpuMsPerPerson),
                ("azurite_cpu_ms_per_person_direct", "CPU per person, Azurite, direct (ms)", direct.AzuriteCpuMsPerPerson),
                ("azurite_cpu_ms_per_person_single_runs", "CPU per person, Azurite, single runs (ms)", single.AzuriteCpuMsPerPerson),
                ("machine_busy_bulk", "whole machine busy during bulk (share of all cores)", bulk.Azurite?.MachineBusy ?? double.NaN),
                ("machine_busy_direct", "whole machine busy during direct (share of all cores)", direct.Azurite?.MachineBusy ?? double.NaN),
                ("machine_busy_single_runs", "whole machine busy during single runs (share of all cores)", single.Azurite?.MachineBusy ?? double.NaN),
                ("emails_found", "emails found (all parts)", phases.Sum(p => p.Found)),
                ("charges_expected", "charges expected (emails found and charged, all parts)", expected),
                ("charges_recorded", "charge lines recorded in the ledger (all parts)", recorded),
                ("ledger_problems", "ledger verification problems (all teams)", problems),
                ("unfinished", "people whose run or reveal did not finish", unfinished),
                ("provider_failures", "provider calls that failed (timeouts and the like)", providerFailures),
                ("azurite_probe_max_ms", "slowest answer of Azurite to the 1-second probe (ms)", monitor.Between(0, monitor.Now).ProbeMaxMs),
            ], new Dictionary<string, string>(failures, StringComparer.Ordinal)
            {
                ["emulator"] = BenchmarkOutput.AzuriteNote(args),
                ["provider_names"] = "leadmine, mailscout (email, in this order), verifly (verification); each a fixed 20 ms, no failures, rate limits lifted",
                ["method"] = "bulk: POST to the first poll (every 100 ms) that sees it completed; direct: the bulk run's chunks of 50 through "
                    + "WaterfallEngine.RunAsync all at once (each 32 people at a time, as the chunk activities run), no holds; single runs: the Waterfall "
                    + "orchestrator started through the dev host's DurableTaskClient with a 1-person run (no hold), the waiting client told in-process by the "
                    + "provider's InstanceStatusUpdate event, then its output read once; reveals: client-side time of the POST; vendor time: the sandbox "
                    + "server's own time (ASP.NET Core hosting diagnostics) of the requests under the reveal's W3C trace id",
            });
            var moneyOk = expected == recorded && problems == 0 && unfinished == 0;
            return failures.Count == 0 && moneyOk ? 0 : 1;
        }
        finally
        {
            await host.StopAsync();
            File.Delete(providersFile);
        }
    }

    /// <summary>The embedded provider definitions with their rate limits lifted (0 = no token bucket).</summary>
    internal static string WriteProvidersFileWithoutRateLimits()
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

    private sealed record Phase(string Team, int People, double Seconds, int Found, int ChargesExpected, int ChargesRecorded, int VerifyProblems, int Unfinished)
    {
        public static Phase Failed { get; } = new(string.Empty, 0, double.NaN, 0, 0, 0, 0, 0);

        public double PeoplePerSecond => People / Seconds;

        public double LatencyP50 { get; init; } = double.NaN;
        public double LatencyP99 { get; init; } = double.NaN;
        public double VendorP50 { get; init; } = double.NaN;
        public double VendorP99 { get; init; } = double.NaN;
        public double OverheadP50 { get; init; } = double.NaN;
        public double VendorCallsPerPerson { get; init; } = double.NaN;
        public double InstanceSeconds { get; init; } = double.NaN;
        public double StartMs { get; init; } = double.NaN;
        public double StorageRequestsPerPerson { get; init; } = double.NaN;
        public double SelfCpuMsPerPerson { get; init; } = double.NaN;
        public double AzuriteCpuMsPerPerson { get; init; } = double.NaN;
        public AzuriteMonitor.Summary? Azurite { get; init; }
        public IReadOnlyDictionary<string, long> Requests { get; init; } = new Dictionary<string, long>();
    }

    private sealed class Bench(FunctionsDevHost host, HttpClient http, SandboxServer sandbox, VendorTimer vendors, InstanceCompletions completions,
        AzuriteMonitor monitor, StorageRequestCounter requests)
    {
        private readonly IServiceProvider _services = host.Services;
        private readonly JsonSerializerOptions _json = new(JsonSerializerDefaults.Web);
        private int _nextPerson;

        /// <summary>The next <paramref name="count"/> people of the sandbox's data set, never handed out before.</summary>
        public List<PersonInput> Take(int count)
        {
            var people = sandbox.People.People.Skip(_nextPerson).Take(count).Select(p => new PersonInput
            {
                FirstName = p.FirstName, LastName = p.LastName, CompanyName = p.CompanyName, CompanyDomain = p.CompanyDomain, LinkedInUrl = p.LinkedInUrl,
            }).ToList();
            _nextPerson += count;
            return people.Count == count ? people : throw new InvalidOperationException($"The sandbox data set has only {sandbox.People.People.Count} people.");
        }

        /// <summary>The work of a bulk run done by a plain loop: the run's chunks through the engine all at once.</summary>
        public async Task<Phase> DirectAsync(string name, List<PersonInput> people, CancellationToken ct)
        {
            var (team, _) = await NewTeamAsync(name, people.Count);
            var engine = _services.GetRequiredService<WaterfallEngine>();
            var persons = people.Select((p, i) => new WaterfallPerson(i, WaterfallPerson.IdFor(p), p.Normalize())).ToList();
            var runId = Guid.NewGuid().ToString("N");
            var run = Run(team, runId, []);
            var mark = Mark();
            var chunks = await Task.WhenAll(persons.Chunk(WaterfallFunctions.ChunkSize)
                .Select(chunk => engine.RunAsync(run, chunk, $"direct:{runId}", ct)));
            var phase = await EndAsync(mark, team, people.Count, chunks.SelectMany(c => c).Select(r => r.Email).ToList(), unfinished: 0);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: direct loop, {phase.PeoplePerSecond:N1} people/s"));
            return phase;
        }

        /// <summary>One bulk run through the API, polled every 100 ms until it is completed.</summary>
        public async Task<Phase> BulkAsync(string name, List<PersonInput> people, CancellationToken ct)
        {
            var (team, key) = await NewTeamAsync(name, people.Count);
            var mark = Mark();
            using var start = Request(HttpMethod.Post, "api/v1/enrichment/waterfall", key, new { people, data = new[] { WaterfallData.Email } });
            using var started = await http.SendAsync(start, ct);
            var startMs = Stopwatch.GetElapsedTime(mark.Started).TotalMilliseconds;
            if (started.StatusCode != HttpStatusCode.Accepted || started.Headers.Location is not { } status)
            {
                throw new InvalidOperationException($"The bulk run did not start: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync(ct)}");
            }
            JsonElement state;
            while (true)
            {
                using var poll = Request(HttpMethod.Get, status.ToString(), key, null);
                using var answer = await http.SendAsync(poll, ct);
                state = JsonDocument.Parse(await answer.Content.ReadAsStringAsync(ct)).RootElement.Clone();
                if (state.GetProperty("status").GetString() is "completed" or "failed" or "terminated")
                {
                    break;
                }
                if (Stopwatch.GetElapsedTime(mark.Started) > s_runTimeout)
                {
                    throw new TimeoutException($"The bulk run did not finish within {s_runTimeout}: {state}");
                }
                await Task.Delay(100, ct);
            }
            if (state.GetProperty("status").GetString() != "completed")
            {
                throw new InvalidOperationException($"The bulk run ended {state.GetProperty("status")}: {state.GetProperty("error")}");
            }
            var results = state.GetProperty("people").EnumerateArray().Select(p => p.GetProperty("email").Deserialize<DataResult>(_json)).ToList();
            var phase = await EndAsync(mark, team, people.Count, results, unfinished: 0) with
            {
                StartMs = startMs,
                InstanceSeconds = (state.GetProperty("lastUpdatedAt").GetDateTimeOffset() - state.GetProperty("createdAt").GetDateTimeOffset()).TotalSeconds,
            };
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: bulk run, {phase.PeoplePerSecond:N1} people/s (POST {startMs:N0} ms, orchestration {phase.InstanceSeconds:0.00} s)"));
            return phase;
        }

        /// <summary>Each person its own orchestration of the <c>Waterfall</c> orchestrator, <paramref name="inFlight"/> at a time.</summary>
        public async Task<Phase> SingleRunsAsync(string name, List<PersonInput> people, int inFlight, CancellationToken ct)
        {
            var (team, _) = await NewTeamAsync(name, people.Count);
            var durable = host.DurableClient;
            var results = new DataResult?[people.Count];
            var latencies = new double[people.Count];
            var mark = Mark();
            await ForEachAsync(people.Count, inFlight, async i =>
            {
                var person = people[i];
                var runId = Guid.NewGuid().ToString("N");
                var instanceId = WaterfallRun.InstanceIdFor(team, runId);
                var run = Run(team, runId, [new WaterfallPerson(0, WaterfallPerson.IdFor(person), person.Normalize())]);
                var finished = completions.WaitAsync(instanceId);
                var started = Stopwatch.GetTimestamp();
                await durable.ScheduleNewOrchestrationInstanceAsync(WaterfallFunctions.OrchestratorName, run, new StartOrchestrationOptions { InstanceId = instanceId }, ct);
                if (await Task.WhenAny(finished, Task.Delay(s_runTimeout, ct)) != finished)
                {
                    Console.WriteLine($"{instanceId} did not finish within {s_runTimeout}");
                    return;
                }
                completions.Forget(instanceId);
                var done = await durable.GetInstanceAsync(instanceId, getInputsAndOutputs: true, ct);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (done?.RuntimeStatus == OrchestrationRuntimeStatus.Completed && done.ReadOutputAs<WaterfallOutput>() is { } output)
                {
                    results[i] = output.People.Single().Email;
                }
                else
                {
                    Console.WriteLine($"{instanceId} ended {done?.RuntimeStatus}: {done?.FailureDetails?.ErrorMessage}");
                }
            }, ct);
            var phase = await EndAsync(mark, team, people.Count, results, results.Count(r => r is null)) with
            {
                LatencyP50 = BenchmarkOutput.Percentile([.. latencies.Where(l => l > 0).Order()], 50),
                LatencyP99 = BenchmarkOutput.Percentile([.. latencies.Where(l => l > 0).Order()], 99),
            };
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: single runs, {inFlight} in flight, {phase.PeoplePerSecond:N1} people/s, p50 {phase.LatencyP50:N0} ms"));
            return phase;
        }

        /// <summary>Single reveals through the API, <paramref name="inFlight"/> at a time, each with its vendor time.</summary>
        public async Task<Phase> RevealsAsync(string name, List<PersonInput> people, int inFlight, CancellationToken ct)
        {
            var (team, key) = await NewTeamAsync(name, people.Count);
            var results = new DataResult?[people.Count];
            var latencies = new double[people.Count];
            var vendorMs = new double[people.Count];
            var vendorCalls = new int[people.Count];
            var startedAt = new double[people.Count];
            vendors.Clear();
            var mark = Mark();
            await ForEachAsync(people.Count, inFlight, async i =>
            {
                using var activity = new Activity("bench.reveal");
                activity.SetIdFormat(ActivityIdFormat.W3C);
                activity.Start();
                using var request = Request(HttpMethod.Post, "api/v1/people/reveal", key, new { person = people[i], data = new[] { WaterfallData.Email } });
                var started = Stopwatch.GetTimestamp();
                startedAt[i] = Stopwatch.GetElapsedTime(mark.Started, started).TotalSeconds;
                using var response = await http.SendAsync(request, ct);
                var body = await response.Content.ReadAsStringAsync(ct);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                activity.Stop();
                (vendorMs[i], vendorCalls[i]) = vendors.Take(activity.TraceId);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    results[i] = JsonDocument.Parse(body).RootElement.GetProperty("email").Deserialize<DataResult>(_json);
                }
                else
                {
                    Console.WriteLine($"reveal {i}: {(int)response.StatusCode} {body}");
                }
            }, ct);
            var sorted = latencies.Order().ToList();
            var vendorSorted = vendorMs.Order().ToList();
            var phase = await EndAsync(mark, team, people.Count, results, results.Count(r => r is null)) with
            {
                LatencyP50 = BenchmarkOutput.Percentile(sorted, 50),
                LatencyP99 = BenchmarkOutput.Percentile(sorted, 99),
                VendorP50 = BenchmarkOutput.Percentile(vendorSorted, 50),
                VendorP99 = BenchmarkOutput.Percentile(vendorSorted, 99),
                OverheadP50 = BenchmarkOutput.Percentile([.. latencies.Select((l, i) => l - vendorMs[i]).Order()], 50),
                VendorCallsPerPerson = vendorCalls.Average(),
            };
            if (vendorCalls.Sum() == 0)
            {
                throw new InvalidOperationException("No sandbox request carried a reveal's trace id: the vendor time was not measured.");
            }
            var slowest = latencies.Select((l, i) => (Ms: l, At: startedAt[i])).OrderByDescending(r => r.Ms).Take(5);
            Console.WriteLine("  slowest: " + string.Join(", ", slowest.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Ms:N0} ms (sent at +{r.At:0.00} s)"))));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: reveals, {inFlight} in flight: p50 {phase.LatencyP50:0.0} ms / p99 {phase.LatencyP99:0.0} ms; vendor time p50 {phase.VendorP50:0.0} ms / p99 {phase.VendorP99:0.0} ms "
                + $"({phase.VendorCallsPerPerson:0.00} calls per reveal); overhead p50 {phase.OverheadP50:0.0} ms"));
            return phase;
        }

        private static WaterfallRun Run(string team, string runId, IReadOnlyList<WaterfallPerson> people) => new()
        {
            RunId = runId, TeamId = team, UserId = User, Data = [WaterfallData.Email], People = people, Plan = ChargePlan.ApiWaterfall,
            EmailProviders = s_emailProviders, MobileProviders = [], Verifier = Verifier, VerifyEmails = true,
        };

        private sealed record PhaseMark(long Started, double MonitorAt, (double AzuriteMs, double SelfMs) Cpu);

        private PhaseMark Mark()
        {
            requests.Take();
            return new PhaseMark(Stopwatch.GetTimestamp(), monitor.Now, monitor.CpuNow());
        }

        /// <summary>Stops the clock, then counts what the ledger recorded for the team against what the results say was charged.</summary>
        private async Task<Phase> EndAsync(PhaseMark mark, string team, int people, IReadOnlyList<DataResult?> results, int unfinished)
        {
            var seconds = Stopwatch.GetElapsedTime(mark.Started).TotalSeconds;
            var cpu = monitor.CpuNow();
            var counted = requests.Take();
            var storage = counted.Values.Sum();
            var azurite = monitor.Between(mark.MonitorAt, monitor.Now);
            var ledger = _services.GetRequiredService<LedgerService>();
            var recorded = 0;
            await foreach (var line in ledger.StreamUsageAsync(new UsageQuery(team)))
            {
                if (line.Kind == "charge" && line.Credits > Credits.Zero)
                {
                    recorded++;
                }
            }
            var verify = await ledger.VerifyAsync(team);
            return new Phase(team, people, seconds, results.Count(r => r?.Status is "found"), results.Count(r => r?.Status is "found" && r.Credits > 0), recorded,
                verify.Problems.Count, unfinished)
            {
                StorageRequestsPerPerson = (double)storage / people,
                SelfCpuMsPerPerson = (cpu.SelfMs - mark.Cpu.SelfMs) / people,
                AzuriteCpuMsPerPerson = (cpu.AzuriteMs - mark.Cpu.AzuriteMs) / people,
                Azurite = azurite,
                Requests = counted,
            };
        }

        /// <summary>A team of its own with an admin key, the benchmark's providers and enough email credits.</summary>
        private async Task<(string Team, string Key)> NewTeamAsync(string name, int people)
        {
            var created = await _services.GetRequiredService<TeamStore>().CreateAsync(name, User, "benchmark");
            if (created.AdminKey is not { } key)
            {
                throw new InvalidOperationException($"Team {name} was not created: {created.Status}.");
            }
            await _services.GetRequiredService<EnrichmentSettingsStore>().UpdateAsync(name, s => s with
            {
                EmailProviders = s_emailProviders, MobileProviders = [], Verifier = Verifier, VerifyEmails = true,
            });
            var granted = await _services.GetRequiredService<LedgerService>().GrantAsync(new GrantRequest(name, User, "email",
                Credits.FromDecimal(people * 2 + 100), GrantKind.TopUp, "bench-grant"));
            if (granted.Status != LedgerStatus.Granted)
            {
                throw new InvalidOperationException($"Team {name} got no credits: {granted.Status}.");
            }
            return (name, key.Key);
        }

        private HttpRequestMessage Request(HttpMethod method, string path, string key, object? body)
        {
            var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body, options: _json) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return request;
        }

        private static Task ForEachAsync(int count, int inFlight, Func<int, Task> body, CancellationToken ct)
        {
            var next = -1;
            return Task.WhenAll(Enumerable.Range(0, inFlight).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count && !ct.IsCancellationRequested)
                {
                    await body(i);
                }
            })));
        }
    }
}
