using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using SandboxProviders;

namespace CreditFunctions.Tests;

/// <summary>
/// What the crash-recovery tests share: local runs (dev host processes) on one task hub and tables of their own, with
/// short visibility timeouts and leases so that a survivor takes a killed run's work over in seconds rather than the
/// provider's default minutes; a team with credits; waiting.
/// </summary>
internal static class CrashRecovery
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The settings of the local runs of one test: every table, the task hub and the host id its own.</summary>
    public static Dictionary<string, string?> Settings(AzuriteFixture azurite, SandboxVendors sandbox)
    {
        var settings = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => (string?)k.Value);
        settings["AzureWebJobsStorage"] = azurite.ConnectionString;
        settings[ProviderCatalog.SandboxUrlSetting] = sandbox.Server.BaseAddress.ToString();
        settings[ProviderCatalog.FileSetting] = RoomyProviders();
        settings[AuthOptions.TableSetting] = AzuriteFixture.NewName("teams");
        settings["CREDITFUNCTIONS_LEDGER_TABLE"] = AzuriteFixture.NewName("ledger");
        settings["CREDITFUNCTIONS_ENRICHMENT_TABLE"] = AzuriteFixture.NewName("enrich");
        settings["CREDITFUNCTIONS_CSVJOBS_TABLE"] = AzuriteFixture.NewName("csvjobs");
        settings["CREDITFUNCTIONS_TRACKING_TABLE"] = AzuriteFixture.NewName("tracking");
        settings["AzureFunctionsWebHost__hostid"] = AzuriteFixture.NewName("host");
        settings["DevHost__BlobScanInterval"] = "00:00:00.250";
        settings[AuthOptions.DemoSeedSetting] = "false";
        settings["CREDITFUNCTIONS_SECRETS_KEY"] = Convert.ToBase64String(new byte[32]);
        settings["AzureWebJobs__plan-grants__Disabled"] = "true";
        settings["AzureWebJobs__tracking-scan__Disabled"] = "true";
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

    /// <summary>A ledger on the runs' table (as the test sees it from outside) and a new team granted
    /// <paramref name="grants"/>, with its admin key.</summary>
    public static async Task<(LedgerService Ledger, string Team, string AdminKey)> TeamAsync(AzuriteFixture azurite, IReadOnlyDictionary<string, string?> settings,
        params (string CreditType, decimal Amount)[] grants)
    {
        var tables = new TableServiceClient(azurite.ConnectionString);
        var teams = new TeamStore(tables.GetTableClient(settings[AuthOptions.TableSetting]!));
        var ledger = new LedgerService(tables, Catalog.Default, new LedgerOptions { TableName = settings["CREDITFUNCTIONS_LEDGER_TABLE"]! },
            TimeProvider.System, NullLogger<LedgerService>.Instance);
        await ledger.InitializeAsync(Ct);
        var team = AzuriteFixture.NewName("team");
        var admin = (await teams.CreateAsync(team, "ada", "test", Ct)).AdminKey!.Key;
        foreach (var (creditType, amount) in grants)
        {
            var granted = await ledger.GrantAsync(new GrantRequest(team, "ada", creditType, Credits.FromDecimal(amount), GrantKind.TopUp, "grant-" + creditType));
            Assert.Equal(LedgerStatus.Granted, granted.Status);
        }
        return (ledger, team, admin);
    }

    /// <summary>The providers file with rate limits out of the way (the tests slow the vendors down instead).</summary>
    public static string RoomyProviders()
    {
        using var stream = typeof(ProviderCatalog).Assembly.GetManifestResourceStream("CreditFunctions.Providers.providers.json")!;
        var json = new StreamReader(stream).ReadToEnd();
        json = Regex.Replace(json, "\"permitsPerSecond\": *[0-9.]+", "\"permitsPerSecond\": 5000");
        json = Regex.Replace(json, "\"queueLimit\": *[0-9]+", "\"queueLimit\": 10000");
        var path = Path.Combine(Path.GetTempPath(), $"providers-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    /// <summary>Waits until <paramref name="condition"/> holds; fails saying <paramref name="what"/> after <paramref name="seconds"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int seconds)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(seconds), what);
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>Reads <paramref name="path"/> every 250 ms until its <c>status</c> is one of <paramref name="final"/>.</summary>
    public static async Task<System.Text.Json.JsonElement> WaitForStatusAsync(HttpClient client, string path, string[] final, int seconds)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var state = await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.JsonElement>(client, path, Ct);
            if (final.Contains(state.GetProperty("status").GetString()))
            {
                return state;
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(seconds), $"{path} did not finish after the kill: {state}");
            await Task.Delay(250, Ct);
        }
    }

    /// <summary>The team's usage lines.</summary>
    public static async Task<List<UsageLine>> LinesAsync(LedgerService ledger, UsageQuery query)
    {
        var lines = new List<UsageLine>();
        await foreach (var line in ledger.StreamUsageAsync(query, Ct))
        {
            lines.Add(line);
        }
        return lines;
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
                if ((await health.GetAsync("/api/health", TestContext.Current.CancellationToken)).IsSuccessStatusCode)
                {
                    return run;
                }
            }
            catch (HttpRequestException)
            {
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the local run did not start: " + run.Output);
            await Task.Delay(200, TestContext.Current.CancellationToken);
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
