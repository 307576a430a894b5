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
        var charges = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 20_000;
        await using var azurite = await BenchmarkOutput.StartAzuriteAsync();
        var tables = new TableServiceClient(azurite.ConnectionString);
        Console.WriteLine($"ledger benchmark: {charges:N0} charges per run, {Concurrency} concurrent callers, Azurite in memory");

        var failures = new Dictionary<string, string>(StringComparer.Ordinal);
        var raw = await SurviveAsync("raw", failures, () => RawBatchInsertRateAsync(tables), double.NaN);
        Console.WriteLine($"raw entity-group inserts: {raw:N0} entities/s");
        var naive = await SurviveAsync("naive", failures, () => ChargeRunAsync(tables, "naive", teams: 1, charges: Math.Max(500, charges / 10), new LedgerOptions { CommitMode = LedgerCommitMode.PerRequest }), RunResult.Failed);
        Console.WriteLine($"naive, each charge its own read and transaction, one team: {naive.ChargesPerSecond:N0} charges/s");
        var serial = await SurviveAsync("serial", failures, () => ChargeRunAsync(tables, "serial", teams: 1, charges: Math.Max(500, charges / 4), new LedgerOptions { MaxOperationsPerCommit = 1 }), RunResult.Failed);
        Console.WriteLine($"serial, one transaction per charge through the team's committer: {serial.ChargesPerSecond:N0} charges/s");
        var hot = await SurviveAsync("hot", failures, () => ChargeRunAsync(tables, "hot", teams: 1, charges, new LedgerOptions()), RunResult.Failed);
        Console.WriteLine($"group commit, one hot team: {hot.ChargesPerSecond:N0} charges/s, p50 {hot.P50:0.0} ms, p99 {hot.P99:0.0} ms");
        var many = await SurviveAsync("many", failures, () => ChargeRunAsync(tables, "many", teams: 100, charges, new LedgerOptions()), RunResult.Failed);
        Console.WriteLine($"group commit, 100 teams: {many.ChargesPerSecond:N0} charges/s");

        await BenchmarkOutput.WriteAsync("ledger",
        [
            ("raw_batch_entities_per_s", "raw entity-group inserts (entities/s, the ceiling)", raw),
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
        ], failures);
        return failures.Count == 0 && naive.DoubleCharges + serial.DoubleCharges + hot.DoubleCharges + many.DoubleCharges + naive.Violations + serial.Violations + hot.Violations + many.Violations == 0 ? 0 : 1;
    }

    /// <summary>
    /// Runs one scenario; a storage failure or a stall of the emulator (nothing finishes for <see cref="StallLimit"/>)
    /// is reported in the results as <c>failed_&lt;scenario&gt;</c> with what happened, instead of ending the process.
    /// </summary>
    private static async Task<T> SurviveAsync<T>(string name, Dictionary<string, string> failures, Func<Task<T>> run, T failed)
    {
        try
        {
            return await run().WaitAsync(StallLimit);
        }
        catch (Exception ex) when (ex is TimeoutException or Azure.RequestFailedException or LedgerUnavailableException or AggregateException
            or InvalidOperationException or HttpRequestException or TaskCanceledException)
        {
            var reason = ex is TimeoutException ? $"did not finish within {StallLimit.TotalMinutes:0} minutes (the emulator stalled)" : $"{ex.GetType().Name}: {ex.Message.Split('\n')[0]}";
            Console.WriteLine($"{name}: {reason}");
            failures["failed_" + name] = reason;
            return failed;
        }
    }

    private static TimeSpan StallLimit { get; } = TimeSpan.FromMinutes(10);

    /// <summary>Sequential transactions of 100 inserts into one partition for about 3 seconds.</summary>
    private static async Task<double> RawBatchInsertRateAsync(TableServiceClient tables)
    {
        var table = tables.GetTableClient("raw" + Guid.NewGuid().ToString("N")[..12]);
        await table.CreateIfNotExistsAsync();
        var payload = new string('x', 120);
        var watch = Stopwatch.StartNew();
        var entities = 0;
        for (var batch = 0; watch.Elapsed < TimeSpan.FromSeconds(3) || batch < 20; batch++)
        {
            var actions = Enumerable.Range(0, 100).Select(i => new TableTransactionAction(TableTransactionActionType.Add,
                new TableEntity("p", $"{batch:D6}-{i:D3}") { ["Payload"] = payload, ["Amount"] = 1000L }));
            await table.SubmitTransactionAsync(actions);
            entities += 100;
        }
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
    private static async Task<RunResult> ChargeRunAsync(TableServiceClient tables, string name, int teams, int charges, LedgerOptions mode)
    {
        var options = mode with { TableName = "ledger" + name + Guid.NewGuid().ToString("N")[..8] };
        var ledger = new LedgerService(tables, Catalog.Default, options, TimeProvider.System, NullLogger<LedgerService>.Instance);
        await ledger.InitializeAsync();
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
            while ((i = Interlocked.Increment(ref next)) < charges)
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
        foreach (var team in teamIds)
        {
            var expected = distinct.Count(n => teamIds[n % teams] == team);
            var balance = (await ledger.GetBalancesAsync(team)).Single(b => b.CreditType == "email");
            doubleCharges += (int)Math.Abs(balance.Spent.Value - expected);
            violations += (await ledger.VerifyAsync(team)).Problems.Count;
        }
        Array.Sort(latencies);
        var sorted = latencies.ToList();
        return new RunResult(charges / watch.Elapsed.TotalSeconds, BenchmarkOutput.Percentile(sorted, 50), BenchmarkOutput.Percentile(sorted, 99),
            (double)rows / distinct.Count, doubleCharges, violations);
    }
}
