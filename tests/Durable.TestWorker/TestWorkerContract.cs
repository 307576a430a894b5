using System.Globalization;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.Durable.TestWorker;

/// <summary>What a test and the worker process agree on: the command line, the ready line and the effects table.</summary>
public static class TestWorkerContract
{
    /// <summary>The environment variable that carries the storage connection string (kept off the command line).</summary>
    public const string StorageVariable = "CREDITFUNCTIONS_TESTWORKER_STORAGE";

    /// <summary>The line the worker prints once it receives work, followed by a space and its worker id.</summary>
    public const string ReadyPrefix = "ready";

    /// <summary>The orchestrator: fans out its input (a count) of <see cref="ApplyEffectActivity"/> calls on 1..count
    /// and returns their sum.</summary>
    public const string FanOutOrchestrator = "FanOutEffects";

    /// <summary>The activity: records one attempt row per run and its effect row once per call; returns its input.</summary>
    public const string ApplyEffectActivity = "ApplyEffect";

    /// <summary>Partition of the effect rows: one per call, keyed by <see cref="EffectRowKey"/>.</summary>
    public const string EffectPartition = "effect";

    /// <summary>Partition of the attempt rows: one per run of the activity, under a fresh key.</summary>
    public const string AttemptPartition = "attempt";

    /// <summary>The row key of a call's effect: its step key with '#' (not allowed in a row key) as '|' (not allowed
    /// in an instance id, so no two step keys meet).</summary>
    public static string EffectRowKey(string stepKey) => stepKey.Replace('#', '|');

    /// <summary>The command-line arguments of a worker for <paramref name="options"/> that records effects in
    /// <paramref name="effectsTable"/>.</summary>
    public static IReadOnlyList<string> Arguments(DurableTaskHubOptions options, string effectsTable)
    {
        ArgumentNullException.ThrowIfNull(options);
        return
        [
            "--hub", options.HubName,
            "--effects-table", effectsTable,
            "--lease-ms", Milliseconds(options.LeaseDuration),
            "--visibility-ms", Milliseconds(options.WorkItemVisibilityTimeout),
            "--max-polling-ms", Milliseconds(options.MaxPollingInterval),
            "--concurrency", options.MaxConcurrentWorkItems.ToString(CultureInfo.InvariantCulture),
            "--max-deliveries", options.MaxDeliveryAttempts.ToString(CultureInfo.InvariantCulture),
        ];
    }

    /// <summary>Reads <see cref="Arguments"/> back.</summary>
    /// <exception cref="ArgumentException">An argument is unknown, missing its value or not a number.</exception>
    public static (DurableTaskHubOptions Options, string EffectsTable) Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new DurableTaskHubOptions();
        string? effectsTable = null;
        for (var i = 0; i < args.Count; i += 2)
        {
            var value = i + 1 < args.Count ? args[i + 1] : throw new ArgumentException($"'{args[i]}' needs a value.", nameof(args));
            options = args[i] switch
            {
                "--hub" => options with { HubName = value },
                "--lease-ms" => options with { LeaseDuration = TimeSpan.FromMilliseconds(Number(value)) },
                "--visibility-ms" => options with { WorkItemVisibilityTimeout = TimeSpan.FromMilliseconds(Number(value)) },
                "--max-polling-ms" => options with { MaxPollingInterval = TimeSpan.FromMilliseconds(Number(value)) },
                "--concurrency" => options with { MaxConcurrentWorkItems = Number(value) },
                "--max-deliveries" => options with { MaxDeliveryAttempts = Number(value) },
                "--effects-table" => options,
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'.", nameof(args)),
            };
            if (args[i] == "--effects-table")
            {
                effectsTable = value;
            }
        }
        return (options, effectsTable ?? throw new ArgumentException("--effects-table is required.", nameof(args)));
    }

    /// <summary>A row of the effects table as written by the activity.</summary>
    public static TableEntity AttemptRow(string stepKey, long deliveryCount) => new(AttemptPartition, Guid.NewGuid().ToString("N"))
    {
        ["StepKey"] = stepKey,
        ["Pid"] = Environment.ProcessId,
        ["DeliveryCount"] = deliveryCount,
    };

    /// <summary>The effect row of one call.</summary>
    public static TableEntity EffectRow(string stepKey, long value) => new(EffectPartition, EffectRowKey(stepKey))
    {
        ["StepKey"] = stepKey,
        ["Pid"] = Environment.ProcessId,
        ["Value"] = value,
    };

    private static string Milliseconds(TimeSpan span) => ((long)span.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    private static int Number(string value) => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
        ? n
        : throw new ArgumentException($"'{value}' is not a whole number.", nameof(value));
}
