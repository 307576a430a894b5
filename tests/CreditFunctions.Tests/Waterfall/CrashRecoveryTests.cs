using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using SandboxProviders;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>
/// Two local runs (dev host processes) on one task hub; one is killed (SIGKILL) in the middle of a bulk run. Short
/// visibility timeouts and leases make the survivor take over in seconds rather than the provider's default minutes.
/// </summary>
public sealed class CrashRecoveryTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_worker_killed_mid_bulk_run_loses_nothing_every_hit_is_charged_once_and_no_hold_is_left()
    {
        sandbox.Reset();
        foreach (var vendor in new[] { "leadmine", "mailscout", "verifly" })
        {
            sandbox.Configure(vendor, v => v with { Latency = new LatencySettings { FixedMilliseconds = 600 } });
        }
        var settings = Settings();
        var tables = new TableServiceClient(azurite.ConnectionString);
        var teams = new TeamStore(tables.GetTableClient(settings[AuthOptions.TableSetting]!));
        var ledger = new LedgerService(tables, Catalog.Default, new LedgerOptions { TableName = settings["CREDITFUNCTIONS_LEDGER_TABLE"]! },
            TimeProvider.System, NullLogger<LedgerService>.Instance);
        await ledger.InitializeAsync(Ct);
        var team = AzuriteFixture.NewName("team");
        var admin = (await teams.CreateAsync(team, "ada", "test", Ct)).AdminKey!.Key;
        Assert.Equal(LedgerStatus.Granted, (await ledger.GrantAsync(new GrantRequest(team, "ada", "email", Credits.FromDecimal(1000), GrantKind.TopUp, "grant"))).Status);

        await using var first = await LocalRun.StartAsync(settings);
        await using var second = await LocalRun.StartAsync(settings);
        using var client = new HttpClient { BaseAddress = second.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", admin);
        var people = sandbox.People.People.Take(400).Select(SandboxVendors.Input).ToArray();

        using var started = await first.Client(admin).PostAsJsonAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var runId = (await started.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString()!;
        await WaitUntilAsync(async () => (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email").Spent.Value > 0, "no charge before the kill");
        first.Kill();
        var atKill = await client.GetFromJsonAsync<JsonElement>($"/api/v1/enrichment/waterfall/{runId}", Ct);

        var state = await WaitForRunAsync(client, runId);
        var found = state.GetProperty("people").EnumerateArray().Count(p => p.GetProperty("email").GetProperty("status").GetString() == "found");
        var lines = new List<UsageLine>();
        await foreach (var line in ledger.StreamUsageAsync(new UsageQuery(team), Ct))
        {
            lines.Add(line);
        }
        var charges = lines.Where(l => l.Action == "api_waterfall_email" && l.Credits.Value > 0).ToList();
        var balance = (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email");

        // A run killed before its first chunk reported has no progress yet: nothing done.
        var doneAtKill = atKill.TryGetProperty("progress", out var progress) && progress.ValueKind == JsonValueKind.Object ? progress.GetProperty("done").GetInt32() : 0;
        Assert.True(doneAtKill < 400, "the run had finished before the kill");
        Assert.Equal("completed", state.GetProperty("status").GetString());
        Assert.Equal(400, state.GetProperty("progress").GetProperty("done").GetInt32());
        Assert.InRange(found, 200, 400);
        Assert.Equal(found, charges.Count);
        Assert.Equal(found, charges.Select(l => l.Description).Distinct().Count());
        Assert.Equal(1000m - found, balance.Balance.Value);
        Assert.Equal(0m, balance.Held.Value);
        Assert.True((await ledger.VerifyAsync(team, Ct)).Ok);
    }

    private Dictionary<string, string?> Settings()
    {
        var settings = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => (string?)k.Value);
        settings["AzureWebJobsStorage"] = azurite.ConnectionString;
        settings[ProviderCatalog.SandboxUrlSetting] = sandbox.Server.BaseAddress.ToString();
        settings[ProviderCatalog.FileSetting] = RoomyProviders();
        settings[AuthOptions.TableSetting] = AzuriteFixture.NewName("teams");
        settings["CREDITFUNCTIONS_LEDGER_TABLE"] = AzuriteFixture.NewName("ledger");
        settings["CREDITFUNCTIONS_ENRICHMENT_TABLE"] = AzuriteFixture.NewName("enrich");
        settings[AuthOptions.DemoSeedSetting] = "false";
        settings["CREDITFUNCTIONS_SECRETS_KEY"] = Convert.ToBase64String(new byte[32]);
        settings["AzureWebJobs__plan-grants__Disabled"] = "true";
        settings["Logging__LogLevel__Default"] = "Warning";
        const string durable = "AzureFunctionsJobHost__extensions__durableTask__";
        settings[durable + "hubName"] = AzuriteFixture.NewName("hub");
        settings[durable + "storageProvider__workItemQueueVisibilityTimeout"] = "00:00:05";
        settings[durable + "storageProvider__controlQueueVisibilityTimeout"] = "00:00:05";
        settings[durable + "storageProvider__leaseInterval"] = "00:00:05";
        settings[durable + "storageProvider__leaseRenewInterval"] = "00:00:02";
        settings[durable + "storageProvider__leaseAcquireInterval"] = "00:00:02";
        return settings;
    }

    internal static string RoomyProviders()
    {
        using var stream = typeof(ProviderCatalog).Assembly.GetManifestResourceStream("CreditFunctions.Providers.providers.json")!;
        var json = new StreamReader(stream).ReadToEnd();
        json = Regex.Replace(json, "\"permitsPerSecond\": *[0-9.]+", "\"permitsPerSecond\": 5000");
        json = Regex.Replace(json, "\"queueLimit\": *[0-9]+", "\"queueLimit\": 10000");
        var path = Path.Combine(Path.GetTempPath(), $"providers-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), what);
            await Task.Delay(50, Ct);
        }
    }

    private static async Task<JsonElement> WaitForRunAsync(HttpClient client, string runId)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var state = await client.GetFromJsonAsync<JsonElement>($"/api/v1/enrichment/waterfall/{runId}", Ct);
            if (state.GetProperty("status").GetString() is "completed" or "failed" or "terminated")
            {
                return state;
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"the run did not finish after the kill: {state}");
            await Task.Delay(250, Ct);
        }
    }

    /// <summary>The local run's executable as a child process on a free port.</summary>
    internal sealed class LocalRun : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        private LocalRun(Process process, Uri baseAddress)
        {
            _process = process;
            BaseAddress = baseAddress;
        }

        public Uri BaseAddress { get; }

        public static async Task<LocalRun> StartAsync(IReadOnlyDictionary<string, string?> settings)
        {
            var port = FreePort();
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
            start.ArgumentList.Add(LocalRunExecutable.Dll);
            start.ArgumentList.Add("--port");
            start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var (name, value) in settings)
            {
                start.Environment[name] = value;
            }
            var process = Process.Start(start)!;
            var run = new LocalRun(process, new Uri($"http://127.0.0.1:{port}/"));
            process.OutputDataReceived += (_, e) => run.Append(e.Data);
            process.ErrorDataReceived += (_, e) => run.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var health = new HttpClient { BaseAddress = run.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
            var clock = Stopwatch.StartNew();
            while (true)
            {
                Assert.False(process.HasExited, "the local run exited: " + run.Output);
                try
                {
                    if ((await health.GetAsync("/api/health", Ct)).IsSuccessStatusCode)
                    {
                        return run;
                    }
                }
                catch (HttpRequestException)
                {
                }
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the local run did not start: " + run.Output);
                await Task.Delay(200, Ct);
            }
        }

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public HttpClient Client(string key)
        {
            var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
            return client;
        }

        /// <summary>SIGKILL: no stop, no drain, no lease released.</summary>
        public void Kill() => _process.Kill(entireProcessTree: true);

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            await _process.WaitForExitAsync(CancellationToken.None);
            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

    }
}
