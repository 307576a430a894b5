using CreditFunctions.Providers;
using SandboxProviders;

namespace CreditFunctions.Tests.Providers;

/// <summary>What the caller counts per provider.</summary>
public sealed class ProviderStatisticsTests : IClassFixture<SandboxVendors>
{
    private readonly SandboxVendors _sandbox;

    public ProviderStatisticsTests(SandboxVendors sandbox)
    {
        _sandbox = sandbox;
        sandbox.Reset();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ProviderMiss Outcome(string provider, double latencyMilliseconds, int attempts = 1) =>
        new ProviderMiss(new ProviderProvenance(provider, ProviderCapabilities.Email, DateTimeOffset.UnixEpoch,
            TimeSpan.FromMilliseconds(latencyMilliseconds), attempts));

    [Fact]
    public async Task Statistics_count_calls_attempts_outcomes_latency_and_cost()
    {
        var known = _sandbox.KnownBy("leadmine");
        var unknown = _sandbox.Sample(unknownBy: "leadmine").First().Person;
        await using var caller = _sandbox.NewCaller("leadmine", d => d with { Retry = d.Retry with { MaxRetryAttempts = 1, BaseDelaySeconds = 0.01 } });

        await caller.LookupAsync("leadmine", ProviderCapabilities.Email, SandboxVendors.Input(known), cancellationToken: Ct);
        await caller.LookupAsync("leadmine", ProviderCapabilities.Email, SandboxVendors.Input(unknown), cancellationToken: Ct);
        _sandbox.Configure("leadmine", s => s with { Failures = new FailureSettings { ServerErrorRate = 1 } });
        await caller.LookupAsync("leadmine", ProviderCapabilities.Email, SandboxVendors.Input(known), cancellationToken: Ct);
        await caller.LookupAsync("leadmine", ProviderCapabilities.Email, new PersonInput { FirstName = "Ada" }, cancellationToken: Ct);

        var stats = caller.Statistics.Snapshot("leadmine");
        Assert.Equal(4, stats.Calls);
        Assert.Equal(4, stats.Attempts);
        Assert.Equal(1, stats.Hits);
        Assert.Equal(1, stats.Misses);
        Assert.Equal(new Dictionary<ProviderErrorKind, long> { [ProviderErrorKind.ServerError] = 1, [ProviderErrorKind.InsufficientInput] = 1 }, stats.Failures);
        Assert.Equal(2 * caller.Catalog.Find("leadmine")!.Endpoints["email"].CostPerCall, stats.CostSpent);
        Assert.Equal(4, stats.LatencySamples);
        Assert.True(stats.LatencyP50Milliseconds <= stats.LatencyP95Milliseconds && stats.LatencyP95Milliseconds <= stats.LatencyP99Milliseconds);
        Assert.Equal(4, _sandbox.Stats("leadmine").Total);
        Assert.Equal(["leadmine"], caller.Statistics.Snapshot().Select(s => s.Provider));
    }

    [Fact]
    public void Latency_percentiles_are_nearest_rank_over_the_recent_calls()
    {
        var statistics = new ProviderStatistics();
        foreach (var ms in Enumerable.Range(1, 100).Reverse())
        {
            statistics.Record(Outcome("p", ms), 0);
        }

        var stats = statistics.Snapshot("p");

        Assert.Equal(50, stats.LatencyP50Milliseconds);
        Assert.Equal(95, stats.LatencyP95Milliseconds);
        Assert.Equal(99, stats.LatencyP99Milliseconds);
    }

    [Fact]
    public void Latency_reservoir_is_bounded_and_keeps_the_latest_calls()
    {
        var statistics = new ProviderStatistics();
        for (var i = 0; i < ProviderStatistics.ReservoirSize; i++)
        {
            statistics.Record(Outcome("p", 1000), 0);
        }
        for (var i = 0; i < ProviderStatistics.ReservoirSize; i++)
        {
            statistics.Record(Outcome("p", 5), 0);
        }

        var stats = statistics.Snapshot("p");

        Assert.Equal(ProviderStatistics.ReservoirSize, stats.LatencySamples);
        Assert.Equal(5, stats.LatencyP99Milliseconds);
        Assert.Equal(2 * ProviderStatistics.ReservoirSize, stats.Calls);
    }

    [Fact]
    public async Task Statistics_are_exact_under_concurrent_calls()
    {
        var statistics = new ProviderStatistics();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 5_000; i++)
            {
                statistics.Record(Outcome(t % 2 == 0 ? "a" : "b", i % 100, attempts: 2), 0.5m);
            }
        }, Ct)));

        Assert.All(statistics.Snapshot(), s =>
        {
            Assert.Equal(20_000, s.Calls);
            Assert.Equal(40_000, s.Attempts);
            Assert.Equal(20_000, s.Misses);
            Assert.Equal(10_000m, s.CostSpent);
        });
        Assert.Equal(0, statistics.Snapshot("never-called").Calls);
    }
}
