using System.Globalization;
using System.Text;
using Azure;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>The multipart/mixed body of an entity-group transaction (OData $batch with one changeset) and its reply.</summary>
internal static class TableBatchFormat
{
    private const string Crlf = "\r\n";

    public static byte[] Write(IReadOnlyList<TableTransactionAction> actions, string batchBoundary, string tableUri,
        Func<string, string, string> entityUri)
    {
        var changeset = "changeset_" + Guid.NewGuid().ToString("N");
        var sb = new StringBuilder(actions.Count * 512);
        sb.Append("--").Append(batchBoundary).Append(Crlf);
        sb.Append("Content-Type: multipart/mixed; boundary=").Append(changeset).Append(Crlf).Append(Crlf);
        foreach (var action in actions)
        {
            sb.Append("--").Append(changeset).Append(Crlf);
            sb.Append("Content-Type: application/http").Append(Crlf);
            sb.Append("Content-Transfer-Encoding: binary").Append(Crlf).Append(Crlf);
            var (method, uri, ifMatch) = action.ActionType switch
            {
                TableTransactionActionType.Add => ("POST", tableUri, false),
                TableTransactionActionType.UpdateMerge => ("MERGE", entityUri(action.PartitionKey, action.RowKey), true),
                TableTransactionActionType.UpdateReplace => ("PUT", entityUri(action.PartitionKey, action.RowKey), true),
                TableTransactionActionType.UpsertMerge => ("MERGE", entityUri(action.PartitionKey, action.RowKey), false),
                TableTransactionActionType.UpsertReplace => ("PUT", entityUri(action.PartitionKey, action.RowKey), false),
                TableTransactionActionType.Delete => ("DELETE", entityUri(action.PartitionKey, action.RowKey), true),
                _ => throw new ArgumentOutOfRangeException(nameof(actions), action.ActionType, "Unknown action type."),
            };
            sb.Append(method).Append(' ').Append(uri).Append(" HTTP/1.1").Append(Crlf);
            sb.Append("Accept: application/json;odata=minimalmetadata").Append(Crlf);
            sb.Append("DataServiceVersion: 3.0").Append(Crlf);
            if (ifMatch)
            {
                sb.Append("If-Match: ").Append(action.ETag == default ? "*" : action.ETag.ToString("H")).Append(Crlf);
            }
            if (action.ActionType == TableTransactionActionType.Delete)
            {
                sb.Append(Crlf);
                continue;
            }
            if (action.ActionType == TableTransactionActionType.Add)
            {
                sb.Append("Prefer: return-no-content").Append(Crlf);
            }
            sb.Append("Content-Type: application/json").Append(Crlf).Append(Crlf);
            sb.Append(Encoding.UTF8.GetString(action.Body.Span)).Append(Crlf);
        }
        sb.Append("--").Append(changeset).Append("--").Append(Crlf);
        sb.Append("--").Append(batchBoundary).Append("--").Append(Crlf);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    public sealed record SubResponse(int Status, ETag ETag, string Body);

    /// <summary>Reads every HTTP response embedded in the multipart reply, in order.</summary>
    public static List<SubResponse> ReadResults(Response response)
    {
        var results = new List<SubResponse>();
        using var reader = new StringReader(response.Content.ToString());
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            if (!line.StartsWith("HTTP/1.1 ", StringComparison.Ordinal))
            {
                continue;
            }
            var status = int.Parse(line.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture);
            var etag = default(ETag);
            while (!string.IsNullOrEmpty(line = reader.ReadLine()))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0 && line.AsSpan(0, colon).Trim().Equals("ETag", StringComparison.OrdinalIgnoreCase))
                {
                    etag = new ETag(line[(colon + 1)..].Trim());
                }
            }
            var body = new StringBuilder();
            while ((line = reader.ReadLine()) is not null && !line.StartsWith("--", StringComparison.Ordinal))
            {
                body.AppendLine(line);
            }
            results.Add(new SubResponse(status, etag, body.ToString().Trim()));
        }
        return results;
    }

    /// <summary>
    /// The failure of a transaction. The service answers a failed changeset with the failing operation's response
    /// alone, whose message starts with the operation's index ("1:The specified entity already exists.").
    /// </summary>
    public static TableTransactionFailedException ToException(List<SubResponse> results, int failed, int expectedCount)
    {
        if (failed < 0)
        {
            return new TableTransactionFailedException(500, null,
                $"The transaction reply held {results.Count} responses for {expectedCount} actions.", null);
        }
        var sub = results[failed];
        string? code = null;
        string? message = null;
        if (sub.Body.StartsWith('{'))
        {
            try
            {
                (code, message) = StorageRequestFailedDetailsParser.ParseJsonError(Encoding.UTF8.GetBytes(sub.Body));
            }
            catch (System.Text.Json.JsonException)
            {
                // Not the documented error shape: report the status alone.
            }
        }
        int? index = results.Count == expectedCount ? failed : null;
        if (message is not null)
        {
            var colon = message.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && int.TryParse(message.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var i))
            {
                index = i;
            }
        }
        var text = $"Entity-group transaction failed with status {sub.Status} ({code ?? "no error code"})" +
                   (index is { } n ? $" at action {n}" : string.Empty) + $": {message?.Split('\n')[0] ?? "no message"}";
        return new TableTransactionFailedException(sub.Status, code, text, index);
    }
}
