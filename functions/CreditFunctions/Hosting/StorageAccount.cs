using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace CreditFunctions.Hosting;

/// <summary>
/// A storage account as an app setting names it, read the way the Functions host reads its connections: either a
/// connection string in the setting itself (<c>AzureWebJobsStorage</c>), or, for identity-based access with no key,
/// the settings <c>{name}__accountName</c> (or <c>{name}__blobServiceUri</c>, <c>__queueServiceUri</c>,
/// <c>__tableServiceUri</c>) with an optional <c>{name}__clientId</c> for a user-assigned managed identity.
/// </summary>
public sealed class StorageAccount
{
    private StorageAccount(string? connectionString, Uri? blob, Uri? queue, Uri? table, TokenCredential? credential)
    {
        ConnectionString = connectionString;
        BlobEndpoint = blob;
        QueueEndpoint = queue;
        TableEndpoint = table;
        Credential = credential;
    }

    /// <summary>The connection string when the account is reached with one; null for identity-based access.</summary>
    public string? ConnectionString { get; }

    /// <summary>The Blob endpoint of identity-based access.</summary>
    public Uri? BlobEndpoint { get; }

    /// <summary>The Queue endpoint of identity-based access.</summary>
    public Uri? QueueEndpoint { get; }

    /// <summary>The Table endpoint of identity-based access.</summary>
    public Uri? TableEndpoint { get; }

    /// <summary>The Microsoft Entra ID credential when the account is reached by identity; null with a connection string.</summary>
    public TokenCredential? Credential { get; }

    /// <summary>Reads the connection named <paramref name="name"/> from <paramref name="configuration"/>; with neither
    /// form configured, the local emulator (<c>UseDevelopmentStorage=true</c>).</summary>
    /// <exception cref="InvalidOperationException">A value is malformed; the message names the setting and never repeats a key.</exception>
    public static StorageAccount From(IConfiguration configuration, string name = "AzureWebJobsStorage")
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration[name] is { Length: > 0 } connectionString)
        {
            return new StorageAccount(connectionString, null, null, null, null);
        }
        var section = configuration.GetSection(name);
        if (!section.Exists())
        {
            return new StorageAccount(AppSettings.DevelopmentStorage, null, null, null, null);
        }
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
        return new StorageAccount(null, blob, queue, table, new DefaultAzureCredential(new DefaultAzureCredentialOptions
        {
            // A user-assigned identity is named by its client id, as the host's own identity-based connections take it.
            ManagedIdentityClientId = section["clientId"] is { Length: > 0 } clientId ? clientId : null,
        }));
    }

    /// <summary>A Table service client on this account.</summary>
    public TableServiceClient CreateTables(TableClientOptions? options = null) => ConnectionString is { } cs
        ? new TableServiceClient(cs, options)
        : new TableServiceClient(TableEndpoint!, Credential!, options);

    /// <summary>A Queue service client on this account, with base64 messages as the Functions host expects.</summary>
    public QueueServiceClient CreateQueues()
    {
        var options = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };
        return ConnectionString is { } cs ? new QueueServiceClient(cs, options) : new QueueServiceClient(QueueEndpoint!, Credential!, options);
    }

    /// <summary>A Blob service client on this account.</summary>
    public BlobServiceClient CreateBlobs() => ConnectionString is { } cs ? new BlobServiceClient(cs) : new BlobServiceClient(BlobEndpoint!, Credential!);
}
