using Microsoft.Extensions.Logging;

namespace CreditFunctions.Durable;

/// <summary>
/// What an orchestrator may use. Every call is recorded in the instance's history exactly once, and when the
/// orchestrator is replayed each call returns what it returned the first time. Calls must be made from the
/// orchestrator's own flow (no <c>Task.Run</c>, no <c>ConfigureAwait(false)</c>).
/// </summary>
public abstract class TaskOrchestrationContext
{
    /// <summary>The instance id.</summary>
    public abstract string InstanceId { get; }

    /// <summary>The orchestrator's registered name.</summary>
    public abstract string Name { get; }

    /// <summary>True while the orchestrator re-runs recorded history; side effects (logs) should be skipped then.</summary>
    public abstract bool IsReplaying { get; }

    /// <summary>The replay-safe current time: the time the current step was first processed, the same on every replay.</summary>
    public abstract DateTime CurrentUtcDateTime { get; }

    /// <summary>Calls an activity and returns its result. The activity runs at least once, on any worker; with
    /// <paramref name="retry"/>, failed attempts are retried after durable waits.</summary>
    /// <exception cref="TaskFailedException">The activity failed on its last attempt.</exception>
    public abstract Task<T> CallActivityAsync<T>(string name, object? input = null, RetryPolicy? retry = null);

    /// <summary>Calls an activity that returns nothing.</summary>
    /// <exception cref="TaskFailedException">The activity failed on its last attempt.</exception>
    public Task CallActivityAsync(string name, object? input = null, RetryPolicy? retry = null) =>
        CallActivityAsync<object?>(name, input, retry);

    /// <summary>Starts a child orchestration and returns its output. Its id is <paramref name="instanceId"/>, or
    /// <c>{parent id}:{step}</c> when null.</summary>
    /// <exception cref="TaskFailedException">The child failed or was terminated.</exception>
    public abstract Task<T> CallSubOrchestratorAsync<T>(string name, object? input = null, string? instanceId = null);

    /// <summary>A durable timer: completes at <paramref name="fireAt"/> (UTC), even across restarts and months ahead.
    /// Cancelling <paramref name="cancellationToken"/> cancels the returned task.</summary>
    public abstract Task CreateTimer(DateTime fireAt, CancellationToken cancellationToken);

    /// <summary>Waits for the external event <paramref name="name"/> (case-insensitive) and returns its data. Events
    /// that arrived before the wait are buffered and returned in arrival order.</summary>
    /// <exception cref="TimeoutException">No event arrived within <paramref name="timeout"/>.</exception>
    public abstract Task<T> WaitForExternalEvent<T>(string name, TimeSpan? timeout = null);

    /// <summary>Sets the instance's custom status (progress), visible to clients after the current step commits.</summary>
    public abstract void SetCustomStatus(object? customStatus);

    /// <summary>Restarts the orchestration with <paramref name="newInput"/> and a fresh history once the orchestrator
    /// returns; events not yet consumed are kept for the new run.</summary>
    public abstract void ContinueAsNew(object? newInput);

    /// <summary>A GUID that is the same on every replay.</summary>
    public abstract Guid NewGuid();

    /// <summary>A logger that writes nothing while the orchestrator replays.</summary>
    public abstract ILogger CreateReplaySafeLogger(string categoryName);
}
