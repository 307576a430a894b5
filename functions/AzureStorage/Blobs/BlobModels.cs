using Azure;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>The result of a write that created or replaced a blob's content.</summary>
public class BlobContentInfo
{
    /// <summary>The blob's new ETag; pass it in <see cref="MatchConditions.IfMatch"/> to write only if nobody else has.</summary>
    public ETag ETag { get; internal init; }

    /// <summary>When the blob was last changed, as the service records it.</summary>
    public DateTimeOffset LastModified { get; internal init; }
}

/// <summary>The result of a write that changed a blob's properties or metadata but not its content.</summary>
public class BlobInfo
{
    /// <summary>The blob's new ETag.</summary>
    public ETag ETag { get; internal init; }

    /// <summary>When the blob was last changed.</summary>
    public DateTimeOffset LastModified { get; internal init; }
}

/// <summary>The result of creating a container.</summary>
public class BlobContainerInfo
{
    /// <summary>The container's ETag.</summary>
    public ETag ETag { get; internal init; }

    /// <summary>When the container was last changed.</summary>
    public DateTimeOffset LastModified { get; internal init; }
}

/// <summary>A blob's system properties and metadata, as returned by Get Blob Properties.</summary>
public class BlobProperties
{
    /// <summary>The size of the blob in bytes.</summary>
    public long ContentLength { get; internal init; }

    /// <summary>The MIME type stored with the blob (<c>application/octet-stream</c> when none was given).</summary>
    public string? ContentType { get; internal init; }

    /// <summary>The content encoding stored with the blob, or null.</summary>
    public string? ContentEncoding { get; internal init; }

    /// <summary>The content language stored with the blob, or null.</summary>
    public string? ContentLanguage { get; internal init; }

    /// <summary>The content disposition stored with the blob, or null.</summary>
    public string? ContentDisposition { get; internal init; }

    /// <summary>The cache control stored with the blob, or null.</summary>
    public string? CacheControl { get; internal init; }

    /// <summary>The blob's current ETag.</summary>
    public ETag ETag { get; internal init; }

    /// <summary>When the blob was last changed.</summary>
    public DateTimeOffset LastModified { get; internal init; }

    /// <summary>When the blob was created, when the service reports it.</summary>
    public DateTimeOffset? CreatedOn { get; internal init; }

    /// <summary>The blob's metadata; names compare case-insensitively. Empty when the blob has none.</summary>
    public IDictionary<string, string> Metadata { get; internal init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
}

/// <summary>Which optional details a blob listing includes.</summary>
[Flags]
public enum BlobTraits
{
    /// <summary>Names and system properties only.</summary>
    None = 0,

    /// <summary>Also each blob's metadata.</summary>
    Metadata = 1,
}

/// <summary>One blob in a listing.</summary>
public class BlobItem
{
    /// <summary>The blob's full name within its container, including any <c>/</c>-separated virtual folders.</summary>
    public string Name { get; internal init; } = string.Empty;

    /// <summary>The blob's system properties.</summary>
    public BlobItemProperties Properties { get; internal init; } = new();

    /// <summary>The blob's metadata when the listing asked for <see cref="BlobTraits.Metadata"/>; otherwise empty.
    /// Names compare case-insensitively.</summary>
    public IDictionary<string, string> Metadata { get; internal init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
}

/// <summary>The system properties of a blob in a listing.</summary>
public class BlobItemProperties
{
    /// <summary>The size of the blob in bytes, when reported.</summary>
    public long? ContentLength { get; internal init; }

    /// <summary>The MIME type stored with the blob, when reported.</summary>
    public string? ContentType { get; internal init; }

    /// <summary>The blob's ETag, when reported; equal to the ETag the other operations return for the same version.</summary>
    public ETag? ETag { get; internal init; }

    /// <summary>When the blob was last changed, when reported.</summary>
    public DateTimeOffset? LastModified { get; internal init; }

    /// <summary>When the blob was created, when reported.</summary>
    public DateTimeOffset? CreatedOn { get; internal init; }
}

/// <summary>The properties returned with downloaded content.</summary>
public class BlobDownloadDetails
{
    /// <summary>The number of bytes in this response: the whole blob, or the requested range.</summary>
    public long ContentLength { get; internal init; }

    /// <summary>The <c>Content-Range</c> of a range download, e.g. <c>bytes 0-99/1000</c>; null for a whole blob.</summary>
    public string? ContentRange { get; internal init; }

    /// <summary>The MIME type stored with the blob.</summary>
    public string? ContentType { get; internal init; }

    /// <summary>The content encoding stored with the blob, or null.</summary>
    public string? ContentEncoding { get; internal init; }

    /// <summary>The ETag of the blob version being read.</summary>
    public ETag ETag { get; internal init; }

    /// <summary>When the blob was last changed.</summary>
    public DateTimeOffset LastModified { get; internal init; }

    /// <summary>The blob's metadata; names compare case-insensitively.</summary>
    public IDictionary<string, string> Metadata { get; internal init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// A download whose <see cref="Content"/> reads from the network as it is consumed. Dispose it (or the stream) to
/// release the connection.
/// </summary>
public sealed class BlobDownloadStreamingResult : IDisposable
{
    internal BlobDownloadStreamingResult(Stream content, BlobDownloadDetails details)
    {
        Content = content;
        Details = details;
    }

    /// <summary>The content, read lazily from the network. Not seekable. If the connection drops mid-way, the stream
    /// resumes from the next byte with a range request conditioned on <see cref="BlobDownloadDetails.ETag"/>, so a
    /// blob changed meanwhile fails with 412 instead of mixing versions.</summary>
    public Stream Content { get; }

    /// <summary>The properties of the blob version being read.</summary>
    public BlobDownloadDetails Details { get; }

    /// <inheritdoc />
    public void Dispose() => Content.Dispose();
}

/// <summary>A download held entirely in memory.</summary>
public sealed class BlobDownloadResult
{
    internal BlobDownloadResult(BinaryData content, BlobDownloadDetails details)
    {
        Content = content;
        Details = details;
    }

    /// <summary>The content.</summary>
    public BinaryData Content { get; }

    /// <summary>The properties of the blob version read.</summary>
    public BlobDownloadDetails Details { get; }
}
