using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using DevHost.Azurite;

namespace CreditFunctions.Benchmarks;

/// <summary>Shared plumbing: the benchmark's own Azurite, percentiles, the printed table and the JSON file.</summary>
internal static class BenchmarkOutput
{
    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static Task<AzuriteProcess> StartAzuriteAsync() =>
        AzuriteProcess.StartAsync(new AzuriteOptions());

    public static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p / 100 * sorted.Count) - 1)];

    public static string Machine() =>
        $"{Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB, {RuntimeInformation.OSDescription.Trim()}, .NET {Environment.Version}";

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
        var folder = Path.Combine(AzuriteProcess.FindRepositoryRoot() ?? Directory.GetCurrentDirectory(), "bench-results");
        Directory.CreateDirectory(folder);
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
