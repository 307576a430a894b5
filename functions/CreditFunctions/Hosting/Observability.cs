using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace CreditFunctions.Hosting;

/// <summary>
/// Telemetry through the Functions worker's OpenTelemetry integration. With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set,
/// logs, traces and metrics are exported by OTLP (<c>OTEL_EXPORTER_OTLP_PROTOCOL</c> <c>grpc</c> by default, or
/// <c>http/protobuf</c>; the service is named by <c>OTEL_SERVICE_NAME</c>, default <c>CreditFunctions</c>): the
/// worker's invocation activities, Azure.Core's storage activities, ASP.NET Core's and HttpClient's own activities
/// and metrics. Nothing is exported otherwise.
/// </summary>
internal static class Observability
{
    public const string EndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string ProtocolSetting = "OTEL_EXPORTER_OTLP_PROTOCOL";
    public const string ServiceNameSetting = "OTEL_SERVICE_NAME";
    public const string MetricIntervalSetting = "OTEL_METRIC_EXPORT_INTERVAL";

    public static IServiceCollection AddObservability(this IServiceCollection services, IConfiguration configuration)
    {
        if (configuration[EndpointSetting] is not { Length: > 0 } endpointText)
        {
            return services;
        }
        if (!Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint))
        {
            throw new InvalidOperationException($"{EndpointSetting} must be an absolute URL.");
        }
        var protocol = configuration[ProtocolSetting] switch
        {
            null or "" or "grpc" => OtlpExportProtocol.Grpc,
            "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
            _ => throw new InvalidOperationException($"{ProtocolSetting} must be grpc or http/protobuf."),
        };
        var metricInterval = int.TryParse(configuration[MetricIntervalSetting], out var ms) && ms > 0 ? ms : 60_000;
        var serviceName = configuration[ServiceNameSetting] is { Length: > 0 } name ? name : "CreditFunctions";
        void Configure(OtlpExporterOptions o, string signal)
        {
            o.Protocol = protocol;
            // Over HTTP an endpoint set in code is used as it is: add the signal's path, as the environment variable would.
            o.Endpoint = protocol == OtlpExportProtocol.HttpProtobuf ? new Uri(endpoint, endpoint.AbsolutePath.TrimEnd('/') + "/v1/" + signal) : endpoint;
        }
        // The worker's own integration: its invocation activities and the host's trace context (under the Functions host).
        services.AddOpenTelemetry()
            .UseFunctionsWorkerDefaults()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithTracing(t => t.AddSource("Azure.*", "Microsoft.AspNetCore", "System.Net.Http").AddOtlpExporter(o => Configure(o, "traces")))
            .WithMetrics(m => m.AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http")
                .AddOtlpExporter((o, reader) =>
                {
                    Configure(o, "metrics");
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = metricInterval;
                }))
            .WithLogging(l => l.AddOtlpExporter(o => Configure(o, "logs")), o =>
            {
                o.IncludeScopes = true;
                o.IncludeFormattedMessage = true;
            });
        // Azure.Core's activities (storage calls) are off unless this switch is on.
        AppContext.SetSwitch("Azure.Experimental.EnableActivitySource", true);
        return services;
    }
}
