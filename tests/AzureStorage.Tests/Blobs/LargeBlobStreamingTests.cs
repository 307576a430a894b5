using System.Diagnostics;
using System.Security.Cryptography;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests.Blobs;

/// <summary>Runs alone (after the parallel tests) so that the process-wide allocation counter measures only this test.</summary>
[CollectionDefinition(nameof(LargeBlobStreamingTests), DisableParallelization = true)]
public sealed class LargeBlobRunsAlone;

[Collection(nameof(LargeBlobStreamingTests))]
public sealed class LargeBlobStreamingTests(AzuriteFixture azurite)
{
    private const long Size = 200L * 1024 * 1024;

    [Fact]
    public async Task A_200_MB_blob_streams_up_and_down_holding_at_most_concurrency_plus_one_blocks()
    {
        var ct = TestContext.Current.CancellationToken;
        var container = await BlobTestSupport.NewContainerAsync(azurite, "large");
        var blob = container.GetBlobClient("exports/large.bin");
        var pool = new TrackingArrayPool();
        blob.BufferPool = pool;
        const int blockSize = StorageTransferOptions.DefaultMaximumTransferSize;
        const int concurrency = StorageTransferOptions.DefaultMaximumConcurrency;
        using var source = new PseudoRandomStream(Size, seed: 2024);

        var uploadAllocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var uploaded = await blob.UploadAsync(source, new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" },
        }, ct);
        var uploadTime = clock.Elapsed;
        uploadAllocated = GC.GetTotalAllocatedBytes(precise: true) - uploadAllocated;

        Assert.Equal(Size, source.Produced);
        Assert.Equal(51, pool.Rentals); // 50 full blocks, then one buffer that found the end of the stream
        Assert.True(pool.Peak <= (concurrency + 1) * (long)blockSize,
            $"The upload held {pool.Peak} bytes of buffers at its peak; the bound is {(concurrency + 1) * (long)blockSize}.");
        Assert.Equal(0, pool.Outstanding);
        // Beyond the pooled buffers the upload must not copy content: one copy of every block would allocate the full size.
        Assert.True(uploadAllocated < Size / 4, $"The upload allocated {uploadAllocated} bytes for {Size} bytes of content.");
        Assert.Equal(Size, (await blob.GetPropertiesAsync(cancellationToken: ct)).Value.ContentLength);

        var downloadAllocated = GC.GetTotalAllocatedBytes(precise: true);
        clock.Restart();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long received = 0;
        using (var download = (await blob.DownloadStreamingAsync(cancellationToken: ct)).Value)
        {
            Assert.Equal(Size, download.Details.ContentLength);
            Assert.Equal(uploaded.Value.ETag, download.Details.ETag);
            var buffer = new byte[81_920];
            int n;
            while ((n = await download.Content.ReadAsync(buffer, ct)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                received += n;
            }
        }
        var downloadTime = clock.Elapsed;
        downloadAllocated = GC.GetTotalAllocatedBytes(precise: true) - downloadAllocated;

        Assert.Equal(Size, received);
        Assert.Equal(source.Sha256(), hash.GetCurrentHash());
        Assert.True(downloadAllocated < Size / 4, $"The download allocated {downloadAllocated} bytes for {Size} bytes of content.");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"200 MB: upload {uploadTime.TotalSeconds:F1} s, {uploadAllocated / 1024 / 1024} MiB allocated, peak buffers {pool.Peak / 1024 / 1024} MiB; " +
            $"download {downloadTime.TotalSeconds:F1} s, {downloadAllocated / 1024 / 1024} MiB allocated.");
        await container.DeleteIfExistsAsync(ct);
    }
}
