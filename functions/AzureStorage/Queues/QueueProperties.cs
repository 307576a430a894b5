namespace CreditFunctions.AzureStorage.Queues;

/// <summary>The properties of a queue.</summary>
public sealed class QueueProperties
{
    /// <summary>
    /// The approximate number of messages in the queue: it counts invisible messages too and may lag behind recent
    /// sends and deletes. Not an exact figure and not a basis for correctness decisions.
    /// </summary>
    public int ApproximateMessagesCount { get; init; }

    /// <summary>The queue's user-defined metadata (names without the <c>x-ms-meta-</c> prefix, case-insensitive).</summary>
    public IDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
}
