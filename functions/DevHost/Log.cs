using Microsoft.Extensions.Logging;

namespace DevHost;

/// <summary>The dev host's log messages. Event ids are stable; bodies, keys and connection strings are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Dev host started: {FunctionCount} functions, HTTP at {BaseAddress}")]
    public static partial void Started(ILogger logger, int functionCount, Uri baseAddress);

    [LoggerMessage(1001, LogLevel.Information, "Dev host stopping")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(1002, LogLevel.Information, "Dev host stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(1003, LogLevel.Information, "Starting Azurite (nothing listens on 10000-10002), data in {Folder}")]
    public static partial void StartingAzurite(ILogger logger, string folder);

    [LoggerMessage(1004, LogLevel.Warning, "HTTP function {Function} has authLevel {AuthLevel}: the dev host does not check keys")]
    public static partial void KeysNotChecked(ILogger logger, string function, string authLevel);

    [LoggerMessage(1005, LogLevel.Information, "Function {Function} is disabled by setting {Setting}")]
    public static partial void FunctionDisabled(ILogger logger, string function, string setting);

    [LoggerMessage(1100, LogLevel.Debug, "Executing {Function} ({InvocationId})")]
    public static partial void Executing(ILogger logger, string function, string invocationId);

    [LoggerMessage(1101, LogLevel.Information, "Executed {Function} ({InvocationId}) in {ElapsedMilliseconds} ms")]
    public static partial void Executed(ILogger logger, string function, string invocationId, long elapsedMilliseconds);

    [LoggerMessage(1102, LogLevel.Error, "Function {Function} ({InvocationId}) failed after {ElapsedMilliseconds} ms")]
    public static partial void ExecutionFailed(ILogger logger, string function, string invocationId, long elapsedMilliseconds, Exception exception);

    [LoggerMessage(1200, LogLevel.Warning, "Queue message {MessageId} of {Function} failed on delivery {DequeueCount}; retried after {RetryDelay}")]
    public static partial void QueueMessageRetried(ILogger logger, string function, string messageId, long dequeueCount, TimeSpan retryDelay);

    [LoggerMessage(1201, LogLevel.Error, "Queue message {MessageId} of {Function} moved to {PoisonQueue} after {DequeueCount} deliveries")]
    public static partial void QueueMessagePoisoned(ILogger logger, string function, string messageId, string poisonQueue, long dequeueCount);

    [LoggerMessage(1202, LogLevel.Warning, "Storage error in the listener of {Function}; it goes on")]
    public static partial void ListenerStorageError(ILogger logger, string function, Exception exception);

    [LoggerMessage(1300, LogLevel.Error, "Blob {Container}/{Blob} version {ETag} of {Function} poisoned after {Attempts} attempts")]
    public static partial void BlobPoisoned(ILogger logger, string function, string container, string blob, string etag, int attempts);

    [LoggerMessage(1301, LogLevel.Warning, "Blob {Container}/{Blob} of {Function} failed on attempt {Attempt}; retried on a later scan")]
    public static partial void BlobFailed(ILogger logger, string function, string container, string blob, int attempt);

    [LoggerMessage(1400, LogLevel.Debug, "Timer {Function} next occurrence {Next}")]
    public static partial void TimerScheduled(ILogger logger, string function, DateTimeOffset next);

    [LoggerMessage(1401, LogLevel.Information, "Timer {Function} missed {Occurrence} while stopped: running it now (past due)")]
    public static partial void TimerPastDue(ILogger logger, string function, DateTimeOffset occurrence);

    [LoggerMessage(1500, LogLevel.Information, "Durable worker {WorkerId} started on task hub {HubName} ({OrchestratorCount} orchestrators, {ActivityCount} activities)")]
    public static partial void DurableStarted(ILogger logger, string workerId, string hubName, int orchestratorCount, int activityCount);

    [LoggerMessage(1501, LogLevel.Information, "Durable worker {WorkerId} stopped")]
    public static partial void DurableStopped(ILogger logger, string workerId);
}
