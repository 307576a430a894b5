using Azure.Storage.Blobs;
using CreditFunctions.Waterfall;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace CreditFunctions.CsvJobs;

/// <summary>Input of the quote orchestration: one version of a job's file.</summary>
public sealed record CsvQuoteInput(string TeamId, string JobId, string Version);

/// <summary>The processing orchestration's state, carried across <c>ContinueAsNew</c>: chunks before
/// <paramref name="NextChunk"/> are done.</summary>
public sealed record CsvRunState(string TeamId, string JobId, int NextChunk, int Chunks, CsvTotals Totals);

/// <summary>Input of a chunk activity.</summary>
public sealed record CsvChunkInput(string TeamId, string JobId, int Chunk);

/// <summary>Input of the end activity.</summary>
public sealed record CsvFinishInput(string TeamId, string JobId, string Status, IReadOnlyList<int> ChunksDone, CsvTotals Totals, string? Error);

/// <summary>Input of the checkpoint activity.</summary>
public sealed record CsvCheckpointInput(string TeamId, string JobId, CsvTotals Totals);

/// <summary>Live progress of a run (custom status).</summary>
public sealed record CsvProgress(int ChunksDone, int Chunks, CsvTotals Totals, bool Cancelling);

/// <summary>
/// CSV jobs as Durable Functions. The blob trigger starts the <see cref="QuoteOrchestrator"/> once per version of a job's
/// file; a start (API, or automatic) starts the <see cref="RunOrchestrator"/>: a duplicate map, then chunks of
/// <see cref="CsvJobProcessor.ChunkRows"/> rows fanned out <see cref="ChunksInFlightMax"/> at a time, each through the
/// waterfall engine, then the end — results committed from the chunks that finished, the holds' rest released on every
/// way the run ends (completed, cancelled, failed), and the signed webhook (the waterfall's own webhook activity).
/// A generation of <see cref="ChunksPerGeneration"/> chunks ends in <c>ContinueAsNew</c>, so a million rows keep the
/// history to a few hundred events.
/// </summary>
public sealed class CsvJobFunctions(CsvJobService service, CsvJobProcessor processor)
{
    /// <summary>The quote orchestrator.</summary>
    public const string QuoteOrchestrator = "CsvJobQuote";

    /// <summary>The processing orchestrator.</summary>
    public const string RunOrchestrator = "CsvJobRun";

    /// <summary>The event a cancel raises.</summary>
    public const string CancelEvent = "cancel";

    /// <summary>Chunk activities under way at once.</summary>
    public const int ChunksInFlightMax = 4;

    /// <summary>Chunks per orchestration generation.</summary>
    public const int ChunksPerGeneration = 100;

