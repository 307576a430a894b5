using System.Text.Json;
using CreditFunctions.Ledger;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;

namespace CreditFunctions.Waterfall;

/// <summary>Input of <see cref="WaterfallFunctions.RunChunkAsync"/>: some people of a run.</summary>
/// <param name="Run">The run (its people list left empty: the chunk carries its own).</param>
/// <param name="People">The chunk's people.</param>
/// <param name="ChargeKeyPrefix">Every charge of the chunk starts its key with this (instance and chunk).</param>
public sealed record WaterfallChunk(WaterfallRun Run, IReadOnlyList<WaterfallPerson> People, string ChargeKeyPrefix);

/// <summary>Input of <see cref="WaterfallFunctions.ReleaseHoldsAsync"/>.</summary>
public sealed record HoldsToRelease(string TeamId, string UserId, IReadOnlyList<string> HoldIds);

/// <summary>Input of <see cref="WaterfallFunctions.SendWebhookAsync"/>.</summary>
public sealed record WebhookDelivery(string TeamId, string Url, string Body, string DeliveryId);

/// <summary>
/// The bulk waterfall as Durable Functions: the orchestrator splits the people into chunks of
/// <see cref="ChunkSize"/>, fans the chunks out to <see cref="RunChunkAsync"/> activities (each runs the whole
/// waterfall for its people through <see cref="WaterfallEngine"/>, vendors called concurrently inside it), reports
/// progress as custom status, releases what is left of the run's holds on every way the run ends, and posts the
/// signed results to the run's webhook. A run of 1,000 people is 20 chunk activities, not thousands of steps.
/// </summary>
public sealed class WaterfallFunctions(WaterfallEngine engine, LedgerService ledger, WebhookSender webhooks)
{
    /// <summary>The orchestrator's name.</summary>
    public const string OrchestratorName = "Waterfall";

    /// <summary>The chunk activity's name.</summary>
    public const string ChunkActivity = "WaterfallChunk";

    /// <summary>The hold-release activity's name.</summary>
    public const string ReleaseHoldsActivity = "WaterfallReleaseHolds";

    /// <summary>The webhook activity's name.</summary>
    public const string WebhookActivity = "WaterfallWebhook";

    /// <summary>People per chunk activity.</summary>
    public const int ChunkSize = 50;

    private static readonly TaskOptions s_chunkRetry = TaskOptions.FromRetryPolicy(new RetryPolicy(5, TimeSpan.FromSeconds(1), backoffCoefficient: 2));
    private static readonly TaskOptions s_webhookRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(6, TimeSpan.FromSeconds(2), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromMinutes(1)));

    /// <summary>The orchestrator: replay code, all I/O in activities.</summary>
    [Function(OrchestratorName)]
    public static async Task<WaterfallOutput> RunAsync([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var input = context.GetInput<WaterfallRun>() ?? throw new InvalidOperationException("A waterfall run needs its input.");
        var results = new PersonResult?[input.People.Count];
        var progress = new WaterfallProgress(input.People.Count, 0, 0, 0, 0m);
        context.SetCustomStatus(progress);
        var withoutPeople = input with { People = [] };
        try
        {
            var chunks = input.People.Chunk(ChunkSize).Select((people, i) => RunOneAsync(i, people)).ToList();
            await Task.WhenAll(chunks);
        }
        finally
        {
            // Holds are released however the chunks ended (a failed chunk fails the run after this).
            if (input.HoldIds is { Count: > 0 } holds)
            {
                await context.CallActivityAsync<int>(ReleaseHoldsActivity, new HoldsToRelease(input.TeamId, input.UserId, [.. holds.Values]), s_chunkRetry);
            }
        }
        var output = new WaterfallOutput(input.RunId, [.. results.Select(r => r!)], progress, null);
        if (input.WebhookUrl is { } url)
        {
            var body = JsonSerializer.Serialize(new { type = "waterfall.completed", runId = input.RunId, totals = progress, people = output.People }, JsonSerializerOptions.Web);
            try
            {
                // A refusal (egress guard, redirect) comes back as a result, so it is not retried.
                var sent = await context.CallActivityAsync<WebhookResult>(WebhookActivity,
                    new WebhookDelivery(input.TeamId, url, body, context.InstanceId + ":webhook"), s_webhookRetry);
                output = sent.Delivered ? output with { Webhook = "delivered" } : output with { Webhook = "failed", WebhookError = sent.Refused };
            }
            catch (TaskFailedException failed)
            {
                output = output with { Webhook = "failed", WebhookError = failed.FailureDetails.ErrorMessage };
            }
        }
        return output;

        async Task RunOneAsync(int chunk, WaterfallPerson[] people)
        {
            var done = await context.CallActivityAsync<IReadOnlyList<PersonResult>>(ChunkActivity,
                new WaterfallChunk(withoutPeople, people, $"wf:{context.InstanceId}"), s_chunkRetry);
            foreach (var result in done)
            {
                results[result.Index] = result;
                progress = progress with
                {
                    Done = progress.Done + 1,
                    EmailsFound = progress.EmailsFound + (IsHit(result.Email) ? 1 : 0),
                    MobilesFound = progress.MobilesFound + (IsHit(result.Mobile) ? 1 : 0),
                    CreditsCharged = progress.CreditsCharged + (result.Email?.Credits ?? 0) + (result.Mobile?.Credits ?? 0),
                };
            }
            context.SetCustomStatus(progress);
        }
    }

    /// <summary>Runs one chunk of people. At-least-once: a repeat charges nothing more (keys per person and data).</summary>
    [Function(ChunkActivity)]
    public Task<IReadOnlyList<PersonResult>> RunChunkAsync([ActivityTrigger] WaterfallChunk chunk, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        return engine.RunAsync(chunk.Run, chunk.People, chunk.ChargeKeyPrefix, cancellationToken);
    }

    /// <summary>Releases what is left of a run's holds (voiding a partly drawn hold releases only the rest).</summary>
    [Function(ReleaseHoldsActivity)]
    public async Task<int> ReleaseHoldsAsync([ActivityTrigger] HoldsToRelease input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var released = 0;
        foreach (var hold in input.HoldIds)
        {
            var result = await ledger.VoidHoldAsync(new VoidRequest(input.TeamId, input.UserId, hold, $"release:{hold}")).ConfigureAwait(false);
            released += result.Status == LedgerStatus.HoldVoided ? 1 : 0;
        }
        return released;
    }

    /// <summary>Posts a run's results to its webhook, signed; a non-2xx answer throws so the orchestration retries, a
    /// refused URL or address is returned as such.</summary>
    [Function(WebhookActivity)]
    public Task<WebhookResult> SendWebhookAsync([ActivityTrigger] WebhookDelivery input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return webhooks.SendAsync(input.TeamId, input.Url, input.Body, input.DeliveryId, cancellationToken);
    }

    private static bool IsHit(DataResult? result) => result?.Status is "found" or "already_owned";
}
