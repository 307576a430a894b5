using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CreditFunctions.Auth;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;
using DevHost.Azurite;
using SandboxProviders;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// The soak: the local run's executable (the app on the dev host, in a process of its own so that its memory is its
/// own) under <see cref="Clients"/> concurrent clients for <c>--minutes</c> (10 by default) of mixed work — reveals
/// (people drawn from a pool, so repeats are owned and free), generic charges (some repeated with their key, a few
/// reusing a key with another body), holds placed then captured or voided, and reads of usage, balances and holds —
/// on four teams, one of them kept short of credits so that 402 happens for real. After a warm-up (<c>--warmup-minutes</c>,
/// 1 by default) the app's
/// resident memory is sampled every 5 s. Reported: requests/s, answers by status (only 2xx and the documented 402, 409
/// and 503 are allowed), latency percentiles, resident memory at the start, the end and its peak (goal: growth ≤ 10 %),
/// and the ledger's verification of every team.
/// </summary>
internal static class SoakBenchmark
{
    private const int Clients = 32;
    private const int Teams = 4;
    private const int PeoplePool = 4_000;
    private const double VendorLatencyMs = 20;
    private static readonly HashSet<int> s_documented = [402, 409, 503];

    public static async Task<int> RunAsync(string[] args)
    {
        var minutes = args.SkipWhile(a => a != "--minutes").Skip(1).Select(a => double.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(10);
        var warmup = args.SkipWhile(a => a != "--warmup-minutes").Skip(1).Select(a => TimeSpan.FromMinutes(double.Parse(a, CultureInfo.InvariantCulture)))
            .FirstOrDefault(TimeSpan.FromMinutes(1));
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync(args);
        await using var monitor = AzuriteMonitor.Start(azurite.QueuePort);
        var quiet = SandboxConfig.Default.Quiet();
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            Config = quiet with
            {
                Vendors = quiet.Vendors.ToDictionary(v => v.Key, v => v.Value with
                {
                    Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = VendorLatencyMs },
                }, StringComparer.Ordinal),
            },
        });
        var root = AzuriteProcess.FindRepositoryRoot() ?? throw new InvalidOperationException("The repository root was not found.");
        var localRun = Path.Combine(root, "functions", "LocalRun", "bin", "Release", "net10.0", "CreditFunctions.LocalRun.dll");
        if (!File.Exists(localRun))
        {
            throw new FileNotFoundException("The local run's executable is built with the benchmarks (Release).", localRun);
        }
        var settings = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => k.Value, StringComparer.Ordinal);
        settings["AzureWebJobsStorage"] = azurite.ConnectionString;
        settings[ProviderCatalog.SandboxUrlSetting] = sandbox.BaseAddress.ToString();
        settings[ProviderCatalog.FileSetting] = WaterfallBenchmark.WriteProvidersFileWithoutRateLimits();
        settings[AuthOptions.TableSetting] = "soakteams";
        settings["CREDITFUNCTIONS_LEDGER_TABLE"] = "soakledger";
        settings[WaterfallSetup.TableSetting] = "soakenrich";
        settings[AuthOptions.DemoSeedSetting] = "false";
        settings[SecretProtector.KeySetting] = Convert.ToBase64String(new byte[32]);
        settings["AzureFunctionsJobHost__extensions__durableTask__hubName"] = "soakhub";
        settings["AzureWebJobs.plan-grants.Disabled"] = "true";
        settings["Logging__LogLevel__Default"] = "Warning";

        // Teams, keys and an operator key through the operator commands, as an operator would.
        var keys = new List<(string Team, string Key)>();
        for (var t = 0; t < Teams; t++)
        {
            var team = $"soak{t}";
            keys.Add((team, await CommandAsync(localRun, settings, "teams", "create", "--team", team, "--admin", "ada")));
            for (var m = 0; keys.Count(k => k.Team == team) < Clients / Teams; m++)
            {
                keys.Add((team, await CommandAsync(localRun, settings, "keys", "create", "--team", team, "--user", $"member{m}", "--role", "member")));
            }
        }
        var operatorKey = await CommandAsync(localRun, settings, "operators", "create", "--name", "soak");

        var port = FreePort();
        using var app = StartApp(localRun, settings, port);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Clients * 2 })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(20),
        };
        await WaitHealthyAsync(http, app);
        for (var t = 0; t < Teams; t++)
        {
            // The last team gets a small balance: it runs short and is refused with 402 for real.
            var email = t == Teams - 1 ? 300m : 5_000_000m;
            foreach (var (type, amount) in new[] { ("email", email), ("phone", 1_000m), ("ai_research", 1_000_000m) })
            {
                using var grant = await SendAsync(http, HttpMethod.Post, "/api/v1/credits/grants", operatorKey,
                    new { teamId = $"soak{t}", creditType = type, amount, kind = "top_up" }, Guid.NewGuid().ToString("N"));
                if (grant.StatusCode != HttpStatusCode.OK && grant.StatusCode != HttpStatusCode.Created)
                {
                    throw new InvalidOperationException($"grant for soak{t} answered {(int)grant.StatusCode}: {await grant.Content.ReadAsStringAsync()}");
                }
            }
        }

        Console.WriteLine($"soak: {Clients} clients on {Teams} teams for {minutes:0.#} min after a {warmup.TotalMinutes:0} min warm-up; "
            + $"vendors a fixed {VendorLatencyMs} ms; {BenchmarkOutput.Machine()}");
        var people = sandbox.People.People.Take(PeoplePool).Select(p => new
        {
            firstName = p.FirstName, lastName = p.LastName, companyName = p.CompanyName, companyDomain = p.CompanyDomain,
        }).ToArray();
        var stats = new SoakStats();
        using var stop = new CancellationTokenSource();
        var measuring = false;
        var clients = Enumerable.Range(0, Clients).Select(i => Task.Run(() => ClientAsync(http, keys[i].Key, i, people, stats, () => measuring, stop.Token))).ToArray();

        await Task.Delay(warmup);
        var memory = new List<(double Seconds, long RssBytes)>();
        var clock = Stopwatch.StartNew();
        var measuredFrom = monitor.Now;
        measuring = true;
        var startRss = Rss(app);
        var startCpu = app.TotalProcessorTime;
        var self = Process.GetCurrentProcess();
        var selfStartCpu = self.TotalProcessorTime;
        memory.Add((0, startRss));
        while (clock.Elapsed < TimeSpan.FromMinutes(minutes))
        {
            await Task.Delay(TimeSpan.FromSeconds(5));
            memory.Add((clock.Elapsed.TotalSeconds, Rss(app)));
            if (app.HasExited)
            {
                break;
            }
        }
        measuring = false;
        var seconds = clock.Elapsed.TotalSeconds;
        var storage = monitor.Between(measuredFrom, monitor.Now);
        var endRss = Rss(app);
        app.Refresh();
        var appCpu = (app.TotalProcessorTime - startCpu).TotalSeconds;
        self.Refresh();
        var driverCpu = (self.TotalProcessorTime - selfStartCpu).TotalSeconds;
        await stop.CancelAsync();
        await Task.WhenAll(clients);
        // A cancelled request may still be running on the server (a reveal waiting on its vendors): let it finish.
        await Task.Delay(TimeSpan.FromSeconds(5));

        var verifyProblems = 0;
        foreach (var team in keys.Select(k => k.Team).Distinct())
        {
            using var verify = await SendAsync(http, HttpMethod.Get, "/api/v1/credits/verify", keys.First(k => k.Team == team).Key, null, null);
            var report = await verify.Content.ReadFromJsonAsync<JsonElement>();
            var problems = report.TryGetProperty("problems", out var list) ? list.GetArrayLength() : 1;
            verifyProblems += problems;
            Console.WriteLine($"verify {team}: {(report.TryGetProperty("ok", out var ok) && ok.GetBoolean() ? "ok" : "PROBLEMS " + report)}");
        }
        app.Kill(entireProcessTree: true);
        await app.WaitForExitAsync();

        var total = stats.Total;
        var undocumented = stats.ByStatus.Where(s => s.Key is < 200 or >= 300 && !s_documented.Contains(s.Key)).Sum(s => s.Value);
        var growth = (double)(endRss - startRss) / startRss;
        var peak = memory.Max(m => m.RssBytes);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{total:N0} requests in {seconds:0} s: {total / seconds:0.0} requests/s; app CPU {appCpu / seconds:0.00} cores, driver and sandbox CPU {driverCpu / seconds:0.00} cores"));
        foreach (var (status, count) in stats.ByStatus.OrderBy(s => s.Key))
        {
            Console.WriteLine($"  status {status switch { 0 => "transport error", -1 => "client timeout", _ => status.ToString(CultureInfo.InvariantCulture) }}: {count:N0}");
        }
        foreach (var (kind, latencies) in stats.Latencies.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            var sorted = latencies.ToArray().Order().ToArray();
            var statuses = string.Join(", ", stats.ByKindAndStatus.Where(s => s.Key.Kind == kind).OrderBy(s => s.Key.Status).Select(s => $"{s.Key.Status}: {s.Value:N0}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {kind}: {sorted.Length:N0} ({statuses}), p50 {BenchmarkOutput.Percentile(sorted, 50):0.0} ms, p99 {BenchmarkOutput.Percentile(sorted, 99):0.0} ms, "
                + $"p99.9 {BenchmarkOutput.Percentile(sorted, 99.9):0} ms, max {sorted[^1]:0} ms, mean {sorted.Average():0.0} ms"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"app resident memory: start {startRss / 1048576.0:0} MB, end {endRss / 1048576.0:0} MB ({growth:+0.0%;-0.0%}), peak {peak / 1048576.0:0} MB"));
        Console.WriteLine($"  {storage}");
        Console.WriteLine($"goal memory growth ≤ 10 %: {(growth <= 0.10 ? "met" : "missed")}; undocumented statuses: {undocumented}; ledger problems: {verifyProblems}");
        await File.WriteAllTextAsync(Path.Combine(BenchmarkOutput.ResultsFolder(), "soak-memory.csv"),
            "seconds,rss_mb\n" + string.Concat(memory.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Seconds:0},{m.RssBytes / 1048576.0:0.0}\n"))));

        var values = new List<(string, string, double)>
        {
            ("minutes", "measured minutes (after the warm-up)", seconds / 60),
            ("requests_per_s", $"requests per second, {Clients} clients", total / seconds),
            ("requests", "requests answered while measured", total),
            ("undocumented_statuses", "answers other than 2xx, 402, 409, 503 (transport errors included)", undocumented),
            ("rss_start_mb", "the app's resident memory after the warm-up (MB)", startRss / 1048576.0),
            ("rss_end_mb", "the app's resident memory at the end (MB)", endRss / 1048576.0),
            ("rss_peak_mb", "the app's highest resident memory sampled (MB)", peak / 1048576.0),
            ("rss_growth", "end ÷ start − 1 (goal ≤ 0.10)", growth),
            ("app_cpu_cores", "the app process's CPU while measured (cores)", appCpu / seconds),
            ("azurite_cpu_cores", "Azurite's CPU while measured (cores)", storage.AzuriteCpuShare),
            ("machine_busy", "the whole machine busy while measured (share of all cores)", storage.MachineBusy),
            ("driver_cpu_cores", "this process's CPU (the 32 clients and the sandbox vendors) while measured (cores)", driverCpu / seconds),
            ("ledger_problems", "ledger verification problems (all teams)", verifyProblems),
        };
        foreach (var (status, count) in stats.ByStatus.OrderBy(s => s.Key))
        {
            values.Add((status < 0 ? "client_timeouts" : $"status_{status}", status switch { 0 => "transport errors", -1 => "no answer within the client's 20 s timeout", _ => $"answers with status {status}" }, count));
        }
        foreach (var (kind, latencies) in stats.Latencies.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            var sorted = latencies.ToArray().Order().ToArray();
            values.Add(($"{kind}_count", $"{kind} requests", sorted.Length));
            values.Add(($"{kind}_p50_ms", $"{kind} p50 (ms)", BenchmarkOutput.Percentile(sorted, 50)));
            values.Add(($"{kind}_p99_ms", $"{kind} p99 (ms)", BenchmarkOutput.Percentile(sorted, 99)));
            values.Add(($"{kind}_max_ms", $"{kind} slowest (ms)", sorted[^1]));
            values.Add(($"{kind}_mean_ms", $"{kind} mean (ms)", sorted.Average()));
        }
        await BenchmarkOutput.WriteAsync("soak", values, new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["emulator"] = BenchmarkOutput.AzuriteNote(args),
            ["method"] = $"the local run's executable (Release) as a child process; {Clients} clients, each a loop of: 30 % reveal (email, a person of a pool "
                + $"of {PeoplePool:N0}), 25 % generic charge (CSV email validation or person research; 10 % repeat their key and body, 3 % reuse a key with "
                + "another body), 15 % hold then capture or void, 30 % reads (usage, balances, holds); resident memory (VmRSS) every 5 s after a "
                + $"{warmup.TotalMinutes:0}-minute warm-up",
        });
        return undocumented == 0 && verifyProblems == 0 && growth <= 0.10 ? 0 : 1;
    }

    private static async Task ClientAsync(HttpClient http, string key, int seed, object[] people, SoakStats stats, Func<bool> measuring, CancellationToken ct)
    {
        var random = new Random(seed);
        string? lastKey = null;
        object? lastBody = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var roll = random.Next(100);
                if (roll < 30)
                {
                    var person = people[random.Next(people.Length)];
                    await TimedAsync("reveal", () => SendAsync(http, HttpMethod.Post, "/api/v1/people/reveal", key, new { person, data = new[] { "email" } },
                        Guid.NewGuid().ToString("N"), ct));
                }
                else if (roll < 55)
                {
                    string idempotencyKey;
                    object body;
                    var repeat = random.Next(100);
                    if (lastKey is not null && repeat < 10)
                    {
                        (idempotencyKey, body) = (lastKey, lastBody!);
                    }
                    else if (lastKey is not null && repeat < 13)
                    {
                        (idempotencyKey, body) = (lastKey, new { feature = "ai_research", action = "person_research", description = "another body" });
                    }
                    else
                    {
                        idempotencyKey = Guid.NewGuid().ToString("N");
                        body = random.Next(2) == 0
                            ? new { feature = "enrichment", action = "csv_validate", description = $"soak {seed}" }
                            : new { feature = "ai_research", action = "person_research", description = $"soak {seed}" };
                        (lastKey, lastBody) = (idempotencyKey, body);
                    }
                    await TimedAsync("charge", () => SendAsync(http, HttpMethod.Post, "/api/v1/credits/charges", key, body, idempotencyKey, ct));
                }
                else if (roll < 70)
                {
                    var placed = await TimedAsync("hold", () => SendAsync(http, HttpMethod.Post, "/api/v1/credits/holds", key,
                        new { feature = "enrichment", action = "csv_enrich", amount = 5, expiresAt = DateTimeOffset.UtcNow.AddMinutes(30) },
                        Guid.NewGuid().ToString("N"), ct));
                    if (placed is { } hold && hold.TryGetProperty("holdId", out var id))
                    {
                        var path = $"/api/v1/credits/holds/{id.GetString()}/" + (random.Next(2) == 0 ? "capture" : "void");
                        await TimedAsync("settle", () => SendAsync(http, HttpMethod.Post, path, key, path.EndsWith("capture", StringComparison.Ordinal)
                            ? new { amount = 2 } : new { }, Guid.NewGuid().ToString("N"), ct));
                    }
                }
                else
                {
                    var read = random.Next(10);
                    var path = read < 5 ? "/api/v1/credits/usage?limit=50" : read < 8 ? "/api/v1/credits/balances" : "/api/v1/credits/holds?limit=50";
                    await TimedAsync("read", () => SendAsync(http, HttpMethod.Get, path, key, null, null, ct));
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
        }

        async Task<JsonElement?> TimedAsync(string kind, Func<Task<HttpResponseMessage>> send)
        {
            var clock = Stopwatch.StartNew();
            HttpResponseMessage? response = null;
            try
            {
                response = await send();
                var body = await response.Content.ReadAsByteArrayAsync(ct);
                if (measuring())
                {
                    stats.Record(kind, (int)response.StatusCode, clock.Elapsed.TotalMilliseconds);
                }
                return response.IsSuccessStatusCode && body.Length > 0 && body[0] == (byte)'{' ? JsonDocument.Parse(body).RootElement.Clone() : null;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                // 0: the connection failed; -1: no answer within the client's timeout. Both count as undocumented.
                if (measuring())
                {
                    stats.Record(kind, ex is TaskCanceledException ? -1 : 0, clock.Elapsed.TotalMilliseconds);
                }
                return null;
            }
            finally
            {
                response?.Dispose();
            }
        }
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string key, object? body, string? idempotencyKey,
        CancellationToken ct = default)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        return http.SendAsync(request, ct);
    }

    /// <summary>Runs an operator command of the local run's executable; the key it prints is its last line.</summary>
    private static async Task<string> CommandAsync(string localRun, IReadOnlyDictionary<string, string> settings, params string[] command)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(localRun);
        foreach (var part in command)
        {
            start.ArgumentList.Add(part);
        }
        foreach (var (name, value) in settings)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0
            ? output.TrimEnd().Split('\n')[^1].Trim()
            : throw new InvalidOperationException($"{string.Join(' ', command)} exited {process.ExitCode}: {error}{output}");
    }

    private static Process StartApp(string localRun, IReadOnlyDictionary<string, string> settings, int port)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(localRun);
        start.ArgumentList.Add("--port");
        start.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, value) in settings)
        {
            start.Environment[name] = value;
        }
        var process = Process.Start(start)!;
        var log = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 })
            {
                Console.Error.WriteLine("app: " + e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitHealthyAsync(HttpClient http, Process app)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (app.HasExited)
            {
                throw new InvalidOperationException($"the app exited with {app.ExitCode} before it was healthy");
            }
            try
            {
                using var health = await http.GetAsync("/api/health");
                if (health.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (clock.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new TimeoutException("the app was not healthy within 2 minutes");
            }
            await Task.Delay(250);
        }
    }

    /// <summary>The process's resident set (VmRSS), which is what the machine gives it.</summary>
    private static long Rss(Process process)
    {
        var status = $"/proc/{process.Id}/status";
        if (!File.Exists(status))
        {
            process.Refresh();
            return process.WorkingSet64;
        }
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class SoakStats
    {
        public ConcurrentDictionary<int, long> ByStatus { get; } = new();
        public ConcurrentDictionary<(string Kind, int Status), long> ByKindAndStatus { get; } = new();
        public ConcurrentDictionary<string, ConcurrentBag<double>> Latencies { get; } = new(StringComparer.Ordinal);
        public long Total => ByStatus.Values.Sum();

        public void Record(string kind, int status, double ms)
        {
            ByStatus.AddOrUpdate(status, 1, (_, n) => n + 1);
            ByKindAndStatus.AddOrUpdate((kind, status), 1, (_, n) => n + 1);
            Latencies.GetOrAdd(kind, _ => []).Add(ms);
        }
    }
}
