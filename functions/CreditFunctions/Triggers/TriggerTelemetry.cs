using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace CreditFunctions.Triggers;

/// <summary>
/// Traces and metrics of function invocations, named <see cref="Name"/>: one <c>Internal</c> activity per invocation
/// (named after the function, tagged <c>faas.name</c>, <c>faas.trigger</c>, <c>faas.invocation_id</c>), and the
/// instruments <c>faas.invocations</c> and <c>faas.errors</c> (counters) and <c>faas.invoke_duration</c> (histogram,
/// seconds), tagged <c>faas.name</c> and <c>faas.trigger</c> (<c>datasource</c> for queues and blobs, <c>timer</c>).
/// </summary>
public static class TriggerTelemetry
{
    /// <summary>The activity source's and the meter's name.</summary>
    public const string Name = "CreditFunctions.Triggers";

    internal static readonly ActivitySource Source = new(Name);

    private static readonly Meter s_meter = new(Name);

    internal static readonly Counter<long> Invocations = s_meter.CreateCounter<long>("faas.invocations", "{invocation}", "Function invocations.");

    internal static readonly Counter<long> Errors = s_meter.CreateCounter<long>("faas.errors", "{error}", "Function invocations that failed.");

    internal static readonly Histogram<double> Duration = s_meter.CreateHistogram<double>("faas.invoke_duration", "s", "How long invocations took.");

    internal static string TriggerKind(FunctionTrigger trigger) => trigger switch
    {
        TimerTrigger => "timer",
        HttpTrigger => "http",
        _ => "datasource",
    };
}

/// <summary>The log events of triggers and local-host mode (ids 5100–5199). Message bodies and blob contents are never logged.</summary>
internal static partial class TriggerLog
{
    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Executing {FunctionName} ({Trigger})")]
    public static partial void Executing(ILogger logger, string functionName, string trigger);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "Executed {FunctionName} in {ElapsedMilliseconds} ms")]
    public static partial void Executed(ILogger logger, string functionName, long elapsedMilliseconds);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Error, Message = "{FunctionName} failed after {ElapsedMilliseconds} ms")]
    public static partial void Failed(ILogger logger, string functionName, long elapsedMilliseconds, Exception exception);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Warning, Message = "Refused an invocation of {FunctionName}: {Problem}")]
    public static partial void BadEnvelope(ILogger logger, string functionName, string problem);

    [LoggerMessage(EventId = 5110, Level = LogLevel.Information, Message = "Local-host mode delivers {FunctionName} ({Trigger} on {Source})")]
    public static partial void Listening(ILogger logger, string functionName, string trigger, string source);

    [LoggerMessage(EventId = 5111, Level = LogLevel.Information, Message = "Local-host mode skips {FunctionName}: disabled by its AzureWebJobs.{FunctionName}.Disabled setting")]
    public static partial void Disabled(ILogger logger, string functionName);

    [LoggerMessage(EventId = 5112, Level = LogLevel.Warning, Message = "Delivery {DequeueCount} of message {MessageId} to {FunctionName} failed")]
    public static partial void DeliveryFailed(ILogger logger, string functionName, string messageId, long dequeueCount, Exception exception);

    [LoggerMessage(EventId = 5113, Level = LogLevel.Warning, Message = "Message {MessageId} for {FunctionName} moved to {PoisonQueue} after {DequeueCount} deliveries")]
    public static partial void Poisoned(ILogger logger, string functionName, string messageId, string poisonQueue, long dequeueCount);

    [LoggerMessage(EventId = 5114, Level = LogLevel.Warning, Message = "Local-host mode storage call failed for {FunctionName}; it will try again")]
    public static partial void StorageFailed(ILogger logger, string functionName, Exception exception);

    [LoggerMessage(EventId = 5115, Level = LogLevel.Information, Message = "Timer {FunctionName} next fires at {Next:O}")]
    public static partial void TimerScheduled(ILogger logger, string functionName, DateTimeOffset next);

    [LoggerMessage(EventId = 5116, Level = LogLevel.Warning, Message = "Timer {FunctionName} occurrence {Occurrence:O} failed; the next comes on schedule")]
    public static partial void TimerFailed(ILogger logger, string functionName, DateTimeOffset occurrence, Exception exception);

    [LoggerMessage(EventId = 5117, Level = LogLevel.Information, Message = "Queued blob {Container}/{BlobName} for {FunctionName}")]
    public static partial void BlobQueued(ILogger logger, string functionName, string container, string blobName);

    [LoggerMessage(EventId = 5119, Level = LogLevel.Critical, Message = "Local-host mode could not start its triggers; the app stops")]
    public static partial void StartFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5118, Level = LogLevel.Information, Message = "Local-host mode stopped: {Listeners} listeners drained")]
    public static partial void Drained(ILogger logger, int listeners);
}
