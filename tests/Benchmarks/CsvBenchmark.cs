using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using CreditFunctions.Auth;
using CreditFunctions.CsvJobs;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Tracking;
using CreditFunctions.Waterfall;
using global::CsvHelper;
using DevHost;
using DevHost.Azurite;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// CSV jobs on the real app run by the dev host against its own Azurite and an in-process sandbox at a fixed 5 ms, no
/// failures, rate limits lifted. (1) A file of <c>--quote-rows</c> (1,000,000) realistic rows (~120 bytes each) in a
/// blob: a bare Sep reader and a bare CsvHelper parser counting its rows, against the job's quote code (the streaming
/// scan with detection, limits and chunk offsets, plus the header mapping); and the quote as the job runs it (upload
/// trigger's work → quoted). (2) <c>--enrich-rows</c> (100,000) rows with enrich + validate, as a job (start → completed)
/// and as a plain loop (the same chunks of 500 rows, 4 at a time, 32 leads at a time each, through
/// <see cref="WaterfallEngine.RunAsync"/>, charges straight through the ledger, no orchestration, no holds), each with a
/// team of its own. (3) <c>--validate-rows</c> (1,000,000; 0 skips it) rows with validate only, to completion. The
/// process's peak working set is sampled every 50 ms during each part (the app and the dev host run in this process).
/// </summary>
internal static class CsvBenchmark
{
    private const double VendorLatencyMs = 5;

