using System.Text.Json;

namespace CreditFunctions.Triggers;

/// <summary>One invocation of a non-HTTP function, as the Functions host (or local-host mode) delivered it.</summary>
public abstract class TriggerContext
{
    private protected TriggerContext()
    {
    }

    /// <summary>The function invoked.</summary>
    public required string FunctionName { get; init; }

    /// <summary>The invocation's id: the host's <c>x-azure-functions-invocationid</c> header, or a new id when absent.
    /// It is in the log scope of everything the invocation logs.</summary>
    public required string InvocationId { get; init; }

    /// <summary>When the host sent the invocation (<c>Metadata.sys.UtcNow</c>), when it said.</summary>
    public DateTimeOffset? HostUtcNow { get; init; }

    /// <summary>The envelope's whole <c>Metadata</c> object, for fields this type does not surface.</summary>
    public JsonElement Metadata { get; init; }
}

/// <summary>A queue message. The same message may be delivered more than once (at least once): handlers must be
/// idempotent. <see cref="DequeueCount"/> tells which delivery this is; after the fifth failure the message moves to
/// the poison queue instead of a sixth delivery.</summary>
public sealed class QueueTriggerContext : TriggerContext
{
    /// <summary>The message's text (the host decodes the queue's base64).</summary>
    public required string MessageText { get; init; }

    /// <summary>The queue, with <c>%SETTING%</c> expressions resolved.</summary>
    public required string QueueName { get; init; }

    /// <summary>The message's id (<c>Metadata.Id</c>).</summary>
    public string? MessageId { get; init; }

    /// <summary>How many times the message has been delivered, this delivery included (<c>Metadata.DequeueCount</c>).</summary>
    public long DequeueCount { get; init; }

    /// <summary>When the message was queued (<c>Metadata.InsertionTime</c>).</summary>
    public DateTimeOffset? InsertionTime { get; init; }

    /// <summary>When the message expires (<c>Metadata.ExpirationTime</c>).</summary>
    public DateTimeOffset? ExpirationTime { get; init; }

    /// <summary>When the message becomes visible again if this delivery does not complete (<c>Metadata.NextVisibleTime</c>).</summary>
    public DateTimeOffset? NextVisibleTime { get; init; }
}

/// <summary>A blob that was created or changed. Delivered once per version (ETag) of the blob, at least once: a
/// failed invocation is retried (up to five deliveries), so handlers must be idempotent.</summary>
public sealed class BlobTriggerContext : TriggerContext
{
    /// <summary>The blob's content as the host read it when it delivered the invocation.</summary>
    public required BinaryData Content { get; init; }

    /// <summary>The container.</summary>
    public required string ContainerName { get; init; }

    /// <summary>The blob's name within the container.</summary>
    public required string BlobName { get; init; }

    /// <summary>The values the trigger path's <c>{captures}</c> took, e.g. <c>name</c>.</summary>
    public required IReadOnlyDictionary<string, string> PathParameters { get; init; }

    /// <summary>The blob's URL (<c>Metadata.Uri</c>), when the host sent it.</summary>
    public Uri? Uri { get; init; }

    /// <summary>The blob's size in bytes, when the host sent it.</summary>
    public long? ContentLength { get; init; }

    /// <summary>The blob's content type, when the host sent it.</summary>
    public string? ContentType { get; init; }

    /// <summary>The blob's user-defined metadata, when the host sent it.</summary>
    public IReadOnlyDictionary<string, string> BlobMetadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>A timer occurrence. Not retried when it fails; the next occurrence comes on schedule.</summary>
public sealed class TimerTriggerContext : TriggerContext
{
    /// <summary>True when the occurrence is late: it was due while the app was not running.</summary>
    public bool IsPastDue { get; init; }

    /// <summary>The previous occurrence, when the schedule is monitored and has run before.</summary>
    public DateTimeOffset? Last { get; init; }

    /// <summary>The occurrence the monitor expected next when this one was sent (usually this one).</summary>
    public DateTimeOffset? Next { get; init; }

    /// <summary>When the monitor last recorded the schedule's status.</summary>
    public DateTimeOffset? LastUpdated { get; init; }
}
