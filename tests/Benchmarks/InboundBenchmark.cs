using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Queues;
using CreditFunctions.Auth;
using CreditFunctions.Forms;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Visitors;
using CreditFunctions.Waterfall;
using DevHost;
using DevHost.Azurite;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// Forms and website visitors on the real app run by the dev host, against its own Azurite and an in-process sandbox
/// whose vendors answer in a fixed 20 ms and never fail (rate limits lifted, as in the waterfall scenario). Forms: net-new
/// submissions through the public URL and the queue, against the same kind of submissions processed by a plain loop
/// (resolve, enrich, charge: no HTTP, no queue); accept → outcome latency from the rows' own times. Visitors: events of
/// known companies, repeated and duplicated, through the events URL and the queue, against a queue round trip (put, get,
/// delete) of as many messages of an event's size. Then the money: charges expected = recorded.
/// </summary>
internal static class InboundBenchmark
{
    private const double VendorLatencyMs = 20;
    private const int Submissions = 400;
    private const int SubmitInFlight = 32;
    private const int Events = 3_000;
    private const int Companies = 60;

    public static async Task<int> RunAsync(string[] args)
    {
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync(args);
        // What bounds the form path against the plain loop: the storage requests each makes per submission, and the
        // emulator's CPU they cost, counted per phase.
        using var requests = new StorageRequestCounter(azurite.BlobPort, azurite.QueuePort, azurite.TablePort);
        await using var monitor = AzuriteMonitor.Start(azurite.QueuePort);
        var quiet = SandboxConfig.Default.Quiet();
        var sandboxConfig = quiet with
        {
            Vendors = quiet.Vendors.ToDictionary(v => v.Key, v => v.Value with
            {
                Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = VendorLatencyMs },
            }, StringComparer.Ordinal),
        };
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { Config = sandboxConfig });
        var settings = BenchmarkApp.Settings("ib", azurite.ConnectionString, sandbox.BaseAddress, WriteProvidersFileWithoutRateLimits());
        var host = await BenchmarkApp.StartAsync(settings);
        try
        {
            using var http = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
            var ledger = host.Services.GetRequiredService<LedgerService>();
            var teams = host.Services.GetRequiredService<TeamStore>();
            var people = sandbox.People.People.Where(p => VendorKnowledge.Knows("leadmine", sandbox.Vendors.Get("leadmine")!, p)).ToList();
            var next = 0;
            List<Person> Take(int n) { var taken = people.Skip(next).Take(n).ToList(); next += n; return taken; }
            Console.WriteLine($"inbound benchmark: vendors a fixed {VendorLatencyMs} ms, no failures, rate limits lifted; Azurite in memory; {BenchmarkOutput.Machine()}");

            async Task<(string Team, string Key)> TeamAsync(string team)
            {
                var created = await teams.CreateAsync(team, "ada", "bench", CancellationToken.None);
                await ledger.GrantAsync(new GrantRequest(team, "ops", "email", Credits.FromDecimal(100_000), GrantKind.TopUp, "bench-" + team));
                return (team, created.AdminKey!.Key);
            }

            // Forms through the URL and the queue (a warm-up first, with people of its own).
            await SubmitAllAsync(http, await TeamAsync("ibwarm"), Take(50));
            var (formTeam, formKey) = await TeamAsync("ibforms");
            requests.Take();
            var formCpu = monitor.CpuNow();
            var viaQueue = await SubmitAllAsync(http, (formTeam, formKey), Take(Submissions));
            var formRequests = requests.Take();
            var formAzuriteMs = monitor.CpuNow().AzuriteMs - formCpu.AzuriteMs;

            // The same work as a plain loop: resolve, enrich, charge; as many at once as the queue function runs.
            var (directTeam, _) = await TeamAsync("ibdirect");
            var engine = host.Services.GetRequiredService<WaterfallEngine>();
            var enrichment = host.Services.GetRequiredService<EnrichmentSettingsStore>();
            var directPeople = Take(Submissions);
            var directFound = 0;
            requests.Take();
            var directCpu = monitor.CpuNow();
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(directPeople, new ParallelOptions { MaxDegreeOfParallelism = 24 }, async (person, ct) =>
            {
                var input = new PersonInput { FirstName = person.FirstName, LastName = person.LastName, CompanyDomain = person.CompanyDomain };
                var who = new WaterfallPerson(0, WaterfallPerson.IdFor(input), input.Normalize());
                var (resolved, known) = await engine.ResolveAsync(directTeam, who, ct);
                var team = await enrichment.GetRecentAsync(directTeam, WaterfallEngine.SettingsMaxAge, ct);
                var run = new WaterfallRun
                {
                    RunId = "direct-" + person.Id, TeamId = directTeam, UserId = FormService.LedgerUser, Data = [WaterfallData.Email], People = [resolved],
                    Plan = FormService.Plan, EmailProviders = team.EmailProviders, MobileProviders = team.MobileProviders, Verifier = team.Verifier, VerifyEmails = team.VerifyEmails,
                };
                var result = await engine.RunOneAsync(run, team, resolved, known, null, "direct:" + person.Id, ct);
                if (result.Email?.Status == "found")
                {
                    Interlocked.Increment(ref directFound);
                }
            });
            var directPerSecond = Submissions / clock.Elapsed.TotalSeconds;
            var directRequests = requests.Take();
            var directAzuriteMs = monitor.CpuNow().AzuriteMs - directCpu.AzuriteMs;
            foreach (var (phase, counted) in new[] { ("form (URL + queue)", formRequests), ("direct loop", directRequests) })
            {
                Console.WriteLine($"{phase}: storage requests per submission: " + string.Join(", ", counted.OrderByDescending(c => c.Value)
                    .Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {(double)c.Value / Submissions:0.00}"))));
            }
            var formLines = await ChargesAsync(ledger, formTeam, "enrich_new_contact");

            // Visitors: events of known companies, several visits and pages each, in requests of 100.
            var (siteTeam, siteKey) = await TeamAsync("ibsites");
            using var siteResponse = await SendAsync(http, HttpMethod.Post, "/api/v1/sites", siteKey, new { domain = "bench-site.com" });
            var site = JsonDocument.Parse(await siteResponse.Content.ReadAsStringAsync()).RootElement;
            var (siteId, publicKey) = (site.GetProperty("id").GetString()!, site.GetProperty("siteKey").GetString()!);
            var ipscope = sandbox.Vendors.Get("ipscope")!;
            var all = CompanyRanges.Companies(sandbox.People);
            var companies = Enumerable.Range(0, all.Count).Where(i => CompanyRanges.Knows("ipscope", ipscope, all[i])).Take(Companies).ToList();
            var events = Enumerable.Range(0, Events).Select(i => new
            {
                ip = CompanyRanges.AddressOf(companies[i % companies.Count], 1 + (i / companies.Count % 20)).ToString(),
                page = "/page/" + (i % 37), referrer = "https://search.example/", userAgent = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0",
                at = DateTimeOffset.UtcNow.AddMinutes(-(i % 600)),
            }).ToList();
            clock.Restart();
            await Parallel.ForEachAsync(events.Chunk(100), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (chunk, ct) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/visitors/events") { Content = JsonContent.Create(new { siteKey = publicKey, events = chunk }) };
                using var response = await http.SendAsync(request, ct);
                response.EnsureSuccessStatusCode();
            });
            var month = DateTimeOffset.UtcNow.ToString("yyyy-MM", CultureInfo.InvariantCulture);
            var firstMonth = DateTimeOffset.UtcNow.AddHours(-11).ToString("yyyy-MM", CultureInfo.InvariantCulture);
            while (true)
            {
                using var response = await SendAsync(http, HttpMethod.Get, $"/api/v1/sites/{siteId}/companies?from={firstMonth}&to={month}", siteKey, null);
                var rows = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("companies");
                if (rows.EnumerateArray().Sum(r => r.GetProperty("pages").GetInt32()) >= Events)
                {
                    break;
                }
                if (clock.Elapsed > TimeSpan.FromMinutes(5))
                {
                    throw new TimeoutException("the visitor events were not all processed in 5 minutes");
                }
                await Task.Delay(50);
            }
            var visitorPerSecond = Events / clock.Elapsed.TotalSeconds;
            var identifications = await ChargesAsync(ledger, siteTeam, "identify_company");
            var identificationsExpected = companies.Count * (firstMonth == month ? 1 : 2);

            // The baseline: put, get and delete as many messages of an event's size.
            var queue = new QueueServiceClient(azurite.ConnectionString).GetQueueClient("ibroundtrip");
            await queue.CreateIfNotExistsAsync();
            var payload = Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(events[0])));
            clock.Restart();
            await Parallel.ForEachAsync(Enumerable.Range(0, Events), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, ct) => await queue.SendMessageAsync(payload, ct));
            var removed = 0;
            await Parallel.ForEachAsync(Enumerable.Range(0, 8), async (_, ct) =>
            {
                while (Volatile.Read(ref removed) < Events)
                {
                    var messages = (await queue.ReceiveMessagesAsync(32, cancellationToken: ct)).Value;
                    if (messages.Length == 0)
                    {
                        await Task.Delay(10, ct);
                        continue;
                    }
                    await Task.WhenAll(messages.Select(m => queue.DeleteMessageAsync(m.MessageId, m.PopReceipt, ct)));
                    Interlocked.Add(ref removed, messages.Length);
                }
            });
            var roundTripPerSecond = Events / clock.Elapsed.TotalSeconds;

            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"goal form_submissions_per_s ≥ 0.5 × form_direct_per_s: {viaQueue.PerSecond / directPerSecond:0.00} ({(viaQueue.PerSecond >= 0.5 * directPerSecond ? "met" : "missed")})"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"goal visitor_events_per_s ≥ 1 × queue_roundtrip_per_s: {visitorPerSecond / roundTripPerSecond:0.00} ({(visitorPerSecond >= roundTripPerSecond ? "met" : "missed")})"));
            await BenchmarkOutput.WriteAsync("inbound",
            [
                ("form_submissions_per_s", $"{Submissions} net-new submissions through the URL and the queue, {SubmitInFlight} posting at once, until every outcome (per s)", viaQueue.PerSecond),
                ("form_direct_per_s", "the same work as a plain loop: resolve, enrich, charge, 24 at once (per s)", directPerSecond),
                ("form_vs_direct", "form ÷ direct (goal ≥ 0.5)", viaQueue.PerSecond / directPerSecond),
                ("form_p50_ms", "accept → outcome, p50 (ms)", viaQueue.P50),
                ("form_p99_ms", "accept → outcome, p99 (ms)", viaQueue.P99),
                ("form_charges_expected", "form charges expected (enriched outcomes)", viaQueue.Enriched),
                ("form_charges_recorded", "form charges recorded (ledger lines)", formLines),
                ("form_direct_found", "direct loop: emails found", directFound),
                ("form_storage_requests_per_submission", "storage requests per submission, URL + queue (the dev host's idle queue polls included)",
                    (double)formRequests.Values.Sum() / Submissions),
                ("direct_storage_requests_per_submission", "storage requests per submission, plain loop", (double)directRequests.Values.Sum() / Submissions),
                ("form_azurite_cpu_ms_per_submission", "the emulator's CPU per submission, URL + queue (ms)", formAzuriteMs / Submissions),
                ("direct_azurite_cpu_ms_per_submission", "the emulator's CPU per submission, plain loop (ms)", directAzuriteMs / Submissions),
                ("visitor_events_per_s", $"{Events:N0} events of {companies.Count} companies through the events URL and the queue, until counted (per s)", visitorPerSecond),
                ("queue_roundtrip_per_s", $"put, get and delete of {Events:N0} messages of an event's size (per s)", roundTripPerSecond),
                ("visitors_vs_queue_roundtrip", "visitors ÷ queue round trip (goal ≥ 1)", visitorPerSecond / roundTripPerSecond),
                ("identifications_expected", "identifications expected (companies × months)", identificationsExpected),
                ("identifications_recorded", "identifications recorded (charged ledger lines)", identifications),
            ]);
            return 0;
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private sealed record FormRun(double PerSecond, double P50, double P99, int Enriched);

    private static async Task<FormRun> SubmitAllAsync(HttpClient http, (string Team, string Key) team, List<Person> people)
    {
        using var created = await SendAsync(http, HttpMethod.Post, "/api/v1/forms", team.Key, new
        {
            name = "bench", source = "generic", fieldMap = new { firstName = "first", lastName = "last", companyDomain = "domain", submissionId = "id" },
        });
        var form = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
        var (formId, secret) = (form.GetProperty("id").GetString()!, form.GetProperty("signingSecret").GetString()!);
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(people, new ParallelOptions { MaxDegreeOfParallelism = SubmitInFlight }, async (person, ct) =>
        {
            var body = JsonSerializer.Serialize(new { id = person.Id, first = person.FirstName, last = person.LastName, domain = person.CompanyDomain });
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/forms/{formId}/submissions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Add(WebhookSender.SignatureHeader, WebhookSender.Sign(secret, DateTimeOffset.UtcNow, body));
            using var response = await http.SendAsync(request, ct);
            if (response.StatusCode != HttpStatusCode.Accepted)
            {
                throw new InvalidOperationException($"submission answered {(int)response.StatusCode}");
            }
        });
        while (true)
        {
            using var response = await SendAsync(http, HttpMethod.Get, $"/api/v1/forms/{formId}/submissions?limit=1000", team.Key, null);
            var rows = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("submissions").EnumerateArray().ToList();
            if (rows.Count == people.Count && rows.All(r => r.GetProperty("processedAt").ValueKind == JsonValueKind.String && r.GetProperty("status").GetString() is not ("processing" or "enriching")))
            {
                var seconds = clock.Elapsed.TotalSeconds;
                var latencies = rows.Select(r => (r.GetProperty("processedAt").GetDateTimeOffset() - r.GetProperty("receivedAt").GetDateTimeOffset()).TotalMilliseconds).Order().ToList();
                return new FormRun(people.Count / seconds, BenchmarkOutput.Percentile(latencies, 0.5), BenchmarkOutput.Percentile(latencies, 0.99),
                    rows.Count(r => r.GetProperty("status").GetString() == "enriched"));
            }
            if (clock.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new TimeoutException("the submissions were not all processed in 5 minutes");
            }
            await Task.Delay(50);
        }
    }

    private static async Task<int> ChargesAsync(LedgerService ledger, string team, string action)
    {
        var count = 0;
        await foreach (var line in ledger.StreamUsageAsync(new UsageQuery(team) { From = DateTimeOffset.UtcNow.AddDays(-40) }))
        {
            if (line.Kind == "charge" && line.Action == action && line.Credits.Value > 0)
            {
                count++;
            }
        }
        return count;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, string key, object? body)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await http.SendAsync(request);
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
        var path = Path.Combine(Path.GetTempPath(), $"ibbench-providers-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, document.ToJsonString());
        return path;
    }
}
