namespace CreditFunctions.AzureStorage.Queues;

/// <summary>
/// A received message. It stays in the queue, invisible until <see cref="NextVisibleOn"/>, and is delivered again
/// after that unless deleted with <see cref="MessageId"/> and <see cref="PopReceipt"/>: delivery is at least once, so
/// handlers must tolerate seeing the same message twice.
/// </summary>
public sealed class QueueMessage
{
    /// <summary>The service-assigned identifier of the message.</summary>
    public required string MessageId { get; init; }

    /// <summary>The receipt that proves this receive; required to delete or update the message. Valid until the
    /// message is received again or updated.</summary>
    public required string PopReceipt { get; init; }

    /// <summary>The decoded body.</summary>
    public required BinaryData Body { get; init; }

    /// <summary>How many times the message has been received, this receive included.</summary>
    public long DequeueCount { get; init; }

    /// <summary>When the message becomes visible to receivers again.</summary>
    public DateTimeOffset? NextVisibleOn { get; init; }

    /// <summary>When the message was added to the queue.</summary>
    public DateTimeOffset? InsertedOn { get; init; }

    /// <summary>When the message expires; year 9999 for a message that never expires.</summary>
    public DateTimeOffset? ExpiresOn { get; init; }

    /// <summary>The body as UTF-8 text.</summary>
    public string MessageText => Body.ToString();

    /// <summary>
    /// Returns a copy carrying the pop receipt and visibility of <paramref name="updateReceipt"/>, for use after
    /// <see cref="QueueClient.UpdateMessageAsync"/> (the body is unchanged in the copy).
    /// </summary>
    public QueueMessage Update(UpdateReceipt updateReceipt)
    {
        ArgumentNullException.ThrowIfNull(updateReceipt);
        return new QueueMessage
        {
            MessageId = MessageId,
            PopReceipt = updateReceipt.PopReceipt,
            Body = Body,
            DequeueCount = DequeueCount,
            NextVisibleOn = updateReceipt.NextVisibleOn,
            InsertedOn = InsertedOn,
            ExpiresOn = ExpiresOn,
        };
    }
}
