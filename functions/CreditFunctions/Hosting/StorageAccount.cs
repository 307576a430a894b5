using Azure.Core;
using Azure.Identity;
using CreditFunctions.AzureStorage;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.Hosting;

/// <summary>
/// A storage account as an app setting names it, read the way the Functions host reads its connections: either a
/// connection string in the setting itself (<c>AzureWebJobsStorage</c>), or, for identity-based access with no key,
/// the settings <c>{name}__accountName</c> (or <c>{name}__blobServiceUri</c>, <c>__queueServiceUri</c>,
/// <c>__tableServiceUri</c>) with an optional <c>{name}__clientId</c> for a user-assigned managed identity.
/// </summary>
public sealed class StorageAccount
{
    private StorageAccount(StorageConnectionString connection, TokenCredential? credential, string? connectionString)
    {
        Connection = connection;
        Credential = credential;
        ConnectionString = connectionString;
    }

    /// <summary>The connection string when the account is reached with one; null for identity-based access.</summary>
    public string? ConnectionString { get; }

    /// <summary>The account's endpoints and, for Shared Key access, its key.</summary>
    public StorageConnectionString Connection { get; }

    /// <summary>The Microsoft Entra ID credential when the account is reached by identity; null with a key.</summary>
    public TokenCredential? Credential { get; }

    /// <summary>Reads the connection named <paramref name="name"/> from <paramref name="configuration"/>.</summary>
    /// <exception cref="InvalidOperationException">Neither form is configured, or a value is malformed; the message
    /// names the setting and never repeats a key.</exception>
    public static StorageAccount From(IConfiguration configuration, string name = "AzureWebJobsStorage")
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration[name] is { Length: > 0 } connectionString)
        {
            try
            {
                var parsed = StorageConnectionString.Parse(connectionString);
                return new StorageAccount(parsed, parsed.SharedKey is null ? Identity(configuration.GetSection(name)) : null, parsed.SharedKey is null ? null : connectionString);
            }
            catch (FormatException ex)
            {
                throw new InvalidOperationException($"The connection string in '{name}' is malformed: {ex.Message}", ex);
            }
        }
        var section = configuration.GetSection(name);
        var account = section["accountName"];
        Uri? Endpoint(string setting, string service)
        {
            if (section[setting] is { Length: > 0 } uri)
            {
                return Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.Scheme == Uri.UriSchemeHttps
                    ? parsed
                    : throw new InvalidOperationException($"'{name}__{setting}' must be an https URL.");
            }
            return account is { Length: > 0 } ? new Uri($"https://{account}.{service}.core.windows.net") : null;
        }
        var (blob, queue, table) = (Endpoint("blobServiceUri", "blob"), Endpoint("queueServiceUri", "queue"), Endpoint("tableServiceUri", "table"));
        if (blob is null || queue is null || table is null)
        {
            throw new InvalidOperationException(
                $"No storage connection '{name}': set it to a connection string, or set '{name}__accountName' (or its blob, queue and table service URIs) for identity-based access.");
        }
        return new StorageAccount(StorageConnectionString.ForServiceUris(blob, queue, table), Identity(section), null);
    }

    /// <summary>A Table service client on this account.</summary>
    public TableServiceClient CreateTableServiceClient(StorageClientOptions? options = null) => new(Connection, Credential, options);

    /// <summary>A Queue service client on this account (base64 messages, as the Functions host expects, unless
    /// <paramref name="options"/> says otherwise).</summary>
    public QueueServiceClient CreateQueueServiceClient(StorageClientOptions? options = null) => Connection.SharedKey is { } key
        ? new QueueServiceClient(Connection.QueueEndpoint, key, options)
        : new QueueServiceClient(Connection.QueueEndpoint, Credential!, options);

    /// <summary>A Blob service client on this account.</summary>
    public BlobServiceClient CreateBlobServiceClient(StorageClientOptions? options = null) => Connection.SharedKey is { } key
        ? new BlobServiceClient(Connection.BlobEndpoint, key, options)
        : new BlobServiceClient(Connection.BlobEndpoint, Credential!, options);

    /// <summary>An Azure.Data.Tables service client on this account.</summary>
    public Azure.Data.Tables.TableServiceClient CreateTables() => ConnectionString is { } cs
        ? new Azure.Data.Tables.TableServiceClient(cs)
        : new Azure.Data.Tables.TableServiceClient(Connection.TableEndpoint, Credential!);

    /// <summary>An Azure.Storage.Queues service client on this account, with base64 messages as the Functions host expects.</summary>
    public Azure.Storage.Queues.QueueServiceClient CreateQueues()
    {
        var options = new Azure.Storage.Queues.QueueClientOptions { MessageEncoding = Azure.Storage.Queues.QueueMessageEncoding.Base64 };
        return ConnectionString is { } cs
            ? new Azure.Storage.Queues.QueueServiceClient(cs, options)
            : new Azure.Storage.Queues.QueueServiceClient(Connection.QueueEndpoint, Credential!, options);
    }

    /// <summary>An Azure.Storage.Blobs service client on this account.</summary>
    public Azure.Storage.Blobs.BlobServiceClient CreateBlobs() => ConnectionString is { } cs
        ? new Azure.Storage.Blobs.BlobServiceClient(cs)
        : new Azure.Storage.Blobs.BlobServiceClient(Connection.BlobEndpoint, Credential!);

    private static DefaultAzureCredential Identity(IConfigurationSection section) => new(new DefaultAzureCredentialOptions
    {
        // A user-assigned identity is named by its client id, as the host's own identity-based connections take it.
        ManagedIdentityClientId = section["clientId"] is { Length: > 0 } clientId ? clientId : null,
    });
}
