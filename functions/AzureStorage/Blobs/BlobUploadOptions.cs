using System.Diagnostics.CodeAnalysis;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>Options for <see cref="BlobClient.UploadAsync(Stream, BlobUploadOptions?, CancellationToken)"/>.</summary>
public class BlobUploadOptions
{
    /// <summary>Content headers stored with the blob (content type, encoding, …); null stores none, and the service
    /// then reports <c>application/octet-stream</c>.</summary>
    public BlobHttpHeaders? HttpHeaders { get; set; }

    /// <summary>Metadata stored with the blob, replacing any it had. Names must be valid C# identifiers and values
    /// printable ASCII (they travel as <c>x-ms-meta-*</c> headers); the service compares names case-insensitively.</summary>
    [SuppressMessage("Usage", "CA2227:Collection properties should be read only", Justification = "Mirrors Azure.Storage.Blobs.")]
    public IDictionary<string, string>? Metadata { get; set; }

    /// <summary>Conditions on the write; null overwrites whatever is there. With staged blocks the conditions are
    /// checked when the block list is committed, after the content has been sent.</summary>
    public BlobRequestConditions? Conditions { get; set; }

    /// <summary>Block size, single-request threshold and parallelism; see <see cref="StorageTransferOptions"/>.</summary>
    public StorageTransferOptions TransferOptions { get; set; }
}

/// <summary>Standard HTTP content headers stored with a blob and returned when it is read.</summary>
public class BlobHttpHeaders
{
    /// <summary>The MIME type, e.g. <c>application/json</c>.</summary>
    public string? ContentType { get; set; }

    /// <summary>The content encoding, e.g. <c>gzip</c>.</summary>
    public string? ContentEncoding { get; set; }

    /// <summary>The natural language of the content, e.g. <c>en-GB</c>.</summary>
    public string? ContentLanguage { get; set; }

    /// <summary>The <c>Content-Disposition</c> returned on download, e.g. <c>attachment; filename=report.csv</c>.</summary>
    public string? ContentDisposition { get; set; }

    /// <summary>The <c>Cache-Control</c> returned on download.</summary>
    public string? CacheControl { get; set; }
}

/// <summary>
/// How a stream is uploaded. Content of at most <see cref="InitialTransferSize"/> bytes goes in one Put Blob request;
/// anything larger is cut into blocks of <see cref="MaximumTransferSize"/> bytes, up to
/// <see cref="MaximumConcurrency"/> of them in flight at once, and committed with Put Block List. The upload holds at
/// most <c>(MaximumConcurrency + 1) × MaximumTransferSize</c> bytes of content in memory, whatever the stream's size.
/// </summary>
public readonly record struct StorageTransferOptions
{
    /// <summary>The default block size: 4 MiB.</summary>
    public const int DefaultMaximumTransferSize = 4 * 1024 * 1024;

    /// <summary>The default number of blocks in flight: 4.</summary>
    public const int DefaultMaximumConcurrency = 4;

    /// <summary>The largest block size accepted: 256 MiB, so that block buffers stay poolable.</summary>
    public const int MaxTransferSizeLimit = 256 * 1024 * 1024;

    /// <summary>The most blocks in flight accepted: 64.</summary>
    public const int MaxConcurrencyLimit = 64;

    /// <summary>How many blocks are sent in parallel, 1 to <see cref="MaxConcurrencyLimit"/>; null means
    /// <see cref="DefaultMaximumConcurrency"/>.</summary>
    public int? MaximumConcurrency { get; init; }

    /// <summary>The block size in bytes, 1 to <see cref="MaxTransferSizeLimit"/>; null means
    /// <see cref="DefaultMaximumTransferSize"/>. A blob holds at most 50,000 blocks, so this also caps the size of
    /// what can be uploaded (about 195 GiB at the default).</summary>
    public long? MaximumTransferSize { get; init; }

    /// <summary>The largest content sent in a single Put Blob request, 0 to <see cref="MaximumTransferSize"/>; null
    /// means equal to the block size. 0 stages blocks for any non-empty content.</summary>
    public long? InitialTransferSize { get; init; }

    /// <summary>Resolves defaults and checks the limits.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is outside its documented range.</exception>
    internal (int BlockSize, int Concurrency, int SingleUploadThreshold) Resolve()
    {
        var blockSize = MaximumTransferSize ?? DefaultMaximumTransferSize;
        if (blockSize is < 1 or > MaxTransferSizeLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaximumTransferSize), blockSize,
                $"The block size must be between 1 byte and {MaxTransferSizeLimit} bytes.");
        }
        var concurrency = MaximumConcurrency ?? DefaultMaximumConcurrency;
        if (concurrency is < 1 or > MaxConcurrencyLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaximumConcurrency), concurrency,
                $"The concurrency must be between 1 and {MaxConcurrencyLimit}.");
        }
        var single = InitialTransferSize ?? blockSize;
        if (single < 0 || single > blockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(InitialTransferSize), single,
                "The single-request threshold must be between 0 and the block size (MaximumTransferSize).");
        }
        return ((int)blockSize, concurrency, (int)single);
    }
}
