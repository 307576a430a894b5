using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// Counts the HTTP requests this process sends to the emulator, by service and method, from .NET's own HTTP client
/// metrics (<c>System.Net.Http</c>'s <c>http.client.request.duration</c>, one measurement per request on the wire, so a
/// retry counts again). Every client in the process is seen, whoever built it: the Durable Task Framework's Azure
/// Storage provider creates its own Blob, Queue and Table clients inside the dev host, and they are counted like the
/// app's. A metric listener costs next to nothing (no text is formatted), so it stays on while the clock runs.
/// Requests other processes send (a second worker process) are not counted.
/// </summary>
internal sealed class StorageRequestCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<int, string> _services;
    private ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    /// <summary>Counts requests to the emulator whose services listen on these ports.</summary>
    public StorageRequestCounter(int blobPort, int queuePort, int tablePort)
    {
        _services = new Dictionary<int, string> { [blobPort] = "blob", [queuePort] = "queue", [tablePort] = "table" };
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "System.Net.Http" && instrument.Name == "http.client.request.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>The counts since the last call, by "service METHOD", and a fresh start.</summary>
    public Dictionary<string, long> Take()
    {
        var counts = Interlocked.Exchange(ref _counts, new ConcurrentDictionary<string, long>(StringComparer.Ordinal));
        return counts.ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
    }

    /// <summary>What a "service METHOD" count means on Azure Storage.</summary>
    public static string Describe(string kind) => kind switch
    {
        "queue GET" => "queue GET (receive messages)",
        "queue POST" => "queue POST (send a message)",
        "queue DELETE" => "queue DELETE (delete a message)",
        "queue PUT" => "queue PUT (update a message's visibility, or create a queue)",
        "table GET" => "table GET (query or point read)",
        "table POST" => "table POST (entity-group transaction, or insert)",
        "table PATCH" or "table MERGE" => $"{kind} (merge an entity)",
        "table PUT" => "table PUT (replace or upsert an entity)",
        "blob PUT" => "blob PUT (write a blob, or a lease operation)",
        "blob GET" => "blob GET (read a blob or list)",
        _ => kind,
    };

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, double measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? method = null;
        int? port = null;
        foreach (var (key, value) in tags)
        {
            if (key == "http.request.method")
            {
                method = value as string;
            }
            else if (key == "server.port" && value is int p)
            {
                port = p;
            }
        }
        if (port is { } known && _services.TryGetValue(known, out var service))
        {
            _counts.AddOrUpdate($"{service} {method ?? "?"}", 1, (_, n) => n + 1);
        }
    }
}

/// <summary>
/// When orchestration instances reached a terminal state in this process, from the Azure Storage provider's own
/// <c>InstanceStatusUpdate</c> event (event source <c>DurableTask-AzureStorage</c>, written right after the instance
/// row is updated): a waiting client in the worker's process is notified at once, without polling storage.
/// </summary>
internal sealed class InstanceCompletions : EventListener
{
    private ConcurrentDictionary<string, TaskCompletionSource<string>>? _finished;

    public InstanceCompletions() => _finished = new(StringComparer.Ordinal);

    /// <summary>Events the provider's event source wrote so far (each costs a little CPU while this listener is on).</summary>
    public long EventsSeen => Interlocked.Read(ref _eventsSeen);

    private long _eventsSeen;

    /// <summary>Completes with the runtime status once <paramref name="instanceId"/> is completed, failed or terminated.</summary>
    public Task<string> WaitAsync(string instanceId) => Signal(instanceId).Task;

    /// <summary>Forgets an instance (after it was awaited).</summary>
    public void Forget(string instanceId) => _finished?.TryRemove(instanceId, out _);

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name.StartsWith("DurableTask-AzureStorage", StringComparison.Ordinal))
        {
            EnableEvents(eventSource, EventLevel.Informational);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        Interlocked.Increment(ref _eventsSeen);
        if (_finished is null || eventData.EventName != "InstanceStatusUpdate" || eventData.PayloadNames is not { } names || eventData.Payload is not { } payload)
        {
            return;
        }
        var instanceId = payload[names.IndexOf("InstanceId")] as string;
        var status = payload[names.IndexOf("RuntimeStatus")] as string;
        if (instanceId is not null && status is "Completed" or "Failed" or "Terminated")
        {
            Signal(instanceId).TrySetResult(status);
        }
    }

    private TaskCompletionSource<string> Signal(string instanceId) =>
        _finished!.GetOrAdd(instanceId, _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));
}
