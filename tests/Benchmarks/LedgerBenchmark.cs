using System.Diagnostics;
using Azure.Data.Tables;
using CreditFunctions.Ledger;
using Microsoft.Extensions.Logging.Abstractions;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// The ledger's throughput on one storage account, all in one run: the raw entity-group insert ceiling, one hot team
/// without and with group commit, 100 teams, latency, rows written per charge, and after each run the money checks
/// (double charges and verification problems).
/// </summary>
internal static class LedgerBenchmark
{
    private const int Concurrency = 256;

    public static async Task<int> RunAsync(string[] args)
    {
        var numbers = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
        var charges = numbers.Count > 0 ? int.Parse(numbers[0], System.Globalization.CultureInfo.InvariantCulture) : 20_000;
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync(args);
        await using var monitor = AzuriteMonitor.Start(azurite.QueuePort);
        var tables = new TableServiceClient(azurite.ConnectionString);
        var clientDefaults = new TableClientOptions();
        Console.WriteLine($"ledger benchmark: {charges:N0} charges per run, {Concurrency} concurrent callers, Azurite in memory; {BenchmarkOutput.Machine()}");
        Console.WriteLine($"table client defaults: {clientDefaults.Retry.MaxRetries} retries ({clientDefaults.Retry.Mode}, {clientDefaults.Retry.Delay.TotalSeconds:0.#} s first delay), "
            + $"{clientDefaults.Retry.NetworkTimeout.TotalSeconds:0} s network timeout per attempt");

        var failures = new Dictionary<string, string>(StringComparer.Ordinal);
        var phases = new Dictionary<string, AzuriteMonitor.Summary>(StringComparer.Ordinal);
        async Task<T> Measured<T>(string name, Func<CancellationToken, Task<T>> run, T failed)
        {
            var from = monitor.Now;
            var result = await BenchmarkOutput.SurviveAsync(name, failures, run, failed);
            phases[name] = monitor.Between(from, monitor.Now);
            Console.WriteLine($"  {phases[name]}");
            return result;
        }
        // The naive baseline is a contention storm (256 callers racing for one wallet ETag, nearly every attempt a lost
        // round trip): a few hundred charges give its rate; more only keep the emulator saturated for minutes.
        var naive = await Measured("naive", ct => ChargeRunAsync(tables, "naive", teams: 1, charges: Math.Max(200, charges / 40), new LedgerOptions { CommitMode = LedgerCommitMode.PerRequest }, ct), RunResult.Failed);
        Console.WriteLine($"naive, each charge its own read and transaction, one team: {naive.ChargesPerSecond:N1} charges/s");
        var serial = await Measured("serial", ct => ChargeRunAsync(tables, "serial", teams: 1, charges: Math.Max(500, charges / 4), new LedgerOptions { MaxOperationsPerCommit = 1 }, ct), RunResult.Failed);
        Console.WriteLine($"serial, one transaction per charge through the team's committer: {serial.ChargesPerSecond:N0} charges/s");
        // The ceiling right before the hot team, so the two see the same machine (it is shared and its load drifts).
        var raw = await Measured("raw", ct => RawBatchInsertRateAsync(tables, parallel: 1, ct), double.NaN);
        Console.WriteLine($"raw entity-group inserts: {raw:N0} entities/s");
        var hot = await Measured("hot", ct => ChargeRunAsync(tables, "hot", teams: 1, charges, new LedgerOptions(), ct), RunResult.Failed);
        Console.WriteLine($"group commit, one hot team: {hot.ChargesPerSecond:N0} charges/s, p50 {hot.P50:0.0} ms, p99 {hot.P99:0.0} ms");
        var raw8 = await Measured("raw8", ct => RawBatchInsertRateAsync(tables, parallel: 8, ct), double.NaN);
        Console.WriteLine($"raw entity-group inserts, 8 at once: {raw8:N0} entities/s");
        var many = await Measured("many", ct => ChargeRunAsync(tables, "many", teams: 100, charges, new LedgerOptions(), ct), RunResult.Failed);
        Console.WriteLine($"group commit, 100 teams: {many.ChargesPerSecond:N0} charges/s");
        var all = monitor.Between(0, monitor.Now);
        Console.WriteLine($"whole run: {all}");
        await File.WriteAllTextAsync(Path.Combine(BenchmarkOutput.ResultsFolder(), "ledger-azurite.csv"), monitor.Timeline());

        await BenchmarkOutput.WriteAsync("ledger",
        [
            ("raw_batch_entities_per_s", "raw entity-group inserts (entities/s, the ceiling)", raw),
            ("raw_batch_entities_per_s_8_parallel", "raw entity-group inserts, 8 transactions at once (entities/s)", raw8),
            ("naive_charges_per_s", "naive: each charge reads the wallet and commits alone, one team (charges/s)", naive.ChargesPerSecond),
            ("serial_charges_per_s", "serial: one transaction per charge via the team's committer (charges/s)", serial.ChargesPerSecond),
            ("hot_team_charges_per_s", "group commit, one hot team (charges/s)", hot.ChargesPerSecond),
            ("many_teams_charges_per_s", "group commit, 100 teams (charges/s)", many.ChargesPerSecond),
            ("p50_ms", "hot team latency p50 (ms)", hot.P50),
            ("p99_ms", "hot team latency p99 (ms)", hot.P99),
            ("entities_per_charge", "entities written per charge (hot team)", hot.EntitiesPerCharge),
            ("hot_vs_naive", "hot team / naive", hot.ChargesPerSecond / naive.ChargesPerSecond),
            ("hot_vs_serial", "hot team / serial", hot.ChargesPerSecond / serial.ChargesPerSecond),
            ("hot_entities_share_of_raw", "hot team entities/s as a share of raw", hot.ChargesPerSecond * hot.EntitiesPerCharge / raw),
            ("double_charges", "double charges", naive.DoubleCharges + serial.DoubleCharges + hot.DoubleCharges + many.DoubleCharges),
            ("invariant_violations", "verification problems", naive.Violations + serial.Violations + hot.Violations + many.Violations),
            ("azurite_cpu_share_raw", "Azurite CPU during the raw inserts (share of one core)", phases["raw"].AzuriteCpuShare),
            ("self_cpu_share_raw", "this process's CPU during the raw inserts (share of one core)", phases["raw"].SelfCpuShare),
            ("machine_busy_raw", "whole machine busy during the raw inserts (share of all cores)", phases["raw"].MachineBusy),
            ("azurite_cpu_share_hot", "Azurite CPU during the hot team run (share of one core)", phases["hot"].AzuriteCpuShare),
            ("self_cpu_share_hot", "this process's CPU during the hot team run (share of one core)", phases["hot"].SelfCpuShare),
            ("machine_busy_hot", "whole machine busy during the hot team run (share of all cores)", phases["hot"].MachineBusy),
            ("azurite_rss_max_mb", "Azurite's largest resident memory (MB)", all.AzuriteRssMaxMb),
            ("azurite_probe_max_ms", "slowest answer of Azurite to the 1-second probe (ms)", all.ProbeMaxMs),
            ("azurite_stalled_s", "seconds Azurite took over a second to answer the probe", all.StalledSeconds),
        ], new Dictionary<string, string>(failures, StringComparer.Ordinal) { ["emulator"] = BenchmarkOutput.AzuriteNote(args) });
        return failures.Count == 0 && naive.DoubleCharges + serial.DoubleCharges + hot.DoubleCharges + many.DoubleCharges + naive.Violations + serial.Violations + hot.Violations + many.Violations == 0 ? 0 : 1;
    }

