using System.Buffers;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>A block blob; made by <see cref="BlobContainerClient.GetBlobClient"/>. Thread-safe.</summary>
public class BlobClient
{
    private readonly BlobClientContext _context;

    internal BlobClient(Uri uri, string containerName, string name, BlobClientContext context)
    {
        Uri = uri;
        BlobContainerName = containerName;
        Name = name;
        _context = context;
    }

    /// <summary>The blob's URL (names escaped per path segment).</summary>
    public Uri Uri { get; }

    /// <summary>The blob's name.</summary>
    public string Name { get; }

    /// <summary>The name of the blob's container.</summary>
    public string BlobContainerName { get; }

    /// <summary>The storage account name.</summary>
    public string AccountName => _context.AccountName;

    /// <summary>True when the client holds an account key, so <see cref="GenerateSasUri"/> can sign.</summary>
    public bool CanGenerateSasUri => _context.SharedKey is not null;

    /// <summary>Where upload buffers are rented from; tests replace it to measure what an upload holds.</summary>
    internal ArrayPool<byte> BufferPool { get; set; } = ArrayPool<byte>.Shared;

    internal BlobClientContext Context => _context;

    /// <summary>
    /// Uploads a stream of any size, including a non-seekable stream of unknown length, reading it from its current
    /// position to its end. Content up to <see cref="StorageTransferOptions.InitialTransferSize"/> goes in one Put
    /// Blob; larger content is staged as blocks in parallel and committed with Put Block List. Memory held is at most
    /// <c>(MaximumConcurrency + 1) × MaximumTransferSize</c> bytes of pooled buffers; the stream is never buffered
    /// whole. The stream is not disposed.
    /// </summary>
    /// <param name="content">The content to store.</param>
    /// <param name="options">Content headers, metadata, conditions and transfer settings; null overwrites any existing
    /// blob with default settings.</param>
    /// <param name="cancellationToken">Cancels the upload; blocks already staged are left uncommitted (the service
    /// discards them after a week) and the blob keeps its previous content.</param>
    /// <exception cref="RequestFailedException">The service refused: e.g. 404 <c>ContainerNotFound</c>, 412
    /// <c>ConditionNotMet</c> for a stale <see cref="MatchConditions.IfMatch"/>, 409 <c>BlobAlreadyExists</c> (or 412)
    /// for <see cref="MatchConditions.IfNoneMatch"/> = <see cref="ETag.All"/> on an existing blob.</exception>
    /// <exception cref="ArgumentException">Invalid metadata.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Transfer options outside their limits.</exception>
    /// <exception cref="InvalidOperationException">The stream is longer than 50,000 blocks.</exception>
    public Task<Response<BlobContentInfo>> UploadAsync(Stream content, BlobUploadOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        return new BlockBlobUploader(this, options ?? new BlobUploadOptions()).UploadAsync(content, cancellationToken);
    }

