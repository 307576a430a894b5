using CreditFunctions.AzureStorage;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Durable.Runtime;

namespace CreditFunctions.Durable;

/// <summary>
/// A task hub: the storage (one table, one work queue and its poison queue, one blob container, all named after
/// <see cref="DurableTaskHubOptions.HubName"/>) that clients and workers of one app share.
/// </summary>
public sealed class DurableTaskHub
{
    /// <summary>Creates a hub on the given storage clients.</summary>
    public DurableTaskHub(DurableTaskHubOptions options, TableServiceClient tables, QueueServiceClient queues, BlobServiceClient blobs)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentNullException.ThrowIfNull(blobs);
        options.Validate();
        Options = options;
        Store = new DurableStore(options, tables, queues, blobs);
    }

    /// <summary>Creates a hub from a storage connection string with an account key (or <c>UseDevelopmentStorage=true</c>).</summary>
    public static DurableTaskHub FromConnectionString(string connectionString, DurableTaskHubOptions options, StorageClientOptions? storageOptions = null) =>
        new(options, new TableServiceClient(connectionString, storageOptions), new QueueServiceClient(connectionString, storageOptions),
            new BlobServiceClient(connectionString, storageOptions));

    /// <summary>The hub's settings.</summary>
    public DurableTaskHubOptions Options { get; }

    /// <summary>The work queue a <c>durable-work</c> queue trigger listens on.</summary>
    public string WorkQueueName => Store.Work.Name;

    /// <summary>Where messages go after <see cref="DurableTaskHubOptions.MaxDeliveryAttempts"/> failed deliveries.</summary>
    public string PoisonQueueName => Store.Poison.Name;

    /// <summary>The table of instances and their history.</summary>
    public string InstancesTableName => Store.Instances.Name;

    /// <summary>The container of large payloads.</summary>
    public string PayloadContainerName => Store.Payloads.Name;

    internal DurableStore Store { get; }

    /// <summary>Creates the hub's table, queues and container when missing.</summary>
    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken = default) => Store.CreateIfNotExistsAsync(cancellationToken);

    /// <summary>A client for starting and managing instances.</summary>
    public DurableTaskClient CreateClient() => new(Store);
}
