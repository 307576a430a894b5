using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>
/// One table: entity reads and writes, queries with paging, and entity-group transactions. Thread-safe; share one.
/// Retries of transient failures happen in the pipeline, so a write that timed out may have been applied: make
/// writes idempotent by design (keys and ETags), as every caller in this project does.
/// </summary>
public sealed class TableClient
{
    /// <summary>The most operations one entity-group transaction may hold.</summary>
    public const int MaxTransactionActions = 100;

    private const string JsonMinimalMetadata = "application/json;odata=minimalmetadata";
    private static readonly RequestMethod Merge = new("MERGE");

    private readonly StoragePipeline _pipeline;
    private readonly Uri _endpoint;

    internal TableClient(StoragePipeline pipeline, Uri endpoint, string tableName)
    {
        ValidateTableName(tableName);
        _pipeline = pipeline;
        _endpoint = endpoint;
        Name = tableName;
    }

    /// <summary>Connects to one table with a connection string that carries an account key.</summary>
    public TableClient(string connectionString, string tableName, StorageClientOptions? options = null)
        : this(new StoragePipeline(options, StorageAuth.From(StorageConnectionString.Parse(connectionString), null), StorageService.Table),
            StorageConnectionString.Parse(connectionString).TableEndpoint, tableName)
    {
    }

    /// <summary>The table's name.</summary>
    public string Name { get; }

