using Azure;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests.Blobs;

public sealed class BlobContainerClientTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Creating_a_container_twice_succeeds_and_reports_that_it_already_existed()
    {
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(AzuriteFixture.NewName("create"));
        Assert.False((await container.ExistsAsync(Ct)).Value);

        var created = await container.CreateIfNotExistsAsync(Ct);
        var again = await container.CreateIfNotExistsAsync(Ct);

        Assert.NotNull(created);
        Assert.NotEqual(default, created.Value.ETag);
        Assert.Null(again);
        Assert.True((await container.ExistsAsync(Ct)).Value);
    }

    [Fact]
    public async Task Deleting_a_container_reports_whether_it_existed()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "delete");

        Assert.True((await container.DeleteIfExistsAsync(Ct)).Value);
        Assert.False((await container.ExistsAsync(Ct)).Value);
        Assert.False((await container.DeleteIfExistsAsync(Ct)).Value);
    }

    [Fact]
    public async Task Invalid_container_name_is_rejected_by_the_service_with_its_error_code()
    {
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("Not_Valid");

        var ex = await Assert.ThrowsAsync<RequestFailedException>(() => container.CreateIfNotExistsAsync(Ct));

        Assert.Equal(400, ex.Status);
        Assert.False(string.IsNullOrEmpty(ex.ErrorCode));
    }

    [Fact]
    public async Task Listing_by_prefix_follows_continuation_markers_across_pages()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "list");
        for (var i = 0; i < 23; i++)
        {
            await container.GetBlobClient($"ledger/2024/{i:D2}.json").UploadAsync(BinaryData.FromString($"{{\"n\":{i}}}"), cancellationToken: Ct);
        }
        await container.GetBlobClient("ledger/2025/00.json").UploadAsync(BinaryData.FromString("{}"), cancellationToken: Ct);
        await container.GetBlobClient("other.json").UploadAsync(BinaryData.FromString("{}"), cancellationToken: Ct);

        var pages = new List<Page<BlobItem>>();
        await foreach (var page in container.GetBlobsAsync(prefix: "ledger/2024/", cancellationToken: Ct).AsPages(pageSizeHint: 5))
        {
            pages.Add(page);
        }

        Assert.Equal([5, 5, 5, 5, 3], pages.Select(p => p.Values.Count));
        Assert.All(pages.SkipLast(1), p => Assert.False(string.IsNullOrEmpty(p.ContinuationToken)));
        Assert.Null(pages[^1].ContinuationToken);
        var names = pages.SelectMany(p => p.Values).Select(b => b.Name).ToList();
        Assert.Equal(Enumerable.Range(0, 23).Select(i => $"ledger/2024/{i:D2}.json"), names);
    }

    [Fact]
    public async Task Enumerating_a_listing_directly_yields_every_blob_lazily_page_by_page()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "lazy");
        for (var i = 0; i < 12; i++)
        {
            await container.GetBlobClient($"p/{i:D2}").UploadAsync(BinaryData.FromString("x"), cancellationToken: Ct);
        }

        var all = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(prefix: "p/", cancellationToken: Ct))
        {
            all.Add(blob.Name);
        }
        var firstPageOnly = new List<string>();
        await foreach (var page in container.GetBlobsAsync(prefix: "p/", cancellationToken: Ct).AsPages(pageSizeHint: 5))
        {
            firstPageOnly.AddRange(page.Values.Select(b => b.Name));
            break;
        }

        Assert.Equal(12, all.Count);
        Assert.Equal(5, firstPageOnly.Count);
    }

    [Fact]
    public async Task Listing_resumes_from_a_continuation_token()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "resume");
        for (var i = 0; i < 7; i++)
        {
            await container.GetBlobClient($"r{i}").UploadAsync(BinaryData.FromString("x"), cancellationToken: Ct);
        }
        string? token = null;
        await foreach (var page in container.GetBlobsAsync(cancellationToken: Ct).AsPages(pageSizeHint: 4))
        {
            token = page.ContinuationToken;
            break;
        }

        var rest = new List<string>();
        await foreach (var page in container.GetBlobsAsync(cancellationToken: Ct).AsPages(token, 4))
        {
            rest.AddRange(page.Values.Select(b => b.Name));
        }

        Assert.Equal(["r4", "r5", "r6"], rest);
    }

    [Fact]
    public async Task Listing_reports_size_etag_content_type_and_metadata_when_asked()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "props");
        var blob = container.GetBlobClient("doc.csv");
        var uploaded = await blob.UploadAsync(BinaryData.FromString("a,b\n1,2\n"), new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "text/csv" },
            Metadata = new Dictionary<string, string> { ["Owner"] = "credit", ["batch"] = "42" },
        }, Ct);

        var withoutMetadata = await SingleAsync(container.GetBlobsAsync(cancellationToken: Ct));
        var withMetadata = await SingleAsync(container.GetBlobsAsync(BlobTraits.Metadata, cancellationToken: Ct));

        Assert.Equal("doc.csv", withMetadata.Name);
        Assert.Equal(8, withMetadata.Properties.ContentLength);
        Assert.Equal("text/csv", withMetadata.Properties.ContentType);
        Assert.Equal(uploaded.Value.ETag, withMetadata.Properties.ETag);
        Assert.Equal(uploaded.Value.LastModified, withMetadata.Properties.LastModified);
        Assert.Equal("credit", withMetadata.Metadata["owner"]);
        Assert.Equal("42", withMetadata.Metadata["batch"]);
        Assert.Empty(withoutMetadata.Metadata);
    }

    private static async Task<BlobItem> SingleAsync(AsyncPageable<BlobItem> items)
    {
        var list = new List<BlobItem>();
        await foreach (var item in items)
        {
            list.Add(item);
        }
        return Assert.Single(list);
    }
}
