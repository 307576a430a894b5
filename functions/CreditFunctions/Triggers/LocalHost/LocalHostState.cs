using System.Security.Cryptography;
using System.Text;
using Azure;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.Triggers.LocalHost;

/// <summary>
/// Local-host mode's durable state in one table, so a restart neither re-delivers a blob nor forgets a schedule:
/// blob receipts (partition <c>blob-{function}</c>, one row per blob version, <c>Queued</c> then <c>Completed</c>) and
/// timer status (partition <c>timer</c>, one row per function: last and next occurrence).
/// </summary>
internal sealed class LocalHostState(TableClient table)
{
    public const string Queued = "Queued";
    public const string Completed = "Completed";

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<string?> GetReceiptAsync(string function, string container, string blob, string etag, CancellationToken cancellationToken)
    {
        var row = await table.GetEntityIfExistsAsync<ReceiptEntity>(ReceiptPartition(function), ReceiptRow(container, blob, etag), cancellationToken)
            .ConfigureAwait(false);
        return row?.Status;
    }

    /// <summary>Records that a blob version was queued; false when a receipt already exists.</summary>
    public async Task<bool> TryAddQueuedAsync(string function, string container, string blob, string etag, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            await table.AddEntityAsync(Receipt(function, container, blob, etag, Queued, now), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.ErrorCode == "EntityAlreadyExists")
        {
            return false;
        }
    }

    public async Task CompleteAsync(string function, string container, string blob, string etag, DateTimeOffset now, CancellationToken cancellationToken) =>
        await table.UpsertEntityAsync(Receipt(function, container, blob, etag, Completed, now), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);

    public async Task<TimerStatus?> GetTimerStatusAsync(string function, CancellationToken cancellationToken)
    {
        var row = await table.GetEntityIfExistsAsync<TimerStatusEntity>(TimerStatusEntity.Partition, function, cancellationToken).ConfigureAwait(false);
        return row?.Next is { } next ? new TimerStatus(row.Last, next, row.LastUpdated ?? next) : null;
    }

    public async Task SetTimerStatusAsync(string function, TimerStatus status, CancellationToken cancellationToken) =>
        await table.UpsertEntityAsync(new TimerStatusEntity
        {
            PartitionKey = TimerStatusEntity.Partition, RowKey = function, Last = status.Last, Next = status.Next, LastUpdated = status.LastUpdated,
        }, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);

    private static ReceiptEntity Receipt(string function, string container, string blob, string etag, string status, DateTimeOffset now) => new()
    {
        PartitionKey = ReceiptPartition(function),
        RowKey = ReceiptRow(container, blob, etag),
        BlobPath = $"{container}/{blob}",
        BlobETag = etag,
        Status = status,
        UpdatedAt = now,
    };

    private static string ReceiptPartition(string function) => "blob-" + function;

    // Blob names may hold characters a row key may not ('/', '#', '?'): the key is a hash of the version's identity.
    private static string ReceiptRow(string container, string blob, string etag) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{container}/{blob}\n{etag}")));

    private sealed class ReceiptEntity : ITableEntity<ReceiptEntity>
    {
        public string PartitionKey { get; set; } = string.Empty;
        public string RowKey { get; set; } = string.Empty;
        public DateTimeOffset? Timestamp { get; set; }
        public ETag ETag { get; set; }
        public string? BlobPath { get; set; }
        public string? BlobETag { get; set; }
        public string? Status { get; set; }
        public DateTimeOffset? UpdatedAt { get; set; }

        public void WriteProperties(TableEntityWriter writer)
        {
            writer.Write(nameof(BlobPath), BlobPath);
            writer.Write(nameof(BlobETag), BlobETag);
            writer.Write(nameof(Status), Status);
            writer.Write(nameof(UpdatedAt), UpdatedAt);
        }

        public static ReceiptEntity ReadEntity(TableEntityReader reader) => new()
        {
            BlobPath = reader.GetString(nameof(BlobPath)),
            BlobETag = reader.GetString(nameof(BlobETag)),
            Status = reader.GetString(nameof(Status)),
            UpdatedAt = reader.GetDateTimeOffset(nameof(UpdatedAt)),
        };
    }

    private sealed class TimerStatusEntity : ITableEntity<TimerStatusEntity>
    {
        public const string Partition = "timer";

        public string PartitionKey { get; set; } = string.Empty;
        public string RowKey { get; set; } = string.Empty;
        public DateTimeOffset? Timestamp { get; set; }
        public ETag ETag { get; set; }
        public DateTimeOffset? Last { get; set; }
        public DateTimeOffset? Next { get; set; }
        public DateTimeOffset? LastUpdated { get; set; }

        public void WriteProperties(TableEntityWriter writer)
        {
            writer.Write(nameof(Last), Last);
            writer.Write(nameof(Next), Next);
            writer.Write(nameof(LastUpdated), LastUpdated);
        }

        public static TimerStatusEntity ReadEntity(TableEntityReader reader) => new()
        {
            Last = reader.GetDateTimeOffset(nameof(Last)),
            Next = reader.GetDateTimeOffset(nameof(Next)),
            LastUpdated = reader.GetDateTimeOffset(nameof(LastUpdated)),
        };
    }
}
