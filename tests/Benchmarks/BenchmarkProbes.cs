using System.Collections.Concurrent;
using System.Diagnostics;
using Azure.Core;
using Azure.Core.Pipeline;
using CreditFunctions.AzureStorage;
using CreditFunctions.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// When each orchestration instance reached its terminal state, taken from the durable worker's own
/// "Orchestration {InstanceId} finished" log event (written right after the terminal state is committed): with it the
/// benchmark measures how long after the commit a waiting client has read the state. In-process only; an
/// <see cref="ILoggerProvider"/> the benchmark adds to the app.
/// </summary>
internal sealed class CompletionSignals : ILoggerProvider, ILogger
{
    private const int InstanceFinishedEventId = 2103;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<long>> _finished = new(StringComparer.Ordinal);

    /// <summary>The <see cref="Stopwatch.GetTimestamp"/> at which the instance finished (completes at once when it already has).</summary>
    public Task<long> WaitAsync(string instanceId) => Signal(instanceId).Task;

    public ILogger CreateLogger(string categoryName) => categoryName == "CreditFunctions.Durable.DurableWorker" ? this : NullLogger.Instance;

    public void Dispose()
    {
    }

    IDisposable? ILogger.BeginScope<TState>(TState state) => null;

    bool ILogger.IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    void ILogger.Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id != InstanceFinishedEventId || state is not IReadOnlyList<KeyValuePair<string, object?>> values)
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        foreach (var (key, value) in values)
        {
            if (key == "InstanceId" && value is string instanceId)
            {
                Signal(instanceId).TrySetResult(now);
            }
        }
    }

    private TaskCompletionSource<long> Signal(string instanceId) =>
        _finished.GetOrAdd(instanceId, _ => new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));

    private sealed class NullLogger : ILogger
    {
        public static NullLogger Instance { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => false;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
        }
    }
}

/// <summary>
/// Counts the app's storage requests by service and operation and times each attempt on the wire: the app's three
/// storage clients are registered again with this policy added (the benchmark's own profile, not the app's telemetry).
/// </summary>
internal sealed class StorageOpCounter
{
    private readonly ConcurrentDictionary<string, Samples> _ops = new(StringComparer.Ordinal);

    public sealed record Op(string Name, long Count, double P50, double P99);

    public void Register(IServiceCollection services)
    {
        services.AddSingleton(sp => sp.GetRequiredService<StorageAccount>().CreateTableServiceClient(Options("table")));
        services.AddSingleton(sp => sp.GetRequiredService<StorageAccount>().CreateQueueServiceClient(Options("queue")));
        services.AddSingleton(sp => sp.GetRequiredService<StorageAccount>().CreateBlobServiceClient(Options("blob")));
    }

    public void Reset() => _ops.Clear();

    public List<Op> Snapshot() => [.. _ops.Select(o => o.Value.Summarize(o.Key))];

    private StorageClientOptions Options(string service)
    {
        var options = new StorageClientOptions();
        options.AddPolicy(new CountingPolicy(this, service), HttpPipelinePosition.PerRetry);
        return options;
    }

    private readonly ConcurrentQueue<(long Started, long Ended, string Name)> _trace = new();

    /// <summary>Whether each request is also kept with its start and end time (for <see cref="Timeline"/>).</summary>
    public bool Tracing { get; set; }

    /// <summary>The requests that started between two <see cref="Stopwatch.GetTimestamp"/> values, in order.</summary>
    public List<(long Started, long Ended, string Name)> Timeline(long from, long to) =>
        [.. _trace.Where(t => t.Started >= from && t.Started <= to).OrderBy(t => t.Started)];

    private void Record(string name, long started)
    {
        var ended = Stopwatch.GetTimestamp();
        _ops.GetOrAdd(name, _ => new Samples()).Add(Stopwatch.GetElapsedTime(started, ended).TotalMilliseconds);
        if (Tracing)
        {
            _trace.Enqueue((started, ended, name));
        }
    }

    private static string Classify(string service, HttpMessage message)
    {
        var name = Operation(service, message);
        var status = message.HasResponse ? message.Response.Status : 0;
        return status is >= 200 and < 300 ? name : $"{name} ({(status == 0 ? "no response" : status.ToString(System.Globalization.CultureInfo.InvariantCulture))})";
    }

    private static string Operation(string service, HttpMessage message)
    {
        var method = message.Request.Method.Method;
        var path = message.Request.Uri.Path;
        return service switch
        {
            "queue" when path.EndsWith("/messages", StringComparison.Ordinal) => method == "POST" ? "queue send" : "queue receive",
            "queue" when path.Contains("/messages/", StringComparison.Ordinal) => method == "DELETE" ? "queue delete" : "queue update",
            "table" when path.EndsWith("$batch", StringComparison.Ordinal) => "table transaction",
            "table" when method == "GET" => path.Contains("(PartitionKey=", StringComparison.Ordinal) ? "table point read" : "table query",
            "table" when method == "POST" => "table insert",
            _ => $"{service} {method.ToLowerInvariant()}",
        };
    }

    private sealed class Samples
    {
        private readonly Lock _lock = new();
        private readonly List<double> _ms = [];

        public void Add(double ms)
        {
            lock (_lock)
            {
                _ms.Add(ms);
            }
        }

        public Op Summarize(string name)
        {
            List<double> sorted;
            lock (_lock)
            {
                sorted = [.. _ms];
            }
            sorted.Sort();
            return new Op(name, sorted.Count, BenchmarkOutput.Percentile(sorted, 50), BenchmarkOutput.Percentile(sorted, 99));
        }
    }

    private sealed class CountingPolicy(StorageOpCounter counter, string service) : HttpPipelinePolicy
    {
        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                ProcessNext(message, pipeline);
            }
            finally
            {
                counter.Record(Classify(service, message), started);
            }
        }

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await ProcessNextAsync(message, pipeline);
            }
            finally
            {
                counter.Record(Classify(service, message), started);
            }
        }
    }
}

/// <summary>
/// CPU time of this process (the app, the sandbox and the driver) and of its Azurite child: on a shared, noisy machine
/// CPU per person is steadier than wall time, and it bounds throughput (2 cores = 2,000 ms of CPU per second).
/// </summary>
internal sealed class CpuMeter
{
    private readonly Process? _azurite = FindChild("node");

    public (double SelfMs, double AzuriteMs) Now()
    {
        using var self = Process.GetCurrentProcess();
        double azurite = 0;
        if (_azurite is not null)
        {
            _azurite.Refresh();
            azurite = _azurite.TotalProcessorTime.TotalMilliseconds;
        }
        return (self.TotalProcessorTime.TotalMilliseconds, azurite);
    }

    private static Process? FindChild(string name)
    {
        if (!Directory.Exists("/proc"))
        {
            return null;
        }
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(folder, "stat"));
                // pid (comm) state ppid ...
                var close = stat.LastIndexOf(')');
                var comm = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..close];
                var parent = int.Parse(stat[(close + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                if (parent == Environment.ProcessId && comm == name)
                {
                    return Process.GetProcessById(int.Parse(Path.GetFileName(folder), System.Globalization.CultureInfo.InvariantCulture));
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentException or InvalidOperationException)
            {
            }
        }
        return null;
    }
}
