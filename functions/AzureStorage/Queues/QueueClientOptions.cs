using Azure.Core;

namespace CreditFunctions.AzureStorage.Queues;

/// <summary>
/// Options for <see cref="QueueServiceClient"/> and <see cref="QueueClient"/>: the storage defaults of
/// <see cref="StorageClientOptions"/> plus how message bodies are encoded.
/// </summary>
/// <remarks>
/// The queue clients accept any <see cref="StorageClientOptions"/>; when the instance is not a
/// <see cref="QueueClientOptions"/> the queue settings take their defaults. Unlike Azure.Storage.Queues, whose default
/// is no encoding, the default here is <see cref="QueueMessageEncoding.Base64"/>, matching the Azure Functions host.
/// </remarks>
public class QueueClientOptions : StorageClientOptions
{
    /// <summary>How bodies are encoded on the wire; <see cref="QueueMessageEncoding.Base64"/> by default.</summary>
    public QueueMessageEncoding MessageEncoding { get; init; } = QueueMessageEncoding.Base64;

    /// <summary>
    /// Raised, with <see cref="MessageEncoding"/> set to <see cref="QueueMessageEncoding.Base64"/>, for each received or
    /// peeked message whose text is not valid base64. The message is then left out of the result and its
    /// <c>Body</c> carries the raw UTF-8 text. A received message stays in the queue and reappears after its
    /// visibility timeout unless a handler deletes it (for example after copying it to a poison queue). Without a
    /// handler such a message makes the receive or peek throw <see cref="FormatException"/>. Handlers run one after
    /// another on the receiving call; an exception from a handler propagates from that call.
    /// </summary>
    public event SyncAsyncEventHandler<QueueMessageDecodingFailedEventArgs>? MessageDecodingFailed;

    internal bool HasDecodingFailedHandlers => MessageDecodingFailed is not null;

    internal async Task RaiseMessageDecodingFailedAsync(QueueMessageDecodingFailedEventArgs args)
    {
        if (MessageDecodingFailed is null)
        {
            return;
        }
        foreach (var handler in MessageDecodingFailed.GetInvocationList().Cast<SyncAsyncEventHandler<QueueMessageDecodingFailedEventArgs>>())
        {
            await handler(args).ConfigureAwait(false);
        }
    }
}
