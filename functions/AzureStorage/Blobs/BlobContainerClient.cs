using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>A container in a Blob service; made by <see cref="BlobServiceClient.GetBlobContainerClient"/>. Thread-safe.</summary>
public class BlobContainerClient
{
    private readonly BlobClientContext _context;

    internal BlobContainerClient(Uri uri, string name, BlobClientContext context)
    {
        Uri = uri;
        Name = name;
        _context = context;
    }

    /// <summary>The container's URL.</summary>
    public Uri Uri { get; }

    /// <summary>The container's name.</summary>
    public string Name { get; }

    /// <summary>The storage account name.</summary>
    public string AccountName => _context.AccountName;

    /// <summary>A client for one blob in this container; no request is made. <c>/</c> in the name separates virtual
    /// folders; names with <c>.</c> or <c>..</c> segments are rejected.</summary>
    /// <exception cref="ArgumentException">The name is empty or has a <c>.</c> or <c>..</c> segment.</exception>
    public BlobClient GetBlobClient(string blobName) =>
        new(BlobUris.Blob(Uri, blobName), Name, blobName, _context);

    /// <summary>Creates the container (private: no anonymous access) unless it exists.</summary>
    /// <returns>The new container's ETag, or null when the container already existed.</returns>
    /// <exception cref="RequestFailedException">Any failure other than "already exists", e.g. an invalid name (400)
    /// or a container still being deleted (409 <c>ContainerBeingDeleted</c>).</exception>
    public async Task<Response<BlobContainerInfo>?> CreateIfNotExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Put, ContainerUri());
        Response response;
        try
        {
            response = await _context.Pipeline.SendAsync(message, cancellationToken, 201).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 409 && ex.ErrorCode == "ContainerAlreadyExists")
        {
            return null;
        }
        return Response.FromValue(new BlobContainerInfo
        {
            ETag = BlobHeaders.ReadETag(response),
            LastModified = BlobHeaders.ReadDate(response, "Last-Modified"),
        }, response);
    }

    /// <summary>Marks the container and all its blobs for deletion. The service removes it in the background; until
    /// then, creating a container of the same name fails with 409 <c>ContainerBeingDeleted</c>.</summary>
    /// <returns>True if the container existed.</returns>
    /// <exception cref="RequestFailedException">Any failure other than "not found".</exception>
    public async Task<Response<bool>> DeleteIfExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Delete, ContainerUri());
        var response = await _context.Pipeline.SendAsync(message, cancellationToken, 202, 404).ConfigureAwait(false);
        return Response.FromValue(response.Status == 202, response);
    }

    /// <summary>Whether the container exists.</summary>
    /// <exception cref="RequestFailedException">The service failed or refused (e.g. 403).</exception>
    public async Task<Response<bool>> ExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Head, ContainerUri());
        var response = await _context.Pipeline.SendAsync(message, cancellationToken, 200, 404).ConfigureAwait(false);
        return Response.FromValue(response.Status == 200, response);
    }

    /// <summary>
    /// Lists the blobs whose names start with <paramref name="prefix"/>, in name order, fetching pages lazily as the
    /// enumeration proceeds (each page follows the previous one's <c>NextMarker</c>). Enumerate it directly for
    /// blobs, or use <see cref="AsyncPageable{T}.AsPages"/> to choose the page size (service default and maximum:
    /// 5,000) or to resume from a continuation token.
    /// </summary>
    /// <param name="traits">Extra details to include; <see cref="BlobTraits.Metadata"/> adds each blob's metadata.</param>
    /// <param name="prefix">Only names starting with this; null lists the whole container.</param>
    /// <param name="cancellationToken">Cancels the page requests.</param>
    public AsyncPageable<BlobItem> GetBlobsAsync(BlobTraits traits = BlobTraits.None, string? prefix = null,
        CancellationToken cancellationToken = default) =>
        new BlobItemPageable(this, traits, prefix, cancellationToken);

    internal async Task<Page<BlobItem>> ListBlobsSegmentAsync(BlobTraits traits, string? prefix, string? marker, int? pageSize,
        CancellationToken cancellationToken)
    {
        if (pageSize is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "The page size must be positive.");
        }
        var uri = ContainerUri();
        uri.AppendQuery("comp", "list");
        if (!string.IsNullOrEmpty(prefix))
        {
            uri.AppendQuery("prefix", prefix);
        }
        if (!string.IsNullOrEmpty(marker))
        {
            uri.AppendQuery("marker", marker);
        }
        if (pageSize is { } size)
        {
            uri.AppendQuery("maxresults", size.ToString(CultureInfo.InvariantCulture));
        }
        if (traits.HasFlag(BlobTraits.Metadata))
        {
            uri.AppendQuery("include", "metadata");
        }
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Get, uri);
        var response = await _context.Pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        var (items, nextMarker) = ParseBlobList(response.Content);
        return Page<BlobItem>.FromValues(items, nextMarker, response);
    }

    internal static (IReadOnlyList<BlobItem> Items, string? NextMarker) ParseBlobList(BinaryData content)
    {
        using var stream = content.ToStream();
        using var reader = XmlReader.Create(stream, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
        var root = XDocument.Load(reader).Root ?? throw new FormatException("The blob list response is empty.");
        var items = new List<BlobItem>();
        foreach (var blob in root.Element("Blobs")?.Elements("Blob") ?? [])
        {
            var nameElement = blob.Element("Name");
            var name = nameElement?.Value ?? string.Empty;
            if (string.Equals((string?)nameElement?.Attribute("Encoded"), "true", StringComparison.OrdinalIgnoreCase))
            {
                name = Uri.UnescapeDataString(name);
            }
            var properties = blob.Element("Properties");
            string? Property(string element) => properties?.Element(element)?.Value;
            var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var entry in blob.Element("Metadata")?.Elements() ?? [])
            {
                metadata[entry.Name.LocalName] = entry.Value;
            }
            items.Add(new BlobItem
            {
                Name = name,
                Properties = new BlobItemProperties
                {
                    ContentLength = long.TryParse(Property("Content-Length"), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
                        ? length
                        : null,
                    ContentType = Property("Content-Type") is { Length: > 0 } type ? type : null,
                    ETag = Property("Etag") is { Length: > 0 } etag ? new ETag(Unquote(etag)) : null,
                    LastModified = BlobHeaders.ParseHttpDate(Property("Last-Modified")),
                    CreatedOn = BlobHeaders.ParseHttpDate(Property("Creation-Time")),
                },
                Metadata = metadata,
            });
        }
        var next = root.Element("NextMarker")?.Value;
        return (items, string.IsNullOrEmpty(next) ? null : next);
    }

    /// <summary>Header ETags come unquoted from Azure.Core; listings quote them. Strip the quotes so both compare equal.</summary>
    private static string Unquote(string etag) =>
        etag.Length >= 2 && etag[0] == '"' && etag[^1] == '"' ? etag[1..^1] : etag;

    private RequestUriBuilder ContainerUri()
    {
        var uri = new RequestUriBuilder();
        uri.Reset(Uri);
        uri.AppendQuery("restype", "container");
        return uri;
    }

    private sealed class BlobItemPageable(BlobContainerClient container, BlobTraits traits, string? prefix, CancellationToken cancellationToken)
        : AsyncPageable<BlobItem>(cancellationToken)
    {
        public override async IAsyncEnumerable<Page<BlobItem>> AsPages(string? continuationToken = null, int? pageSizeHint = null)
        {
            var marker = continuationToken;
            do
            {
                var page = await container.ListBlobsSegmentAsync(traits, prefix, marker, pageSizeHint, CancellationToken).ConfigureAwait(false);
                yield return page;
                marker = page.ContinuationToken;
            }
            while (!string.IsNullOrEmpty(marker));
        }
    }
}
