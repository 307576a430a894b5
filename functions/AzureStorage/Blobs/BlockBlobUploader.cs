using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.ExceptionServices;
using System.Text;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>
/// One upload of a stream to a block blob. Reads the stream into pooled buffers of one block each; sends the first
/// buffer as a single Put Blob when the stream ends within the single-request threshold, otherwise stages each buffer
/// with Put Block (at most <c>concurrency</c> in flight) and commits them in order with Put Block List. At most
/// <c>concurrency + 1</c> buffers are rented at any time: one being filled, the others being sent.
/// </summary>
internal sealed class BlockBlobUploader
{
    /// <summary>The service's limit on blocks in one blob.</summary>
    public const int MaxBlocks = 50_000;

    private readonly BlobClient _blob;
    private readonly BlobUploadOptions _options;
    private readonly ArrayPool<byte> _pool;
    private readonly int _blockSize;
    private readonly int _concurrency;
    private readonly int _singleUploadThreshold;

    public BlockBlobUploader(BlobClient blob, BlobUploadOptions options)
    {
        _blob = blob;
        _options = options;
        _pool = blob.BufferPool;
        (_blockSize, _concurrency, _singleUploadThreshold) = options.TransferOptions.Resolve();
        if (options.Metadata is not null)
        {
            foreach (var (name, value) in options.Metadata)
            {
                BlobHeaders.ValidateMetadata(name, value);
            }
        }
    }

