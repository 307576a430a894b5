using CreditFunctions.AzureStorage;
using CreditFunctions.Triggers;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CreditFunctions.Hosting;

/// <summary>
/// Logs, traces and metrics. Logs are structured, each function invocation's lines carry its <c>InvocationId</c> and
/// <c>FunctionName</c> in their scope; on the console as single lines locally, as JSON under the Functions host (which
/// collects the handler's output). With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, logs, traces and metrics are also
/// exported by OTLP (<c>OTEL_EXPORTER_OTLP_PROTOCOL</c> <c>grpc</c> by default, or <c>http/protobuf</c>; the
/// service is named by <c>OTEL_SERVICE_NAME</c>, default <c>CreditFunctions</c>): the trigger activities and
/// metrics (<see cref="TriggerTelemetry"/>), the storage clients' metrics (<see cref="StorageTelemetry"/>) and
/// Azure.Core's HTTP activities, ASP.NET Core's and HttpClient's own activities and metrics.
/// </summary>
internal static class Observability
{
    public const string EndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string ProtocolSetting = "OTEL_EXPORTER_OTLP_PROTOCOL";
    public const string ServiceNameSetting = "OTEL_SERVICE_NAME";
    public const string MetricIntervalSetting = "OTEL_METRIC_EXPORT_INTERVAL";

    public static void AddObservability(this WebApplicationBuilder builder, AppSettings settings)
    {
        builder.Logging.ClearProviders();
        // Request-by-request lines of the framework are noise here; Logging:LogLevel settings can turn them back on.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        if (settings.IsUnderFunctionsHost)
        {
            builder.Logging.AddJsonConsole(o => o.IncludeScopes = true);
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.IncludeScopes = true;
                o.SingleLine = true;
            });
        }
        if (builder.Configuration[EndpointSetting] is not { Length: > 0 } endpointText)
        {
            return;
        }
        if (!Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint))
        {
            throw new InvalidOperationException($"{EndpointSetting} must be an absolute URL.");
        }
        var protocol = builder.Configuration[ProtocolSetting] switch
        {
            null or "" or "grpc" => OtlpExportProtocol.Grpc,
            "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
            _ => throw new InvalidOperationException($"{ProtocolSetting} must be grpc or http/protobuf."),
        };
        var metricInterval = int.TryParse(builder.Configuration[MetricIntervalSetting], out var ms) && ms > 0 ? ms : 60_000;
        var resource = ResourceBuilder.CreateDefault().AddService(builder.Configuration[ServiceNameSetting] is { Length: > 0 } name ? name : "CreditFunctions");

        // Azure.Core reads the switch when it builds a pipeline: set it before any storage client exists.
        StorageTelemetry.EnableAzureCoreActivitySource();
        void Configure(OtlpExporterOptions o, string signal)
        {
            o.Protocol = protocol;
            // Over HTTP an endpoint set in code is used as it is: add the signal's path, as the environment variable would.
            o.Endpoint = protocol == OtlpExportProtocol.HttpProtobuf ? new Uri(endpoint, endpoint.AbsolutePath.TrimEnd('/') + "/v1/" + signal) : endpoint;
        }
        var tracing = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource(TriggerTelemetry.Name, StorageTelemetry.AzureCoreActivitySourcePattern, "Microsoft.AspNetCore", "System.Net.Http")
            .AddOtlpExporter(o => Configure(o, "traces"))
            .Build();
        var metrics = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(TriggerTelemetry.Name, StorageTelemetry.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http")
            .AddOtlpExporter((o, reader) =>
            {
                Configure(o, "metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = metricInterval;
            })
            .Build();
        builder.Logging.AddOpenTelemetry(o =>
        {
            o.SetResourceBuilder(resource);
            o.IncludeScopes = true;
            o.IncludeFormattedMessage = true;
            o.AddOtlpExporter(e => Configure(e, "logs"));
        });
        // Flushed and shut down when the app stops (the container disposes what its factories made).
        builder.Services.AddSingleton(_ => new TelemetryProviders(tracing, metrics));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TelemetryProviders>());
    }

    /// <summary>Owns the providers; flushes them when the app stops.</summary>
    internal sealed class TelemetryProviders(TracerProvider? tracing, MeterProvider? metrics) : IHostedService, IDisposable
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken)
        {
            tracing?.ForceFlush(5_000);
            metrics?.ForceFlush(5_000);
            return Task.CompletedTask;
        }

        public void Dispose()
        {
            tracing?.Dispose();
            metrics?.Dispose();
        }
    }
}
