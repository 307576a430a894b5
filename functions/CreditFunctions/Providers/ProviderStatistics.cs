using System.Collections.Concurrent;

namespace CreditFunctions.Providers;

/// <summary>One provider's statistics since the process started (or <see cref="ProviderStatistics.Reset"/>).</summary>
/// <param name="Provider">The provider's name.</param>
/// <param name="Calls">Calls made through <see cref="ProviderCaller"/> (one per lookup, whatever its retries).</param>
/// <param name="Attempts">HTTP requests sent, retries included.</param>
/// <param name="Hits">Calls that found the data.</param>
/// <param name="Misses">Calls the provider answered without the data.</param>
/// <param name="Verdicts">Verification calls answered with a verdict.</param>
/// <param name="Failures">Failed calls by <see cref="ProviderErrorKind"/> (only kinds that occurred).</param>
/// <param name="LatencyP50Milliseconds">Median call latency over the most recent calls; null before the first call.</param>
/// <param name="LatencyP95Milliseconds">95th percentile, as above.</param>
/// <param name="LatencyP99Milliseconds">99th percentile, as above.</param>
/// <param name="LatencySamples">How many recent calls the percentiles cover (at most <see cref="ProviderStatistics.ReservoirSize"/>).</param>
/// <param name="CostSpent">What the answered calls cost us (<see cref="ProviderEndpoint.CostPerCall"/> each).</param>
public sealed record ProviderStatisticsSnapshot(
    string Provider,
    long Calls,
    long Attempts,
    long Hits,
    long Misses,
    long Verdicts,
    IReadOnlyDictionary<ProviderErrorKind, long> Failures,
    double? LatencyP50Milliseconds,
    double? LatencyP95Milliseconds,
    double? LatencyP99Milliseconds,
    int LatencySamples,
    decimal CostSpent);

/// <summary>
/// Per-provider counters kept in memory by <see cref="ProviderCaller"/>: calls, attempts, hits, misses, verdicts,
/// failures by kind, cost, and latency percentiles over the most recent <see cref="ReservoirSize"/> calls. Thread-safe;
/// per process (each server instance counts its own calls).
/// </summary>
public sealed class ProviderStatistics
{
    /// <summary>How many recent latencies each provider keeps for its percentiles.</summary>
    public const int ReservoirSize = 1024;

    private readonly ConcurrentDictionary<string, Counters> _providers = new(StringComparer.Ordinal);

    /// <summary>Every provider called so far, by name.</summary>
    public IReadOnlyList<ProviderStatisticsSnapshot> Snapshot() =>
        [.. _providers.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value.Snapshot(p.Key))];

    /// <summary>One provider's statistics; zeros when it was never called.</summary>
    public ProviderStatisticsSnapshot Snapshot(string provider) =>
        _providers.TryGetValue(provider, out var counters) ? counters.Snapshot(provider) : new Counters().Snapshot(provider);

    /// <summary>Forgets everything counted so far.</summary>
    public void Reset() => _providers.Clear();

    internal void Record(ProviderOutcome outcome, decimal cost) =>
        _providers.GetOrAdd(outcome.Provenance.Provider, _ => new Counters()).Record(outcome, cost);

    private sealed class Counters
    {
        private readonly Lock _lock = new();
        private readonly double[] _latencies = new double[ReservoirSize];
        private readonly Dictionary<ProviderErrorKind, long> _failures = [];
        private long _calls, _attempts, _hits, _misses, _verdicts;
        private int _next, _count;
        private decimal _cost;

        public void Record(ProviderOutcome outcome, decimal cost)
        {
            lock (_lock)
            {
                _calls++;
                _attempts += outcome.Provenance.Attempts;
                _cost += cost;
                switch (outcome)
                {
                    case ProviderHit: _hits++; break;
                    case ProviderMiss: _misses++; break;
                    case ProviderVerified: _verdicts++; break;
                    case ProviderFailed failed: _failures[failed.Kind] = _failures.GetValueOrDefault(failed.Kind) + 1; break;
                }
                _latencies[_next] = outcome.Provenance.Latency.TotalMilliseconds;
                _next = (_next + 1) % ReservoirSize;
                _count = Math.Min(_count + 1, ReservoirSize);
            }
        }

        public ProviderStatisticsSnapshot Snapshot(string provider)
        {
            double[] sorted;
            lock (_lock)
            {
                sorted = _latencies[.._count];
                Array.Sort(sorted);
                return new ProviderStatisticsSnapshot(provider, _calls, _attempts, _hits, _misses, _verdicts,
                    new Dictionary<ProviderErrorKind, long>(_failures), Percentile(sorted, 0.50), Percentile(sorted, 0.95), Percentile(sorted, 0.99),
                    _count, _cost);
            }
        }

        // Nearest rank: the smallest sample with at least p of the samples at or below it.
        private static double? Percentile(double[] sorted, double p) =>
            sorted.Length == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
