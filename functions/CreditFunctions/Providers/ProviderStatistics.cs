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
/// failures by kind, cost, and latency percentiles over the most recent calls. Kept twice: platform-wide
/// (<see cref="Snapshot(string)"/>, <see cref="ReservoirSize"/> latencies per provider: for operators only) and per team
/// (<see cref="SnapshotForTeam"/>, <see cref="TeamReservoirSize"/> latencies per provider, for at most
/// <see cref="TeamsMax"/> teams: when a new team would pass that, the teams counted least recently are forgotten).
/// Thread-safe; per process (each server instance counts its own calls).
/// </summary>
public sealed class ProviderStatistics
{
    /// <summary>How many recent latencies each provider keeps for its platform-wide percentiles.</summary>
    public const int ReservoirSize = 1024;

    /// <summary>How many recent latencies each provider keeps per team.</summary>
    public const int TeamReservoirSize = 128;

    /// <summary>How many teams' counters are kept at most.</summary>
    public const int TeamsMax = 2000;

    private readonly ConcurrentDictionary<string, Counters> _providers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TeamCounters> _teams = new(StringComparer.Ordinal);
    private readonly Lock _evictionLock = new();
    private long _tick;

    /// <summary>Every provider called so far, by name (platform-wide).</summary>
    public IReadOnlyList<ProviderStatisticsSnapshot> Snapshot() =>
        [.. _providers.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value.Snapshot(p.Key))];

    /// <summary>One provider's platform-wide statistics; zeros when it was never called. Not for team keys.</summary>
    public ProviderStatisticsSnapshot Snapshot(string provider) =>
        _providers.TryGetValue(provider, out var counters) ? counters.Snapshot(provider) : new Counters(0).Snapshot(provider);

    /// <summary>One provider's statistics of the calls made for <paramref name="teamId"/> only; zeros when it made none
    /// (or was forgotten, see the class remarks).</summary>
    public ProviderStatisticsSnapshot SnapshotForTeam(string teamId, string provider) =>
        _teams.TryGetValue(teamId, out var team) && team.Providers.TryGetValue(provider, out var counters)
            ? counters.Snapshot(provider) : new Counters(0).Snapshot(provider);

    /// <summary>How many teams have counters now.</summary>
    public int TeamCount => _teams.Count;

    /// <summary>Forgets everything counted so far.</summary>
    public void Reset()
    {
        _providers.Clear();
        _teams.Clear();
    }

    internal void Record(ProviderOutcome outcome, decimal cost) => Record(null, outcome, cost);

    internal void Record(string? teamId, ProviderOutcome outcome, decimal cost)
    {
        var provider = outcome.Provenance.Provider;
        _providers.GetOrAdd(provider, _ => new Counters(ReservoirSize)).Record(outcome, cost);
        if (teamId is null)
        {
            return;
        }
        if (!_teams.TryGetValue(teamId, out var team))
        {
            EvictWhenFull();
            team = _teams.GetOrAdd(teamId, _ => new TeamCounters());
        }
        team.LastUsed = Interlocked.Increment(ref _tick);
        team.Providers.GetOrAdd(provider, _ => new Counters(TeamReservoirSize)).Record(outcome, cost);
    }

    // Drops the least recently counted tenth of the teams when a new one would pass the bound: one sort per
    // TeamsMax / 10 new teams, not one per call.
    private void EvictWhenFull()
    {
        if (_teams.Count < TeamsMax)
        {
            return;
        }
        lock (_evictionLock)
        {
            if (_teams.Count < TeamsMax)
            {
                return;
            }
            foreach (var (id, _) in _teams.OrderBy(t => t.Value.LastUsed).Take(Math.Max(1, TeamsMax / 10)).ToList())
            {
                _teams.TryRemove(id, out _);
            }
        }
    }

    private sealed class TeamCounters
    {
        public ConcurrentDictionary<string, Counters> Providers { get; } = new(StringComparer.Ordinal);

        public long LastUsed;
    }

    private sealed class Counters(int reservoirSize)
    {
        private readonly Lock _lock = new();
        private readonly double[] _latencies = new double[reservoirSize];
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
                _next = (_next + 1) % _latencies.Length;
                _count = Math.Min(_count + 1, _latencies.Length);
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
