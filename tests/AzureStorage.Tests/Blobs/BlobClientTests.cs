using System.Security.Cryptography;
using Azure;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests.Blobs;

public sealed class BlobClientTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Uploaded_content_downloads_byte_for_byte_with_its_properties()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("statements/2024-06.json");
        var content = BlobTestSupport.Bytes(10_000);

        var uploaded = await blob.UploadAsync(new MemoryStream(content), new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" },
            Metadata = new Dictionary<string, string> { ["source"] = "ledger" },
        }, Ct);
        var downloaded = await blob.DownloadContentAsync(cancellationToken: Ct);
        using var streamed = (await blob.DownloadStreamingAsync(cancellationToken: Ct)).Value;
        var viaStream = new MemoryStream();
        await streamed.Content.CopyToAsync(viaStream, Ct);

        Assert.Equal(content, downloaded.Value.Content.ToArray());
        Assert.Equal(content, viaStream.ToArray());
        Assert.Equal(uploaded.Value.ETag, downloaded.Value.Details.ETag);
        Assert.Equal(uploaded.Value.ETag, streamed.Details.ETag);
        Assert.Equal(10_000, streamed.Details.ContentLength);
        Assert.Equal("application/json", streamed.Details.ContentType);
        Assert.Equal("ledger", streamed.Details.Metadata["source"]);
        Assert.Null(streamed.Details.ContentRange);
    }

    [Fact]
    public async Task Empty_content_uploads_as_an_empty_blob()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("empty");

        await blob.UploadAsync(new PseudoRandomStream(0, 1), cancellationToken: Ct);

        Assert.Equal(0, (await blob.GetPropertiesAsync(cancellationToken: Ct)).Value.ContentLength);
        Assert.Equal(0, (await blob.DownloadContentAsync(cancellationToken: Ct)).Value.Content.ToMemory().Length);
    }

    [Fact]
    public async Task Upload_replaces_existing_content_by_default()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("replace.txt");
        await blob.UploadAsync(BinaryData.FromString("first"), cancellationToken: Ct);

        await blob.UploadAsync(BinaryData.FromString("second"), cancellationToken: Ct);

        Assert.Equal("second", (await blob.DownloadContentAsync(cancellationToken: Ct)).Value.Content.ToString());
    }

    [Fact]
    public async Task Range_download_returns_only_the_requested_bytes()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("range.bin");
        var content = BlobTestSupport.Bytes(5_000);
        await blob.UploadAsync(new MemoryStream(content), cancellationToken: Ct);

        var middle = await blob.DownloadContentAsync(new HttpRange(1_000, 250), cancellationToken: Ct);
        using var tail = (await blob.DownloadStreamingAsync(new HttpRange(4_900), cancellationToken: Ct)).Value;
        var tailBytes = new MemoryStream();
        await tail.Content.CopyToAsync(tailBytes, Ct);

        Assert.Equal(206, middle.GetRawResponse().Status);
        Assert.Equal(content.AsSpan(1_000, 250).ToArray(), middle.Value.Content.ToArray());
        Assert.Equal("bytes 1000-1249/5000", middle.Value.Details.ContentRange);
        Assert.Equal(250, middle.Value.Details.ContentLength);
        Assert.Equal(content.AsSpan(4_900).ToArray(), tailBytes.ToArray());
    }

    [Fact]
    public async Task Range_starting_past_the_end_is_rejected_with_416()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("short.bin");
        await blob.UploadAsync(BinaryData.FromBytes(BlobTestSupport.Bytes(10)), cancellationToken: Ct);

        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => blob.DownloadContentAsync(new HttpRange(100, 10), cancellationToken: Ct));

        Assert.Equal(416, ex.Status);
        Assert.Equal("InvalidRange", ex.ErrorCode);
    }

    [Fact]
    public async Task Metadata_set_on_a_blob_is_read_back_and_changes_the_etag()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("meta.txt");
        var uploaded = await blob.UploadAsync(BinaryData.FromString("hello"), new BlobUploadOptions
        {
            Metadata = new Dictionary<string, string> { ["first"] = "1" },
        }, Ct);

        var set = await blob.SetMetadataAsync(new Dictionary<string, string> { ["Status"] = "settled", ["run_id"] = "r-17" },
            new BlobRequestConditions { IfMatch = uploaded.Value.ETag }, Ct);
        var properties = (await blob.GetPropertiesAsync(cancellationToken: Ct)).Value;

        Assert.NotEqual(uploaded.Value.ETag, set.Value.ETag);
        Assert.Equal(set.Value.ETag, properties.ETag);
        Assert.Equal(2, properties.Metadata.Count);
        Assert.Equal("settled", properties.Metadata["status"]);
        Assert.Equal("r-17", properties.Metadata["run_id"]);
        Assert.False(properties.Metadata.ContainsKey("first"));
        Assert.Equal(5, properties.ContentLength);
        Assert.Equal("application/octet-stream", properties.ContentType);
    }

    [Fact]
    public async Task Invalid_metadata_is_rejected_before_any_request()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("badmeta");

        await Assert.ThrowsAsync<ArgumentException>(() => blob.UploadAsync(BinaryData.FromString("x"),
            new BlobUploadOptions { Metadata = new Dictionary<string, string> { ["1abc"] = "v" } }, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => blob.UploadAsync(BinaryData.FromString("x"),
            new BlobUploadOptions { Metadata = new Dictionary<string, string> { ["name"] = "café" } }, Ct));
        Assert.False((await blob.ExistsAsync(Ct)).Value);
    }

    [Fact]
    public async Task Upload_only_if_absent_on_an_existing_blob_fails_with_blob_already_exists()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("once.txt");
        var onlyIfAbsent = new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } };
        await blob.UploadAsync(BinaryData.FromString("original"), onlyIfAbsent, Ct);

        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => blob.UploadAsync(BinaryData.FromString("again"), onlyIfAbsent, Ct));
        var viaFlag = await Assert.ThrowsAsync<RequestFailedException>(() => blob.UploadAsync(new MemoryStream([1, 2]), overwrite: false, Ct));

        Assert.Contains(ex.Status, new[] { 409, 412 });
        Assert.Contains(ex.ErrorCode, new[] { "BlobAlreadyExists", "ConditionNotMet" });
        Assert.Contains(viaFlag.ErrorCode, new[] { "BlobAlreadyExists", "ConditionNotMet" });
        Assert.Equal("original", (await blob.DownloadContentAsync(cancellationToken: Ct)).Value.Content.ToString());
    }

    [Fact]
    public async Task Upload_only_if_absent_through_staged_blocks_also_fails_on_an_existing_blob()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("once-large.bin");
        await blob.UploadAsync(BinaryData.FromString("original"), cancellationToken: Ct);
        var options = new BlobUploadOptions
        {
            Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
            TransferOptions = new StorageTransferOptions { MaximumTransferSize = 1024 },
        };

        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => blob.UploadAsync(new PseudoRandomStream(5_000, 3), options, Ct));

        Assert.Contains(ex.Status, new[] { 409, 412 });
        Assert.Contains(ex.ErrorCode, new[] { "BlobAlreadyExists", "ConditionNotMet" });
        Assert.Equal("original", (await blob.DownloadContentAsync(cancellationToken: Ct)).Value.Content.ToString());
    }

    [Fact]
    public async Task Stale_etag_on_upload_is_rejected_with_412()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("balance.json");
        var first = await blob.UploadAsync(BinaryData.FromString("{\"v\":1}"), cancellationToken: Ct);
        await blob.UploadAsync(BinaryData.FromString("{\"v\":2}"),
            new BlobUploadOptions { Conditions = new BlobRequestConditions { IfMatch = first.Value.ETag } }, Ct);

        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => blob.UploadAsync(BinaryData.FromString("{\"v\":3}"),
            new BlobUploadOptions { Conditions = new BlobRequestConditions { IfMatch = first.Value.ETag } }, Ct));

        Assert.Equal(412, ex.Status);
        Assert.Equal("ConditionNotMet", ex.ErrorCode);
        Assert.Equal("{\"v\":2}", (await blob.DownloadContentAsync(cancellationToken: Ct)).Value.Content.ToString());
    }

    [Fact]
    public async Task Stale_etag_on_set_metadata_and_download_is_rejected_with_412()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("stale.txt");
        var first = await blob.UploadAsync(BinaryData.FromString("a"), cancellationToken: Ct);
        await blob.UploadAsync(BinaryData.FromString("b"), cancellationToken: Ct);
        var stale = new BlobRequestConditions { IfMatch = first.Value.ETag };

        var onMetadata = await Assert.ThrowsAsync<RequestFailedException>(() =>
            blob.SetMetadataAsync(new Dictionary<string, string> { ["k"] = "v" }, stale, Ct));
        var onDownload = await Assert.ThrowsAsync<RequestFailedException>(() => blob.DownloadStreamingAsync(conditions: stale, cancellationToken: Ct));

        Assert.Equal((412, "ConditionNotMet"), (onMetadata.Status, onMetadata.ErrorCode));
        Assert.Equal((412, "ConditionNotMet"), (onDownload.Status, onDownload.ErrorCode));
    }

    [Fact]
    public async Task Missing_blob_reads_fail_with_404_blob_not_found_and_exists_is_false()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("missing");

        var onProperties = await Assert.ThrowsAsync<RequestFailedException>(() => blob.GetPropertiesAsync(cancellationToken: Ct));
        var onDownload = await Assert.ThrowsAsync<RequestFailedException>(() => blob.DownloadStreamingAsync(cancellationToken: Ct));

        Assert.Equal((404, "BlobNotFound"), (onProperties.Status, onProperties.ErrorCode));
        Assert.Equal((404, "BlobNotFound"), (onDownload.Status, onDownload.ErrorCode));
        Assert.False((await blob.ExistsAsync(Ct)).Value);
        Assert.False((await blob.DeleteIfExistsAsync(cancellationToken: Ct)).Value);
    }

    [Fact]
    public async Task Deleting_a_blob_reports_whether_it_existed()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("gone.txt");
        await blob.UploadAsync(BinaryData.FromString("x"), cancellationToken: Ct);

        Assert.True((await blob.ExistsAsync(Ct)).Value);
        Assert.True((await blob.DeleteIfExistsAsync(cancellationToken: Ct)).Value);
        Assert.False((await blob.ExistsAsync(Ct)).Value);
    }

    [Fact]
    public async Task Blob_names_are_escaped_per_segment_and_keep_slashes_as_separators()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        const string name = "exports/Q1 2024/ä+b#1?%.csv";
        var blob = container.GetBlobClient(name);

        await blob.UploadAsync(BinaryData.FromString("ok"), cancellationToken: Ct);
        var listed = new List<string>();
        await foreach (var item in container.GetBlobsAsync(prefix: "exports/Q1 2024/", cancellationToken: Ct))
        {
            listed.Add(item.Name);
        }

        Assert.EndsWith("/exports/Q1%202024/%C3%A4%2Bb%231%3F%25.csv", blob.Uri.AbsoluteUri, StringComparison.Ordinal);
        Assert.Equal("ok", (await blob.DownloadContentAsync(cancellationToken: Ct)).Value.Content.ToString());
        Assert.Equal([name], listed);
        Assert.Throws<ArgumentException>(() => container.GetBlobClient("a/../b"));
    }

    [Fact]
    public async Task Staged_upload_of_a_non_seekable_stream_round_trips_and_holds_at_most_concurrency_plus_one_blocks()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("staged.bin");
        var pool = new TrackingArrayPool();
        blob.BufferPool = pool;
        const int blockSize = 1024;
        const int concurrency = 3;
        using var source = new PseudoRandomStream(10 * blockSize + 17, 7);

        await blob.UploadAsync(source, new BlobUploadOptions
        {
            TransferOptions = new StorageTransferOptions { MaximumTransferSize = blockSize, MaximumConcurrency = concurrency },
        }, Ct);
        var downloaded = (await blob.DownloadContentAsync(cancellationToken: Ct)).Value.Content.ToArray();

        Assert.Equal(10 * blockSize + 17, downloaded.Length);
        Assert.Equal(source.Sha256(), SHA256.HashData(downloaded));
        Assert.Equal(11, pool.Rentals);
        Assert.InRange(pool.Peak, blockSize, (concurrency + 1) * blockSize);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task Small_seekable_content_goes_in_one_request_with_a_buffer_of_its_own_size()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("small.bin");
        var pool = new TrackingArrayPool();
        blob.BufferPool = pool;

        await blob.UploadAsync(new MemoryStream(BlobTestSupport.Bytes(3_000)), cancellationToken: Ct);

        Assert.Equal(1, pool.Rentals);
        Assert.True(pool.Peak <= 4096, $"peak {pool.Peak}");
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(3_000, (await blob.GetPropertiesAsync(cancellationToken: Ct)).Value.ContentLength);
    }

    [Fact]
    public async Task Failed_block_upload_surfaces_the_service_error_and_returns_every_buffer()
    {
        var service = new BlobServiceClient(azurite.ConnectionString);
        var blob = service.GetBlobContainerClient(AzuriteFixture.NewName("absent")).GetBlobClient("x.bin");
        var pool = new TrackingArrayPool();
        blob.BufferPool = pool;

        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => blob.UploadAsync(new PseudoRandomStream(100_000, 5),
            new BlobUploadOptions { TransferOptions = new StorageTransferOptions { MaximumTransferSize = 4096, MaximumConcurrency = 2 } }, Ct));

        Assert.Equal((404, "ContainerNotFound"), (ex.Status, ex.ErrorCode));
        Assert.Equal(0, pool.Outstanding);
        Assert.True(pool.Rentals < 100_000 / 4096, $"{pool.Rentals} buffers rented: the upload should stop reading once a block fails");
    }

    [Fact]
    public async Task Transfer_options_outside_their_limits_are_rejected()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite);
        var blob = container.GetBlobClient("limits");

        foreach (var transfer in new[]
        {
            new StorageTransferOptions { MaximumTransferSize = 0 },
            new StorageTransferOptions { MaximumTransferSize = StorageTransferOptions.MaxTransferSizeLimit + 1L },
            new StorageTransferOptions { MaximumConcurrency = 0 },
            new StorageTransferOptions { MaximumTransferSize = 1024, InitialTransferSize = 2048 },
        })
        {
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
                blob.UploadAsync(new MemoryStream([1]), new BlobUploadOptions { TransferOptions = transfer }, Ct));
        }
    }
}
