using System.Runtime.ExceptionServices;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>
/// The content of a streaming download, read from the network as it is consumed. When the connection fails or ends
/// early, the stream re-requests the remaining bytes (a range request with <c>If-Match</c> on the original ETag) up to
/// <see cref="MaxResumeAttempts"/> times in a row without progress; a blob changed meanwhile fails with 412.
/// </summary>
internal sealed class BlobDownloadStream : Stream
{
    public const int MaxResumeAttempts = 3;

    private readonly BlobClient _blob;
    private readonly ETag _etag;
    private readonly long _start;
    private readonly long _length;
    private HttpMessage _message;
    private Stream _content;
    private long _read;
    private int _failuresWithoutProgress;
    private bool _disposed;

    /// <param name="blob">The blob being read.</param>
    /// <param name="message">The Get Blob exchange; the stream owns and disposes it.</param>
    /// <param name="details">The response's properties; its ETag pins the blob version that resumes may read.</param>
    /// <param name="start">The offset in the blob of the first byte of this response.</param>
    public BlobDownloadStream(BlobClient blob, HttpMessage message, BlobDownloadDetails details, long start)
    {
        _blob = blob;
        _message = message;
        _content = message.Response.ContentStream ?? Null;
        _etag = details.ETag;
        _start = start;
        _length = message.Response.Headers.ContentLength ?? -1;
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException("The download stream is not seekable; see the download details for its length.");

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException("The download stream is not seekable.");
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty || (_length >= 0 && _read >= _length))
        {
            return 0;
        }
        while (true)
        {
            Exception failure;
            try
            {
                var n = await _content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n > 0 || _length < 0)
                {
                    return Advance(n);
                }
                failure = PrematureEnd();
            }
            catch (Exception ex) when (IsResumable(ex, cancellationToken))
            {
                failure = ex;
            }
            await ResumeAsync(failure, cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty || (_length >= 0 && _read >= _length))
        {
            return 0;
        }
        while (true)
        {
            Exception failure;
            try
            {
                var n = _content.Read(buffer);
                if (n > 0 || _length < 0)
                {
                    return Advance(n);
                }
                failure = PrematureEnd();
            }
            catch (Exception ex) when (IsResumable(ex, CancellationToken.None))
            {
                failure = ex;
            }
            // The pipeline is asynchronous only; a synchronous reader blocks here just as it would on the socket.
            ResumeAsync(failure, CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("The download stream is not seekable.");

    public override void SetLength(long value) => throw new NotSupportedException("The download stream is read-only.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("The download stream is read-only.");

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _content.Dispose();
            _message.Dispose();
        }
        base.Dispose(disposing);
    }

    private int Advance(int n)
    {
        _read += n;
        if (n > 0)
        {
            _failuresWithoutProgress = 0;
        }
        return n;
    }

    private IOException PrematureEnd() =>
        new($"The connection closed after {_read} of {_length} bytes of blob '{_blob.Name}'.");

    private static bool IsResumable(Exception ex, CancellationToken cancellationToken) =>
        ex is IOException or HttpRequestException ||
        (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private async Task ResumeAsync(Exception failure, CancellationToken cancellationToken)
    {
        if (++_failuresWithoutProgress > MaxResumeAttempts || _etag == default)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
        _content.Dispose();
        _message.Dispose();
        _content = Null;
        var remaining = new HttpRange(_start + _read, _length - _read);
        _message = await _blob.SendGetAsync(remaining, new RequestConditions { IfMatch = _etag }, streaming: true, cancellationToken)
            .ConfigureAwait(false);
        _content = _message.Response.ContentStream ?? Null;
    }
}
