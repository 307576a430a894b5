using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// The sandbox vendors' own time inside each request the benchmark makes: ASP.NET Core's hosting diagnostics
/// (<c>Microsoft.AspNetCore.Hosting.HttpRequestIn</c> start and stop) give every request the in-process sandbox
/// server handles, from the moment it arrives to the moment its answer is written (the configured 20 ms plus the
/// sandbox's own handling). The W3C trace context carries the benchmark's trace id from its call to the app, through
/// the app's HTTP pipeline, to the app's provider calls and so to the sandbox: the vendor time of one reveal is the
/// sum of the sandbox requests under its trace id.
/// </summary>
internal sealed class VendorTimer : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    private const string StartedKey = "bench.vendor.started";
    private readonly int _sandboxPort;
    private readonly ConcurrentDictionary<ActivityTraceId, (double Ms, int Calls)> _byTrace = new();
    private readonly List<IDisposable> _subscriptions = [];
    private readonly IDisposable _all;

    public VendorTimer(int sandboxPort)
    {
        _sandboxPort = sandboxPort;
        _all = DiagnosticListener.AllListeners.Subscribe(this);
    }

    /// <summary>The sandbox's time and calls under <paramref name="trace"/> (and forgets them).</summary>
    public (double Ms, int Calls) Take(ActivityTraceId trace) => _byTrace.TryRemove(trace, out var total) ? total : (0, 0);

    /// <summary>Forgets every trace (the requests of earlier phases).</summary>
    public void Clear() => _byTrace.Clear();

    public void OnNext(DiagnosticListener value)
    {
        // Every ASP.NET Core host in the process (the dev host's and the sandbox's) has a listener of this name; a
        // subscription also makes the dev host create the request activity that carries the trace id to the app.
        if (value.Name == "Microsoft.AspNetCore")
        {
            lock (_subscriptions)
            {
                _subscriptions.Add(value.Subscribe(this, name => name.StartsWith("Microsoft.AspNetCore.Hosting.HttpRequestIn", StringComparison.Ordinal)));
            }
        }
    }

    public void OnNext(KeyValuePair<string, object?> value)
    {
        if (value.Value is not HttpContext http || http.Connection.LocalPort != _sandboxPort)
        {
            return;
        }
        if (value.Key.EndsWith(".Start", StringComparison.Ordinal))
        {
            http.Items[StartedKey] = Stopwatch.GetTimestamp();
        }
        else if (value.Key.EndsWith(".Stop", StringComparison.Ordinal) && http.Items[StartedKey] is long started
            && http.Features.Get<IHttpActivityFeature>()?.Activity is { } activity)
        {
            var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            _byTrace.AddOrUpdate(activity.TraceId, (ms, 1), (_, t) => (t.Ms + ms, t.Calls + 1));
        }
    }

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    public void Dispose()
    {
        _all.Dispose();
        lock (_subscriptions)
        {
            foreach (var subscription in _subscriptions)
            {
                subscription.Dispose();
            }
        }
    }
}