    public static async Task<int> RunAsync(string[] args)
    {
        var quoteRows = Option(args, "--quote-rows", 1_000_000);
        var enrichRows = Option(args, "--enrich-rows", 100_000);
        var validateRows = Option(args, "--validate-rows", 1_000_000);
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync(args);
        var quiet = SandboxConfig.Default.Quiet();
        var sandboxConfig = quiet with
        {
            // Every enrich row a lead of its own; a bigger file cycles through the data set (its duplicates are charged once).
            People = Math.Clamp(Math.Max(enrichRows, validateRows / 10), 20_000, 100_000),
            Vendors = quiet.Vendors.ToDictionary(v => v.Key, v => v.Value with
            {
                Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = VendorLatencyMs },
            }, StringComparer.Ordinal),
        };
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { Config = sandboxConfig });
        var settings = BenchmarkApp.Settings("csvb", azurite.ConnectionString, sandbox.BaseAddress, WaterfallBenchmark.WriteProvidersFileWithoutRateLimits());
        // The benchmark hands each upload to the trigger's own code itself, so the 2 s scan does not count.
        settings["AzureWebJobs.csv-upload.Disabled"] = "true";
        var host = await BenchmarkApp.StartAsync(settings);
        var failures = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var http = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
            var bench = new Bench(host, http, sandbox.People.People);
            Console.WriteLine($"csv benchmark: vendors a fixed {VendorLatencyMs} ms, no failures, rate limits lifted; Azurite in memory; {BenchmarkOutput.Machine()}");

            var quote = await BenchmarkOutput.SurviveAsync("quote", failures, ct => bench.QuoteAsync(quoteRows, ct), new QuotePart());
            // Parts that run a job to completion take longer than the usual stall limit: they get at least 60 enrich rows/s.
            var enrichLimit = TimeSpan.FromSeconds(Math.Max(BenchmarkOutput.StallLimit.TotalSeconds, enrichRows / 60.0));
            var job = await BenchmarkOutput.SurviveAsync("enrich_job", failures, ct => bench.JobAsync("csvbenrich", enrichRows, enrich: true, ct), new JobPart(), enrichLimit);
            var direct = await BenchmarkOutput.SurviveAsync("enrich_direct", failures, ct => bench.DirectAsync("csvbdirect", enrichRows, ct), double.NaN, enrichLimit);
            var validate = validateRows > 0
                ? await BenchmarkOutput.SurviveAsync("validate_job", failures, ct => bench.JobAsync("csvbvalid", validateRows, enrich: false, ct), new JobPart(),
                    // At least 150 validate rows/s.
                    TimeSpan.FromSeconds(Math.Max(BenchmarkOutput.StallLimit.TotalSeconds, validateRows / 150.0)))
                : new JobPart();

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"goal quote ≥ 0.5 × raw parse: {quote.QuoteRowsPerSecond / quote.SepRowsPerSecond:0.00}; goal enrich ≥ 0.5 × direct: {job.RowsPerSecond / direct:0.00}"));
            await BenchmarkOutput.WriteAsync("csv",
            [
                ("quote_rows", "rows of the quoted file", quoteRows),
                ("file_mb", "its size (MB)", quote.FileMegabytes),
                ("raw_parse_rows_per_s", "a bare Sep reader counting the blob's rows (rows/s)", quote.SepRowsPerSecond),
                ("raw_parse_csvhelper_rows_per_s", "a bare CsvHelper parser counting the blob's rows (rows/s)", quote.CsvHelperRowsPerSecond),
                ("quote_rows_per_s", "the job's quote code on the blob: scan, detection, limits, offsets, mapping (rows/s)", quote.QuoteRowsPerSecond),
                ("quote_vs_raw_parse", "quote ÷ raw parse (goal ≥ 0.5)", quote.QuoteRowsPerSecond / quote.SepRowsPerSecond),
                ("quote_job_seconds", "the job's quote as it runs: the upload trigger's work → status quoted (s)", quote.JobSeconds),
                ("quote_peak_rss_mb", "peak working set of this process (dev host and app) during the quote part (MB)", quote.PeakMegabytes),
                ("input_rows", "rows of the enrich + validate job", enrichRows),
                ("enrich_rows_per_s", "enrich + validate as a job: POST start → completed (rows/s)", job.RowsPerSecond),
                ("direct_rows_per_s", "the same rows as a plain loop: same chunks and concurrency, no orchestration, no holds (rows/s)", direct),
                ("enrich_vs_direct", "job ÷ plain loop (goal ≥ 0.5)", job.RowsPerSecond / direct),
                ("charges_expected", "leads charged according to the results (credits > 0)", job.ChargesExpected),
                ("charges_recorded", "charges with credits in the ledger (a job line counts its leads)", job.ChargesRecorded),
                ("hold_left", "credits still held after the job", job.HoldLeft),
                ("result_rows", "rows in the results file", job.ResultRows),
                ("enrich_peak_rss_mb", "peak working set during the enrich job (MB)", job.PeakMegabytes),
                ("validate_rows", "rows of the validate-only job", validateRows),
                ("validate_seconds", "validate-only job: start → completed (s)", validate.Seconds),
                ("validate_rows_per_s", "validate-only job (rows/s)", validate.RowsPerSecond),
                ("validate_peak_rss_mb", "peak working set during the validate-only job, quote included (MB)", validate.PeakMegabytes),
                ("validate_result_rows", "rows in its results file", validate.ResultRows),
                ("validate_hold_left", "credits still held after it", validate.HoldLeft),
            ], new Dictionary<string, string>(failures, StringComparer.Ordinal)
            {
                ["emulator"] = BenchmarkOutput.AzuriteNote(args),
                ["parser_pick"] = "Sep reads the chunks and the header; the quote's scan is the project's own byte scanner (it must know byte offsets)",
            });
            return failures.Count == 0 && job.ChargesExpected == job.ChargesRecorded && job.HoldLeft == 0 ? 0 : 1;
        }
        finally
        {
            await host.StopAsync();
            await host.DisposeAsync();
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private sealed record QuotePart(double FileMegabytes = double.NaN, double SepRowsPerSecond = double.NaN, double CsvHelperRowsPerSecond = double.NaN,
        double QuoteRowsPerSecond = double.NaN, double JobSeconds = double.NaN, double PeakMegabytes = double.NaN);

    private sealed record JobPart(double Seconds = double.NaN, double RowsPerSecond = double.NaN, int ChargesExpected = -1, int ChargesRecorded = -2,
        double HoldLeft = double.NaN, int ResultRows = -1, double PeakMegabytes = double.NaN);

    private sealed class Bench(FunctionsDevHost host, HttpClient http, IReadOnlyList<Person> people)
    {
        private readonly BlobServiceClient _blobs = host.Services.GetRequiredService<BlobServiceClient>();
        private readonly CsvJobProcessor _processor = host.Services.GetRequiredService<CsvJobProcessor>();
        private readonly CsvJobService _service = host.Services.GetRequiredService<CsvJobService>();
        private readonly LedgerService _ledger = host.Services.GetRequiredService<LedgerService>();

        public async Task<QuotePart> QuoteAsync(int rows, CancellationToken ct)
        {
            var (team, key) = await TeamAsync("csvbquote", ct);
            using var peak = new PeakMemory();
            var (id, blob, bytes) = await CreateAndUploadAsync(team, key, rows, new { fileName = "million.csv", validate = true }, ct);
            var sep = await TimeAsync(async () =>
            {
                await using var stream = await OpenAsync(blob, ct);
                using var text = new StreamReader(stream, Encoding.UTF8);
                return CsvRows.CountRows(text, ',');
            });
            var csvHelper = await TimeAsync(async () =>
            {
                await using var stream = await OpenAsync(blob, ct);
                await using var reader = CsvReader.Create(stream, new CsvReaderOptions { HasHeader = false, FormatProvider = CultureInfo.InvariantCulture }, false);
                var count = 0;
                while (await reader.ReadAsync(ct))
                {
                    count++;
                }
                return count;
            });
            var quote = await TimeAsync(async () =>
            {
                await using var stream = await OpenAsync(blob, ct);
                var scan = await CsvScanner.ScanAsync(stream, stream.Length, CsvJobProcessor.ChunkRows, ct);
                _ = CsvMapping.Resolve(scan.Header, null, needsEmail: true);
                return scan.Rows + 1;
            });
            var job = Stopwatch.StartNew();
            await _service.OnUploadAsync(host.DurableClient, $"{team}/{id}.csv", blob, ct);
            await WaitForAsync(team, id, CsvJobStatus.Quoted, ct);
            job.Stop();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"quote: {rows:N0} rows, {bytes / 1e6:0.0} MB; Sep {sep.PerSecond:N0} rows/s, CsvHelper {csvHelper.PerSecond:N0} rows/s, quote {quote.PerSecond:N0} rows/s; as a job {job.Elapsed.TotalSeconds:0.00} s; peak {peak.Megabytes:0} MB"));
            return new QuotePart(bytes / 1e6, sep.PerSecond, csvHelper.PerSecond, quote.PerSecond, job.Elapsed.TotalSeconds, peak.Megabytes);
        }

        public async Task<JobPart> JobAsync(string teamPrefix, int rows, bool enrich, CancellationToken ct)
        {
            var (team, key) = await TeamAsync(teamPrefix, ct);
            await GrantAsync(team, rows * 2, ct);
            using var peak = new PeakMemory();
            var (id, blob, _) = await CreateAndUploadAsync(team, key, rows, new { fileName = teamPrefix + ".csv", enrich, validate = true }, ct);
            await _service.OnUploadAsync(host.DurableClient, $"{team}/{id}.csv", blob, ct);
            await WaitForAsync(team, id, CsvJobStatus.Quoted, ct);
            var clock = Stopwatch.StartNew();
            using (var start = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/csv-jobs/{id}/start"))
            {
                start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
                using var started = await http.SendAsync(start, ct);
                started.EnsureSuccessStatusCode();
            }
            var ended = await WaitForAsync(team, id, CsvJobStatus.Completed, ct);
            clock.Stop();
            var peakMegabytes = peak.Megabytes;
            peak.Dispose();
            var results = _processor.ResultBlob(team, id);
            var resultRows = -1;
            var expected = 0;
            await using (var stream = await results.OpenReadAsync(cancellationToken: ct))
            {
                using var text = new StreamReader(stream, Encoding.UTF8);
                foreach (var row in EnumerateCredits(text))
                {
                    resultRows++;
                    expected += row > 0 ? 1 : 0;
                }
            }
            var recorded = 0;
            await foreach (var line in _ledger.StreamUsageAsync(new UsageQuery(team), ct))
            {
                // A job line counts the charges it sums (its leads); any other line is one charge.
                recorded += line.Credits.Value > 0 ? line.Leads ?? 1 : 0;
            }
            var held = (await _ledger.GetBalancesAsync(team, ct)).Sum(b => b.Held.Value);
            var verified = await _ledger.VerifyAsync(team, ct);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{teamPrefix}: {rows:N0} rows in {clock.Elapsed.TotalSeconds:0.0} s ({rows / clock.Elapsed.TotalSeconds:N0} rows/s), status {ended.Status}, "
                + $"{expected} charged by the results, {recorded} in the ledger, held {held}, ledger ok {verified.Ok}, peak {peak.Megabytes:0} MB"));
            return new JobPart(clock.Elapsed.TotalSeconds, rows / clock.Elapsed.TotalSeconds, expected, recorded, (double)held, resultRows, peak.Megabytes);
        }

        public async Task<double> DirectAsync(string teamPrefix, int rows, CancellationToken ct)
        {
            var (team, _) = await TeamAsync(teamPrefix, ct);
            await GrantAsync(team, rows * 2, ct);
            var path = WriteFile(rows);
            var bytes = await File.ReadAllBytesAsync(path, ct);
            File.Delete(path);
            var scan = await CsvScanner.ScanAsync(new MemoryStream(bytes), bytes.Length, CsvJobProcessor.ChunkRows, ct);
            var columns = CsvMapping.Resolve(scan.Header, null, needsEmail: false);
            var engine = host.Services.GetRequiredService<WaterfallEngine>();
            var teamSettings = await host.Services.GetRequiredService<EnrichmentSettingsStore>().GetAsync(team, ct);
            var run = new WaterfallRun
            {
                RunId = "direct", TeamId = team, UserId = "ada", Data = [WaterfallData.Email], People = [],
                Plan = new ChargePlan("enrichment", "csv_enrich_validate", "csv_phone"), EmailProviders = teamSettings.EmailProviders,
                Verifier = teamSettings.Verifier, VerifyEmails = true,
            };
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, scan.ChunkOffsets.Count), new ParallelOptions { MaxDegreeOfParallelism = CsvJobFunctions.ChunksInFlightMax, CancellationToken = ct },
                async (chunk, token) =>
                {
                    var from = (int)scan.ChunkOffsets[chunk];
                    var to = chunk + 1 < scan.ChunkOffsets.Count ? (int)scan.ChunkOffsets[chunk + 1] : bytes.Length;
                    var leads = new Dictionary<string, PersonInput>(StringComparer.Ordinal);
                    foreach (var row in CsvRows.ReadRange(Encoding.UTF8.GetString(bytes, from, to - from), scan.Delimiter, chunk * CsvJobProcessor.ChunkRows))
                    {
                        if (CsvMapping.PersonOf(row, columns, scan.Header.Count).Person is { } person)
                        {
                            leads.TryAdd(WaterfallPerson.IdFor(person), person);
                        }
                    }
                    await Parallel.ForEachAsync(leads, new ParallelOptions { MaxDegreeOfParallelism = CsvJobProcessor.LeadsInFlightMax, CancellationToken = token },
                        async (lead, t) => await engine.RunAsync(run, [new WaterfallPerson(0, lead.Key, lead.Value)], $"direct:{lead.Key}", t));
                });
            clock.Stop();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{teamPrefix}: {rows:N0} rows in {clock.Elapsed.TotalSeconds:0.0} s ({rows / clock.Elapsed.TotalSeconds:N0} rows/s)"));
            return rows / clock.Elapsed.TotalSeconds;
        }

        private static IEnumerable<decimal> EnumerateCredits(StreamReader text)
        {
            var all = text.ReadToEnd().TrimStart('\uFEFF');
            foreach (var row in CsvRows.ReadRange(all, ',', 0))
            {
                yield return decimal.TryParse(row.Cells[^2], NumberStyles.Float, CultureInfo.InvariantCulture, out var credits) ? credits : 0;
            }
        }

        private static Task<Stream> OpenAsync(BlobClient blob, CancellationToken ct) =>
            blob.OpenReadAsync(new BlobOpenReadOptions(allowModifications: false) { BufferSize = 4 * 1024 * 1024 }, ct);

        private static async Task<(double Seconds, double PerSecond)> TimeAsync(Func<Task<int>> work)
        {
            var clock = Stopwatch.StartNew();
            var rows = await work();
            clock.Stop();
            return (clock.Elapsed.TotalSeconds, rows / clock.Elapsed.TotalSeconds);
        }

        private async Task<(string Team, string Key)> TeamAsync(string prefix, CancellationToken ct)
        {
            var team = prefix + Guid.NewGuid().ToString("N")[..8];
            var created = await host.Services.GetRequiredService<TeamStore>().CreateAsync(team, "ada", "bench", ct);
            return (team, created.AdminKey!.Key);
        }

        private async Task GrantAsync(string team, int amount, CancellationToken ct)
        {
            foreach (var type in new[] { "email", "phone" })
            {
                await _ledger.GrantAsync(new GrantRequest(team, "ada", type, Credits.FromDecimal(amount), GrantKind.TopUp, "bench:" + type));
            }
        }

        private async Task<(string Id, BlobClient Blob, long Bytes)> CreateAndUploadAsync(string team, string key, int rows, object options, CancellationToken ct)
        {
            using var create = new HttpRequestMessage(HttpMethod.Post, "/api/v1/csv-jobs") { Content = JsonContent.Create(options) };
            create.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var created = await http.SendAsync(create, ct);
            created.EnsureSuccessStatusCode();
            var id = (await created.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetString()!;
            var path = WriteFile(rows);
            var blob = _processor.UploadBlob(team, id);
            await blob.UploadAsync(path, new BlobUploadOptions { TransferOptions = new Azure.Storage.StorageTransferOptions { MaximumTransferSize = 8 * 1024 * 1024 } }, ct);
            var bytes = new FileInfo(path).Length;
            File.Delete(path);
            return (id, blob, bytes);
        }

        /// <summary>A file of realistic leads (~120 bytes a row): the sandbox's people, in turn.</summary>
        private string WriteFile(int rows)
        {
            var path = Path.Combine(Path.GetTempPath(), $"csvbench-{Guid.NewGuid():N}.csv");
            using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
            writer.Write("First Name,Last Name,Email,Company,Website,LinkedIn URL,Title\r\n");
            for (var i = 0; i < rows; i++)
            {
                var p = people[i % people.Count];
                writer.Write(p.FirstName);
                writer.Write(',');
                writer.Write(p.LastName);
                writer.Write(',');
                writer.Write(p.WorkEmail);
                writer.Write(",\"");
                writer.Write(p.CompanyName);
                writer.Write("\",");
                writer.Write(p.CompanyDomain);
                writer.Write(',');
                writer.Write(p.LinkedInUrl);
                writer.Write(',');
                writer.Write(p.JobTitle.Replace(',', ' '));
                writer.Write("\r\n");
            }
            return path;
        }

        private async Task<CsvJobRecord> WaitForAsync(string team, string id, string status, CancellationToken ct)
        {
            var store = host.Services.GetRequiredService<CsvJobStore>();
            while (true)
            {
                var job = await store.GetAsync(team, id, ct) ?? throw new InvalidOperationException("The job vanished.");
                if (job.Status == status)
                {
                    return job;
                }
                if (job.Status is CsvJobStatus.Failed or CsvJobStatus.Cancelled || (status == CsvJobStatus.Quoted && job.Status != CsvJobStatus.Uploading))
                {
                    throw new InvalidOperationException($"The job is {job.Status}: {job.Error}");
                }
                await Task.Delay(50, ct);
            }
        }
    }

    /// <summary>The process's peak working set while it lives, sampled every 50 ms.</summary>
    private sealed class PeakMemory : IDisposable
    {
        private readonly Timer _timer;
        private long _peak;

        public PeakMemory()
        {
            _peak = Environment.WorkingSet;
            _timer = new Timer(_ => Interlocked.Exchange(ref _peak, Math.Max(Interlocked.Read(ref _peak), Environment.WorkingSet)), null, 0, 50);
        }

        public double Megabytes => Interlocked.Read(ref _peak) / (1024.0 * 1024.0);

        public void Dispose() => _timer.Dispose();
    }
}