    public async Task<Response<BlobContentInfo>> UploadAsync(Stream content, CancellationToken cancellationToken)
    {
        var firstSize = _blockSize;
        if (content.CanSeek)
        {
            // A known length lets small content take a buffer of its own size; the extra byte detects a stream that
            // turns out longer than it said.
            var remaining = Math.Max(0, content.Length - content.Position);
            firstSize = (int)Math.Min(_blockSize, remaining + 1);
        }
        var first = _pool.Rent(firstSize);
        var ownsFirst = true;
        try
        {
            var filled = await FillAsync(content, first.AsMemory(0, firstSize), cancellationToken).ConfigureAwait(false);
            if (filled < firstSize && filled <= _singleUploadThreshold)
            {
                return await PutBlobAsync(first.AsMemory(0, filled), cancellationToken).ConfigureAwait(false);
            }
            if (filled == firstSize && firstSize < _blockSize)
            {
                // The stream is longer than its Length said: continue in a full-size block.
                var block = _pool.Rent(_blockSize);
                first.AsSpan(0, filled).CopyTo(block);
                _pool.Return(first);
                first = block;
                filled += await FillAsync(content, first.AsMemory(filled, _blockSize - filled), cancellationToken).ConfigureAwait(false);
            }
            ownsFirst = false;
            return await StageAndCommitAsync(content, first, filled, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (ownsFirst)
            {
                _pool.Return(first);
            }
        }
    }

    /// <summary>Stages the content as blocks and commits them; takes ownership of <paramref name="first"/>.</summary>
    private async Task<Response<BlobContentInfo>> StageAndCommitAsync(Stream content, byte[] first, int firstFilled,
        CancellationToken cancellationToken)
    {
        var uploadId = Guid.NewGuid();
        var blockIds = new List<string>();
        var inFlight = new List<Task>(_concurrency);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        byte[]? buffer = first;
        var filled = firstFilled;
        var endOfStream = filled < _blockSize;
        try
        {
            while (true)
            {
                if (filled > 0)
                {
                    if (blockIds.Count == MaxBlocks)
                    {
                        throw new InvalidOperationException(
                            $"The stream is longer than {MaxBlocks} blocks of {_blockSize} bytes; upload it with a larger MaximumTransferSize.");
                    }
                    var blockId = BlockId(uploadId, blockIds.Count);
                    blockIds.Add(blockId);
                    if (inFlight.Count == _concurrency)
                    {
                        var done = await Task.WhenAny(inFlight).ConfigureAwait(false);
                        inFlight.Remove(done);
                        await done.ConfigureAwait(false);
                    }
                    inFlight.Add(StageBlockAsync(blockId, buffer!, filled, failed));
                }
                else if (buffer is not null)
                {
                    _pool.Return(buffer);
                }
                buffer = null;
                if (endOfStream)
                {
                    break;
                }
                buffer = _pool.Rent(_blockSize);
                filled = await FillAsync(content, buffer.AsMemory(0, _blockSize), failed.Token).ConfigureAwait(false);
                endOfStream = filled < _blockSize;
            }
            await Task.WhenAll(inFlight).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (buffer is not null)
            {
                _pool.Return(buffer);
            }
            await failed.CancelAsync().ConfigureAwait(false);
            await ThrowRootCauseAsync(inFlight, ex).ConfigureAwait(false);
            throw;
        }
        return await CommitAsync(blockIds, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for the blocks still in flight, then rethrows the failure that started it all rather than the
    /// cancellations it caused.</summary>
    private static async Task ThrowRootCauseAsync(List<Task> inFlight, Exception caught)
    {
        try
        {
            await Task.WhenAll(inFlight).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Observed below through the tasks themselves.
        }
        if (caught is OperationCanceledException)
        {
            var rootCause = inFlight.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException).FirstOrDefault(e => e is not null);
            if (rootCause is not null)
            {
                ExceptionDispatchInfo.Throw(rootCause);
            }
        }
    }

    private async Task StageBlockAsync(string blockId, byte[] buffer, int length, CancellationTokenSource failed)
    {
        try
        {
            var uri = _blob.BlobUri();
            uri.AppendQuery("comp", "block");
            uri.AppendQuery("blockid", blockId);
            using var message = _blob.Context.Pipeline.CreateMessage(RequestMethod.Put, uri);
            message.Request.Content = RequestContent.Create(new ReadOnlyMemory<byte>(buffer, 0, length));
            await _blob.Context.Pipeline.SendAsync(message, failed.Token, 201).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            _pool.Return(buffer);
        }
    }

    private async Task<Response<BlobContentInfo>> PutBlobAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        using var message = _blob.Context.Pipeline.CreateMessage(RequestMethod.Put, _blob.BlobUri());
        message.Request.Headers.SetValue("x-ms-blob-type", "BlockBlob");
        ApplyBlobHeaders(message.Request);
        message.Request.Content = RequestContent.Create(content);
        var response = await _blob.Context.Pipeline.SendAsync(message, cancellationToken, 201).ConfigureAwait(false);
        return ContentInfo(response);
    }

    private async Task<Response<BlobContentInfo>> CommitAsync(List<string> blockIds, CancellationToken cancellationToken)
    {
        var uri = _blob.BlobUri();
        uri.AppendQuery("comp", "blocklist");
        using var message = _blob.Context.Pipeline.CreateMessage(RequestMethod.Put, uri);
        ApplyBlobHeaders(message.Request);
        var xml = new StringBuilder(64 + (blockIds.Count * 48));
        xml.Append("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        foreach (var id in blockIds)
        {
            xml.Append("<Latest>").Append(id).Append("</Latest>");
        }
        xml.Append("</BlockList>");
        message.Request.Headers.SetValue("Content-Type", "application/xml");
        message.Request.Content = RequestContent.Create(BinaryData.FromString(xml.ToString()));
        var response = await _blob.Context.Pipeline.SendAsync(message, cancellationToken, 201).ConfigureAwait(false);
        return ContentInfo(response);
    }

    private void ApplyBlobHeaders(Request request)
    {
        BlobHeaders.ApplyHttpHeaders(request, _options.HttpHeaders);
        BlobHeaders.ApplyMetadata(request, _options.Metadata);
        BlobHeaders.ApplyConditions(request, _options.Conditions);
    }

    private static Response<BlobContentInfo> ContentInfo(Response response) => Response.FromValue(new BlobContentInfo
    {
        ETag = BlobHeaders.ReadETag(response),
        LastModified = BlobHeaders.ReadDate(response, "Last-Modified"),
    }, response);

    /// <summary>Block IDs of one upload all have the same length (the service requires it): base64 of the upload's
    /// GUID and the block's index.</summary>
    internal static string BlockId(Guid uploadId, int index)
    {
        Span<byte> bytes = stackalloc byte[20];
        uploadId.TryWriteBytes(bytes);
        BinaryPrimitives.WriteInt32BigEndian(bytes[16..], index);
        return Convert.ToBase64String(bytes);
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns how many bytes were read.</summary>
    private static async ValueTask<int> FillAsync(Stream content, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var n = await content.ReadAsync(buffer[filled..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            filled += n;
        }
        return filled;
    }
}
