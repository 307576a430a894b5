using Azure;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>What one operation of an entity-group transaction does.</summary>
public enum TableTransactionActionType
{
    /// <summary>Insert; fails with <c>EntityAlreadyExists</c> if the row exists.</summary>
    Add,

    /// <summary>Update under an ETag (or <see cref="ETag.All"/>), merging properties; fails if the row is missing.</summary>
    UpdateMerge,

    /// <summary>Update under an ETag (or <see cref="ETag.All"/>), replacing properties; fails if the row is missing.</summary>
    UpdateReplace,

    /// <summary>Insert or merge, unconditionally.</summary>
    UpsertMerge,

    /// <summary>Insert or replace, unconditionally.</summary>
    UpsertReplace,

    /// <summary>Delete under an ETag (or <see cref="ETag.All"/>); fails if the row is missing.</summary>
    Delete,
}

/// <summary>One operation of an entity-group transaction. The entity is serialized when the action is created.</summary>
public sealed class TableTransactionAction
{
    internal TableTransactionAction(TableTransactionActionType type, string partitionKey, string rowKey, ETag etag, ReadOnlyMemory<byte> body)
    {
        ActionType = type;
        PartitionKey = partitionKey;
        RowKey = rowKey;
        ETag = etag;
        Body = body;
    }

    /// <summary>Creates an action for <paramref name="entity"/>; updates and deletes use <paramref name="etag"/>
    /// (default: the entity's own ETag, or <see cref="ETag.All"/> when it has none).</summary>
    public TableTransactionAction(TableTransactionActionType type, ITableEntity entity, ETag etag = default)
        : this(type, entity.PartitionKey, entity.RowKey, ChooseETag(type, entity, etag),
            type == TableTransactionActionType.Delete ? ReadOnlyMemory<byte>.Empty : TableClient.Serialize(entity))
    {
    }

    /// <summary>A delete of a row by its keys under <paramref name="etag"/>.</summary>
    public static TableTransactionAction Delete(string partitionKey, string rowKey, ETag etag) =>
        new(TableTransactionActionType.Delete, partitionKey, rowKey, etag, ReadOnlyMemory<byte>.Empty);

    /// <summary>The kind of operation.</summary>
    public TableTransactionActionType ActionType { get; }

    /// <summary>The row's partition key.</summary>
    public string PartitionKey { get; }

    /// <summary>The row's key.</summary>
    public string RowKey { get; }

    /// <summary>The condition of an update or delete.</summary>
    public ETag ETag { get; }

    internal ReadOnlyMemory<byte> Body { get; }

    private static ETag ChooseETag(TableTransactionActionType type, ITableEntity entity, ETag etag)
    {
        if (type is TableTransactionActionType.UpdateMerge or TableTransactionActionType.UpdateReplace or TableTransactionActionType.Delete)
        {
            return etag != default ? etag : entity.ETag != default ? entity.ETag : ETag.All;
        }
        return default;
    }
}

/// <summary>The outcome of one operation of a committed transaction.</summary>
/// <param name="Status">The operation's HTTP status (204 for success).</param>
/// <param name="ETag">The row's new ETag; default for deletes.</param>
public readonly record struct TableTransactionResult(int Status, ETag ETag);

/// <summary>
/// An entity-group transaction failed and none of its operations was applied. <see cref="FailedTransactionActionIndex"/>
/// names the operation the service rejected, when it said.
/// </summary>
public sealed class TableTransactionFailedException : RequestFailedException
{
    internal TableTransactionFailedException(int status, string? errorCode, string message, int? failedIndex)
        : base(status, message, errorCode, null)
    {
        FailedTransactionActionIndex = failedIndex;
    }

    /// <summary>The zero-based index of the rejected operation, or null when the service named none.</summary>
    public int? FailedTransactionActionIndex { get; }
}
