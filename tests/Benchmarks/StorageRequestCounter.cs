using System.Collections.Concurrent;
using Azure.Core;
using Azure.Core.Pipeline;
using CreditFunctions.AzureStorage;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// Counts every request a storage client sends (added per call, so an Azure.Core retry is not counted twice), by
/// HTTP method, service and the kind of path: <c>GET queue messages</c> is a receive, <c>DELETE queue message</c>
/// a completion, <c>POST table $batch</c> a transaction, <c>GET table entity</c> a point read, and so on.
/// </summary>
internal sealed class StorageRequestCounter(StorageConnectionString endpoints) : HttpPipelineSynchronousPolicy
{
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    public long Total => _counts.Values.Sum();

    public override void OnSendingRequest(HttpMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        _counts.AddOrUpdate(Classify(message.Request.Method, message.Request.Uri.ToUri()), 1, (_, n) => n + 1);
    }

    /// <summary>The counts so far, and a fresh start.</summary>
    public Dictionary<string, long> Take()
    {
        var snapshot = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var key in _counts.Keys)
        {
            if (_counts.TryRemove(key, out var n))
            {
                snapshot[key] = n;
            }
        }
        return snapshot;
    }

    private string Classify(RequestMethod method, Uri uri)
    {
        // Path: /{account}/{resource}[/{sub}...]; the first segment is the account (Azurite's path-style URLs).
        var segments = uri.AbsolutePath.Trim('/').Split('/').Skip(1).ToArray();
        string kind;
        if (uri.Port == endpoints.QueueEndpoint.Port)
        {
            kind = segments.Length switch
            {
                >= 3 => "queue message",
                2 when segments[1] == "messages" => "queue messages",
                _ => "queue",
            };
        }
        else if (uri.Port == endpoints.TableEndpoint.Port)
        {
            kind = segments.Length == 0 ? "table service"
                : segments[0] == "$batch" ? "table $batch"
                : segments[0].Contains("(PartitionKey=", StringComparison.Ordinal) ? "table entity"
                : segments[0].StartsWith("Tables", StringComparison.Ordinal) ? "table (create)"
                : "table rows";
        }
        else
        {
            kind = segments.Length >= 2 ? "blob" : "blob container";
        }
        return $"{method} {kind}";
    }
}