    /// <summary>Creates the table unless it exists; true when this call created it.</summary>
    public async Task<bool> CreateIfNotExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = CreateMessage(RequestMethod.Post, "/Tables");
        message.Request.Headers.SetValue("Prefer", "return-no-content");
        message.Request.Content = RequestContent.Create(JsonSerializerHelper.TableNameBody(Name));
        message.Request.Headers.SetValue("Content-Type", "application/json");
        var response = await _pipeline.SendAsync(message, cancellationToken, 201, 204, 409).ConfigureAwait(false);
        return response.Status != 409;
    }

    /// <summary>Deletes the table; true when it existed.</summary>
    public async Task<bool> DeleteIfExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = CreateMessage(RequestMethod.Delete, $"/Tables('{Name}')");
        var response = await _pipeline.SendAsync(message, cancellationToken, 204, 404).ConfigureAwait(false);
        return response.Status == 204;
    }

    /// <summary>Reads one entity.</summary>
    /// <exception cref="RequestFailedException">404 <c>ResourceNotFound</c> when the row does not exist.</exception>
    public async Task<Response<T>> GetEntityAsync<T>(string partitionKey, string rowKey, IEnumerable<string>? select = null,
        CancellationToken cancellationToken = default) where T : ITableEntity<T>
    {
        using var message = CreateEntityMessage(RequestMethod.Get, partitionKey, rowKey);
        if (select is not null)
        {
            message.Request.Uri.AppendQuery("$select", string.Join(',', select));
        }
        var response = await _pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        using var json = JsonDocument.Parse(response.Content.ToMemory());
        var entity = Read<T>(json.RootElement);
        if (response.Headers.ETag is { } etag)
        {
            entity.ETag = etag;
        }
        return Response.FromValue(entity, response);
    }

    /// <summary>Reads one entity, or null when the row does not exist.</summary>
    public async Task<T?> GetEntityIfExistsAsync<T>(string partitionKey, string rowKey, CancellationToken cancellationToken = default)
        where T : class, ITableEntity<T>
    {
        using var message = CreateEntityMessage(RequestMethod.Get, partitionKey, rowKey);
        var response = await _pipeline.SendAsync(message, cancellationToken, 200, 404).ConfigureAwait(false);
        if (response.Status == 404)
        {
            return null;
        }
        using var json = JsonDocument.Parse(response.Content.ToMemory());
        var entity = Read<T>(json.RootElement);
        if (response.Headers.ETag is { } etag)
        {
            entity.ETag = etag;
        }
        return entity;
    }

    /// <summary>Inserts <paramref name="entity"/>; sets its new ETag.</summary>
    /// <exception cref="RequestFailedException">409 <c>EntityAlreadyExists</c> when the row exists.</exception>
    public async Task<Response> AddEntityAsync<T>(T entity, CancellationToken cancellationToken = default) where T : ITableEntity
    {
        ArgumentNullException.ThrowIfNull(entity);
        using var message = CreateMessage(RequestMethod.Post, "/" + Name);
        message.Request.Headers.SetValue("Prefer", "return-no-content");
        SetJsonBody(message, Serialize(entity));
        var response = await _pipeline.SendAsync(message, cancellationToken, 204, 201).ConfigureAwait(false);
        entity.ETag = response.Headers.ETag ?? default;
        return response;
    }

    /// <summary>Inserts or updates <paramref name="entity"/> unconditionally; sets its new ETag.</summary>
    public async Task<Response> UpsertEntityAsync<T>(T entity, TableUpdateMode mode = TableUpdateMode.Merge,
        CancellationToken cancellationToken = default) where T : ITableEntity
    {
        ArgumentNullException.ThrowIfNull(entity);
        using var message = CreateEntityMessage(mode == TableUpdateMode.Merge ? Merge : RequestMethod.Put, entity.PartitionKey, entity.RowKey);
        SetJsonBody(message, Serialize(entity));
        var response = await _pipeline.SendAsync(message, cancellationToken, 204).ConfigureAwait(false);
        entity.ETag = response.Headers.ETag ?? default;
        return response;
    }

    /// <summary>Updates an existing entity only if its current ETag is <paramref name="ifMatch"/> (<see cref="ETag.All"/>
    /// for any); sets its new ETag.</summary>
    /// <exception cref="RequestFailedException">412 <c>UpdateConditionNotSatisfied</c> when the row changed since
    /// <paramref name="ifMatch"/>; 404 <c>ResourceNotFound</c> when it does not exist.</exception>
    public async Task<Response> UpdateEntityAsync<T>(T entity, ETag ifMatch, TableUpdateMode mode = TableUpdateMode.Merge,
        CancellationToken cancellationToken = default) where T : ITableEntity
    {
        ArgumentNullException.ThrowIfNull(entity);
        using var message = CreateEntityMessage(mode == TableUpdateMode.Merge ? Merge : RequestMethod.Put, entity.PartitionKey, entity.RowKey);
        message.Request.Headers.SetValue("If-Match", RequireETag(ifMatch, nameof(ifMatch)));
        SetJsonBody(message, Serialize(entity));
        var response = await _pipeline.SendAsync(message, cancellationToken, 204).ConfigureAwait(false);
        entity.ETag = response.Headers.ETag ?? default;
        return response;
    }

    /// <summary>Deletes a row only if its current ETag is <paramref name="ifMatch"/> (default: any); a missing row
    /// is not an error.</summary>
    /// <exception cref="RequestFailedException">412 <c>UpdateConditionNotSatisfied</c> when the row changed.</exception>
    public async Task<Response> DeleteEntityAsync(string partitionKey, string rowKey, ETag ifMatch = default,
        CancellationToken cancellationToken = default)
    {
        using var message = CreateEntityMessage(RequestMethod.Delete, partitionKey, rowKey);
        message.Request.Headers.SetValue("If-Match", ifMatch == default ? "*" : ifMatch.ToString("H"));
        return await _pipeline.SendAsync(message, cancellationToken, 204, 404).ConfigureAwait(false);
    }

    /// <summary>
    /// Queries the table. Pages are fetched lazily as the caller enumerates, following the service's continuation
    /// across pages (the service returns at most 1,000 rows per page, and may return fewer, even none, before the end).
    /// </summary>
    /// <param name="filter">An OData filter; build it with <see cref="TableQueryFilter.Create"/> so values are escaped.</param>
    /// <param name="maxPerPage">At most this many rows per page (1–1,000); null for the service's maximum.</param>
    /// <param name="select">Only these properties; null for all.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    public AsyncPageable<T> QueryAsync<T>(string? filter = null, int? maxPerPage = null, IEnumerable<string>? select = null,
        CancellationToken cancellationToken = default) where T : ITableEntity<T>
    {
        if (maxPerPage is < 1 or > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(maxPerPage), maxPerPage, "A page holds 1 to 1,000 rows.");
        }
        var selectList = select is null ? null : string.Join(',', select);
        return new ContinuationPageable<T>((token, pageSize, ct) => QueryPageAsync<T>(filter, pageSize ?? maxPerPage, selectList, token, ct), cancellationToken);
    }

    /// <summary>
    /// Commits up to 100 operations on one partition atomically: all apply or none does. Each row may appear once.
    /// Returns each operation's result (its new ETag) in order.
    /// </summary>
    /// <exception cref="TableTransactionFailedException">The service rejected an operation; nothing was applied.</exception>
    /// <exception cref="ArgumentException">The actions are empty, more than 100, span partitions or repeat a row.</exception>
    public async Task<Response<IReadOnlyList<TableTransactionResult>>> SubmitTransactionAsync(
        IEnumerable<TableTransactionAction> actions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(actions);
        var list = actions as IReadOnlyList<TableTransactionAction> ?? actions.ToList();
        ValidateTransaction(list);
        var batchBoundary = "batch_" + Guid.NewGuid().ToString("N");
        var body = TableBatchFormat.Write(list, batchBoundary, EntityUri(Name, null, null), (pk, rk) => EntityUri(Name, pk, rk));

        using var message = CreateMessage(RequestMethod.Post, "/$batch");
        message.Request.Headers.SetValue("Content-Type", "multipart/mixed; boundary=" + batchBoundary);
        message.Request.Content = RequestContent.Create(body);
        var response = await _pipeline.SendAsync(message, cancellationToken, 202).ConfigureAwait(false);
        var results = TableBatchFormat.ReadResults(response);
        var failed = results.FindIndex(r => r.Status >= 300);
        if (failed >= 0 || results.Count != list.Count)
        {
            throw TableBatchFormat.ToException(results, failed, list.Count);
        }
        return Response.FromValue<IReadOnlyList<TableTransactionResult>>(
            results.Select(r => new TableTransactionResult(r.Status, r.ETag)).ToList(), response);
    }

    internal static ReadOnlyMemory<byte> Serialize(ITableEntity entity)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("PartitionKey", entity.PartitionKey ?? throw new ArgumentException("PartitionKey is required.", nameof(entity)));
            json.WriteString("RowKey", entity.RowKey ?? throw new ArgumentException("RowKey is required.", nameof(entity)));
            entity.WriteProperties(new TableEntityWriter(json));
            json.WriteEndObject();
        }
        return buffer.WrittenMemory;
    }

    private async Task<Page<T>> QueryPageAsync<T>(string? filter, int? top, string? select, string? continuation, CancellationToken cancellationToken)
        where T : ITableEntity<T>
    {
        using var message = CreateMessage(RequestMethod.Get, "/" + Name + "()");
        if (!string.IsNullOrEmpty(filter))
        {
            message.Request.Uri.AppendQuery("$filter", filter);
        }
        if (top is { } t)
        {
            message.Request.Uri.AppendQuery("$top", t.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (select is not null)
        {
            message.Request.Uri.AppendQuery("$select", select);
        }
        if (!string.IsNullOrEmpty(continuation))
        {
            var parts = continuation.Split(' ');
            message.Request.Uri.AppendQuery("NextPartitionKey", parts[0]);
            if (parts.Length > 1 && parts[1].Length > 0)
            {
                message.Request.Uri.AppendQuery("NextRowKey", parts[1]);
            }
        }
        var response = await _pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        var values = new List<T>();
        using (var json = JsonDocument.Parse(response.Content.ToMemory()))
        {
            if (json.RootElement.TryGetProperty("value", out var rows))
            {
                foreach (var row in rows.EnumerateArray())
                {
                    values.Add(Read<T>(row));
                }
            }
        }
        string? next = null;
        if (response.Headers.TryGetValue("x-ms-continuation-NextPartitionKey", out var npk) && !string.IsNullOrEmpty(npk))
        {
            response.Headers.TryGetValue("x-ms-continuation-NextRowKey", out var nrk);
            next = npk + " " + nrk;
        }
        return Page<T>.FromValues(values, next, response);
    }

    private static T Read<T>(JsonElement row) where T : ITableEntity<T>
    {
        var reader = new TableEntityReader(row);
        var entity = T.ReadEntity(reader);
        entity.PartitionKey = reader.PartitionKey;
        entity.RowKey = reader.RowKey;
        entity.Timestamp = reader.GetDateTimeOffset("Timestamp");
        if (reader.ODataETag is { } etag)
        {
            entity.ETag = new ETag(etag);
        }
        return entity;
    }

    private static void ValidateTransaction(IReadOnlyList<TableTransactionAction> actions)
    {
        if (actions.Count is 0 or > MaxTransactionActions)
        {
            throw new ArgumentException($"A transaction holds 1 to {MaxTransactionActions} actions, not {actions.Count}.", nameof(actions));
        }
        var partition = actions[0].PartitionKey;
        var rows = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < actions.Count; i++)
        {
            if (!string.Equals(actions[i].PartitionKey, partition, StringComparison.Ordinal))
            {
                throw new ArgumentException($"Action {i} is in another partition: a transaction spans one partition.", nameof(actions));
            }
            if (!rows.Add(actions[i].RowKey))
            {
                throw new ArgumentException($"Action {i} repeats a row of an earlier action: each row may appear once.", nameof(actions));
            }
        }
    }

    private HttpMessage CreateMessage(RequestMethod method, string relativePath)
    {
        var uri = new RequestUriBuilder();
        uri.Reset(_endpoint);
        uri.AppendPath(relativePath, escape: false);
        var message = _pipeline.CreateMessage(method, uri);
        message.Request.Headers.SetValue("Accept", JsonMinimalMetadata);
        message.Request.Headers.SetValue("DataServiceVersion", "3.0");
        message.Request.Headers.SetValue("MaxDataServiceVersion", "3.0;NetFx");
        return message;
    }

    private HttpMessage CreateEntityMessage(RequestMethod method, string partitionKey, string rowKey) =>
        CreateMessage(method, "/" + Name + EntityKeyPath(partitionKey, rowKey));

    private string EntityUri(string table, string? partitionKey, string? rowKey) =>
        _endpoint.AbsoluteUri.TrimEnd('/') + "/" + table + (partitionKey is null ? string.Empty : EntityKeyPath(partitionKey, rowKey!));

    private static string EntityKeyPath(string partitionKey, string rowKey)
    {
        ArgumentNullException.ThrowIfNull(partitionKey);
        ArgumentNullException.ThrowIfNull(rowKey);
        return $"(PartitionKey='{EscapeKey(partitionKey)}',RowKey='{EscapeKey(rowKey)}')";
    }

    private static string EscapeKey(string key) => Uri.EscapeDataString(key.Replace("'", "''", StringComparison.Ordinal));

    private static void SetJsonBody(HttpMessage message, ReadOnlyMemory<byte> body)
    {
        message.Request.Headers.SetValue("Content-Type", "application/json");
        message.Request.Content = RequestContent.Create(body);
    }

    private static string RequireETag(ETag etag, string name) =>
        etag == default ? throw new ArgumentException("An ETag (or ETag.All) is required.", name) : etag.ToString("H");

    private static void ValidateTableName(string tableName)
    {
        ArgumentException.ThrowIfNullOrEmpty(tableName);
        if (tableName.Length is < 3 or > 63 || !char.IsAsciiLetter(tableName[0]) || !tableName.All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException("A table name is 3 to 63 letters and digits, starting with a letter.", nameof(tableName));
        }
    }

    private static class JsonSerializerHelper
    {
        public static byte[] TableNameBody(string name) => Encoding.UTF8.GetBytes($"{{\"TableName\":\"{name}\"}}");
    }
}
