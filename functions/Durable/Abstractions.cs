using System.Text.Json;

namespace CreditFunctions.Durable;

/// <summary>
/// An orchestrator: replay code. It is run again from the start whenever its state is not in memory and must reach
/// the same calls in the same order each time, so time, GUIDs, timers and waits come only from the
/// <see cref="TaskOrchestrationContext"/>, I/O happens only in activities, and <c>ConfigureAwait(false)</c>,
/// <c>Task.Run</c> and <c>Task.Delay</c> are not used.
/// </summary>
public interface ITaskOrchestrator
{
    /// <summary>The input's type, for deserialization.</summary>
    Type InputType { get; }

    /// <summary>Runs the orchestration; the returned value becomes its output.</summary>
    Task<object?> RunAsync(TaskOrchestrationContext context, object? input);
}

/// <summary>An activity: the unit of work an orchestration schedules. It runs at least once per call (again after a
/// crash), so it must be idempotent: <see cref="TaskActivityContext.StepKey"/> is the key for that.</summary>
public interface ITaskActivity
{
    /// <summary>The input's type, for deserialization.</summary>
    Type InputType { get; }

    /// <summary>Runs the activity; the returned value is the orchestration's result for the call.</summary>
    Task<object?> RunAsync(TaskActivityContext context, object? input);
}

/// <summary>Base class for typed orchestrators.</summary>
public abstract class TaskOrchestrator<TInput, TOutput> : ITaskOrchestrator
{
    Type ITaskOrchestrator.InputType => typeof(TInput);

    async Task<object?> ITaskOrchestrator.RunAsync(TaskOrchestrationContext context, object? input) =>
        await RunAsync(context, (TInput)input!);

    /// <summary>The orchestration's code; see <see cref="ITaskOrchestrator"/> for the replay rules.</summary>
    public abstract Task<TOutput> RunAsync(TaskOrchestrationContext context, TInput input);
}

/// <summary>Base class for typed activities.</summary>
public abstract class TaskActivity<TInput, TOutput> : ITaskActivity
{
    Type ITaskActivity.InputType => typeof(TInput);

    async Task<object?> ITaskActivity.RunAsync(TaskActivityContext context, object? input) =>
        await RunAsync(context, (TInput)input!).ConfigureAwait(false);

    /// <summary>The activity's work; runs at least once per call.</summary>
    public abstract Task<TOutput> RunAsync(TaskActivityContext context, TInput input);
}

/// <summary>What an activity knows about the call it serves.</summary>
public sealed class TaskActivityContext
{
    internal TaskActivityContext(string name, string instanceId, string stepKey, int attempt, long deliveryCount, CancellationToken cancellationToken)
    {
        Name = name;
        InstanceId = instanceId;
        StepKey = stepKey;
        Attempt = attempt;
        DeliveryCount = deliveryCount;
        CancellationToken = cancellationToken;
    }

    /// <summary>The activity's registered name.</summary>
    public string Name { get; }

    /// <summary>The orchestration instance that called it.</summary>
    public string InstanceId { get; }

    /// <summary>
    /// A key that is the same for every run of this call — redeliveries after a crash and the retries of its
    /// <see cref="RetryPolicy"/> alike — and different for every other call: <c>{instance id}#{generation}.{step}</c>.
    /// Use it as the idempotency key of the activity's effect (a charge, an e-mail) so the effect happens once.
    /// </summary>
    public string StepKey { get; }

    /// <summary>1 for the first attempt of the call, 2 for its first retry, and so on.</summary>
    public int Attempt { get; }

    /// <summary>How many times this attempt's work item has been delivered (more than 1 after a crash).</summary>
    public long DeliveryCount { get; }

    /// <summary>Signals that the worker is shutting down.</summary>
    public CancellationToken CancellationToken { get; }
}

/// <summary>How an activity call is retried when it fails. Retries are durable: the wait between attempts is a
/// durable timer, so a retry survives a restart.</summary>
public sealed record RetryPolicy
{
    /// <summary>Creates a policy of at most <paramref name="maxNumberOfAttempts"/> attempts.</summary>
    public RetryPolicy(int maxNumberOfAttempts, TimeSpan firstRetryInterval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNumberOfAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(firstRetryInterval, TimeSpan.Zero);
        MaxNumberOfAttempts = maxNumberOfAttempts;
        FirstRetryInterval = firstRetryInterval;
    }

    /// <summary>Attempts in all, the first included.</summary>
    public int MaxNumberOfAttempts { get; }

    /// <summary>The wait before the first retry.</summary>
    public TimeSpan FirstRetryInterval { get; }

    /// <summary>The factor each further wait grows by; 1 (constant) by default.</summary>
    public double BackoffCoefficient { get; init; } = 1;

    /// <summary>The longest wait between attempts; one hour by default.</summary>
    public TimeSpan MaxRetryInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Which failures are retried; all by default.</summary>
    public Func<TaskFailureDetails, bool> Handle { get; init; } = _ => true;

    internal TimeSpan DelayBefore(int nextAttempt)
    {
        var delay = FirstRetryInterval.TotalMilliseconds * Math.Pow(BackoffCoefficient, nextAttempt - 2);
        return TimeSpan.FromMilliseconds(Math.Min(delay, MaxRetryInterval.TotalMilliseconds));
    }
}

/// <summary>Why a task failed, as recorded in history: the exception's type, message and stack, and its inner
/// failure.</summary>
public sealed record TaskFailureDetails(string ErrorType, string ErrorMessage, string? StackTrace = null, TaskFailureDetails? InnerFailure = null)
{
    /// <summary>Whether the failure was caused by an exception of type <typeparamref name="T"/> (by full name).</summary>
    public bool IsCausedBy<T>() where T : Exception => ErrorType == typeof(T).FullName;

