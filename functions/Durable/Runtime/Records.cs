using System.Text.Json.Serialization;

namespace CreditFunctions.Durable.Runtime;

/// <summary>The kinds of queue messages of a task hub.</summary>
internal enum MessageKind
{
    Start,
    Activity,
    TaskCompleted,
    TaskFailed,
    TimerFired,
    Event,
    Terminate,
    Suspend,
    Resume,
}

/// <summary>
/// One queue message of the hub's work queue. Orchestrator-bound messages (everything but <see cref="MessageKind.Activity"/>)
/// carry the instance's <see cref="Generation"/> so results of an earlier run (before <c>ContinueAsNew</c>) are dropped.
/// A payload larger than a queue message allows travels in a blob named by <see cref="PayloadBlob"/>. A message with
/// <see cref="Items"/> carries several work items of one instance (activity calls, or their results) at once.
/// </summary>
internal sealed record WorkMessage
{
    [JsonPropertyName("k")] public MessageKind Kind { get; init; }

    [JsonPropertyName("i")] public required string InstanceId { get; init; }

    [JsonPropertyName("g")] public int Generation { get; init; }

    [JsonPropertyName("s")] public int Step { get; init; }

    [JsonPropertyName("n")] public string? Name { get; init; }

    [JsonPropertyName("p")] public string? Payload { get; init; }

    [JsonPropertyName("pb")] public string? PayloadBlob { get; init; }

    [JsonPropertyName("f")] public TaskFailureDetails? Failure { get; init; }

    [JsonPropertyName("a")] public int Attempt { get; init; }

    [JsonPropertyName("key")] public string? StepKey { get; init; }

    [JsonPropertyName("at")] public DateTimeOffset? FireAt { get; init; }

    /// <summary>A sender-chosen id that makes a redelivered event recognisable.</summary>
    [JsonPropertyName("m")] public string? MessageId { get; init; }

    /// <summary>The work items this message carries, all of <see cref="InstanceId"/> and all activity calls or all
    /// orchestrator-bound (see <see cref="DurableStore.SendPackedAsync"/>); null for a message that is one item.</summary>
    [JsonPropertyName("w")] public List<WorkMessage>? Items { get; init; }

    public bool IsForOrchestrator => Kind != MessageKind.Activity;
}

/// <summary>The kinds of history records.</summary>
internal enum RecordKind
{
    /// <summary>The run (generation) started.</summary>
    Started,

    /// <summary>A step began at <see cref="HistoryRecord.Time"/>: every record up to the next one was processed then.</summary>
    Episode,

    ActivityScheduled,
    TimerCreated,
    SubOrchestrationScheduled,
    TaskCompleted,
    TaskFailed,
    TimerFired,
    EventRaised,
    Suspended,
    Resumed,
}

/// <summary>One entry of an instance's history; replaying the entries in order rebuilds the orchestrator's state.</summary>
internal sealed record HistoryRecord
{
    [JsonPropertyName("k")] public RecordKind Kind { get; init; }

    [JsonPropertyName("s")] public int Step { get; init; }

    [JsonPropertyName("n")] public string? Name { get; init; }

    [JsonPropertyName("p")] public string? Payload { get; init; }

    [JsonPropertyName("pb")] public string? PayloadBlob { get; init; }

    [JsonPropertyName("f")] public TaskFailureDetails? Failure { get; init; }

    [JsonPropertyName("t")] public DateTimeOffset? Time { get; init; }

    [JsonPropertyName("m")] public string? MessageId { get; init; }

    [JsonPropertyName("id")] public string? ChildInstanceId { get; init; }

    public string Describe() => Kind switch
    {
        RecordKind.ActivityScheduled => $"activity '{Name}'",
        RecordKind.TimerCreated => "a timer",
        RecordKind.SubOrchestrationScheduled => $"sub-orchestration '{Name}'",
        _ => Kind.ToString(),
    };
}
