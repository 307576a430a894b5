using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>
/// The entry point to an account's Blob service. Holds one HTTP pipeline (retries, timeouts, authentication) that every
/// <see cref="BlobContainerClient"/> and <see cref="BlobClient"/> made from it shares. Thread-safe; create one per
/// account and keep it.
/// </summary>
public class BlobServiceClient
{
    private readonly BlobClientContext _context;

    /// <summary>Connects with a storage connection string that carries an account key (or <c>UseDevelopmentStorage=true</c>).</summary>
    /// <exception cref="FormatException">The connection string is malformed.</exception>
    /// <exception cref="ArgumentException">The connection string has no account key: use the <see cref="TokenCredential"/>
    /// constructor instead.</exception>
    public BlobServiceClient(string connectionString, StorageClientOptions? options = null)
    {
        var connection = StorageConnectionString.Parse(connectionString);
        if (connection.SharedKey is null)
        {
            throw new ArgumentException(
                "The connection string has no AccountKey: use BlobServiceClient(Uri, TokenCredential) for identity-based access.",
                nameof(connectionString));
        }
        Uri = connection.BlobEndpoint;
        _context = CreateContext(options, new StorageAuth(connection.SharedKey, null), connection.SharedKey.AccountName);
    }

    /// <summary>Connects with a Microsoft Entra ID credential (e.g. a managed identity or DefaultAzureCredential),
    /// requesting tokens for <c>https://storage.azure.com/.default</c>. Such a client signs SAS tokens only through
    /// <see cref="GetUserDelegationKeyAsync"/>. The endpoint must be https.</summary>
    /// <param name="serviceUri">The Blob endpoint, e.g. <c>https://account.blob.core.windows.net</c>.</param>
    /// <param name="credential">The identity to authenticate as.</param>
    /// <param name="options">Retry, timeout and diagnostics settings; null uses the defaults.</param>
    public BlobServiceClient(Uri serviceUri, TokenCredential credential, StorageClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(credential);
        Uri = new Uri(BlobUris.ServiceRoot(serviceUri));
        _context = CreateContext(options, new StorageAuth(null, credential), StorageConnectionString.AccountNameFromEndpoint(Uri));
    }

    /// <summary>Connects with an account name and key.</summary>
    /// <param name="serviceUri">The Blob endpoint, e.g. <c>https://account.blob.core.windows.net</c> or Azurite's
    /// <c>http://127.0.0.1:10000/devstoreaccount1</c>.</param>
    /// <param name="credential">The account name and key.</param>
    /// <param name="options">Retry, timeout and diagnostics settings; null uses the defaults.</param>
    public BlobServiceClient(Uri serviceUri, StorageSharedKeyCredential credential, StorageClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(credential);
        Uri = new Uri(BlobUris.ServiceRoot(serviceUri));
        _context = CreateContext(options, new StorageAuth(credential, null), credential.AccountName);
    }

    /// <summary>The Blob service endpoint.</summary>
    public Uri Uri { get; }

    /// <summary>The storage account name.</summary>
    public string AccountName => _context.AccountName;

    /// <summary>A client for one container; no request is made.</summary>
    public BlobContainerClient GetBlobContainerClient(string blobContainerName) =>
        new(BlobUris.Container(Uri, blobContainerName), blobContainerName, _context);

    /// <summary>
    /// Gets a key for signing user delegation SAS tokens (Get User Delegation Key). Needs a client created with a
    /// <see cref="TokenCredential"/> whose identity may generate user delegation keys (e.g. the Storage Blob
    /// Delegator role).
    /// </summary>
    /// <param name="startsOn">When the key becomes valid; null means now.</param>
    /// <param name="expiresOn">When the key expires: at most 7 days after now.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="InvalidOperationException">The client authenticates with an account key, which the service
    /// does not accept for this operation.</exception>
    /// <exception cref="RequestFailedException">The service refused (e.g. 403 without the needed role).</exception>
    public async Task<Response<UserDelegationKey>> GetUserDelegationKeyAsync(DateTimeOffset? startsOn, DateTimeOffset expiresOn,
        CancellationToken cancellationToken = default)
    {
        if (_context.TokenCredential is null)
        {
            throw new InvalidOperationException(
                "A user delegation key needs a client created with a TokenCredential; with an account key use GenerateSasUri.");
        }
        var uri = new RequestUriBuilder();
        uri.Reset(new Uri(Uri.AbsoluteUri.TrimEnd('/') + "/"));
        uri.AppendQuery("restype", "service");
        uri.AppendQuery("comp", "userdelegationkey");
        using var message = _context.Pipeline.CreateMessage(RequestMethod.Post, uri);
        var body = new XElement("KeyInfo",
            startsOn is { } start ? new XElement("Start", BlobSasBuilder.FormatTime(start)) : null,
            new XElement("Expiry", BlobSasBuilder.FormatTime(expiresOn)));
        message.Request.Headers.SetValue("Content-Type", "application/xml");
        message.Request.Content = RequestContent.Create(BinaryData.FromString(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>" + body.ToString(SaveOptions.DisableFormatting)));
        var response = await _context.Pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        return Response.FromValue(ParseUserDelegationKey(response.Content), response);
    }

    internal static UserDelegationKey ParseUserDelegationKey(BinaryData content)
    {
        using var stream = content.ToStream();
        using var reader = XmlReader.Create(stream, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
        var root = XDocument.Load(reader).Root ?? throw new FormatException("The user delegation key response is empty.");
        string Field(string name) => root.Element(name)?.Value
            ?? throw new FormatException($"The user delegation key response lacks <{name}>.");
        DateTimeOffset Time(string name) =>
            DateTimeOffset.Parse(Field(name), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        return new UserDelegationKey
        {
            SignedObjectId = Field("SignedOid"),
            SignedTenantId = Field("SignedTid"),
            SignedStartsOn = Time("SignedStart"),
            SignedExpiresOn = Time("SignedExpiry"),
            SignedService = Field("SignedService"),
            SignedVersion = Field("SignedVersion"),
            Value = Field("Value"),
        };
    }

    private static BlobClientContext CreateContext(StorageClientOptions? options, StorageAuth auth, string accountName)
    {
        options ??= new StorageClientOptions();
        var pipeline = new StoragePipeline(options, auth, StorageService.Blob);
        return new BlobClientContext(pipeline, accountName, auth.SharedKey, auth.Token, options.ServiceVersion);
    }
}