    /// <summary>Uploads a stream of any size with default settings, as
    /// <see cref="UploadAsync(Stream, BlobUploadOptions?, CancellationToken)"/> does.</summary>
    /// <param name="content">The content to store, read from its current position to its end; not disposed.</param>
    /// <param name="overwrite">False: only if the blob does not exist yet (409 <c>BlobAlreadyExists</c> or 412
    /// <c>ConditionNotMet</c> otherwise). True: replace whatever is there.</param>
    /// <param name="cancellationToken">Cancels the upload; the blob keeps its previous content.</param>
    /// <exception cref="RequestFailedException">The service refused, e.g. because the blob exists.</exception>
    public Task<Response<BlobContentInfo>> UploadAsync(Stream content, bool overwrite, CancellationToken cancellationToken = default) =>
        UploadAsync(content, overwrite ? null : new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } },
            cancellationToken);

    /// <summary>Uploads content held in memory, as <see cref="UploadAsync(Stream, BlobUploadOptions?, CancellationToken)"/> does.</summary>
    /// <param name="content">The content to store.</param>
    /// <param name="options">Content headers, metadata, conditions and transfer settings; null overwrites any existing
    /// blob with default settings.</param>
    /// <param name="cancellationToken">Cancels the upload; the blob keeps its previous content.</param>
    /// <exception cref="RequestFailedException">The service refused (missing container, unmet condition, …).</exception>
    /// <exception cref="ArgumentException">Invalid metadata.</exception>
    public async Task<Response<BlobContentInfo>> UploadAsync(BinaryData content, BlobUploadOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var stream = content.ToStream();
        return await UploadAsync(stream, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a download and returns once the response headers have arrived; the content is read from the network as
    /// <see cref="BlobDownloadStreamingResult.Content"/> is consumed, so any size fits in constant memory.
    /// </summary>
    /// <param name="range">The bytes to read, e.g. <c>new HttpRange(100, 50)</c> for bytes 100–149 (sent as
    /// <c>x-ms-range: bytes=100-149</c>); default reads the whole blob. A range starting past the end fails with 416
    /// <c>InvalidRange</c>; one running past the end is cut at the end.</param>
    /// <param name="conditions">Read only if these hold (e.g. <see cref="MatchConditions.IfMatch"/>: 412 when the
    /// blob has changed).</param>
    /// <param name="cancellationToken">Cancels waiting for the response headers; pass a token to the stream's reads
    /// to cancel those.</param>
    /// <exception cref="RequestFailedException">404 <c>BlobNotFound</c>, 412 <c>ConditionNotMet</c>, 416 and the like.</exception>
    public async Task<Response<BlobDownloadStreamingResult>> DownloadStreamingAsync(HttpRange range = default,
        BlobRequestConditions? conditions = null, CancellationToken cancellationToken = default)
    {
        var message = await SendGetAsync(range, conditions, streaming: true, cancellationToken).ConfigureAwait(false);
        var details = ReadDownloadDetails(message.Response);
        var stream = new BlobDownloadStream(this, message, details, range.Offset);
        return Response.FromValue(new BlobDownloadStreamingResult(stream, details), message.Response);
    }

    /// <summary>Downloads the blob (or a range of it) into memory. For small blobs: the whole content is held at once;
    /// use <see cref="DownloadStreamingAsync"/> for large ones.</summary>
    /// <param name="range">The bytes to read; default reads the whole blob. A range starting past the end fails with
    /// 416 <c>InvalidRange</c>; one running past the end is cut at the end.</param>
    /// <param name="conditions">Read only if these hold (412 <c>ConditionNotMet</c> otherwise).</param>
    /// <param name="cancellationToken">Cancels the download.</param>
    /// <exception cref="RequestFailedException">404 <c>BlobNotFound</c>, 412 <c>ConditionNotMet</c>, 416 and the like.</exception>
    public async Task<Response<BlobDownloadResult>> DownloadContentAsync(HttpRange range = default,
        BlobRequestConditions? conditions = null, CancellationToken cancellationToken = default)
    {
        using var message = await SendGetAsync(range, conditions, streaming: false, cancellationToken).ConfigureAwait(false);
        var response = message.Response;
        return Response.FromValue(new BlobDownloadResult(response.Content, ReadDownloadDetails(response)), response);
    }

    /// <summary>Reads the blob's size, content headers, ETag, times and metadata (Get Blob Properties).</summary>
    /// <exception cref="RequestFailedException">404 <c>BlobNotFound</c> (the code comes from the header: a HEAD
    /// response has no body), 412 for unmet conditions.</exception>
    public async Task<Response<BlobProperties>> GetPropertiesAsync(BlobRequestConditions? conditions = null,
        CancellationToken cancellationToken = default)
    {
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Head, BlobUri());
        BlobHeaders.ApplyConditions(message.Request, conditions);
        var response = await _context.Pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        return Response.FromValue(new BlobProperties
        {
            ContentLength = BlobHeaders.ReadLong(response, "Content-Length"),
            ContentType = BlobHeaders.ReadString(response, "Content-Type"),
            ContentEncoding = BlobHeaders.ReadString(response, "Content-Encoding"),
            ContentLanguage = BlobHeaders.ReadString(response, "Content-Language"),
            ContentDisposition = BlobHeaders.ReadString(response, "Content-Disposition"),
            CacheControl = BlobHeaders.ReadString(response, "Cache-Control"),
            ETag = BlobHeaders.ReadETag(response),
            LastModified = BlobHeaders.ReadDate(response, "Last-Modified"),
            CreatedOn = BlobHeaders.ReadOptionalDate(response, "x-ms-creation-time"),
            Metadata = BlobHeaders.ReadMetadata(response),
        }, response);
    }

    /// <summary>Replaces all of the blob's metadata (an empty dictionary removes it); the content is unchanged but the
    /// ETag changes.</summary>
    /// <param name="metadata">Names must be C# identifiers, values printable ASCII.</param>
    /// <param name="conditions">Write only if these hold, e.g. <see cref="MatchConditions.IfMatch"/>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="ArgumentException">Invalid metadata.</exception>
    /// <exception cref="RequestFailedException">404 <c>BlobNotFound</c>, 412 <c>ConditionNotMet</c>.</exception>
    public async Task<Response<BlobInfo>> SetMetadataAsync(IDictionary<string, string> metadata,
        BlobRequestConditions? conditions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var uri = BlobUri();
        uri.AppendQuery("comp", "metadata");
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Put, uri);
        BlobHeaders.ApplyMetadata(message.Request, metadata);
        BlobHeaders.ApplyConditions(message.Request, conditions);
        var response = await _context.Pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        return Response.FromValue(new BlobInfo
        {
            ETag = BlobHeaders.ReadETag(response),
            LastModified = BlobHeaders.ReadDate(response, "Last-Modified"),
        }, response);
    }

    /// <summary>Deletes the blob together with any snapshots of it.</summary>
    /// <returns>True if the blob existed (false also when the container does not exist).</returns>
    /// <exception cref="RequestFailedException">412 <c>ConditionNotMet</c> and other failures besides "not found".</exception>
    public async Task<Response<bool>> DeleteIfExistsAsync(BlobRequestConditions? conditions = null,
        CancellationToken cancellationToken = default)
    {
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Delete, BlobUri());
        message.Request.Headers.SetValue("x-ms-delete-snapshots", "include");
        BlobHeaders.ApplyConditions(message.Request, conditions);
        var response = await _context.Pipeline.SendAsync(message, cancellationToken, 202, 404).ConfigureAwait(false);
        return Response.FromValue(response.Status == 202, response);
    }

    /// <summary>Whether the blob exists (false also when its container does not).</summary>
    /// <exception cref="RequestFailedException">The service failed or refused (e.g. 403).</exception>
    public async Task<Response<bool>> ExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Head, BlobUri());
        var response = await _context.Pipeline.SendAsync(message, cancellationToken, 200, 404).ConfigureAwait(false);
        return Response.FromValue(response.Status == 200, response);
    }

    /// <summary>
    /// A URL granting <paramref name="permissions"/> on this blob only, until <paramref name="expiresOn"/>, to anyone
    /// who holds it: a service SAS signed with the account key. Valid from the moment it is made (no start time is
    /// signed, so clock skew cannot delay it). No request is made.
    /// </summary>
    /// <param name="permissions">Any of Read, Create, Write, Delete.</param>
    /// <param name="expiresOn">When the URL stops working; keep it short.</param>
    /// <exception cref="InvalidOperationException">The client has no account key (<see cref="CanGenerateSasUri"/> is
    /// false); use <see cref="GenerateUserDelegationSasUri"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">No permission given.</exception>
    public Uri GenerateSasUri(BlobSasPermissions permissions, DateTimeOffset expiresOn)
    {
        var key = _context.SharedKey ?? throw new InvalidOperationException(
            "A service SAS needs a client with an account key; with a TokenCredential use GenerateUserDelegationSasUri.");
        return new Uri(Uri.AbsoluteUri + "?" + SasBuilder(permissions, null, expiresOn).ToServiceSasQuery(key));
    }

    /// <summary>
    /// A URL granting <paramref name="permissions"/> on this blob only, until <paramref name="expiresOn"/>: a user
    /// delegation SAS signed with a key from <see cref="BlobServiceClient.GetUserDelegationKeyAsync"/>. It works only
    /// while the key is valid and only for what the key's identity may do. No request is made.
    /// </summary>
    /// <param name="permissions">Any of Read, Create, Write, Delete.</param>
    /// <param name="expiresOn">When the URL stops working; no later than the key's expiry.</param>
    /// <param name="userDelegationKey">The signing key.</param>
    /// <exception cref="ArgumentOutOfRangeException">No permission given, or <paramref name="expiresOn"/> is after the
    /// key expires.</exception>
    public Uri GenerateUserDelegationSasUri(BlobSasPermissions permissions, DateTimeOffset expiresOn, UserDelegationKey userDelegationKey)
    {
        ArgumentNullException.ThrowIfNull(userDelegationKey);
        if (expiresOn > userDelegationKey.SignedExpiresOn)
        {
            throw new ArgumentOutOfRangeException(nameof(expiresOn), expiresOn, "The SAS cannot outlive its user delegation key.");
        }
        return new Uri(Uri.AbsoluteUri + "?" + SasBuilder(permissions, null, expiresOn).ToUserDelegationSasQuery(userDelegationKey));
    }

    internal BlobSasBuilder SasBuilder(BlobSasPermissions permissions, DateTimeOffset? startsOn, DateTimeOffset expiresOn) =>
        new(permissions, startsOn, expiresOn, AccountName, BlobContainerName, Name, _context.ServiceVersion);

    internal RequestUriBuilder BlobUri()
    {
        var uri = new RequestUriBuilder();
        uri.Reset(Uri);
        return uri;
    }

    /// <summary>Sends Get Blob. The caller owns the returned message: for a streaming (unbuffered) response, disposing
    /// it closes the connection, so it must live as long as the content is read.</summary>
    internal async Task<HttpMessage> SendGetAsync(HttpRange range, RequestConditions? conditions, bool streaming, CancellationToken cancellationToken)
    {
        var message = _context.Pipeline.CreateMessage(RequestMethod.Get, BlobUri());
        try
        {
            if (range != default)
            {
                message.Request.Headers.SetValue("x-ms-range", BlobHeaders.FormatRange(range));
            }
            BlobHeaders.ApplyConditions(message.Request, conditions);
            message.BufferResponse = !streaming;
            await _context.Pipeline.SendAsync(message, cancellationToken, 200, 206).ConfigureAwait(false);
            return message;
        }
        catch
        {
            message.Dispose();
            throw;
        }
    }

    private static BlobDownloadDetails ReadDownloadDetails(Response response) => new()
    {
        ContentLength = BlobHeaders.ReadLong(response, "Content-Length"),
        ContentRange = BlobHeaders.ReadString(response, "Content-Range"),
        ContentType = BlobHeaders.ReadString(response, "Content-Type"),
        ContentEncoding = BlobHeaders.ReadString(response, "Content-Encoding"),
        ETag = BlobHeaders.ReadETag(response),
        LastModified = BlobHeaders.ReadDate(response, "Last-Modified"),
        Metadata = BlobHeaders.ReadMetadata(response),
    };
}
