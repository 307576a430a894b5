using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace CreditFunctions.Durable.Http;

/// <summary>The management URLs of one instance, as Durable Functions returns them in its async HTTP API.</summary>
public sealed record DurableManagementUrls(
    string Id,
    string StatusQueryGetUri,
    string SendEventPostUri,
    string TerminatePostUri,
    string SuspendPostUri,
    string ResumePostUri,
    string PurgeHistoryDeleteUri);

/// <summary>
/// The async HTTP API pattern over a hub: a start answers 202 with <c>Location</c> and the instance's management URLs;
/// the status URL answers 202 while the instance runs and 200 once it has finished.
/// </summary>
public static class DurableHttpApi
{
    /// <summary>Where <see cref="MapDurableManagement"/> puts the routes by default, as Durable Functions does.</summary>
    public const string DefaultPrefix = "/runtime/webhooks/durabletask";

    /// <summary>The management URLs of <paramref name="instanceId"/>, absolute, on the request's host.</summary>
    public static DurableManagementUrls CreateHttpManagementPayload(HttpRequest request, string instanceId, string prefix = DefaultPrefix)
    {
        ArgumentNullException.ThrowIfNull(request);
        var instance = $"{request.Scheme}://{request.Host}{request.PathBase}{prefix.TrimEnd('/')}/instances/{Uri.EscapeDataString(instanceId)}";
        return new DurableManagementUrls(
            instanceId,
            instance,
            instance + "/raiseEvent/{eventName}",
            instance + "/terminate?reason={text}",
            instance + "/suspend?reason={text}",
            instance + "/resume?reason={text}",
            instance);
    }

    /// <summary>202 Accepted with <c>Location</c> (the status URL) and the management URLs as the body.</summary>
    public static IResult CreateCheckStatusResponse(HttpRequest request, string instanceId, string prefix = DefaultPrefix) =>
        CreateCheckStatusResponse(CreateHttpManagementPayload(request, instanceId, prefix));

    /// <summary>202 Accepted with <c>Location</c> = <see cref="DurableManagementUrls.StatusQueryGetUri"/> and
    /// <paramref name="payload"/> as the body (for an app that serves its own status route).</summary>
    public static IResult CreateCheckStatusResponse(DurableManagementUrls payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        return new AcceptedWithLocation(payload.StatusQueryGetUri, Results.Json(payload, DurableJson.Options, statusCode: StatusCodes.Status202Accepted));
    }

    /// <summary>
    /// Maps the instance management routes under <paramref name="prefix"/>: <c>GET instances</c> (list: <c>runtimeStatus</c>,
    /// <c>createdTimeFrom</c>, <c>createdTimeTo</c>, <c>top</c>, continuation in the <c>x-ms-continuation-token</c> header),
    /// <c>GET instances/{id}</c>, <c>POST instances/{id}/raiseEvent/{name}</c>, <c>POST instances/{id}/terminate|suspend|resume</c>,
    /// <c>DELETE instances/{id}</c>. <paramref name="canSee"/> decides per caller and instance id; an instance the caller
    /// may not see answers 404, exactly as a missing one. Starting instances is left to the app's own endpoints.
    /// </summary>
    public static RouteGroupBuilder MapDurableManagement(this IEndpointRouteBuilder routes, DurableTaskClient client, string prefix = DefaultPrefix,
        Func<HttpContext, string, bool>? canSee = null)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(client);
        var visible = canSee ?? ((_, _) => true);
        var group = routes.MapGroup(prefix);

        group.MapGet("/instances", async (HttpContext http, string? runtimeStatus, DateTimeOffset? createdTimeFrom, DateTimeOffset? createdTimeTo, int? top, CancellationToken ct) =>
        {
            var statuses = new List<OrchestrationRuntimeStatus>();
            foreach (var name in (runtimeStatus ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!Enum.TryParse<OrchestrationRuntimeStatus>(name, ignoreCase: true, out var status))
                {
                    return Problem(StatusCodes.Status400BadRequest, $"runtimeStatus: '{name}' is not one of {string.Join(", ", Enum.GetNames<OrchestrationRuntimeStatus>())}.");
                }
                statuses.Add(status);
            }
            if (top is < 1 or > 1000)
            {
                return Problem(StatusCodes.Status400BadRequest, "top: must be between 1 and 1000.");
            }
            var page = await client.QueryInstancesAsync(new OrchestrationQuery
            {
                Statuses = statuses, CreatedFrom = createdTimeFrom, CreatedTo = createdTimeTo, PageSize = top ?? 100,
                ContinuationToken = http.Request.Headers["x-ms-continuation-token"].FirstOrDefault(),
            }, ct).ConfigureAwait(false);
            if (page.ContinuationToken is not null)
            {
                http.Response.Headers["x-ms-continuation-token"] = page.ContinuationToken;
            }
            return Results.Json(page.Instances.Where(i => visible(http, i.InstanceId)).Select(i => ToStatus(i)).ToList(), DurableJson.Options);
        });