    private static readonly TaskOptions s_retry = TaskOptions.FromRetryPolicy(new RetryPolicy(5, TimeSpan.FromSeconds(1), backoffCoefficient: 2));
    private static readonly TaskOptions s_webhookRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(6, TimeSpan.FromSeconds(2), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromMinutes(1)));

    /// <summary>A version of an upload arrived (once per blob version; a redelivery starts nothing new).</summary>
    [Function("csv-upload")]
    public Task OnUploadAsync([BlobTrigger(CsvJobProcessor.UploadContainer + "/{name}", Connection = "AzureWebJobsStorage")] BlobClient blob, string name,
        [DurableClient] DurableTaskClient durable, CancellationToken cancellationToken) =>
        service.OnUploadAsync(durable, name, blob, cancellationToken);

    /// <summary>Quotes one version; starts the job when it asked to and the quote is within its cap.</summary>
    [Function(QuoteOrchestrator)]
    public static async Task<string> QuoteAsync([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var input = context.GetInput<CsvQuoteInput>() ?? throw new InvalidOperationException("A quote needs its input.");
        var autoStart = await context.CallActivityAsync<bool>(nameof(QuoteActivityAsync), input, s_retry);
        return autoStart ? await context.CallActivityAsync<string>(nameof(AutoStartActivityAsync), input, s_retry) : "quoted";
    }

    /// <summary>The quote's work.</summary>
    [Function(nameof(QuoteActivityAsync))]
    public Task<bool> QuoteActivityAsync([ActivityTrigger] CsvQuoteInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return processor.QuoteAsync(input.TeamId, input.JobId, input.Version, cancellationToken);
    }

    /// <summary>An automatic start: the same start as the API's; a refusal (short balance) leaves the job quoted, saying why.</summary>
    [Function(nameof(AutoStartActivityAsync))]
    public async Task<string> AutoStartActivityAsync([ActivityTrigger] CsvQuoteInput input, [DurableClient] DurableTaskClient durable,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var job = await service.GetAsync(input.TeamId, input.JobId, cancellationToken).ConfigureAwait(false);
        if (job is null || job.QuotedVersion != input.Version)
        {
            return "superseded";
        }
        try
        {
            return (await service.StartAsync(durable, job, cancellationToken).ConfigureAwait(false)).Status;
        }
        catch (CsvStartRefusedException refused)
        {
            await service.NoteAsync(input.TeamId, input.JobId, "Not started automatically: " + refused.Message, cancellationToken).ConfigureAwait(false);
            return refused.Problem;
        }
    }

    /// <summary>The processing orchestrator: replay code, all I/O in activities.</summary>
    [Function(RunOrchestrator)]
    public static async Task<CsvTotals> RunAsync([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var state = context.GetInput<CsvRunState>() ?? throw new InvalidOperationException("A run needs its input.");
        var chunks = state.Chunks;
        if (state.NextChunk == 0)
        {
            chunks = await context.CallActivityAsync<int>(nameof(PrepareActivityAsync), new CsvChunkInput(state.TeamId, state.JobId, 0), s_retry);
        }
        var cancel = context.WaitForExternalEvent<bool>(CancelEvent);
        var totals = state.Totals;
        var next = state.NextChunk;
        var end = Math.Min(chunks, next + ChunksPerGeneration);
        var done = new List<int>();
        var inFlight = new Dictionary<Task<CsvTotals>, int>();
        string? failure = null;
        while (failure is null && (next < end || inFlight.Count > 0))
        {
            while (inFlight.Count < ChunksInFlightMax && next < end && !cancel.IsCompleted)
            {
                inFlight[context.CallActivityAsync<CsvTotals>(nameof(ChunkActivityAsync), new CsvChunkInput(state.TeamId, state.JobId, next), s_retry)] = next;
                next++;
            }
            if (inFlight.Count == 0)
            {
                break;
            }
            var finished = await Task.WhenAny(inFlight.Keys);
            var chunk = inFlight[finished];
            inFlight.Remove(finished);
            try
            {
                totals = totals.Add(await finished);
                done.Add(chunk);
            }
            catch (TaskFailedException failed)
            {
                failure = $"Chunk {chunk} failed: {failed.FailureDetails.ErrorMessage}";
            }
            context.SetCustomStatus(new CsvProgress(state.NextChunk + done.Count, chunks, totals, cancel.IsCompleted));
        }
        foreach (var (task, chunk) in inFlight)
        {
            // After a failure, the chunks under way still finish (their charges are real) before the end.
            try
            {
                totals = totals.Add(await task);
                done.Add(chunk);
            }
            catch (TaskFailedException)
            {
                // Already failing.
            }
        }
        var cancelled = cancel.IsCompleted;
        if (failure is null && !cancelled && next < chunks)
        {
            cancelled = await context.CallActivityAsync<bool>(nameof(CheckpointActivityAsync), new CsvCheckpointInput(state.TeamId, state.JobId, totals), s_retry);
            if (!cancelled)
            {
                context.ContinueAsNew(state with { NextChunk = next, Chunks = chunks, Totals = totals });
                return totals;
            }
        }
        var status = failure is not null ? CsvJobStatus.Failed : cancelled ? CsvJobStatus.Cancelled : CsvJobStatus.Completed;
        IReadOnlyList<int> chunksDone = [.. Enumerable.Range(0, state.NextChunk), .. done];
        var webhook = await context.CallActivityAsync<string?>(nameof(FinishActivityAsync),
            new CsvFinishInput(state.TeamId, state.JobId, status, chunksDone, totals, failure), s_retry);
        if (webhook is not null)
        {
            string outcome;
            try
            {
                var sent = await context.CallActivityAsync<WebhookResult>(WaterfallFunctions.WebhookActivity,
                    new WebhookDelivery(state.TeamId, await context.CallActivityAsync<string>(nameof(WebhookUrlActivityAsync), new CsvChunkInput(state.TeamId, state.JobId, 0)),
                        webhook, context.InstanceId + ":webhook"), s_webhookRetry);
                outcome = sent.Delivered ? "delivered" : "failed";
            }
            catch (TaskFailedException)
            {
                outcome = "failed";
            }
            await context.CallActivityAsync(nameof(WebhookRecordedActivityAsync), new CsvFinishInput(state.TeamId, state.JobId, outcome, [], totals, null), s_retry);
        }
        return totals;
    }

    /// <summary>The duplicate map; the number of chunks.</summary>
    [Function(nameof(PrepareActivityAsync))]
    public Task<int> PrepareActivityAsync([ActivityTrigger] CsvChunkInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return processor.PrepareAsync(input.TeamId, input.JobId, cancellationToken);
    }

    /// <summary>One chunk of rows (at-least-once: a repeat charges nothing more and replaces its block).</summary>
    [Function(nameof(ChunkActivityAsync))]
    public Task<CsvTotals> ChunkActivityAsync([ActivityTrigger] CsvChunkInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return processor.RunChunkAsync(input.TeamId, input.JobId, input.Chunk, cancellationToken);
    }

    /// <summary>Progress between generations; true when a cancel was asked for.</summary>
    [Function(nameof(CheckpointActivityAsync))]
    public Task<bool> CheckpointActivityAsync([ActivityTrigger] CsvCheckpointInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return processor.CheckpointAsync(input.TeamId, input.JobId, input.Totals, cancellationToken);
    }

    /// <summary>The end: results committed, holds released, outcome recorded; the webhook body or null.</summary>
    [Function(nameof(FinishActivityAsync))]
    public Task<string?> FinishActivityAsync([ActivityTrigger] CsvFinishInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return processor.FinishAsync(input.TeamId, input.JobId, input.Status, input.ChunksDone, input.Totals, input.Error, cancellationToken);
    }

    /// <summary>The job's webhook URL (kept out of the orchestration's input).</summary>
    [Function(nameof(WebhookUrlActivityAsync))]
    public async Task<string> WebhookUrlActivityAsync([ActivityTrigger] CsvChunkInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return (await service.GetAsync(input.TeamId, input.JobId, cancellationToken).ConfigureAwait(false))?.WebhookUrl ?? string.Empty;
    }

    /// <summary>Records the webhook's outcome.</summary>
    [Function(nameof(WebhookRecordedActivityAsync))]
    public Task WebhookRecordedActivityAsync([ActivityTrigger] CsvFinishInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return processor.RecordWebhookAsync(input.TeamId, input.JobId, input.Status, cancellationToken);
    }
}
