using Azure;
using CreditFunctions.Api;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;

namespace CreditFunctions.Platform;

/// <summary>
/// <c>GET /api/health</c>, anonymous: whether the Table, Queue and Blob services answer, and the approximate depth of
/// every queue a queue trigger declares and of its poison queue. 200 when all three services answer, 503 otherwise.
/// Each check gives up after 5 seconds. Depths are approximate (the service's own count, invisible messages included).
/// </summary>
public sealed class HealthFunction(IServiceProvider services, IConfiguration configuration)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(5);
    private static readonly Lazy<Task<IReadOnlyList<(string Function, string Queue)>>> s_queueTriggers = new(ReadQueueTriggersAsync);

    [Function("health")]
    public async Task<IActionResult> RunAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(s_timeout);
        var tables = CheckAsync(async t =>
            await services.GetRequiredService<TableServiceClient>().QueryAsync(maxPerPage: 1, cancellationToken: t).AsPages().FirstAsync(t));
        // An answer about a container that need not exist proves that the service answers.
        var blobs = CheckAsync(async t =>
            await services.GetRequiredService<BlobServiceClient>().GetBlobContainerClient("azure-webjobs-hosts").ExistsAsync(t));
        var queueClient = services.GetRequiredService<QueueServiceClient>();
        var declared = (await s_queueTriggers.Value.ConfigureAwait(false))
            .Select(f => (f.Function, Queue: TryResolve(f.Queue, configuration)))
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
        return new HttpResultAction(Results.Json(body, statusCode: ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable));

        async Task<bool> CheckAsync(Func<CancellationToken, Task> probe)
        {
            try
            {
                await probe(timeout.Token);
                return true;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or OperationCanceledException or IOException or AggregateException)
            {
                return false;
            }
        }
    }

    /// <summary>The queue triggers the app declares, read from the Functions SDK's generated metadata (what the host
    /// reads), so the list can never differ from the functions that run.</summary>
    private static async Task<IReadOnlyList<(string Function, string Queue)>> ReadQueueTriggersAsync()
    {
        var providerType = typeof(HealthFunction).Assembly.GetTypes()
            .FirstOrDefault(t => typeof(IFunctionMetadataProvider).IsAssignableFrom(t) && !t.IsAbstract);
        if (providerType is null || Activator.CreateInstance(providerType) is not IFunctionMetadataProvider provider)
        {
            return [];
        }
        var triggers = new List<(string, string)>();
        foreach (var function in await provider.GetFunctionMetadataAsync(AppContext.BaseDirectory).ConfigureAwait(false))
        {
            foreach (var raw in function.RawBindings ?? [])
            {
                using var binding = JsonDocument.Parse(raw);
                if (binding.RootElement.TryGetProperty("type", out var type) && type.GetString() == "queueTrigger"
                    && binding.RootElement.TryGetProperty("queueName", out var queue) && queue.GetString() is { } name)
                {
                    triggers.Add((function.Name!, name));
                }
            }
        }
        return triggers;
    }

    private static async Task<object> DepthAsync(string function, QueueServiceClient queues, string queueName, CancellationToken ct)
    {
        var poisonName = queueName + "-poison";
        try
        {
            var depth = await CountAsync(queues.GetQueueClient(queueName), ct);
            var poison = await CountAsync(queues.GetQueueClient(poisonName), ct);
            return new { function, queue = queueName, approximateMessageCount = depth, poisonQueue = poisonName, poisonApproximateMessageCount = poison };
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or OperationCanceledException or IOException or ArgumentException or AggregateException)
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

    // A %setting% queue name resolves from configuration, as the host resolves it; an unset setting is reported.
    private static string? TryResolve(string value, IConfiguration configuration) =>
        value is ['%', .. var setting, '%'] ? configuration[setting] is { Length: > 0 } resolved ? resolved : null : value;

    private static string State(bool reachable) => reachable ? "reachable" : "unreachable";

    private sealed record QueueUnreachable(object Report);
}
