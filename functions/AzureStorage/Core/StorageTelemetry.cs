using System.Diagnostics;
using System.Diagnostics.Metrics;
using Azure.Core;
using Azure.Core.Pipeline;

namespace CreditFunctions.AzureStorage;

/// <summary>
/// The metrics every storage client records, on the <see cref="MeterName"/> meter: one measurement per HTTP attempt
/// (a retried call counts each attempt). Traces come from Azure.Core's own <c>Azure.Core.Http</c> activities, which it
/// emits through an <see cref="ActivitySource"/> when <see cref="EnableAzureCoreActivitySource"/> has been called (or
/// the <c>AZURE_EXPERIMENTAL_ENABLE_ACTIVITY_SOURCE</c> environment variable is <c>true</c>).
/// </summary>
/// <remarks>
/// Instruments: <c>storage.client.requests</c> (counter, <c>{request}</c>) and <c>storage.client.request.duration</c>
/// (histogram, seconds), both tagged <c>storage.service</c> (<c>blob</c>, <c>queue</c>, <c>table</c>),
/// <c>http.request.method</c>, and <c>http.response.status_code</c> or, when no response came, <c>error.type</c>.
/// No tag carries an account, container, queue, table or key.
/// </remarks>
public static class StorageTelemetry
{
    /// <summary>The name of the meter the storage clients record on.</summary>
    public const string MeterName = "CreditFunctions.AzureStorage";

    /// <summary>The name pattern of Azure.Core's activity sources (its HTTP attempts are <c>Azure.Core.Http</c>).</summary>
    public const string AzureCoreActivitySourcePattern = "Azure.*";

    private static readonly Meter s_meter = new(MeterName);

    internal static readonly Counter<long> Requests = s_meter.CreateCounter<long>(
        "storage.client.requests", "{request}", "HTTP attempts sent to Azure Storage.");

    internal static readonly Histogram<double> Duration = s_meter.CreateHistogram<double>(
        "storage.client.request.duration", "s", "How long each HTTP attempt to Azure Storage took, until its response headers.");

    /// <summary>Turns on Azure.Core's <see cref="ActivitySource"/>-based tracing for this process (an AppContext switch that
    /// Azure.Core reads when its pipelines are built): call it before creating clients.</summary>
    public static void EnableAzureCoreActivitySource() => AppContext.SetSwitch("Azure.Experimental.EnableActivitySource", true);
}

/// <summary>Records <see cref="StorageTelemetry"/>'s measurements for each attempt.</summary>
internal sealed class StorageMetricsPolicy(StorageService service) : HttpPipelinePolicy
{
    private readonly string _service = service switch
    {
        StorageService.Blob => "blob",
        StorageService.Queue => "queue",
        _ => "table",
    };

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            ProcessNext(message, pipeline);
        }
        catch (Exception ex)
        {
            Record(message, started, ex);
            throw;
        }
        Record(message, started, null);
    }

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await ProcessNextAsync(message, pipeline).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Record(message, started, ex);
            throw;
        }
        Record(message, started, null);
    }

    private void Record(HttpMessage message, long started, Exception? error)
    {
        if (!StorageTelemetry.Requests.Enabled && !StorageTelemetry.Duration.Enabled)
        {
            return;
        }
        var tags = new TagList
        {
            { "storage.service", _service },
            { "http.request.method", message.Request.Method.Method },
        };
        if (error is null && message.HasResponse)
        {
            tags.Add("http.response.status_code", message.Response.Status);
        }
        else
        {
            tags.Add("error.type", error?.GetType().FullName ?? "no-response");
        }
        StorageTelemetry.Requests.Add(1, tags);
        StorageTelemetry.Duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
    }
}
