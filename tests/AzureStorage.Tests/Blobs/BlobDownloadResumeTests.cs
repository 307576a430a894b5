using System.Net;
using Azure.Core.Pipeline;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests.Blobs;

public sealed class BlobDownloadResumeTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Streaming_download_resumes_from_the_next_byte_when_the_connection_drops()
    {
        var handler = new DropConnectionHandler(cutAfterBytes: 30_000, drops: 2);
        var container = await ContainerThroughAsync(handler);
        var blob = container.GetBlobClient("flaky.bin");
        var content = BlobTestSupport.Bytes(100_000, seed: 9);
        var uploaded = await blob.UploadAsync(BinaryData.FromBytes(content), cancellationToken: Ct);

        using var download = (await blob.DownloadStreamingAsync(cancellationToken: Ct)).Value;
        var received = new MemoryStream();
        await download.Content.CopyToAsync(received, Ct);

        Assert.Equal(content, received.ToArray());
        Assert.Equal(["bytes=30000-99999", "bytes=60000-99999"], handler.ResumeRanges);
        Assert.All(handler.ResumeIfMatch, v => Assert.Equal(uploaded.Value.ETag.ToString("H"), v));
    }

    [Fact]
    public async Task Resumed_range_download_keeps_to_the_requested_range()
    {
        var handler = new DropConnectionHandler(cutAfterBytes: 1_000, drops: 1);
        var container = await ContainerThroughAsync(handler);
        var blob = container.GetBlobClient("flaky-range.bin");
        var content = BlobTestSupport.Bytes(50_000, seed: 10);
        await blob.UploadAsync(BinaryData.FromBytes(content), cancellationToken: Ct);

        using var download = (await blob.DownloadStreamingAsync(new Azure.HttpRange(10_000, 5_000), cancellationToken: Ct)).Value;
        var received = new MemoryStream();
        await download.Content.CopyToAsync(received, Ct);

        Assert.Equal(content.AsSpan(10_000, 5_000).ToArray(), received.ToArray());
        Assert.Equal(["bytes=11000-14999"], handler.ResumeRanges);
    }

    [Fact]
    public async Task Blob_changed_during_a_resumed_download_fails_instead_of_mixing_versions()
    {
        var handler = new DropConnectionHandler(cutAfterBytes: 1_000, drops: 1);
        var container = await ContainerThroughAsync(handler);
        var blob = container.GetBlobClient("changing.bin");
        await blob.UploadAsync(BinaryData.FromBytes(BlobTestSupport.Bytes(20_000, seed: 11)), cancellationToken: Ct);

        using var download = (await blob.DownloadStreamingAsync(cancellationToken: Ct)).Value;
        await blob.UploadAsync(BinaryData.FromBytes(BlobTestSupport.Bytes(20_000, seed: 12)), cancellationToken: Ct);
        var ex = await Assert.ThrowsAsync<Azure.RequestFailedException>(() => download.Content.CopyToAsync(Stream.Null, Ct));

        Assert.Equal((412, "ConditionNotMet"), (ex.Status, ex.ErrorCode));
    }

    private async Task<BlobContainerClient> ContainerThroughAsync(DropConnectionHandler handler)
    {
        var options = new StorageClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) };
        var service = new BlobServiceClient(azurite.Connection.BlobEndpoint, azurite.Connection.SharedKey!, options);
        var container = service.GetBlobContainerClient(AzuriteFixture.NewName("resume"));
        await container.CreateIfNotExistsAsync(Ct);
        return container;
    }

    /// <summary>Cuts the body of the first <c>drops</c> blob GET responses after a number of bytes, as a dropped
    /// connection would, and records the ranges and conditions of the requests that follow a cut.</summary>
    private sealed class DropConnectionHandler(int cutAfterBytes, int drops) : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _remainingDrops = drops;
        private bool _cut;

        public List<string> ResumeRanges { get; } = [];

        public List<string> ResumeIfMatch { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var isBlobGet = request.Method == HttpMethod.Get && string.IsNullOrEmpty(request.RequestUri!.Query);
            if (isBlobGet && _cut)
            {
                ResumeRanges.Add(request.Headers.TryGetValues("x-ms-range", out var range) ? range.Single() : "(none)");
                ResumeIfMatch.Add(request.Headers.TryGetValues("If-Match", out var ifMatch) ? ifMatch.Single() : "(none)");
            }
            var response = await base.SendAsync(request, cancellationToken);
            if (isBlobGet && response.StatusCode is HttpStatusCode.OK or HttpStatusCode.PartialContent && _remainingDrops > 0)
            {
                _remainingDrops--;
                _cut = true;
                var original = response.Content;
                var cut = new StreamContent(new CutStream(await original.ReadAsStreamAsync(cancellationToken), cutAfterBytes));
                foreach (var header in original.Headers)
                {
                    cut.Headers.TryAddWithoutValidation(header.Key, header.Value);
                }
                response.Content = cut;
            }
            return response;
        }
    }

    private sealed class CutStream(Stream inner, int cutAfterBytes) : Stream
    {
        private int _passed;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_passed >= cutAfterBytes)
            {
                throw new IOException("Simulated connection reset.");
            }
            var n = await inner.ReadAsync(buffer[..Math.Min(buffer.Length, cutAfterBytes - _passed)], cancellationToken);
            _passed += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
