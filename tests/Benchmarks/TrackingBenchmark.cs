using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Tracking;
using CreditFunctions.Waterfall;
using DevHost;
using DevHost.Azurite;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// Contact tracking on the real app run by the dev host, against its own Azurite and an in-process sandbox whose job
/// vendor answers every bulk request in a fixed 5 ms, knows everyone and never fails (rate limits lifted). One run: a
/// small team (<see cref="SmallContacts"/>) and a large one (<c>--contacts</c>, default <see cref="LargeContacts"/>)
/// track their contacts through the API in requests of 10,000; each team's scan runs with the sandbox clock moved to
/// <see cref="ClockAt"/> (about a sixth of the people changed jobs by then); the same look-ups are then made by a plain
/// loop at the scan's concurrency (no orchestration, no writes). The scan orchestration's history is sampled while it
/// runs: the most events one execution (generation) held.
/// </summary>
internal static class TrackingBenchmark
{
    private const int SmallContacts = 10_000;
    private const int LargeContacts = 20_000;
    private const int PerRequest = 10_000;
    private static readonly DateOnly ClockAt = new(2027, 3, 1);
    private static readonly JsonSerializerOptions s_web = new(JsonSerializerDefaults.Web);

    public static async Task<int> RunAsync(string[] args)
    {
        var large = args.SkipWhile(a => a != "--contacts").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(LargeContacts);
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync(args);
        // What bounds the scan: the storage requests it sends per contact and the emulator's CPU they cost.
        using var requests = new StorageRequestCounter(azurite.BlobPort, azurite.QueuePort, azurite.TablePort);
        await using var monitor = AzuriteMonitor.Start(azurite.QueuePort);
        var quiet = SandboxConfig.Default.Quiet();
        var sandboxConfig = quiet with
        {
            People = SmallContacts + large,
            Vendors = quiet.Vendors.ToDictionary(v => v.Key, v => v.Key == TrackingScanner.Provider
                ? v.Value with { HitRate = 1, Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = 5 } }
                : v.Value, StringComparer.Ordinal),
        };
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { Config = sandboxConfig });
        sandbox.Vendors.Clock.Fixed = ClockAt.ToDateTime(new TimeOnly(12, 0), DateTimeKind.Utc);
        var settings = BenchmarkApp.Settings("tr", azurite.ConnectionString, sandbox.BaseAddress, WriteProvidersFileWithoutRateLimits());
        const string hub = "trhub";
        var host = await BenchmarkApp.StartAsync(settings);
        try
        {
            Console.WriteLine($"tracking benchmark: {SmallContacts:N0} and {large:N0} contacts; job vendor a fixed 5 ms per bulk request of 100, no failures, rate limits lifted; sandbox clock {ClockAt:yyyy-MM-dd}; Azurite in memory; {BenchmarkOutput.Machine()}");
            var ledger = host.Services.GetRequiredService<LedgerService>();
            var teams = host.Services.GetRequiredService<TeamStore>();
            var history = new TableServiceClient(azurite.ConnectionString).GetTableClient(hub + "History");
            var people = sandbox.People.People;

            async Task<(TimeSpan Track, TimeSpan Scan, int HistoryMax, ScanTotals Totals, int Expected, double RequestsPerContact, double AzuriteMsPerContact)> RunTeamAsync(
                string team, IReadOnlyList<Person> tracked)
            {
                var created = await teams.CreateAsync(team, "ada", "bench", CancellationToken.None);
                await ledger.GrantAsync(new GrantRequest(team, "ops", "tracking", Credits.FromDecimal(tracked.Count), GrantKind.TopUp, "bench-t-" + team));
                await ledger.GrantAsync(new GrantRequest(team, "ops", "email", Credits.FromDecimal(tracked.Count), GrantKind.TopUp, "bench-e-" + team));
                using var http = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromMinutes(10) };
                http.DefaultRequestHeaders.Authorization = new("Bearer", created.AdminKey!.Key);
                var clock = Stopwatch.StartNew();
                foreach (var batch in tracked.Chunk(PerRequest))
                {
                    using var response = await http.PostAsJsonAsync("/api/v1/tracking/contacts",
                        new { contacts = batch.Select(p => new { person = new { firstName = p.FirstName, lastName = p.LastName, companyDomain = p.CompanyDomain, linkedInUrl = p.LinkedInUrl } }) });
                    response.EnsureSuccessStatusCode();
                }
                var track = clock.Elapsed;
                Console.WriteLine($"  {team}: tracked {tracked.Count:N0} in {track.TotalSeconds:0.0} s");

                clock.Restart();
                requests.Take();
                var cpuBefore = monitor.CpuNow();
                (await http.PostAsJsonAsync("/api/v1/tracking/scans", new { })).EnsureSuccessStatusCode();
                var instance = TrackingScans.InstanceId(team, DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                var day = instance[(instance.LastIndexOf(':') + 1)..];
                var historyMax = 0;
                JsonElement state;
                while (true)
                {
                    historyMax = Math.Max(historyMax, await HistoryEventsAsync(history, instance));
                    state = await http.GetFromJsonAsync<JsonElement>($"/api/v1/tracking/scans/{day}");
                    if (state.GetProperty("status").GetString() is "completed" or "failed" or "terminated")
                    {
                        break;
                    }
                    if (clock.Elapsed > BenchmarkOutput.StallLimit)
                    {
                        throw new TimeoutException($"the scan of {team} did not finish: {state}");
                    }
                    await Task.Delay(500);
                }
                var scan = clock.Elapsed;
                var scanRequests = requests.Take();
                var azuriteMs = monitor.CpuNow().AzuriteMs - cpuBefore.AzuriteMs;
                Console.WriteLine($"  {team}: storage requests per contact scanned: " + string.Join(", ", scanRequests.OrderByDescending(c => c.Value)
                    .Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {(double)c.Value / tracked.Count:0.00}")))
                    + string.Create(CultureInfo.InvariantCulture, $"; the emulator's CPU {azuriteMs / tracked.Count:0.00} ms per contact ({azuriteMs / 1000 / scan.TotalSeconds:0.00} cores)"));
                historyMax = Math.Max(historyMax, await HistoryEventsAsync(history, instance));
                var totals = state.GetProperty("totals").Deserialize<ScanTotals>(s_web)!;
                var expected = tracked.Count(p => JobHistories.Of(sandbox.People, p)[1].Since <= ClockAt);
                Console.WriteLine($"  {team}: scanned in {scan.TotalSeconds:0.0} s: {totals}; history at most {historyMax} events per generation");
                return (track, scan, historyMax, totals, expected, (double)scanRequests.Values.Sum() / tracked.Count, azuriteMs / tracked.Count);
            }

            var small = await RunTeamAsync("trsmall", people.Take(SmallContacts).ToList());
            var largePeople = people.Skip(SmallContacts).Take(large).ToList();
            var big = await RunTeamAsync("trlarge", largePeople);
            var charged = 0;
            await foreach (var line in ledger.StreamUsageAsync(new UsageQuery("trlarge") { Feature = "job_change", From = DateTimeOffset.UtcNow.AddDays(-1) }))
            {
                charged += line.Credits.Value > 0 ? 1 : 0;
            }

            // The same look-ups by a plain loop: bulk requests of 100 at the scan's concurrency, no orchestration, no writes.
            var providers = host.Services.GetRequiredService<ProviderCaller>();
            var vendorClock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(largePeople.Chunk(TrackingScanner.BulkSize), new ParallelOptions { MaxDegreeOfParallelism = TrackingScanner.RequestsInFlightMax },
                async (batch, ct) =>
                {
                    var body = new JsonObject
                    {
                        ["people"] = new JsonArray([.. batch.Select((p, i) => (JsonNode)new JsonObject
                        {
                            ["ref"] = i.ToString(CultureInfo.InvariantCulture), ["linkedin_url"] = p.LinkedInUrl, ["first_name"] = p.FirstName,
                            ["last_name"] = p.LastName, ["company_domain"] = p.CompanyDomain,
                        })]),
                    };
                    await providers.PostBulkAsync(TrackingScanner.Provider, ProviderCapabilities.Job, body, null, ct);
                });
            var vendorOnly = largePeople.Count / vendorClock.Elapsed.TotalSeconds;
            var scanPerSecond = largePeople.Count / big.Scan.TotalSeconds;
            var verified = (await ledger.VerifyAsync("trlarge")).Ok;

            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"goal scan_contacts_per_s ≥ 0.5 × vendor_only_contacts_per_s: {scanPerSecond / vendorOnly:0.00} ({(scanPerSecond >= 0.5 * vendorOnly ? "met" : "missed")})"));
            Console.WriteLine($"changes expected {big.Expected}, charged {charged}; history {small.HistoryMax} events ({SmallContacts:N0}) vs {big.HistoryMax} ({large:N0}); ledger verify {(verified ? "ok" : "FAILED")}");
            await BenchmarkOutput.WriteAsync("tracking",
            [
                ("contacts", "contacts tracked by the large team", largePeople.Count),
                ("track_contacts_per_s", $"bulk track through the API, requests of {PerRequest:N0} (per s)", largePeople.Count / big.Track.TotalSeconds),
                ("scan_contacts_per_s", "full scan through the orchestration, until complete (per s)", scanPerSecond),
                ("vendor_only_contacts_per_s", $"the same look-ups by a plain loop, {TrackingScanner.RequestsInFlightMax} bulk requests at once (per s)", vendorOnly),
                ("scan_vs_vendor_only", "scan ÷ vendor only (goal ≥ 0.5)", scanPerSecond / vendorOnly),
                ("changes_expected", "job changes expected (first change on or before the sandbox clock)", big.Expected),
                ("changes_found", "job changes the scan found", big.Totals.Changes),
                ("changes_charged", "job changes charged (ledger lines with credits)", charged),
                ("history_events_10k", $"largest history of one scan generation, {SmallContacts:N0} contacts (events)", small.HistoryMax),
                ($"history_events_{large / 1000}k", $"largest history of one scan generation, {large:N0} contacts (events)", big.HistoryMax),
                ("small_scan_contacts_per_s", $"full scan of {SmallContacts:N0} contacts (per s)", SmallContacts / small.Scan.TotalSeconds),
                ("ledger_verified", "ledger verify of the large team (1 = ok)", verified ? 1 : 0),
                ("scan_storage_requests_per_contact", "storage requests the scan sent per contact, large team", big.RequestsPerContact),
                ("scan_azurite_cpu_ms_per_contact", "the emulator's CPU per contact scanned, large team (ms)", big.AzuriteMsPerContact),
            ]);
            return 0;
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    /// <summary>The most history rows one execution of the instance holds now (a generation's history; <c>ContinueAsNew</c>
    /// starts a new execution).</summary>
    private static async Task<int> HistoryEventsAsync(TableClient history, string instanceId)
    {
        var perExecution = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            await foreach (var row in history.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {instanceId}"), select: ["ExecutionId"]))
            {
                var execution = row.GetString("ExecutionId") ?? string.Empty;
                perExecution[execution] = perExecution.GetValueOrDefault(execution) + 1;
            }
        }
        catch (Azure.RequestFailedException ex) when (ex.Status == 404)
        {
            return 0;
        }
        return perExecution.Count == 0 ? 0 : perExecution.Values.Max();
    }

    private static string WriteProvidersFileWithoutRateLimits()
    {
        using var stream = typeof(ProviderCatalog).Assembly.GetManifestResourceStream("CreditFunctions.Providers.providers.json")
            ?? throw new InvalidOperationException("The embedded providers.json is missing.");
        var document = JsonNode.Parse(stream)!;
        foreach (var provider in document["providers"]!.AsArray())
        {
            provider!["rateLimit"] = new JsonObject { ["permitsPerSecond"] = 0 };
        }
        var path = Path.Combine(Path.GetTempPath(), $"trbench-providers-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, document.ToJsonString());
        return path;
    }
}