    /// <summary>Transactions of 100 inserts, <paramref name="parallel"/> at a time, each stream into a partition of its
    /// own, for about 5 seconds.</summary>
    private static async Task<double> RawBatchInsertRateAsync(TableServiceClient tables, int parallel, CancellationToken cancellationToken)
    {
        var table = tables.GetTableClient("raw" + Guid.NewGuid().ToString("N")[..12]);
        await table.CreateIfNotExistsAsync(cancellationToken);
        var payload = new string('x', 120);
        var watch = Stopwatch.StartNew();
        var entities = 0;
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async stream =>
        {
            for (var batch = 0; watch.Elapsed < TimeSpan.FromSeconds(5) || batch < 20; batch++)
            {
                var actions = Enumerable.Range(0, 100).Select(i => new TableTransactionAction(TableTransactionActionType.Add,
                    new TableEntity($"p{stream}", $"{batch:D6}-{i:D3}") { ["Payload"] = payload, ["Amount"] = 1000L }));
                await table.SubmitTransactionAsync(actions, cancellationToken);
                Interlocked.Add(ref entities, 100);
            }
        }));
        return entities / watch.Elapsed.TotalSeconds;
    }

    /// <summary>What a client does when the outcome is unknown (contention or storage trouble): the same request again.</summary>
    private static async Task<LedgerResult> ChargeWithRetriesAsync(LedgerService ledger, ChargeRequest request)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ledger.ChargeAsync(request);
            }
            catch (LedgerUnavailableException) when (attempt < 100)
            {
                await Task.Delay(Random.Shared.Next(1, 20));
            }
        }
    }

    private sealed record RunResult(double ChargesPerSecond, double P50, double P99, double EntitiesPerCharge, int DoubleCharges, int Violations)
    {
        public static RunResult Failed { get; } = new(double.NaN, double.NaN, double.NaN, double.NaN, 0, 0);
    }

    /// <summary>
    /// Charges from <see cref="Concurrency"/> callers spread over <paramref name="teams"/> teams; one in ten requests
    /// repeats an earlier key (a client retry), which must not charge again.
    /// </summary>
    private static async Task<RunResult> ChargeRunAsync(TableServiceClient tables, string name, int teams, int charges, LedgerOptions mode,
        CancellationToken cancellationToken)
    {
        var options = mode with { TableName = "ledger" + name + Guid.NewGuid().ToString("N")[..8] };
        var ledger = new LedgerService(tables, Catalog.Default, options, TimeProvider.System, NullLogger<LedgerService>.Instance);
        await ledger.InitializeAsync(cancellationToken);
        var teamIds = Enumerable.Range(0, teams).Select(i => $"{name}-team-{i}").ToList();
        foreach (var team in teamIds)
        {
            await ledger.GrantAsync(new GrantRequest(team, "admin", "email", Credits.FromDecimal(1_000_000), GrantKind.TopUp, "grant"));
        }

        var latencies = new double[charges];
        var rowsBefore = TeamCommitterStats.RowsWritten;
        var next = -1;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < charges && !cancellationToken.IsCancellationRequested)
            {
                var n = i % 10 == 9 ? i - 5 : i; // every tenth request repeats an earlier key
                var team = teamIds[n % teams];
                var started = Stopwatch.GetTimestamp();
                var result = await ChargeWithRetriesAsync(ledger, new ChargeRequest(team, "ada", "email", "email_reveal", $"charge-{n}") { SubjectId = $"person-{n}" });
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (result.Status != LedgerStatus.Charged)
                {
                    throw new InvalidOperationException($"charge {n} was {result.Status}");
                }
            }
        })));
        watch.Stop();
        var distinct = Enumerable.Range(0, charges).Select(i => i % 10 == 9 ? i - 5 : i).Distinct().ToList();
        var rows = TeamCommitterStats.RowsWritten - rowsBefore;

        var doubleCharges = 0;
        var violations = 0;
        var checking = Stopwatch.StartNew();
        foreach (var team in teamIds)
        {
            var expected = distinct.Count(n => teamIds[n % teams] == team);
            var balance = (await ledger.GetBalancesAsync(team, CancellationToken.None)).Single(b => b.CreditType == "email");
            doubleCharges += (int)Math.Abs(balance.Spent.Value - expected);
            violations += (await ledger.VerifyAsync(team, CancellationToken.None)).Problems.Count;
        }
        Console.WriteLine($"  {name}: {charges:N0} charges in {watch.Elapsed.TotalSeconds:0.0} s; the money checks (balance and full verification of {teams} team(s), "
            + $"{rows:N0} rows) took {checking.Elapsed.TotalSeconds:0.0} s");
        Array.Sort(latencies);
        var sorted = latencies.ToList();
        return new RunResult(charges / watch.Elapsed.TotalSeconds, BenchmarkOutput.Percentile(sorted, 50), BenchmarkOutput.Percentile(sorted, 99),
            (double)rows / distinct.Count, doubleCharges, violations);
    }
}
