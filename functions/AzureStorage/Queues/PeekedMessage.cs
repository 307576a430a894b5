namespace CreditFunctions.AzureStorage.Queues;

/// <summary>A message seen by a peek: its visibility and dequeue count are untouched and it has no pop receipt.</summary>
public sealed class PeekedMessage
{
    /// <summary>The service-assigned identifier of the message.</summary>
    public required string MessageId { get; init; }

    /// <summary>The decoded body.</summary>
    public required BinaryData Body { get; init; }

    /// <summary>How many times the message has been received so far.</summary>
    public long DequeueCount { get; init; }

    /// <summary>When the message was added to the queue.</summary>
    public DateTimeOffset? InsertedOn { get; init; }

    /// <summary>When the message expires; year 9999 for a message that never expires.</summary>
    public DateTimeOffset? ExpiresOn { get; init; }

    /// <summary>The body as UTF-8 text.</summary>
    public string MessageText => Body.ToString();
}
