using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// This benchmark program started again as a second OS process running a durable worker on a given hub (scenario
/// <c>durable-worker</c>). It prints a ready line once it receives work, answers "count" with the activities it has
/// run, and stops when its standard input closes, so it never outlives the benchmark.
/// </summary>
internal sealed class BenchmarkWorkerProcess : IAsyncDisposable
{
    public const string StorageVariable = "CREDITFUNCTIONS_BENCHMARK_STORAGE";
    public const string ReadyLine = "ready";
    public const string CountCommand = "count";

    private readonly Process _process;

    private BenchmarkWorkerProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    public static async Task<BenchmarkWorkerProcess> StartAsync(string connectionString, string hubName)
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
        start.ArgumentList.Add(hubName);
        start.Environment[StorageVariable] = connectionString;
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the second worker process.");
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line != ReadyLine)
        {
            process.Kill();
            throw new InvalidOperationException($"The second worker process did not start (it printed '{line}').");
        }
        return new BenchmarkWorkerProcess(process);
    }

    /// <summary>How many activities the process has run so far.</summary>
    public async Task<long> CountActivitiesAsync()
    {
        await _process.StandardInput.WriteLineAsync(CountCommand);
        await _process.StandardInput.FlushAsync();
        var line = await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return long.Parse(line ?? throw new InvalidOperationException("The second worker process ended."), CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.Close();
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                _process.Kill();
            }
        }
        _process.Dispose();
    }
}
