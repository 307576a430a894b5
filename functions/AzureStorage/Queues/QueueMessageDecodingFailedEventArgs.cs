using Azure;

namespace CreditFunctions.AzureStorage.Queues;

/// <summary>
/// Describes a message whose text could not be decoded; see <see cref="QueueClientOptions.MessageDecodingFailed"/>.
/// Exactly one of <see cref="ReceivedMessage"/> and <see cref="PeekedMessage"/> is set.
/// </summary>
public sealed class QueueMessageDecodingFailedEventArgs : SyncAsyncEventArgs
{
    /// <summary>Creates the event data; the body of the message carries its raw, undecoded UTF-8 text.</summary>
    /// <param name="queue">The client that received or peeked the message; use it to delete or move the message.</param>
    /// <param name="receivedMessage">The received message, with the pop receipt needed to delete it; null when peeked.</param>
    /// <param name="peekedMessage">The peeked message; null when received.</param>
    /// <param name="isRunningSynchronously">Always false for these clients, which are asynchronous only.</param>
    /// <param name="cancellationToken">The token of the receive or peek call.</param>
    public QueueMessageDecodingFailedEventArgs(QueueClient queue, QueueMessage? receivedMessage, PeekedMessage? peekedMessage,
        bool isRunningSynchronously, CancellationToken cancellationToken = default)
        : base(isRunningSynchronously, cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if ((receivedMessage is null) == (peekedMessage is null))
        {
            throw new ArgumentException("Exactly one of receivedMessage and peekedMessage must be given.", nameof(receivedMessage));
        }
        Queue = queue;
        ReceivedMessage = receivedMessage;
        PeekedMessage = peekedMessage;
    }

    /// <summary>The client that received or peeked the message.</summary>
    public QueueClient Queue { get; }

    /// <summary>The received message whose text is not valid base64, or null for a peek.</summary>
    public QueueMessage? ReceivedMessage { get; }

    /// <summary>The peeked message whose text is not valid base64, or null for a receive.</summary>
    public PeekedMessage? PeekedMessage { get; }
}
