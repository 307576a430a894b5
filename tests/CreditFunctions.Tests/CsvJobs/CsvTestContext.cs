using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using CreditFunctions.CsvJobs;
using CreditFunctions.Ledger;
using CreditFunctions.Tests.Providers;
using CreditFunctions.Tests.Waterfall;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;

namespace CreditFunctions.Tests.CsvJobs;

/// <summary>The app with its upload trigger on (a host id of its own, a fast scan), the sandbox vendors, one team with
/// credits; helpers to create, upload, wait for and read jobs through the API.</summary>
internal sealed class CsvTestContext : IAsyncDisposable
{
    private CsvTestContext(WaterfallTestContext inner) => Inner = inner;

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public WaterfallTestContext Inner { get; }

    public TestApp App => Inner.App;

    public string TeamId => Inner.TeamId;

    public string Key => Inner.Key;

    public LedgerService Ledger => Inner.Ledger;

    public BlobServiceClient Blobs => App.Services.GetRequiredService<BlobServiceClient>();

    public static async Task<CsvTestContext> StartAsync(AzuriteFixture azurite, SandboxVendors sandbox, decimal email = 1000, decimal phone = 1000,
        IReadOnlyDictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["AzureWebJobs.csv-upload.Disabled"] = "false",
            ["DevHost:BlobScanInterval"] = "00:00:00.250",
        };
        foreach (var (name, value) in settings ?? new Dictionary<string, string?>())
        {
            all[name] = value;
        }
        return new CsvTestContext(await WaterfallTestContext.StartAsync(azurite, sandbox, email, phone, all));
    }

    /// <summary>Creates a job; its id and upload URL.</summary>
    public async Task<(string Id, string UploadUrl)> CreateAsync(object options)
    {
        using var response = await Inner.PostAsync("/api/v1/csv-jobs", options);
        var body = await WaterfallTestContext.JsonAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return (body.GetProperty("id").GetString()!, body.GetProperty("upload").GetProperty("url").GetString()!);
    }

    public async Task<HttpResponseMessage> PutFileAsync(string id, byte[] content) =>
        await App.SendAsync(HttpMethod.Put, $"/api/v1/csv-jobs/{id}/file", Key, new ByteArrayContent(content));

    public Task<HttpResponseMessage> PutFileAsync(string id, string text) => PutFileAsync(id, Encoding.UTF8.GetBytes(text));

    /// <summary>Creates a job, uploads <paramref name="text"/> and waits for its quote (or failure).</summary>
    public async Task<(string Id, JsonElement Job)> QuotedAsync(string text, object? options = null)
    {
        var (id, _) = await CreateAsync(options ?? new { fileName = "leads.csv", enrich = true, validate = true });
        using var put = await PutFileAsync(id, text);
        Assert.Equal(HttpStatusCode.Accepted, put.StatusCode);
        return (id, await WaitForAsync(id, "quoted", "failed", "running", "completed"));
    }

    public async Task<JsonElement> GetAsync(string id)
    {
        using var response = await App.GetAsync($"/api/v1/csv-jobs/{id}", Key);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await WaterfallTestContext.JsonAsync(response);
    }

    public async Task<JsonElement> WaitForAsync(string id, params string[] statuses)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var job = await GetAsync(id);
            if (statuses.Contains(job.GetProperty("status").GetString()))
            {
                return job;
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"the job did not reach {string.Join("/", statuses)}: {job}");
            await Task.Delay(100, Ct);
        }
    }

    public Task<HttpResponseMessage> StartJobAsync(string id) => Inner.PostAsync($"/api/v1/csv-jobs/{id}/start", new { });

    /// <summary>The results file, parsed (header first).</summary>
    public async Task<List<string[]>> ResultsAsync(string id)
    {
        using var response = await App.GetAsync($"/api/v1/csv-jobs/{id}/results", Key);
        var body = await WaterfallTestContext.JsonAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToString());
        using var http = new HttpClient();
        var bytes = await http.GetByteArrayAsync(body.GetProperty("url").GetString(), Ct);
        var text = Encoding.UTF8.GetString(bytes).TrimStart('\uFEFF');
        // The results keep the file's delimiter.
        var headerLine = text[..text.IndexOf('\n', StringComparison.Ordinal)];
        var delimiter = new[] { ',', ';', '\t' }.MaxBy(d => headerLine.Count(c => c == d));
        return [.. CsvRows.ReadRange(text, delimiter, 0).Select(r => r.Cells)];
    }

    public async Task<List<UsageLine>> LinesAsync()
    {
        var lines = new List<UsageLine>();
        await foreach (var line in Ledger.StreamUsageAsync(new UsageQuery(TeamId) { IncludeRefunds = true }, Ct))
        {
            lines.Add(line);
        }
        return lines;
    }

    public async Task<BalanceView> BalanceAsync(string creditType) => (await Ledger.GetBalancesAsync(TeamId, Ct)).Single(b => b.CreditType == creditType);

    public ValueTask DisposeAsync() => Inner.DisposeAsync();
}
