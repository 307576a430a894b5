using System.Text.Json;
using CreditFunctions.Api;
using CreditFunctions.Auth;
using CreditFunctions.CsvJobs;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace CreditFunctions.Platform;

/// <summary>The management URLs of one run, shaped like Durable Functions' async HTTP payload, but on the API's own
/// team-scoped routes (the extension's <c>runtime/webhooks/durabletask</c> URLs need the system key and reach every
/// team's instances: customers never get them).</summary>
public sealed record ManagementUrls(
    string Id,
    string StatusQueryGetUri,
    string SendEventPostUri,
    string TerminatePostUri,
    string SuspendPostUri,
    string ResumePostUri,
    string PurgeHistoryDeleteUri);

/// <summary>
/// <c>/api/v1/orchestrations/instances/{instanceId}</c>: status (<c>GET</c>, 202 while running), <c>DELETE</c> (purge a
/// finished run), <c>POST …/raiseEvent/{name}</c>, <c>…/terminate</c>, <c>…/suspend</c>, <c>…/resume</c>, for the
/// caller's own team's runs only: an instance of another team answers 404 exactly like a missing one. Terminating a
/// waterfall releases what is left of its holds at once.
/// </summary>
public sealed class OrchestrationFunctions(ApiGate gate, WaterfallService waterfall, CsvJobProcessor csvJobs)
{
    private const string Prefix = "/api/v1/orchestrations";
    private const string InstanceRoute = "v1/orchestrations/instances/{instanceId}";

    /// <summary>The run's management URLs, absolute, on the request's host.</summary>
    public static ManagementUrls ManagementUrls(HttpRequest request, string instanceId)
    {
        ArgumentNullException.ThrowIfNull(request);
        var instance = $"{request.Scheme}://{request.Host}{request.PathBase}{Prefix}/instances/{Uri.EscapeDataString(instanceId)}";
        return new ManagementUrls(instanceId, instance, instance + "/raiseEvent/{eventName}", instance + "/terminate?reason={text}",
            instance + "/suspend?reason={text}", instance + "/resume?reason={text}", instance);
    }

    /// <summary>202 Accepted with <c>Location</c> = the status URL and <paramref name="urls"/> as the body.</summary>
    public static IResult CheckStatusResponse(ManagementUrls urls)
    {
        ArgumentNullException.ThrowIfNull(urls);
        return new WithLocation(urls.StatusQueryGetUri, Results.Json(urls, statusCode: StatusCodes.Status202Accepted));
    }

    /// <summary>True when <paramref name="instanceId"/> is one of <paramref name="teamId"/>'s runs
    /// (<c>{kind}:{teamId}:{runId}</c>).</summary>
    public static bool BelongsTo(string instanceId, string teamId) =>
        instanceId.Split(':') is [_, var team, _] && string.Equals(team, teamId, StringComparison.Ordinal);

