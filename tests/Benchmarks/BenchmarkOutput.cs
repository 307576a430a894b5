using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using DevHost.Azurite;

namespace CreditFunctions.Benchmarks;

/// <summary>Shared plumbing: the benchmark's own Azurite, percentiles, the printed table and the JSON file.</summary>
internal static class BenchmarkOutput
{
    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>
    /// The benchmark's own Azurite, in memory on free ports. Unless <c>--azurite-as-shipped</c> is among the
    /// arguments, it runs with <c>azurite-queue-gc.cjs</c> preloaded: Azurite's once-a-minute queue garbage collection
    /// is quadratic in the message extents deleted since the last sweep and blocks its event loop for tens of seconds
    /// to minutes under a few hundred queue messages a second (measured: see the README). Tests and local runs never
    /// load it.
    /// </summary>
    public static async Task<AzuriteProcess> StartAzuriteAsync(IReadOnlyCollection<string>? args = null)
    {
        if (args?.Contains(AsShippedOption) == true)
        {
            Console.WriteLine("Azurite as shipped (its queue garbage collection unpatched)");
            return await AzuriteProcess.StartAsync(new AzuriteOptions());
        }
        var nodeOptions = Environment.GetEnvironmentVariable("NODE_OPTIONS");
        Environment.SetEnvironmentVariable("NODE_OPTIONS",
            $"{nodeOptions} --require \"{Path.Combine(AppContext.BaseDirectory, "azurite-queue-gc.cjs")}\"".Trim());
        try
        {
            return await AzuriteProcess.StartAsync(new AzuriteOptions());
        }
        finally
        {
            Environment.SetEnvironmentVariable("NODE_OPTIONS", nodeOptions);
        }
    }

    /// <summary>Runs the benchmark's Azurite without the queue garbage collection patch.</summary>
    public const string AsShippedOption = "--azurite-as-shipped";

    /// <summary>What the JSON says of the emulator.</summary>
    public static string AzuriteNote(IReadOnlyCollection<string> args) => args.Contains(AsShippedOption)
        ? "Azurite 3.37.0 in memory, as shipped"
        : "Azurite 3.37.0 in memory, its queue garbage collection patched (azurite-queue-gc.cjs)";

    /// <summary>How long a part of a scenario may go without finishing before it counts as stalled.</summary>
    public static TimeSpan StallLimit { get; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Runs one part of a scenario; a storage failure or a stall of the emulator (the part does not finish within
    /// <see cref="StallLimit"/>) is reported in the results as <c>failed_&lt;name&gt;</c> with what happened, and the
    /// scenario goes on with <paramref name="failed"/> for that part instead of ending the process. A part that ran out
    /// of time is cancelled and given a minute to stop, so its callers do not go on loading the emulator under the
    /// parts that follow.
    /// </summary>
    public static async Task<T> SurviveAsync<T>(string name, Dictionary<string, string> failures, Func<CancellationToken, Task<T>> run, T failed,
        TimeSpan? limit = null)
    {
        var stallLimit = limit ?? StallLimit;
        using var cancel = new CancellationTokenSource();
        var task = run(cancel.Token);
        try
        {
            return await task.WaitAsync(stallLimit);
        }
        catch (Exception ex) when (ex is TimeoutException or Azure.RequestFailedException or CreditFunctions.Ledger.LedgerUnavailableException or AggregateException
            or InvalidOperationException or HttpRequestException or OperationCanceledException or IOException or DurableTask.Core.Exceptions.OrchestrationException)
        {
            var reason = ex is TimeoutException
                ? $"did not finish within {stallLimit.TotalMinutes:0} minutes (the emulator stalled or the machine was starved)"
                : $"{ex.GetType().Name}: {ex.Message.Split('\n')[0]}";
            Console.WriteLine($"{name}: {reason}");
            failures["failed_" + name] = reason;
            if (ex is TimeoutException)
            {
                await cancel.CancelAsync();
                await Task.WhenAny(task, Task.Delay(TimeSpan.FromMinutes(1)));
            }
            return failed;
        }
    }

    public static double Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p / 100 * sorted.Count) - 1)];

    public static string Machine() =>
        $"{Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB, {RuntimeInformation.OSDescription.Trim()}, .NET {Environment.Version}";

    /// <summary><c>bench-results</c> at the repository root (created when missing).</summary>
    public static string ResultsFolder()
    {
        var folder = Path.Combine(AzuriteProcess.FindRepositoryRoot() ?? Directory.GetCurrentDirectory(), "bench-results");
        Directory.CreateDirectory(folder);
        return folder;
    }

    public static async Task WriteAsync(string scenario, IReadOnlyList<(string Key, string Label, double Value)> results,
        IReadOnlyDictionary<string, string>? notes = null)
    {
        Console.WriteLine();
        Console.WriteLine($"| {scenario} metric | value |");
        Console.WriteLine("|---|---|");
        foreach (var (_, label, value) in results)
        {
            Console.WriteLine($"| {label} | {value.ToString(value >= 100 ? "N0" : "0.##", CultureInfo.InvariantCulture)} |");
        }
        var folder = ResultsFolder();
        var document = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["scenario"] = scenario,
            ["measured_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["machine"] = Machine(),
        };
        foreach (var (key, text) in notes ?? new Dictionary<string, string>())
        {
            document[key] = text;
        }
        foreach (var (key, _, value) in results)
        {
            document[key] = Math.Round(value, 3);
        }
        var path = Path.Combine(folder, scenario + ".json");
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(document, s_indented));
        Console.WriteLine($"\nwritten: bench-results/{scenario}.json ({Machine()})");
    }
}
