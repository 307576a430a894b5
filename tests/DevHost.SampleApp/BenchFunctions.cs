using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;

namespace DevHost.SampleApp;

/// <summary>
/// No-op orchestrations for the benchmark of the Durable engine's own costs: a chain of activities one after another
/// and a fan-out/fan-in. Each activity returns its input, so the sum in the output proves every activity ran and its
/// result arrived exactly once.
/// </summary>
public static class BenchFunctions
{
    private static long s_noopRuns;

    /// <summary>How many times <see cref="BenchNoop"/> has run in this process.</summary>
    public static long NoopRuns => Interlocked.Read(ref s_noopRuns);

    [Function(nameof(BenchChain))]
    public static async Task<long> BenchChain([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var count = context.GetInput<int>();
        long sum = 0;
        for (var i = 0; i < count; i++)
        {
            sum += await context.CallActivityAsync<int>(nameof(BenchNoop), i);
        }
        return sum;
    }

    [Function(nameof(BenchFanOut))]
    public static async Task<long> BenchFanOut([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var count = context.GetInput<int>();
        var results = await Task.WhenAll(Enumerable.Range(0, count).Select(i => context.CallActivityAsync<int>(nameof(BenchNoop), i)));
        return results.Sum(r => (long)r);
    }

    [Function(nameof(BenchNoop))]
    public static int BenchNoop([ActivityTrigger] int value)
    {
        Interlocked.Increment(ref s_noopRuns);
        return value;
    }
}