    [Function("orchestration-instance")]
    public Task<IActionResult> InstanceAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "delete", Route = InstanceRoute)] HttpRequest request, string instanceId,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (!BelongsTo(instanceId, caller.TeamId))
            {
                return NotFound(instanceId);
            }
            if (HttpMethods.IsDelete(request.Method))
            {
                if (await FindAsync(durable, caller, instanceId, ct) is null)
                {
                    return NotFound(instanceId);
                }
                var purged = await durable.PurgeInstanceAsync(instanceId, cancellation: ct);
                return purged.PurgedInstanceCount > 0 ? Results.Ok(new { instancesDeleted = purged.PurgedInstanceCount }) : NotFound(instanceId);
            }
            var state = await FindAsync(durable, caller, instanceId, ct);
            if (state is null)
            {
                return NotFound(instanceId);
            }
            // A run's input carries people's data: shown only when asked for.
            var showInput = bool.TryParse(request.Query["showInput"], out var show) && show;
            var body = Results.Json(new
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
            }, statusCode: state.IsCompleted ? StatusCodes.Status200OK : StatusCodes.Status202Accepted);
            return state.IsCompleted ? body : new WithLocation(ManagementUrls(request, instanceId).StatusQueryGetUri, body);
        });

    [Function("orchestration-raise-event")]
    public Task<IActionResult> RaiseEventAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = InstanceRoute + "/raiseEvent/{eventName}")] HttpRequest request, string instanceId,
        string eventName, [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await FindAsync(durable, caller, instanceId, ct) is null)
            {
                return NotFound(instanceId);
            }
            JsonElement? data;
            try
            {
                data = request.ContentLength is 0 ? null : await JsonSerializer.DeserializeAsync<JsonElement>(request.Body, JsonSerializerOptions.Web, ct);
            }
            catch (JsonException)
            {
                return Problems.Validation("body", "is not valid JSON");
            }
            await durable.RaiseEventAsync(instanceId, eventName, data, ct);
            return Results.Accepted();
        });

    [Function("orchestration-terminate")]
    public Task<IActionResult> TerminateAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = InstanceRoute + "/terminate")] HttpRequest request, string instanceId,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await FindAsync(durable, caller, instanceId, ct) is not { } state)
            {
                return NotFound(instanceId);
            }
            await durable.TerminateInstanceAsync(instanceId, new TerminateInstanceOptions { Output = Reason(request) ?? "Terminated" }, ct);
            // A terminated run runs no more code of its own: what it held is released here, not a day later at expiry.
            if (state.Name == WaterfallFunctions.OrchestratorName && state.ReadInputAs<WaterfallRun>() is { HoldIds: { Count: > 0 } holds } run)
            {
                await waterfall.ReleaseAsync(run.TeamId, run.UserId, holds.Values);
            }
            if (state.Name == CsvJobFunctions.RunOrchestrator && state.ReadInputAs<CsvRunState>() is { } job)
            {
                await csvJobs.EndTerminatedAsync(job.TeamId, job.JobId, state.ReadCustomStatusAs<CsvProgress>()?.Totals ?? job.Totals, ct);
            }
            return Results.Accepted();
        });

    [Function("orchestration-suspend")]
    public Task<IActionResult> SuspendAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = InstanceRoute + "/suspend")] HttpRequest request, string instanceId,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        CommandAsync(request, durable, instanceId, () => durable.SuspendInstanceAsync(instanceId, Reason(request), ct), ct);

    [Function("orchestration-resume")]
    public Task<IActionResult> ResumeAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = InstanceRoute + "/resume")] HttpRequest request, string instanceId,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        CommandAsync(request, durable, instanceId, () => durable.ResumeInstanceAsync(instanceId, Reason(request), ct), ct);

    private Task<IActionResult> CommandAsync(HttpRequest request, DurableTaskClient durable, string instanceId, Func<Task> command, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await FindAsync(durable, caller, instanceId, ct) is null)
            {
                return NotFound(instanceId);
            }
            await command();
            return Results.Accepted();
        });

    /// <summary>The run, when the caller may see it: a run of the caller's team, and for a member one they started.</summary>
    private static async Task<OrchestrationMetadata?> FindAsync(DurableTaskClient durable, CallerContext caller, string instanceId, CancellationToken ct)
    {
        if (!BelongsTo(instanceId, caller.TeamId)
            || await durable.GetInstanceAsync(instanceId, getInputsAndOutputs: true, ct).ConfigureAwait(false) is not { } state)
        {
            return null;
        }
        return caller.IsAdmin || StartedBy(state) == caller.UserId ? state : null;
    }

    private static string? StartedBy(OrchestrationMetadata state)
    {
        try
        {
            return state.ReadInputAs<StartedByInput>()?.UserId;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>What every team run's input carries: the user who started it.</summary>
    private sealed record StartedByInput(string? UserId);

    private static string? Reason(HttpRequest request) => request.Query["reason"] is { Count: > 0 } reason ? reason.ToString() : null;

    private static JsonElement? Raw(string? json) => json is null ? null : JsonDocument.Parse(json).RootElement.Clone();

    private static IResult NotFound(string instanceId) => Problems.NotFound($"No orchestration instance '{instanceId}' was found.");

    /// <summary>Sets <c>Location</c>, then writes another result.</summary>
    private sealed class WithLocation(string location, IResult inner) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.Location = location;
            return inner.ExecuteAsync(httpContext);
        }
    }
}
