using System.Text;
using System.Text.Json;
using Azure;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.Durable.Runtime;

/// <summary>
/// The hub's storage: one table (<c>{hub}Instances</c>: per instance a partition with a <c>meta</c> row and append-only
/// history rows), one work queue (<c>{hub}-work</c>) and its poison queue, and one blob container
/// (<c>{hub}-payloads</c>) for payloads too large for a message or a row.
/// </summary>
internal sealed class DurableStore
{
    public const string MetaRow = "meta";

    // A table string property holds 64 KiB (32K UTF-16 chars); a queue message 64 KiB of base64 (48 KiB of body).
    private const int RecordPayloadMaxChars = 16_000;
    private const int MetaPropertyMaxChars = 30_000;
    private const int HistoryRowMaxChars = 30_000;
    private const int HistoryRowsPerCommitMax = 60;
    private const int MessageMaxBytes = 45_000;

    // An item larger than this travels in a message of its own (which may move its payload to a blob).
    private const int PackedItemMaxBytes = 8_000;

    /// <summary>The most work items that share one queue message.</summary>
    public const int ItemsPerMessageMax = 16;

    public DurableStore(DurableTaskHubOptions options, TableServiceClient tables, QueueServiceClient queues, BlobServiceClient blobs)
    {
        Options = options;
        Instances = tables.GetTableClient(options.HubName + "Instances");
        var prefix = options.HubName.ToLowerInvariant();
        Work = queues.GetQueueClient(prefix + "-work");
        Poison = Work.GetSiblingQueue(prefix + "-work-poison");
        Payloads = blobs.GetBlobContainerClient(prefix + "-payloads");
    }

    public DurableTaskHubOptions Options { get; }

    public TableClient Instances { get; }

    public QueueClient Work { get; }

    public QueueClient Poison { get; }

    public BlobContainerClient Payloads { get; }

    public DateTimeOffset Now => Options.Clock.GetUtcNow();

    /// <summary>Raised after this process sent a message that is visible now, so a local pump can receive it at once.</summary>
    public event Action? MessageSent;

    /// <summary>Raised after a worker of this process committed an instance's terminal state (with its id), so a client
    /// waiting in this process reads the state at once instead of at its next poll.</summary>
    public event Action<string>? InstanceFinished;

    public void RaiseInstanceFinished(string instanceId) => InstanceFinished?.Invoke(instanceId);

