using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using CreditFunctions.Triggers;

namespace CreditFunctions.Hosting;

/// <summary>
/// <c>GET /api/health</c>, anonymous: whether the Table, Queue and Blob services answer, and the approximate depth of
/// every queue a queue trigger declares and of its poison queue. 200 when all three services answer, 503 otherwise.
/// Each check gives up after 5 seconds. Depths are approximate (the service's own count, invisible messages included).
/// </summary>
internal static class HealthEndpoints
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(5);

    public static void MapHealth(this IEndpointRouteBuilder app) => app.MapGet("/api/health", async (HttpContext http, CancellationToken ct) =>
    {
        var services = http.RequestServices;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(s_timeout);
        var tables = CheckAsync(async t =>
            await services.GetRequiredService<TableServiceClient>().QueryAsync(maxPerPage: 1, cancellationToken: t).AsPages().FirstAsync(t));
        // An answer about a container that need not exist proves that the service answers.
        var blobs = CheckAsync(async t =>
            await services.GetRequiredService<BlobServiceClient>().GetBlobContainerClient("azure-webjobs-hosts").ExistsAsync(t));
        var queueClient = services.GetRequiredService<QueueServiceClient>();
        var configuration = services.GetRequiredService<IConfiguration>();
        var declared = services.GetRequiredService<FunctionsCatalog>().Functions
            .Where(f => f.Trigger is QueueTrigger)
            .Select(f => (Function: f.Name, Queue: TryResolve(((QueueTrigger)f.Trigger).QueueName, configuration)))
            .ToList();
        var depths = declared.Select(d => d.Queue is null
            ? Task.FromResult<object>(new { function = d.Function, queue = (string?)null, problem = "its queue setting is not set" })
            : DepthAsync(d.Function, queueClient, d.Queue, timeout.Token)).ToList();
        var queues = declared.Count > 0
            ? Task.WhenAll(depths).ContinueWith(t => t.IsCompletedSuccessfully && t.Result.All(r => r is not QueueUnreachable), TaskScheduler.Default)
            : CheckAsync(async t => await queueClient.GetQueueClient("azure-webjobs-health").ExistsAsync(t));
        await Task.WhenAll(tables, blobs, queues);
        var ok = tables.Result && blobs.Result && queues.Result;
        var body = new
        {
            status = ok ? "healthy" : "unhealthy",
            storage = new { tables = State(tables.Result), queues = State(queues.Result), blobs = State(blobs.Result) },
            queues = depths.Select(d => d.Result is QueueUnreachable u ? u.Report : d.Result).ToList(),
        };
        return Results.Json(body, statusCode: ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);

        async Task<bool> CheckAsync(Func<CancellationToken, Task> probe)
        {
            try
            {
                await probe(timeout.Token);
                return true;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or OperationCanceledException or IOException)
            {
                return false;
            }
        }
    });

    private static async Task<object> DepthAsync(string function, QueueServiceClient queues, string queueName, CancellationToken ct)
    {
        var poisonName = queueName + "-poison";
        try
        {
            var depth = await CountAsync(queues.GetQueueClient(queueName), ct);
            var poison = await CountAsync(queues.GetQueueClient(poisonName), ct);
            return new { function, queue = queueName, approximateMessageCount = depth, poisonQueue = poisonName, poisonApproximateMessageCount = poison };
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or OperationCanceledException or IOException or ArgumentException)
        {
            return new QueueUnreachable(new { function, queue = queueName, problem = "unreachable" });
        }
    }

    private static async Task<int> CountAsync(QueueClient queue, CancellationToken ct)
    {
        try
        {
            return (await queue.GetPropertiesAsync(ct)).Value.ApproximateMessagesCount;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // Not created yet: nothing waits in it.
            return 0;
        }
    }

    private static string? TryResolve(string value, IConfiguration configuration)
    {
        try
        {
            return BindingExpressions.Resolve(value, configuration);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static string State(bool reachable) => reachable ? "reachable" : "unreachable";

    private sealed record QueueUnreachable(object Report);
}
