using Azure.Core;

namespace CreditFunctions.AzureStorage.Queues;

/// <summary>
/// The Queue service of one storage account. Holds the HTTP pipeline (retries, authentication, diagnostics) that
/// every <see cref="QueueClient"/> it hands out shares; create one per account and keep it for the application's
/// lifetime. Thread-safe.
/// </summary>
public class QueueServiceClient
{
    private readonly StoragePipeline _pipeline;
    private readonly QueueClientOptions? _queueOptions;

    /// <summary>Creates a client from a storage connection string that carries an account key.</summary>
    /// <param name="connectionString">A connection string with <c>AccountKey</c>, or <c>UseDevelopmentStorage=true</c>.
    /// For identity-based access use the constructor taking a <see cref="TokenCredential"/>.</param>
    /// <param name="options">Retry and diagnostics settings; pass a <see cref="QueueClientOptions"/> to choose the
    /// message encoding (base64 by default).</param>
    /// <exception cref="FormatException">The connection string is malformed.</exception>
    /// <exception cref="ArgumentException">The connection string has no account key.</exception>
    public QueueServiceClient(string connectionString, StorageClientOptions? options = null)
        : this(StorageConnectionString.Parse(connectionString), options)
    {
    }

    /// <summary>Creates a client that authenticates with Microsoft Entra ID (e.g. a managed identity).</summary>
    /// <param name="serviceUri">The Queue endpoint, e.g. <c>https://account.queue.core.windows.net</c>; must be https
    /// because bearer tokens are never sent in clear text.</param>
    /// <param name="credential">The identity; needs a data-plane role such as Storage Queue Data Contributor.</param>
    /// <param name="options">Retry and diagnostics settings; pass a <see cref="QueueClientOptions"/> to choose the
    /// message encoding (base64 by default).</param>
    public QueueServiceClient(Uri serviceUri, TokenCredential credential, StorageClientOptions? options = null)
        : this(serviceUri, new StorageAuth(null, credential ?? throw new ArgumentNullException(nameof(credential))), options)
    {
    }

    /// <summary>Creates a client that signs requests with an account key.</summary>
    /// <param name="serviceUri">The Queue endpoint, e.g. <c>https://account.queue.core.windows.net</c> or Azurite's
    /// <c>http://127.0.0.1:10001/devstoreaccount1</c>.</param>
    /// <param name="credential">The account name and key.</param>
    /// <param name="options">Retry and diagnostics settings; pass a <see cref="QueueClientOptions"/> to choose the
    /// message encoding (base64 by default).</param>
    public QueueServiceClient(Uri serviceUri, StorageSharedKeyCredential credential, StorageClientOptions? options = null)
        : this(serviceUri, new StorageAuth(credential ?? throw new ArgumentNullException(nameof(credential)), null), options)
    {
    }

    /// <summary>For mocking only: a client that sends nothing.</summary>
    protected QueueServiceClient()
    {
        _pipeline = null!;
        Uri = null!;
        AccountName = string.Empty;
    }

    private QueueServiceClient(StorageConnectionString connection, StorageClientOptions? options)
        : this(connection.QueueEndpoint, StorageAuth.From(connection, null), options)
    {
    }

    private QueueServiceClient(Uri serviceUri, StorageAuth auth, StorageClientOptions? options)
    {
        ArgumentNullException.ThrowIfNull(serviceUri);
        if (!serviceUri.IsAbsoluteUri || serviceUri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException("The service URI must be an absolute http or https URL.", nameof(serviceUri));
        }
        Uri = new Uri(serviceUri.GetLeftPart(UriPartial.Path).TrimEnd('/'));
        AccountName = StorageConnectionString.AccountNameFromEndpoint(Uri);
        _queueOptions = options as QueueClientOptions;
        _pipeline = new StoragePipeline(options, auth, StorageService.Queue);
    }

    /// <summary>The Queue service endpoint, without a trailing slash.</summary>
    public Uri Uri { get; }

    /// <summary>The storage account name.</summary>
    public string AccountName { get; }

    /// <summary>
    /// Returns a client for the named queue that shares this client's pipeline and options. Sends nothing: the
    /// queue need not exist yet.
    /// </summary>
    /// <param name="queueName">3–63 lower-case letters, digits and single hyphens, starting and ending with a letter
    /// or digit.</param>
    /// <exception cref="ArgumentException">The name breaks the service's naming rules.</exception>
    public virtual QueueClient GetQueueClient(string queueName) =>
        new(QueueClient.BuildQueueUri(Uri, queueName), AccountName, _pipeline, _queueOptions);
}
