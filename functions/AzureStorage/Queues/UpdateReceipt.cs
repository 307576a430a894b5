namespace CreditFunctions.AzureStorage.Queues;

/// <summary>
/// What the service returns for an updated message. The previous pop receipt stops working: later deletes and
/// updates must use <see cref="PopReceipt"/>.
/// </summary>
public sealed class UpdateReceipt
{
    /// <summary>The new pop receipt of the message.</summary>
    public required string PopReceipt { get; init; }

    /// <summary>When the message becomes visible to receivers again unless it is deleted or updated first.</summary>
    public DateTimeOffset NextVisibleOn { get; init; }
}
