using Azure;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>
/// A row of a table: its keys, the service's timestamp and ETag, and its own properties, which it writes itself
/// (explicit mapping: no reflection when an entity is sent or read).
/// </summary>
public interface ITableEntity
{
    /// <summary>The partition key: all entities of one partition can change together in one transaction.</summary>
    string PartitionKey { get; set; }

    /// <summary>The row key, unique within the partition; rows are kept in ordinal order of it.</summary>
    string RowKey { get; set; }

    /// <summary>When the service last changed the entity; set by reads, ignored by writes.</summary>
    DateTimeOffset? Timestamp { get; set; }

    /// <summary>The entity's version for optimistic concurrency; set by reads and by writes that return it.</summary>
    ETag ETag { get; set; }

    /// <summary>Writes every property other than the keys, timestamp and ETag.</summary>
    void WriteProperties(TableEntityWriter writer);
}

/// <summary>An entity type that can also build itself from a row the service returned.</summary>
/// <typeparam name="TSelf">The implementing type.</typeparam>
public interface ITableEntity<TSelf> : ITableEntity where TSelf : ITableEntity<TSelf>
{
    /// <summary>Builds an entity from a row's properties. Keys, timestamp and ETag are set by the client afterwards.</summary>
    static abstract TSelf ReadEntity(TableEntityReader reader);
}
