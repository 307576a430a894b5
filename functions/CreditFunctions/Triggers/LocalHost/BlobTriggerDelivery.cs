using System.Text.Json;
using Azure;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.AzureStorage.Queues;

namespace CreditFunctions.Triggers.LocalHost;

/// <summary>
/// Blob triggers in local-host mode, shaped like the host's own (a scan that queues new blobs, and a queue listener
/// that invokes): each scan lists a function's container and, for every blob version (name and ETag) that matches the
/// path and has no receipt, sends a message to the blob queue and records a <c>Queued</c> receipt. The queue's pump
/// (the host's retry and poison rules) delivers the message: it skips a version whose receipt is <c>Completed</c> or
/// whose blob has gone or changed, otherwise downloads it, invokes the function with the host's envelope and marks
/// the receipt <c>Completed</c>. Receipts live in a table, so a restart delivers nothing twice.
/// </summary>
/// <remarks>
/// Order of steps and what a crash between them does: message sent, then receipt added — a crash in between sends the
/// version again after the restart, and the second message finds the first one's <c>Completed</c> receipt (or, if
/// both run before either completes, the function runs twice: at least once, as in the host). Function returned, then
/// receipt completed — a crash in between delivers the version again. A poisoned version keeps its <c>Queued</c>
/// receipt and is not queued again, as in the host; overwrite the blob (new ETag) to deliver it again.
/// </remarks>
internal sealed class BlobTriggerDelivery(
    FunctionsCatalog catalog,
    LocalHostState state,
    Func<string, BlobServiceClient> blobs,
    QueueClient queue,
    LocalInvoker invoker,
    TimeProvider clock,
    IConfiguration configuration,
    ILogger logger)
{
    // Versions known to have a receipt: saves a table read per blob per scan.
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public QueueClient Queue => queue;

    /// <summary>Lists the function's container once and queues every new version.</summary>
    public async Task<int> ScanAsync(FunctionDefinition function, CancellationToken cancellationToken)
    {
        var trigger = (BlobTrigger)function.Trigger;
        var pattern = BlobPathPattern.Parse(BindingExpressions.Resolve(trigger.Path, configuration), function.Name);
        var container = blobs(trigger.Connection).GetBlobContainerClient(pattern.Container);
        await container.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
        var queued = 0;
        await foreach (var blob in container.GetBlobsAsync(prefix: pattern.Prefix.Length > 0 ? pattern.Prefix : null, cancellationToken: cancellationToken)
            .ConfigureAwait(false))
        {
            if (blob.Properties.ETag is not { } etag || pattern.Match(blob.Name) is null)
            {
                continue;
            }
            var key = $"{function.Name}\n{pattern.Container}/{blob.Name}\n{etag}";
            if (_known.Contains(key))
            {
                continue;
            }
            if (await state.GetReceiptAsync(function.Name, pattern.Container, blob.Name, etag.ToString(), cancellationToken).ConfigureAwait(false) is null)
            {
                var message = JsonSerializer.Serialize(new BlobMessage(function.Name, pattern.Container, blob.Name, etag.ToString()), BlobMessageJson.Options);
                await queue.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
                await state.TryAddQueuedAsync(function.Name, pattern.Container, blob.Name, etag.ToString(), clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                TriggerLog.BlobQueued(logger, function.Name, pattern.Container, blob.Name);
                queued++;
            }
            _known.Add(key);
        }
        return queued;
    }

    /// <summary>Delivers one message of the blob queue. Throws when the invocation failed (the pump retries).</summary>
    public async Task DeliverAsync(QueueMessage message, CancellationToken cancellationToken)
    {
        BlobMessage? item;
        try
        {
            item = JsonSerializer.Deserialize<BlobMessage>(message.MessageText, BlobMessageJson.Options);
        }
        catch (JsonException)
        {
            item = null;
        }
        if (item is null || catalog.Find(item.Function) is not { Trigger: BlobTrigger trigger } function)
        {
            // Malformed, or for a function that no longer exists: fail, so that it ends in the poison queue for a look.
            throw new InvalidOperationException("The blob queue holds a message that names no blob function.");
        }
        if (await state.GetReceiptAsync(function.Name, item.Container, item.Blob, item.ETag, cancellationToken).ConfigureAwait(false) == LocalHostState.Completed)
        {
            return;
        }
        var pattern = BlobPathPattern.Parse(BindingExpressions.Resolve(trigger.Path, configuration), function.Name);
        var blob = blobs(trigger.Connection).GetBlobContainerClient(item.Container).GetBlobClient(item.Blob);
        BlobDownloadResult download;
        try
        {
            download = (await blob.DownloadContentAsync(conditions: new BlobRequestConditions { IfMatch = new ETag(item.ETag) }, cancellationToken: cancellationToken)
                .ConfigureAwait(false)).Value;
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            // Deleted, or replaced by a newer version that has its own receipt: this version is nothing to deliver.
            await state.CompleteAsync(function.Name, item.Container, item.Blob, item.ETag, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            return;
        }
        var info = new BlobInfo(item.Container, item.Blob, blob.Uri, download.Content, pattern.Match(item.Blob) ?? new Dictionary<string, string>())
        {
            ContentType = download.Details.ContentType,
            ETag = item.ETag,
            LastModified = download.Details.LastModified,
            BlobMetadata = new Dictionary<string, string>(download.Details.Metadata, StringComparer.OrdinalIgnoreCase),
        };
        await invoker.InvokeAsync(function, InvocationEnvelope.ForBlob(function, info, clock.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        await state.CompleteAsync(function.Name, item.Container, item.Blob, item.ETag, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
    }

    private sealed record BlobMessage(string Function, string Container, string Blob, string ETag);

    private static class BlobMessageJson
    {
        public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
    }
}
