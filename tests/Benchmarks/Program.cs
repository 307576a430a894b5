using CreditFunctions.Benchmarks;

// dotnet run -c Release --project tests/Benchmarks -- <scenario>
// Each scenario starts its own in-memory Azurite, measures everything it reports in one run (so ratios compare
// like with like on a shared, noisy machine), prints a table and writes bench-results/<scenario>.json.
var scenarios = new Dictionary<string, Func<string[], Task<int>>>(StringComparer.Ordinal)
{
    ["ledger"] = LedgerBenchmark.RunAsync,
    ["durable"] = DurableBenchmark.RunAsync,
    ["waterfall"] = WaterfallBenchmark.RunAsync,
    ["soak"] = SoakBenchmark.RunAsync,
    ["csv"] = CsvBenchmark.RunAsync,
    ["inbound"] = InboundBenchmark.RunAsync,
    ["tracking"] = TrackingBenchmark.RunAsync,
};
if (args.Length > 0 && args[0] == DurableBenchmark.WorkerScenario)
{
    // The durable scenario starts this program again as its second worker process.
    return await DurableBenchmark.RunWorkerAsync(args[1..]);
}
if (args.Length == 0 || !scenarios.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: dotnet run -c Release --project tests/Benchmarks -- <{string.Join('|', scenarios.Keys)}> [options]");
    return 2;
}
return await run(args[1..]);
