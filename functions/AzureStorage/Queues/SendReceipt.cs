namespace CreditFunctions.AzureStorage.Queues;

/// <summary>What the service returns for a sent message.</summary>
public sealed class SendReceipt
{
    /// <summary>The service-assigned identifier of the message.</summary>
    public required string MessageId { get; init; }

    /// <summary>When the message was added to the queue.</summary>
    public DateTimeOffset InsertionTime { get; init; }

    /// <summary>When the message expires and is removed; year 9999 for a message that never expires.</summary>
    public DateTimeOffset ExpirationTime { get; init; }

    /// <summary>A pop receipt that allows deleting or updating the message before anyone receives it.</summary>
    public required string PopReceipt { get; init; }

    /// <summary>When the message first becomes visible to receivers.</summary>
    public DateTimeOffset TimeNextVisible { get; init; }
}
