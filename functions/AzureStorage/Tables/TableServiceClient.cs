using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>The Table service of one storage account; hands out <see cref="TableClient"/>s that share its pipeline.</summary>
public sealed class TableServiceClient
{
    private readonly StoragePipeline _pipeline;

    /// <summary>Connects with a connection string that carries an account key (or <c>UseDevelopmentStorage=true</c>);
    /// for identity-based access use an overload that takes a <see cref="TokenCredential"/>.</summary>
    public TableServiceClient(string connectionString, StorageClientOptions? options = null)
        : this(StorageConnectionString.Parse(connectionString), null, options)
    {
    }

    /// <summary>Connects to <paramref name="endpoint"/> with a Microsoft Entra ID credential (e.g. a managed identity).</summary>
    public TableServiceClient(Uri endpoint, TokenCredential credential, StorageClientOptions? options = null)
        : this(endpoint, new StorageAuth(null, credential ?? throw new ArgumentNullException(nameof(credential))), options)
    {
    }

    /// <summary>Connects to <paramref name="endpoint"/> with a Shared Key.</summary>
    public TableServiceClient(Uri endpoint, StorageSharedKeyCredential credential, StorageClientOptions? options = null)
        : this(endpoint, new StorageAuth(credential ?? throw new ArgumentNullException(nameof(credential)), null), options)
    {
    }

    /// <summary>Connects with parsed connection settings, using <paramref name="credential"/> when they carry no key.</summary>
    public TableServiceClient(StorageConnectionString connection, TokenCredential? credential, StorageClientOptions? options = null)
        : this(connection.TableEndpoint, StorageAuth.From(connection, credential), options)
    {
    }

    private async Task<Page<TableItem>> QueryTablesPageAsync(string? filter, int? top, string? continuation, CancellationToken cancellationToken)
    {
        var uri = new RequestUriBuilder();
        uri.Reset(Endpoint);
        uri.AppendPath("/Tables", escape: false);
        if (!string.IsNullOrEmpty(filter))
        {
            uri.AppendQuery("$filter", filter);
        }
        if (top is { } t)
        {
            uri.AppendQuery("$top", t.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (!string.IsNullOrEmpty(continuation))
        {
            uri.AppendQuery("NextTableName", continuation);
        }
        using var message = _pipeline.CreateMessage(RequestMethod.Get, uri);
        message.Request.Headers.SetValue("Accept", "application/json;odata=nometadata");
        message.Request.Headers.SetValue("DataServiceVersion", "3.0");
        var response = await _pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        var names = new List<TableItem>();
        using (var json = System.Text.Json.JsonDocument.Parse(response.Content.ToMemory()))
        {
            foreach (var table in json.RootElement.GetProperty("value").EnumerateArray())
            {
                names.Add(new TableItem(table.GetProperty("TableName").GetString()!));
            }
        }
        response.Headers.TryGetValue("x-ms-continuation-NextTableName", out var next);
        return Page<TableItem>.FromValues(names, string.IsNullOrEmpty(next) ? null : next, response);
    }

    private TableServiceClient(Uri endpoint, StorageAuth auth, StorageClientOptions? options)
    {
        Endpoint = endpoint;
        _pipeline = new StoragePipeline(options, auth, StorageService.Table);
    }

    /// <summary>The service endpoint.</summary>
    public Uri Endpoint { get; }

    /// <summary>A client for one table; no request is made.</summary>
    public TableClient GetTableClient(string tableName) => new(_pipeline, Endpoint, tableName);

    /// <summary>Creates the table unless it exists; true when this call created it.</summary>
    public Task<bool> CreateTableIfNotExistsAsync(string tableName, CancellationToken cancellationToken = default) =>
        GetTableClient(tableName).CreateIfNotExistsAsync(cancellationToken);

    /// <summary>Lists tables, optionally filtered (e.g. by a name prefix range), lazily page by page.</summary>
    public AsyncPageable<TableItem> QueryTablesAsync(string? filter = null, int? maxPerPage = null, CancellationToken cancellationToken = default) =>
        new ContinuationPageable<TableItem>((token, pageSize, ct) => QueryTablesPageAsync(filter, pageSize ?? maxPerPage, token, ct), cancellationToken);

    /// <summary>Deletes the table and all its rows; true when it existed.</summary>
    public Task<bool> DeleteTableAsync(string tableName, CancellationToken cancellationToken = default) =>
        GetTableClient(tableName).DeleteIfExistsAsync(cancellationToken);
}

/// <summary>A table of the account.</summary>
/// <param name="Name">The table's name.</param>
public sealed record TableItem(string Name);