    public async Task CreateIfNotExistsAsync(CancellationToken cancellationToken)
    {
        await Instances.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
        await Work.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await Poison.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await Payloads.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<InstanceRow?> GetInstanceAsync(string instanceId, CancellationToken cancellationToken) =>
        await Instances.GetEntityIfExistsAsync<InstanceRow>(instanceId, MetaRow, cancellationToken).ConfigureAwait(false);

    /// <summary>Inserts a new instance; false when the id exists.</summary>
    public async Task<bool> TryAddInstanceAsync(InstanceRow row, CancellationToken cancellationToken)
    {
        try
        {
            await Instances.AddEntityAsync(row, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return false;
        }
    }

    /// <summary>Updates the meta row under its ETag; returns the new ETag, or null when another writer got there first.</summary>
    public async Task<ETag?> TryUpdateInstanceAsync(InstanceRow row, CancellationToken cancellationToken)
    {
        try
        {
            var response = await Instances.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            return response.Headers.ETag;
        }
        catch (RequestFailedException ex) when (ex.Status is 412 or 404)
        {
            return null;
        }
    }

    /// <summary>The history rows <paramref name="fromRow"/>.. of <paramref name="generation"/>, payloads resolved.</summary>
    public async Task<List<HistoryRecord>> LoadHistoryAsync(string instanceId, int generation, int fromRow, CancellationToken cancellationToken)
    {
        var filter = TableQueryFilter.Create($"PartitionKey eq {instanceId} and RowKey ge {HistoryKey(generation, fromRow)} and RowKey lt {HistoryKey(generation + 1, 0)}");
        var records = new List<HistoryRecord>();
        await foreach (var row in Instances.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var json = row.TryGetValue("B", out var blob) && blob is string blobName
                ? (await Payloads.GetBlobClient(blobName).DownloadContentAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.Content.ToString()
                : (string)row["R"]!;
            records.AddRange(JsonSerializer.Deserialize<List<HistoryRecord>>(json, DurableJson.Options)!);
        }
        for (var i = 0; i < records.Count; i++)
        {
            if (records[i].PayloadBlob is { } payloadBlob)
            {
                records[i] = records[i] with { Payload = await ReadBlobAsync(payloadBlob, cancellationToken).ConfigureAwait(false), PayloadBlob = null };
            }
        }
        return records;
    }

    /// <summary>
    /// Commits new history records and the meta row in one entity-group transaction under the meta row's ETag:
    /// either the step is recorded with the instance's new state, or nothing is (another worker owns the instance).
    /// Returns the new ETag, or null when the ETag no longer matched.
    /// </summary>
    public async Task<ETag?> CommitAsync(InstanceRow meta, IReadOnlyList<HistoryRecord> records, CancellationToken cancellationToken)
    {
        var rows = new List<string>();
        var current = new StringBuilder();
        var stored = new List<HistoryRecord>(records.Count);
        foreach (var record in records)
        {
            stored.Add(record.Payload is { Length: > RecordPayloadMaxChars }
                ? record with { Payload = null, PayloadBlob = await WriteBlobAsync(meta.PartitionKey, record.Payload, cancellationToken).ConfigureAwait(false) }
                : record);
        }
        foreach (var record in stored)
        {
            var json = JsonSerializer.Serialize(record, DurableJson.Options);
            if (current.Length > 1 && current.Length + json.Length + 2 > HistoryRowMaxChars)
            {
                rows.Add(current.Append(']').ToString());
                current.Clear();
            }
            current.Append(current.Length == 0 ? '[' : ',').Append(json);
        }
        if (current.Length > 0)
        {
            rows.Add(current.Append(']').ToString());
        }
        var history = new List<TableTransactionAction>();
        if (rows.Count > HistoryRowsPerCommitMax)
        {
            // A very large step (a fan-out of many thousands) goes to one blob that a single row points at.
            var blobName = await WriteBlobAsync(meta.PartitionKey, JsonSerializer.Serialize(stored, DurableJson.Options), cancellationToken).ConfigureAwait(false);
            history.Add(new(TableTransactionActionType.Add, new TableEntity(meta.PartitionKey, HistoryKey(meta.Generation, meta.NextRow)) { ["B"] = blobName }));
        }
        else
        {
            foreach (var row in rows)
            {
                history.Add(new(TableTransactionActionType.Add, new TableEntity(meta.PartitionKey, HistoryKey(meta.Generation, meta.NextRow + history.Count)) { ["R"] = row }));
            }
        }
        // An action serializes its entity when it is created: advance NextRow before the meta row's action, or the
        // stored NextRow lags behind the rows and the next worker to read it adds a row that exists.
        meta.NextRow += history.Count;
        try
        {
            var results = await Instances.SubmitTransactionAsync([new(TableTransactionActionType.UpdateReplace, meta, meta.ETag), .. history], cancellationToken)
                .ConfigureAwait(false);
            return results.Value[0].ETag;
        }
        catch (TableTransactionFailedException ex) when (ex.Status is 412 or 404 or 409)
        {
            meta.NextRow -= history.Count;
            return null;
        }
    }

    /// <summary>Deletes the history rows of generations before <paramref name="generation"/> (after ContinueAsNew).</summary>
    public async Task DeleteHistoryBeforeAsync(string instanceId, int generation, CancellationToken cancellationToken)
    {
        var filter = TableQueryFilter.Create($"PartitionKey eq {instanceId} and RowKey ge {"h"} and RowKey lt {HistoryKey(generation, 0)}");
        await DeleteRowsAsync(instanceId, filter, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes every row and blob of an instance.</summary>
    public async Task PurgeAsync(string instanceId, CancellationToken cancellationToken)
    {
        await foreach (var blob in Payloads.GetBlobsAsync(prefix: instanceId + "/", cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            await Payloads.GetBlobClient(blob.Name).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        await DeleteRowsAsync(instanceId, TableQueryFilter.Create($"PartitionKey eq {instanceId}"), cancellationToken).ConfigureAwait(false);
    }

    private async Task DeleteRowsAsync(string instanceId, string filter, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        await foreach (var row in Instances.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            keys.Add(row.RowKey);
        }
        foreach (var chunk in keys.Chunk(TableClient.MaxTransactionActions))
        {
            await Instances.SubmitTransactionAsync(chunk.Select(k => TableTransactionAction.Delete(instanceId, k, ETag.All)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends a message to the work queue, moving its payload to a blob when the message would be too large.
    /// Messages never expire: a timer may be months away.</summary>
    public async Task SendAsync(WorkMessage message, TimeSpan delay, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message, DurableJson.Options);
        if (body.Length > MessageMaxBytes && message.Payload is not null)
        {
            message = message with { Payload = null, PayloadBlob = await WriteBlobAsync(message.InstanceId, message.Payload, cancellationToken).ConfigureAwait(false) };
            body = JsonSerializer.SerializeToUtf8Bytes(message, DurableJson.Options);
        }
        // Queues count visibility in whole seconds: round up, so a timer never fires early.
        var visibility = delay <= TimeSpan.Zero ? (TimeSpan?)null : Min(TimeSpan.FromSeconds(Math.Ceiling(delay.TotalSeconds)), Options.MaxTimerHop);
        await Work.SendMessageAsync(new BinaryData(body), visibility, TimeSpan.FromSeconds(-1), cancellationToken).ConfigureAwait(false);
        if (visibility is null)
        {
            MessageSent?.Invoke();
        }
    }

    /// <summary>
    /// Sends work items of one instance, up to <paramref name="perMessage"/> to a queue message (as many as fit): every
    /// message costs a send, a receive and a delete, and a queue's throughput is counted in messages. A large item goes
    /// alone. A message's items are handled together, so a crash redelivers them together.
    /// </summary>
    public async Task SendPackedAsync(IReadOnlyList<WorkMessage> items, int perMessage, TimeSpan delay, CancellationToken cancellationToken)
    {
        var messages = new List<WorkMessage>();
        var pack = new List<WorkMessage>();
        var packBytes = 0;
        foreach (var item in items)
        {
            var bytes = perMessage > 1 ? JsonSerializer.SerializeToUtf8Bytes(item, DurableJson.Options).Length : int.MaxValue;
            if (bytes > PackedItemMaxBytes)
            {
                messages.Add(item);
                continue;
            }
            if (pack.Count == perMessage || packBytes + bytes > MessageMaxBytes - 1_000)
            {
                messages.Add(Pack(pack));
                pack = [];
                packBytes = 0;
            }
            pack.Add(item);
            packBytes += bytes + 1;
        }
        if (pack.Count > 0)
        {
            messages.Add(Pack(pack));
        }
        await Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (message, token) => await SendAsync(message, delay, token).ConfigureAwait(false)).ConfigureAwait(false);

        static WorkMessage Pack(List<WorkMessage> pack) => pack.Count == 1
            ? pack[0]
            : new WorkMessage { Kind = pack[0].Kind, InstanceId = pack[0].InstanceId, Generation = pack[0].Generation, Items = pack };
    }

    /// <summary>The longest visibility delay a queue accepts (7 days), less a margin; longer timers are chained.</summary>
    public static TimeSpan MaxQueueDelay { get; } = TimeSpan.FromDays(7) - TimeSpan.FromMinutes(5);

    public async Task<WorkMessage> ParseAsync(BinaryData body, CancellationToken cancellationToken)
    {
        var message = body.ToObjectFromJson<WorkMessage>(DurableJson.Options)
            ?? throw new InvalidDataException("A work message is empty.");
        return message.PayloadBlob is null
            ? message
            : message with { Payload = await ReadBlobAsync(message.PayloadBlob, cancellationToken).ConfigureAwait(false), PayloadBlob = null };
    }

    /// <summary>Stores a value in a meta-row property, or in a blob when too large; returns (inline, blob name).</summary>
    public async Task<(string? Inline, string? Blob)> StoreMetaValueAsync(string instanceId, string? json, CancellationToken cancellationToken) =>
        json is { Length: > MetaPropertyMaxChars }
            ? (null, await WriteBlobAsync(instanceId, json, cancellationToken).ConfigureAwait(false))
            : (json, null);

    public async Task<string?> ReadMetaValueAsync(string? inline, string? blob, CancellationToken cancellationToken) =>
        blob is null ? inline : await ReadBlobAsync(blob, cancellationToken).ConfigureAwait(false);

    private async Task<string> WriteBlobAsync(string instanceId, string content, CancellationToken cancellationToken)
    {
        var name = $"{instanceId}/{Guid.NewGuid():N}.json";
        await Payloads.GetBlobClient(name).UploadAsync(BinaryData.FromString(content), cancellationToken: cancellationToken).ConfigureAwait(false);
        return name;
    }

    private async Task<string> ReadBlobAsync(string name, CancellationToken cancellationToken) =>
        (await Payloads.GetBlobClient(name).DownloadContentAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.Content.ToString();

    private static string HistoryKey(int generation, int row) => $"h{generation:D6}.{row:D8}";

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

/// <summary>The <c>meta</c> row of an instance: its status, input and output, lease and history position.</summary>
internal sealed class InstanceRow : ITableEntity<InstanceRow>
{
    public string PartitionKey { get; set; } = string.Empty;

    public string RowKey { get; set; } = DurableStore.MetaRow;

    public DateTimeOffset? Timestamp { get; set; }

    public ETag ETag { get; set; }

    public string Name { get; set; } = string.Empty;

    public OrchestrationRuntimeStatus Status { get; set; }

    public string? Input { get; set; }

    public string? InputBlob { get; set; }

    public string? Output { get; set; }

    public string? OutputBlob { get; set; }

    public string? CustomStatus { get; set; }

    public string? CustomStatusBlob { get; set; }

    public string? Failure { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset LastUpdatedAt { get; set; }

    public int Generation { get; set; }

    /// <summary>The number of the next history row of the current generation.</summary>
    public int NextRow { get; set; }

    public string? LeaseOwner { get; set; }

    public DateTimeOffset? LeaseUntil { get; set; }

    public string? ParentId { get; set; }

    public int ParentStep { get; set; }

    public int ParentGeneration { get; set; }

    /// <summary>Messages held while the instance was suspended, and events carried into a new generation (JSON list).</summary>
    public string? Inbox { get; set; }

    public string? InboxBlob { get; set; }

    public InstanceRow Clone() => (InstanceRow)MemberwiseClone();

    public bool IsTerminal => Status is OrchestrationRuntimeStatus.Completed or OrchestrationRuntimeStatus.Failed or OrchestrationRuntimeStatus.Terminated;

    public TaskFailureDetails? FailureDetails => Failure is null ? null : JsonSerializer.Deserialize<TaskFailureDetails>(Failure, DurableJson.Options);

    public void WriteProperties(TableEntityWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(nameof(Name), Name);
        writer.Write(nameof(Status), Status.ToString());
        writer.Write(nameof(Input), Input);
        writer.Write(nameof(InputBlob), InputBlob);
        writer.Write(nameof(Output), Output);
        writer.Write(nameof(OutputBlob), OutputBlob);
        writer.Write(nameof(CustomStatus), CustomStatus);
        writer.Write(nameof(CustomStatusBlob), CustomStatusBlob);
        writer.Write(nameof(Failure), Failure);
        writer.Write(nameof(CreatedAt), CreatedAt);
        writer.Write(nameof(LastUpdatedAt), LastUpdatedAt);
        writer.Write(nameof(Generation), Generation);
        writer.Write(nameof(NextRow), NextRow);
        writer.Write(nameof(LeaseOwner), LeaseOwner);
        writer.Write(nameof(LeaseUntil), LeaseUntil);
        writer.Write(nameof(ParentId), ParentId);
        writer.Write(nameof(ParentStep), ParentStep);
        writer.Write(nameof(ParentGeneration), ParentGeneration);
        writer.Write(nameof(Inbox), Inbox);
        writer.Write(nameof(InboxBlob), InboxBlob);
    }

    public static InstanceRow ReadEntity(TableEntityReader reader) => new()
    {
        Name = reader.GetString(nameof(Name)) ?? string.Empty,
        Status = Enum.Parse<OrchestrationRuntimeStatus>(reader.GetString(nameof(Status)) ?? nameof(OrchestrationRuntimeStatus.Pending)),
        Input = reader.GetString(nameof(Input)),
        InputBlob = reader.GetString(nameof(InputBlob)),
        Output = reader.GetString(nameof(Output)),
        OutputBlob = reader.GetString(nameof(OutputBlob)),
        CustomStatus = reader.GetString(nameof(CustomStatus)),
        CustomStatusBlob = reader.GetString(nameof(CustomStatusBlob)),
        Failure = reader.GetString(nameof(Failure)),
        CreatedAt = reader.GetDateTimeOffset(nameof(CreatedAt)) ?? default,
        LastUpdatedAt = reader.GetDateTimeOffset(nameof(LastUpdatedAt)) ?? default,
        Generation = reader.GetInt32(nameof(Generation)) ?? 0,
        NextRow = reader.GetInt32(nameof(NextRow)) ?? 0,
        LeaseOwner = reader.GetString(nameof(LeaseOwner)),
        LeaseUntil = reader.GetDateTimeOffset(nameof(LeaseUntil)),
        ParentId = reader.GetString(nameof(ParentId)),
        ParentStep = reader.GetInt32(nameof(ParentStep)) ?? 0,
        ParentGeneration = reader.GetInt32(nameof(ParentGeneration)) ?? 0,
        Inbox = reader.GetString(nameof(Inbox)),
        InboxBlob = reader.GetString(nameof(InboxBlob)),
    };
}
