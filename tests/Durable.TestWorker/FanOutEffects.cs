using Azure;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.Durable.TestWorker;

/// <summary>Fans out <c>count</c> calls of <see cref="ApplyEffect"/> on 1..count and returns the sum of their results.</summary>
internal sealed class FanOutEffects : TaskOrchestrator<int, long>
{
    public override async Task<long> RunAsync(TaskOrchestrationContext context, int input)
    {
        var values = await Task.WhenAll(Enumerable.Range(1, input).Select(i => context.CallActivityAsync<long>(TestWorkerContract.ApplyEffectActivity, i)));
        return values.Sum();
    }
}

/// <summary>
/// Records an attempt row on every run, takes a little while (so a fan-out is still running when a test kills the
/// process), then applies its effect once per call: the effect row's key is the call's step key, so a second run of
/// the same call finds it there (409) and changes nothing.
/// </summary>
internal sealed class ApplyEffect(TableClient effects) : TaskActivity<int, long>
{
    public override async Task<long> RunAsync(TaskActivityContext context, int input)
    {
        await effects.AddEntityAsync(TestWorkerContract.AttemptRow(context.StepKey, context.DeliveryCount), context.CancellationToken);
#pragma warning disable CA5394 // jitter, not security
        await Task.Delay(Random.Shared.Next(50, 101), context.CancellationToken);
#pragma warning restore CA5394
        try
        {
            await effects.AddEntityAsync(TestWorkerContract.EffectRow(context.StepKey, input), context.CancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            // Exists: an earlier run of this call applied the effect.
        }
        return input;
    }
}
