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
/// <c>GET /api/health</c>: whether the Table, Queue and Blob services answer; 200 when all three do, 503 otherwise.
/// Anonymous callers get only that, from a probe made at most once per <see cref="HealthProbe.CacheDuration"/>
/// however often it is called (concurrent callers share one probe). With an admin's API key
/// (<c>Authorization: Bearer</c>) the answer adds the approximate depth of every queue a queue trigger declares and of
/// its poison queue (cached the same way); any other key is 401 or 403 as on the API.
/// </summary>
public sealed class HealthFunction(HealthProbe probe, ApiGate gate)
{
    [Function("health")]
    public async Task<IActionResult> RunAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Headers.Authorization.Count > 0)
        {
            return await gate.RunAsync(request, async _ => Answer(await probe.GetAsync(details: true, ct).ConfigureAwait(false)), ApiAccess.Admin)
                .ConfigureAwait(false);
        }
        return new HttpResultAction(Answer(await probe.GetAsync(details: false, ct).ConfigureAwait(false)));
    }

    private static IResult Answer(HealthReport report) => Results.Json(report.Body, statusCode: report.Healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
}

/// <summary>A health answer: whether storage answered, and the body to show.</summary>
public sealed record HealthReport(bool Healthy, object Body);

/// <summary>
/// Probes storage for <see cref="HealthFunction"/>: three cheap requests (one per service), or with details the queue
/// depths besides, at most once per <see cref="CacheDuration"/> each, single-flight (callers during a probe wait for
/// it). Each probe gives up after 5 seconds. Depths are approximate (the service's own count, invisible messages
/// included).
/// </summary>
public sealed class HealthProbe(IServiceProvider services, IConfiguration configuration, TimeProvider clock)
{
    /// <summary>How long a probe's answer is reused.</summary>
    public static readonly TimeSpan CacheDuration = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(5);
    private static readonly Lazy<Task<IReadOnlyList<(string Function, string Queue)>>> s_queueTriggers = new(ReadQueueTriggersAsync);

    private readonly Lock _lock = new();
    private readonly (Task<HealthReport>? Task, DateTimeOffset StartedAt)[] _cached = new (Task<HealthReport>?, DateTimeOffset)[2];

    /// <summary>The last probe's report when it started less than <see cref="CacheDuration"/> ago (or is still
    /// running), else a new probe's.</summary>
    public Task<HealthReport> GetAsync(bool details, CancellationToken cancellationToken)
    {
        Task<HealthReport> task;
        lock (_lock)
        {
            ref var slot = ref _cached[details ? 1 : 0];
            var now = clock.GetUtcNow();
            if (slot.Task is null || (slot.Task.IsCompleted && now - slot.StartedAt >= CacheDuration))
            {
                // Not the caller's token: the probe is shared, a caller that gives up must not cancel it for the others.
                slot = (ProbeAsync(details), now);
            }
            task = slot.Task!;
        }
        return task.WaitAsync(cancellationToken);
    }

    private async Task<HealthReport> ProbeAsync(bool details)
    {
        await Task.Yield();
        using var timeout = new CancellationTokenSource(s_timeout);
        var tables = CheckAsync(async t =>
            await services.GetRequiredService<TableServiceClient>().QueryAsync(maxPerPage: 1, cancellationToken: t).AsPages().FirstAsync(t));
        // An answer about a container that need not exist proves that the service answers.
        var blobs = CheckAsync(async t =>
            await services.GetRequiredService<BlobServiceClient>().GetBlobContainerClient("azure-webjobs-hosts").ExistsAsync(t));
        var queueClient = services.GetRequiredService<QueueServiceClient>();
        var queues = CheckAsync(async t => await queueClient.GetQueueClient("azure-webjobs-health").ExistsAsync(t));
        var depths = new List<Task<object>>();
        if (details)
        {
            var declared = (await s_queueTriggers.Value.ConfigureAwait(false))
                .Select(f => (f.Function, Queue: TryResolve(f.Queue, configuration)))
                .ToList();
            depths = declared.Select(d => d.Queue is null
                ? Task.FromResult<object>(new { function = d.Function, queue = (string?)null, problem = "its queue setting is not set" })
                : DepthAsync(d.Function, queueClient, d.Queue, timeout.Token)).ToList();
        }
        await Task.WhenAll(tables, blobs, queues, Task.WhenAll(depths));
        var queuesOk = queues.Result && depths.All(d => d.Result is not QueueUnreachable);
        var ok = tables.Result && blobs.Result && queuesOk;
        var storage = new { tables = State(tables.Result), queues = State(queuesOk), blobs = State(blobs.Result) };
        object body = details
            ? new { status = ok ? "healthy" : "unhealthy", storage, queues = depths.Select(d => d.Result is QueueUnreachable u ? u.Report : d.Result).ToList() }
            : new { status = ok ? "healthy" : "unhealthy", storage };
        return new HealthReport(ok, body);

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
        var providerType = typeof(HealthProbe).Assembly.GetTypes()
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
