using System.Collections.Concurrent;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;

namespace DevHost.SampleApp;

public static class DurableFunctions
{
    private static readonly ConcurrentDictionary<string, int> Attempts = new();

    [Function(nameof(Chain))]
    public static async Task<List<string>> Chain([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var input = context.GetInput<ChainInput>() ?? new ChainInput(["nobody"]);
        var results = new List<string>();
        foreach (var name in input.Names)
        {
            results.Add(await context.CallActivityAsync<string>(nameof(SayHello), name));
        }
        return results;
    }

    [Function(nameof(SayHello))]
    public static string SayHello([ActivityTrigger] string name, FunctionContext context) => $"Hello {name} ({context.FunctionDefinition.Name})";

    [Function(nameof(FanOut))]
    public static async Task<int> FanOut([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var count = context.GetInput<int>();
        var squares = await Task.WhenAll(Enumerable.Range(1, count).Select(i => context.CallActivityAsync<int>(nameof(Square), i)));
        return squares.Sum();
    }

    [Function(nameof(Square))]
    public static int Square([ActivityTrigger] int value) => value * value;

    [Function(nameof(Parent))]
    public static async Task<string> Parent([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var child = await context.CallSubOrchestratorAsync<List<string>>(nameof(Chain), new ChainInput(["child"]));
        return $"parent got {string.Join(",", child)}";
    }

    [Function(nameof(Sleeper))]
    public static async Task<string> Sleeper([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var started = context.CurrentUtcDateTime;
        await context.CreateTimer(started.AddSeconds(2), CancellationToken.None);
        return $"slept {(context.CurrentUtcDateTime - started).TotalSeconds:0}";
    }

    [Function(nameof(AwaitApproval))]
    public static async Task<string> AwaitApproval([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var input = context.GetInput<ApprovalInput>()!;
        context.SetCustomStatus(new { stage = "waiting" });
        try
        {
            var approval = await context.WaitForExternalEvent<Approval>("approve", TimeSpan.FromSeconds(input.TimeoutSeconds));
            context.SetCustomStatus(new { stage = "approved" });
            return $"approved by {approval.By}";
        }
        catch (TaskCanceledException)
        {
            context.SetCustomStatus(new { stage = "timed out" });
            return "timed out";
        }
    }

    [Function(nameof(Retrying))]
    public static Task<int> Retrying([OrchestrationTrigger] TaskOrchestrationContext context) =>
        context.CallActivityAsync<int>(nameof(Flaky), context.InstanceId,
            new TaskOptions(new TaskRetryOptions(new RetryPolicy(maxNumberOfAttempts: 4, firstRetryInterval: TimeSpan.FromMilliseconds(200)))));

    [Function(nameof(Flaky))]
    public static int Flaky([ActivityTrigger] string key)
    {
        var attempt = Attempts.AddOrUpdate(key, 1, (_, n) => n + 1);
        return attempt < 3 ? throw new InvalidOperationException($"Attempt {attempt} fails.") : attempt;
    }

    [Function(nameof(Failing))]
    public static Task<string> Failing([OrchestrationTrigger] TaskOrchestrationContext context) =>
        context.CallActivityAsync<string>(nameof(Boom), "x");

    [Function(nameof(Boom))]
    public static string Boom([ActivityTrigger] string input) => throw new InvalidOperationException($"Boom on {input}.");

    [Function(nameof(Counter))]
    public static async Task<int> Counter([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var value = context.GetInput<int>();
        if (value < 3)
        {
            await context.CallActivityAsync<int>(nameof(Square), value);
            context.ContinueAsNew(value + 1);
            return -1;
        }
        return value;
    }

    [Function(nameof(WaitForGo))]
    public static async Task<int> WaitForGo([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        var go = await context.WaitForExternalEvent<int>("go");
        return go * 2;
    }
}