        group.MapGet("/instances/{instanceId}", async (HttpContext http, string instanceId, bool? showInput, CancellationToken ct) =>
        {
            if (!visible(http, instanceId))
            {
                return NotFound(instanceId);
            }
            var state = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, ct).ConfigureAwait(false);
            if (state is null)
            {
                return NotFound(instanceId);
            }
            var body = Results.Json(ToStatus(state, showInput ?? true), DurableJson.Options,
                statusCode: state.IsCompleted ? StatusCodes.Status200OK : StatusCodes.Status202Accepted);
            return state.IsCompleted ? body : new AcceptedWithLocation(CreateHttpManagementPayload(http.Request, instanceId, prefix).StatusQueryGetUri, body);
        });

        group.MapPost("/instances/{instanceId}/raiseEvent/{eventName}", async (HttpContext http, string instanceId, string eventName, CancellationToken ct) =>
        {
            if (await FindAsync(http, instanceId, ct).ConfigureAwait(false) is { } missing)
            {
                return missing;
            }
            JsonElement? data;
            try
            {
                data = http.Request.ContentLength is 0 ? null : await JsonSerializer.DeserializeAsync<JsonElement>(http.Request.Body, DurableJson.Options, ct).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                return Problem(StatusCodes.Status400BadRequest, $"body: not valid JSON ({ex.Message}).");
            }
            await client.RaiseEventAsync(instanceId, eventName, data, ct).ConfigureAwait(false);
            return Results.Accepted();
        });

        group.MapPost("/instances/{instanceId}/terminate", (HttpContext http, string instanceId, string? reason, CancellationToken ct) =>
            CommandAsync(http, instanceId, ct, () => client.TerminateInstanceAsync(instanceId, reason ?? "Terminated", ct)));
        group.MapPost("/instances/{instanceId}/suspend", (HttpContext http, string instanceId, string? reason, CancellationToken ct) =>
            CommandAsync(http, instanceId, ct, () => client.SuspendInstanceAsync(instanceId, reason, ct)));
        group.MapPost("/instances/{instanceId}/resume", (HttpContext http, string instanceId, string? reason, CancellationToken ct) =>
            CommandAsync(http, instanceId, ct, () => client.ResumeInstanceAsync(instanceId, reason, ct)));

        group.MapDelete("/instances/{instanceId}", async (HttpContext http, string instanceId, CancellationToken ct) =>
        {
            if (!visible(http, instanceId))
            {
                return NotFound(instanceId);
            }
            try
            {
                return await client.PurgeInstanceAsync(instanceId, ct).ConfigureAwait(false)
                    ? Results.Json(new { instancesDeleted = 1 }, DurableJson.Options)
                    : NotFound(instanceId);
            }
            catch (InvalidOperationException ex)
            {
                return Problem(StatusCodes.Status409Conflict, ex.Message);
            }
        });
        return group;

        async Task<IResult?> FindAsync(HttpContext http, string instanceId, CancellationToken ct) =>
            visible(http, instanceId) && await client.GetInstanceAsync(instanceId, cancellationToken: ct).ConfigureAwait(false) is not null ? null : NotFound(instanceId);

        async Task<IResult> CommandAsync(HttpContext http, string instanceId, CancellationToken ct, Func<Task> command)
        {
            if (await FindAsync(http, instanceId, ct).ConfigureAwait(false) is { } missing)
            {
                return missing;
            }
            await command().ConfigureAwait(false);
            return Results.Accepted();
        }
    }

    private static object ToStatus(OrchestrationMetadata state, bool showInput = false) => new
    {
        name = state.Name,
        instanceId = state.InstanceId,
        runtimeStatus = state.RuntimeStatus.ToString(),
        input = showInput ? Raw(state.SerializedInput) : null,
        customStatus = Raw(state.SerializedCustomStatus),
        output = Raw(state.SerializedOutput),
        failureDetails = state.FailureDetails is { } f ? new { errorType = f.ErrorType, errorMessage = f.ErrorMessage } : null,
        createdTime = state.CreatedAt,
        lastUpdatedTime = state.LastUpdatedAt,
    };

    private static JsonElement? Raw(string? json) => json is null ? null : JsonDocument.Parse(json).RootElement.Clone();

    private static IResult NotFound(string instanceId) =>
        Problem(StatusCodes.Status404NotFound, $"No orchestration instance '{instanceId}' was found.");

    private static IResult Problem(int status, string detail) => Results.Problem(detail: detail, statusCode: status);

    /// <summary>A result that sets <c>Location</c> and then writes another result (202 with a JSON body).</summary>
    private sealed class AcceptedWithLocation(string location, IResult inner) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.Location = location;
            return inner.ExecuteAsync(httpContext);
        }
    }
}
