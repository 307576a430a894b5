using System.Diagnostics;
using System.Text.Json;

namespace CreditFunctions.Triggers;

/// <summary>
/// The custom-handler endpoints: <c>POST /{function}</c> for every non-HTTP function of the
/// <see cref="FunctionsCatalog"/>. 200 with <c>{"Outputs":{},"Logs":[],"ReturnValue":null}</c> when the handler
/// returned; 500 when it threw and 400 when the envelope lacks what the trigger needs, both with a line in
/// <c>Logs</c>: any non-2xx answer makes the host count the invocation as failed (and retry a queue message, then
/// poison it). The server listens on 127.0.0.1 only, so these routes are reachable from the host process alone.
/// </summary>
public static class FunctionEndpoints
{
    /// <summary>Maps <c>POST /{name}</c> for each function that has a handler.</summary>
    public static IEndpointRouteBuilder MapFunctions(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var catalog = app.ServiceProvider.GetRequiredService<FunctionsCatalog>();
        foreach (var function in catalog.Functions.Where(f => f.Handler is not null))
        {
            app.MapPost("/" + function.Name, (HttpContext http) => InvokeAsync(function, http)).ExcludeFromDescription();
        }
        return app;
    }

    private static async Task InvokeAsync(FunctionDefinition function, HttpContext http)
    {
        var services = http.RequestServices;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Function." + function.Name);
        var invocationId = http.Request.Headers[InvocationEnvelope.InvocationIdHeader].FirstOrDefault() is { Length: > 0 } id ? id : Guid.NewGuid().ToString();
        var trigger = TriggerTelemetry.TriggerKind(function.Trigger);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["InvocationId"] = invocationId, ["FunctionName"] = function.Name });
        using var activity = TriggerTelemetry.Source.StartActivity(function.Name, ActivityKind.Internal);
        activity?.SetTag("faas.name", function.Name);
        activity?.SetTag("faas.trigger", trigger);
        activity?.SetTag("faas.invocation_id", invocationId);

        TriggerContext context;
        try
        {
            using var envelope = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            context = InvocationEnvelope.Parse(function, invocationId, envelope.RootElement, services.GetRequiredService<IConfiguration>());
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            // The message says which field is wrong, never what it held.
            var problem = ex is JsonException ? "the body is not JSON" : ex.Message;
            TriggerLog.BadEnvelope(logger, function.Name, problem);
            activity?.SetStatus(ActivityStatusCode.Error, "bad envelope");
            await WriteAsync(http, StatusCodes.Status400BadRequest, InvocationEnvelope.Failed($"Refused: {problem}"));
            return;
        }

        var tags = new TagList { { "faas.name", function.Name }, { "faas.trigger", trigger } };
        TriggerTelemetry.Invocations.Add(1, tags);
        TriggerLog.Executing(logger, function.Name, function.Trigger.BindingType);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await function.Handler!(services, context, http.RequestAborted);
        }
        catch (Exception ex)
        {
            var elapsed = Stopwatch.GetElapsedTime(started);
            TriggerTelemetry.Errors.Add(1, tags);
            TriggerTelemetry.Duration.Record(elapsed.TotalSeconds, tags);
            TriggerLog.Failed(logger, function.Name, (long)elapsed.TotalMilliseconds, ex);
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            activity?.SetTag("error.type", ex.GetType().FullName);
            if (!http.RequestAborted.IsCancellationRequested)
            {
                await WriteAsync(http, StatusCodes.Status500InternalServerError, InvocationEnvelope.Failed($"{function.Name} failed: {ex.GetType().Name}"));
            }
            return;
        }
        var duration = Stopwatch.GetElapsedTime(started);
        TriggerTelemetry.Duration.Record(duration.TotalSeconds, tags);
        TriggerLog.Executed(logger, function.Name, (long)duration.TotalMilliseconds);
        await WriteAsync(http, StatusCodes.Status200OK, InvocationEnvelope.Completed());
    }

    private static async Task WriteAsync(HttpContext http, int status, System.Text.Json.Nodes.JsonObject body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(body.ToJsonString(), http.RequestAborted);
    }
}