    /// <summary>The failure details of <paramref name="exception"/>.</summary>
    public static TaskFailureDetails FromException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is TaskFailedException failed)
        {
            return failed.FailureDetails;
        }
        return new TaskFailureDetails(exception.GetType().FullName ?? exception.GetType().Name, exception.Message, exception.StackTrace,
            exception.InnerException is null ? null : FromException(exception.InnerException));
    }
}

/// <summary>Thrown in an orchestrator when an activity or sub-orchestration it awaited failed.</summary>
public sealed class TaskFailedException : Exception
{
    /// <summary>Creates the exception for the failed task <paramref name="taskName"/>.</summary>
    public TaskFailedException(string taskName, int step, TaskFailureDetails failureDetails)
        : base($"Task '{taskName}' (step {step}) failed: {failureDetails?.ErrorType}: {failureDetails?.ErrorMessage}")
    {
        TaskName = taskName;
        Step = step;
        FailureDetails = failureDetails ?? throw new ArgumentNullException(nameof(failureDetails));
    }

    /// <summary>The activity's or sub-orchestration's name.</summary>
    public string TaskName { get; }

    /// <summary>The position of the call in the orchestration.</summary>
    public int Step { get; }

    /// <summary>The recorded failure.</summary>
    public TaskFailureDetails FailureDetails { get; }
}

/// <summary>The orchestrator made a different call at a position that history records: its code changed or is not
/// deterministic. The instance fails with this error.</summary>
public sealed class NonDeterministicOrchestrationException : Exception
{
    /// <summary>Creates the exception naming the position and both calls.</summary>
    public NonDeterministicOrchestrationException(string instanceId, int step, string recorded, string attempted)
        : base($"Non-deterministic orchestration '{instanceId}': at step {step} history records {recorded}, but the code now calls {attempted}.")
    {
        Step = step;
    }

    /// <summary>The position of the mismatch.</summary>
    public int Step { get; }
}

/// <summary>Where an orchestration instance is in its life.</summary>
public enum OrchestrationRuntimeStatus
{
    /// <summary>Scheduled; no worker has started it yet.</summary>
    Pending,

    /// <summary>Started and not finished (it may be waiting on activities, timers or events).</summary>
    Running,

    /// <summary>Returned an output.</summary>
    Completed,

    /// <summary>Threw, or broke the replay rules; see <see cref="OrchestrationMetadata.FailureDetails"/>.</summary>
    Failed,

    /// <summary>Stopped by <see cref="DurableTaskClient.TerminateInstanceAsync"/>.</summary>
    Terminated,

    /// <summary>Paused by <see cref="DurableTaskClient.SuspendInstanceAsync"/>; events and results wait until resumed.</summary>
    Suspended,
}

/// <summary>The state of an orchestration instance as a client sees it.</summary>
public sealed record OrchestrationMetadata
{
    /// <summary>The instance id.</summary>
    public required string InstanceId { get; init; }

    /// <summary>The orchestrator's registered name.</summary>
    public required string Name { get; init; }

    /// <summary>The runtime status.</summary>
    public required OrchestrationRuntimeStatus RuntimeStatus { get; init; }

    /// <summary>When the instance was created.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>When its state last changed.</summary>
    public required DateTimeOffset LastUpdatedAt { get; init; }

    /// <summary>The input as JSON (of the current generation after <c>ContinueAsNew</c>); null when not asked for.</summary>
    public string? SerializedInput { get; init; }

    /// <summary>The output as JSON once completed (the reason once terminated); null when not asked for.</summary>
    public string? SerializedOutput { get; init; }

    /// <summary>The latest custom status as JSON, or null.</summary>
    public string? SerializedCustomStatus { get; init; }

    /// <summary>Why it failed, when <see cref="RuntimeStatus"/> is <see cref="OrchestrationRuntimeStatus.Failed"/>.</summary>
    public TaskFailureDetails? FailureDetails { get; init; }

    /// <summary>True once the instance will not change any more (completed, failed or terminated).</summary>
    public bool IsCompleted => RuntimeStatus is OrchestrationRuntimeStatus.Completed or OrchestrationRuntimeStatus.Failed or OrchestrationRuntimeStatus.Terminated;

    /// <summary>The input deserialized.</summary>
    public T? ReadInputAs<T>() => SerializedInput is null ? default : JsonSerializer.Deserialize<T>(SerializedInput, DurableJson.Options);

    /// <summary>The output deserialized.</summary>
    public T? ReadOutputAs<T>() => SerializedOutput is null ? default : JsonSerializer.Deserialize<T>(SerializedOutput, DurableJson.Options);

    /// <summary>The custom status deserialized.</summary>
    public T? ReadCustomStatusAs<T>() => SerializedCustomStatus is null ? default : JsonSerializer.Deserialize<T>(SerializedCustomStatus, DurableJson.Options);
}

/// <summary>The JSON settings of inputs, outputs, events and custom status (System.Text.Json, web defaults).</summary>
public static class DurableJson
{
    /// <summary>The serializer options.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);

    internal static string? Serialize(object? value) => value is null ? null : JsonSerializer.Serialize(value, value.GetType(), Options);

    internal static object? Deserialize(string? json, Type type) => json is null ? null : JsonSerializer.Deserialize(json, type, Options);

    internal static T? Deserialize<T>(string? json) => json is null ? default : JsonSerializer.Deserialize<T>(json, Options);
}
