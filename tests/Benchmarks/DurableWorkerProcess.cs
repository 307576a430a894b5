using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// This benchmark program started again as a second OS process: a dev host with the benchmark's Durable functions on
/// a given task hub (scenario <c>durable-worker</c>; the dev host gives every process its own worker id). It prints a
/// ready line once started, answers "count" with the activities it has run, and stops when its standard input
/// closes, so it never outlives the benchmark.
/// </summary>
internal sealed class DurableWorkerProcess : IAsyncDisposable
{
    public const string StorageVariable = "CREDITFUNCTIONS_BENCHMARK_STORAGE";
    public const string ReadyLine = "ready";
    public const string CountCommand = "count";

    private readonly Process _process;

    private DurableWorkerProcess(Process process) => _process = process;

    public static async Task<DurableWorkerProcess> StartAsync(string connectionString, string hub, string hostJson)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("The benchmark's executable is unknown.");
        var start = new ProcessStartInfo(self)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location); // run as 'dotnet CreditFunctions.Benchmarks.dll'
        }
        start.ArgumentList.Add(DurableBenchmark.WorkerScenario);
        start.ArgumentList.Add(hub);
        start.ArgumentList.Add(hostJson);
        start.Environment[StorageVariable] = connectionString;
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the second worker process.");
        var worker = new DurableWorkerProcess(process);
        try
        {
            await worker.ReadLineStartingAsync(ReadyLine, TimeSpan.FromSeconds(120));
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw new InvalidOperationException($"The second worker process did not start: {ex.Message}", ex);
        }
        return worker;
    }

    /// <summary>How many activities the process has run so far.</summary>
    public async Task<long> CountActivitiesAsync()
    {
        await _process.StandardInput.WriteLineAsync(CountCommand);
        await _process.StandardInput.FlushAsync();
        var line = await ReadLineStartingAsync(CountCommand + "=", TimeSpan.FromSeconds(30));
        return long.Parse(line[(CountCommand.Length + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>The next line of the process's output that starts with <paramref name="prefix"/> (its log lines share the output).</summary>
    private async Task<string> ReadLineStartingAsync(string prefix, TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        while (true)
        {
            var line = await _process.StandardOutput.ReadLineAsync(limit.Token)
                ?? throw new InvalidOperationException("The second worker process ended.");
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line;
            }
            Console.WriteLine($"  [second worker] {line}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.Close();
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
    }
}
