using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Durable.Runtime;

/// <summary>What became of a message given to an instance.</summary>
internal readonly record struct DeliveryOutcome(DeliveryOutcomeKind Kind, TimeSpan Delay = default)
{
    public static DeliveryOutcome Done { get; } = new(DeliveryOutcomeKind.Done);

    public static DeliveryOutcome Later(TimeSpan delay) => new(DeliveryOutcomeKind.SendAgain, delay);
}

internal enum DeliveryOutcomeKind
{
    /// <summary>Recorded, or recognised as a duplicate or as meant for a finished instance.</summary>
    Done,

    /// <summary>Another worker owns the instance: send it again after the delay.</summary>
    SendAgain,

    /// <summary>A result for a step not yet scheduled (after a crash between sending and committing): send it again
    /// after the delay, counting the tries.</summary>
    Early,
}

/// <summary>
/// A worker's in-memory handle on one instance: a mailbox and, while this worker holds the instance's lease, its
/// executor and meta row (with ETag). Messages that arrive while a step is being processed are batched into the next
/// step, so many results cost one commit.
/// </summary>
/// <remarks>
/// Checkpoint order of a step, and what a crash between the steps does:
/// (1) the new messages (work items, timers, child starts, the parent's result) are sent;
/// (2) history and meta commit in one transaction under the meta row's ETag;
/// (3) the messages that caused the step are completed (deleted by the pump or the host).
/// A crash after (1) leaves messages for steps history does not know: results for them are recognised as early and
/// sent again later, and the replayed step sends the same work again (activities run at least once). A crash after
/// (2) redelivers the causing messages, which history recognises as duplicates.
/// </remarks>
internal sealed partial class InstanceRunner(DurableWorker worker, string instanceId)
{
    private const int EarlyRetriesMax = 30;
    private static readonly TimeSpan s_liveOwnerRetryDelay = TimeSpan.FromMilliseconds(200);

    private readonly object _gate = new();
    private readonly List<Delivery> _mailbox = [];
    private bool _running;
    private bool _retired;
    private InstanceRow? _meta;
    private OrchestrationExecutor? _executor;

    public string InstanceId { get; } = instanceId;

    public DateTimeOffset LastUsed { get; private set; } = worker.Store.Now;

    private DurableStore Store => worker.Store;

    private DurableTaskHubOptions Options => worker.Store.Options;

    /// <summary>Whether this worker owns the instance for at least a little while longer.</summary>
    public bool HoldsLease(DateTimeOffset now)
    {
        var meta = Volatile.Read(ref _meta);
        return meta is not null && meta.LeaseOwner == worker.WorkerId && meta.LeaseUntil > now + Options.LeaseDuration / 5;
    }

    /// <summary>Queues a message for the instance's next step; null when this runner was retired (get a new one).</summary>
    public Task<DeliveryOutcome>? Post(WorkMessage message)
    {
        var delivery = new Delivery(message, new TaskCompletionSource<DeliveryOutcome>(TaskCreationOptions.RunContinuationsAsynchronously));
        var start = false;
        lock (_gate)
        {
            if (_retired)
            {
                return null;
            }
            _mailbox.Add(delivery);
            LastUsed = Store.Now;
            if (!_running)
            {
                _running = start = true;
            }
        }
        if (start)
        {
            _ = Task.Run(LoopAsync);
        }
        return delivery.Completion.Task;
    }

    /// <summary>Retires the runner when it is idle and its lease has run out; true when retired.</summary>
    public bool TryRetire(DateTimeOffset now, bool force = false)
    {
        lock (_gate)
        {
            if (_running || _mailbox.Count > 0 || (!force && HoldsLease(now)))
            {
                return false;
            }
            _retired = true;
            return true;
        }
    }

    private async Task LoopAsync()
    {
        while (true)
        {
            List<Delivery> batch;
            lock (_gate)
            {
                if (_mailbox.Count == 0)
                {
                    _running = false;
                    return;
                }
                batch = [.. _mailbox];
                _mailbox.Clear();
            }
            try
            {
                await ProcessAsync(batch).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Reset();
                Log.StepFailed(worker.Logger, ex, InstanceId);
                foreach (var delivery in batch)
                {
                    delivery.Completion.TrySetException(ex);
                }
            }
        }
    }

    private void Reset()
    {
        _executor = null;
        Volatile.Write(ref _meta, null);
    }

    private async Task ProcessAsync(List<Delivery> batch)
    {
        var ct = CancellationToken.None;
        var now = Store.Now;
        if (!HoldsLease(now))
        {
            var owned = await AcquireAsync(now, ct).ConfigureAwait(false);
            if (owned is not null)
            {
                CompleteAll(batch, owned.Value);
                return;
            }
        }
        var meta = _meta!;
        if (meta.IsTerminal)
        {
            CompleteAll(batch, DeliveryOutcome.Done);
            worker.Retire(this);
            return;
        }

        var executor = _executor;
        var status = meta.Status;
        var inbox = await ReadInboxAsync(meta, ct).ConfigureAwait(false);
        var held = new List<WorkMessage>();
        var work = new Queue<(WorkMessage Message, Delivery? Delivery)>();
        if (status != OrchestrationRuntimeStatus.Suspended)
        {
            foreach (var message in inbox)
            {
                work.Enqueue((message, null));
            }
        }
        else
        {
            held.AddRange(inbox);
        }
        foreach (var delivery in batch)
        {
            work.Enqueue((delivery.Message, delivery));
        }

        var outcomes = new Dictionary<Delivery, DeliveryOutcome>();
        string? terminationReason = null;
        executor?.BeginEpisode(now);
        while (work.TryDequeue(out var item))
        {
            var (message, delivery) = item;
            var outcome = DeliveryOutcome.Done;
            if (terminationReason is not null || executor is null)
            {
                // Finished in this step, or the orchestrator is not registered here (failed below): nothing to apply.
            }
            else if (message.Kind == MessageKind.Terminate)
            {
                terminationReason = message.Payload ?? "\"Terminated\"";
            }
            else if (message.Kind == MessageKind.Suspend)
            {
                if (status is OrchestrationRuntimeStatus.Running or OrchestrationRuntimeStatus.Pending)
                {
                    status = OrchestrationRuntimeStatus.Suspended;
                    executor.RecordStatusChange(RecordKind.Suspended);
                }
            }
            else if (message.Kind == MessageKind.Resume)
            {
                if (status == OrchestrationRuntimeStatus.Suspended)
                {
                    status = executor.IsStarted ? OrchestrationRuntimeStatus.Running : OrchestrationRuntimeStatus.Pending;
                    executor.RecordStatusChange(RecordKind.Resumed);
                    foreach (var waiting in held)
                    {
                        work.Enqueue((waiting, null));
                    }
                    held.Clear();
                }
            }
            else if (status == OrchestrationRuntimeStatus.Suspended)
            {
                held.Add(message);
            }
            else if (message.Kind == MessageKind.Start)
            {
                if (message.Generation > meta.Generation)
                {
                    outcome = DeliveryOutcome.Later(TimeSpan.FromSeconds(1));
                }
                else if (message.Generation == meta.Generation && !executor.IsStarted)
                {
                    executor.Start();
                    status = OrchestrationRuntimeStatus.Running;
                }
            }
            else if (!executor.IsStarted)
            {
                outcome = delivery is null ? outcome : Early(message);
            }
            else
            {
                var result = executor.Apply(message);
                if (result == ApplyResult.Early && delivery is not null)
                {
                    outcome = Early(message);
                }
            }
            if (delivery is not null)
            {
                outcomes[delivery] = outcome;
            }
        }

        await FinishStepAsync(meta, executor, status, terminationReason, held, now, ct).ConfigureAwait(false);
        foreach (var delivery in batch)
        {
            delivery.Completion.TrySetResult(outcomes.GetValueOrDefault(delivery, DeliveryOutcome.Done));
        }
        if (_meta?.IsTerminal == true)
        {
            worker.Retire(this);
        }
    }

    private DeliveryOutcome Early(WorkMessage message)
    {
        if (message.Attempt >= EarlyRetriesMax)
        {
            Log.EarlyMessageDropped(worker.Logger, InstanceId, message.Kind, message.Step);
            return DeliveryOutcome.Done;
        }
        return new DeliveryOutcome(DeliveryOutcomeKind.Early, TimeSpan.FromSeconds(1));
    }

    private async Task FinishStepAsync(InstanceRow meta, OrchestrationExecutor? executor, OrchestrationRuntimeStatus status,
        string? terminationReason, List<WorkMessage> held, DateTimeOffset now, CancellationToken ct)
    {
        List<HistoryRecord> records = executor?.TakeNewRecords() ?? [];
        var commands = executor?.TakeCommands() ?? [];
        string? output = null;
        TaskFailureDetails? failure = null;
        var continueAsNew = false;
        if (executor is null)
        {
            status = OrchestrationRuntimeStatus.Failed;
            failure = new TaskFailureDetails(typeof(InvalidOperationException).FullName!, $"No orchestrator named '{meta.Name}' is registered with this worker.");
        }
        else if (terminationReason is not null)
        {
            status = OrchestrationRuntimeStatus.Terminated;
            output = terminationReason;
        }
        else if (executor.State == ExecutionState.Completed)
        {
            status = OrchestrationRuntimeStatus.Completed;
            output = executor.Output;
        }
        else if (executor.State == ExecutionState.Failed)
        {
            status = OrchestrationRuntimeStatus.Failed;
            failure = executor.Failure;
        }
        else if (executor.State == ExecutionState.ContinuedAsNew)
        {
            continueAsNew = true;
        }
        var terminal = status is OrchestrationRuntimeStatus.Completed or OrchestrationRuntimeStatus.Failed or OrchestrationRuntimeStatus.Terminated;
        var nothingChanged = records.Count == 0 && !terminal && !continueAsNew && status == meta.Status && held.Count == 0
            && meta.Inbox is null && meta.InboxBlob is null && executor?.CustomStatusChanged != true
            && meta.LeaseUntil - now > Options.LeaseDuration / 2;
        if (nothingChanged)
        {
            return; // only duplicates or early messages: no write needed
        }

        // (1) Send what the step produced. Work of a step that also finished the instance is not sent.
        if (!terminal && !continueAsNew)
        {
            await SendCommandsAsync(meta, commands, now, ct).ConfigureAwait(false);
        }
        if (terminal && meta.ParentId is not null)
        {
            await Store.SendAsync(new WorkMessage
            {
                Kind = status == OrchestrationRuntimeStatus.Completed ? MessageKind.TaskCompleted : MessageKind.TaskFailed,
                InstanceId = meta.ParentId,
                Generation = meta.ParentGeneration,
                Step = meta.ParentStep,
                Payload = status == OrchestrationRuntimeStatus.Completed ? output : null,
                Failure = status switch
                {
                    OrchestrationRuntimeStatus.Completed => null,
                    OrchestrationRuntimeStatus.Terminated => new TaskFailureDetails("Terminated", $"Sub-orchestration '{meta.PartitionKey}' was terminated: {output}"),
                    _ => failure,
                },
            }, TimeSpan.Zero, ct).ConfigureAwait(false);
        }
        if (continueAsNew)
        {
            held.AddRange(executor!.UnconsumedEvents.Select(e => new WorkMessage
            {
                Kind = MessageKind.Event, InstanceId = meta.PartitionKey, Name = e.Name, Payload = e.Payload, MessageId = e.MessageId,
            }));
            await Store.SendAsync(new WorkMessage { Kind = MessageKind.Start, InstanceId = meta.PartitionKey, Generation = meta.Generation + 1 }, TimeSpan.Zero, ct)
                .ConfigureAwait(false);
        }

        // (2) Commit history and state under the ETag.
        var updated = Copy(meta);
        updated.Status = continueAsNew ? OrchestrationRuntimeStatus.Running : status;
        updated.LastUpdatedAt = now;
        updated.LeaseOwner = terminal ? null : worker.WorkerId;
        updated.LeaseUntil = terminal ? null : now + Options.LeaseDuration;
        if (executor?.CustomStatusChanged == true)
        {
            (updated.CustomStatus, updated.CustomStatusBlob) = await Store.StoreMetaValueAsync(meta.PartitionKey, executor.CustomStatus, ct).ConfigureAwait(false);
        }
        if (terminal)
        {
            (updated.Output, updated.OutputBlob) = await Store.StoreMetaValueAsync(meta.PartitionKey, output, ct).ConfigureAwait(false);
            updated.Failure = failure is null ? null : JsonSerializer.Serialize(failure, DurableJson.Options);
        }
        (updated.Inbox, updated.InboxBlob) = held.Count == 0
            ? (null, null)
            : await Store.StoreMetaValueAsync(meta.PartitionKey, JsonSerializer.Serialize(held, DurableJson.Options), ct).ConfigureAwait(false);
        if (continueAsNew)
        {
            records = [];
            updated.Generation++;
            updated.NextRow = 0;
            (updated.Input, updated.InputBlob) = await Store.StoreMetaValueAsync(meta.PartitionKey, executor!.ContinueAsNewInput, ct).ConfigureAwait(false);
        }
        var etag = await Store.CommitAsync(updated, records, ct).ConfigureAwait(false);
        if (etag is null)
        {
            throw new LeaseLostException(InstanceId);
        }
        updated.ETag = etag.Value;
        Volatile.Write(ref _meta, updated);
        if (continueAsNew)
        {
            _executor = CreateExecutor(updated, updated.Input);
            await Store.DeleteHistoryBeforeAsync(meta.PartitionKey, updated.Generation, ct).ConfigureAwait(false);
        }
        else if (executor is not null)
        {
            executor.CustomStatusChanged = false;
        }
        if (terminal)
        {
            Log.InstanceFinished(worker.Logger, InstanceId, status);
            Store.RaiseInstanceFinished(InstanceId);
        }
    }

    private async Task SendCommandsAsync(InstanceRow meta, List<OutboundCommand> commands, DateTimeOffset now, CancellationToken ct)
    {
        var calls = commands.Where(c => c.Kind == RecordKind.ActivityScheduled).Select(command => new WorkMessage
        {
            Kind = MessageKind.Activity, InstanceId = meta.PartitionKey, Generation = meta.Generation, Step = command.Step,
            Name = command.Name, Payload = command.Input, Attempt = command.Attempt, StepKey = command.StepKey,
        }).ToList();
        // A fan-out's calls go several to a message (one message per 32 calls or fewer, so up to 32 calls keep a
        // message each and a small fan-out still spreads over every worker).
        var perMessage = Math.Clamp((calls.Count + 31) / 32, 1, DurableStore.ItemsPerMessageMax);
        var sendingCalls = Store.SendPackedAsync(calls, perMessage, TimeSpan.Zero, ct);
        var others = commands.Where(c => c.Kind != RecordKind.ActivityScheduled);
        await Parallel.ForEachAsync(others, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (command, token) =>
        {
            switch (command.Kind)
            {
                case RecordKind.TimerCreated:
                    await Store.SendAsync(new WorkMessage
                    {
                        Kind = MessageKind.TimerFired, InstanceId = meta.PartitionKey, Generation = meta.Generation, Step = command.Step, FireAt = command.FireAt,
                    }, command.FireAt!.Value - now, token).ConfigureAwait(false);
                    break;
                case RecordKind.SubOrchestrationScheduled:
                    var (input, inputBlob) = await Store.StoreMetaValueAsync(command.ChildInstanceId!, command.Input, token).ConfigureAwait(false);
                    var child = new InstanceRow
                    {
                        PartitionKey = command.ChildInstanceId!, Name = command.Name!, Status = OrchestrationRuntimeStatus.Pending,
                        Input = input, InputBlob = inputBlob, CreatedAt = now, LastUpdatedAt = now,
                        ParentId = meta.PartitionKey, ParentStep = command.Step, ParentGeneration = meta.Generation,
                    };
                    if (await Store.TryAddInstanceAsync(child, token).ConfigureAwait(false))
                    {
                        await Store.SendAsync(new WorkMessage { Kind = MessageKind.Start, InstanceId = child.PartitionKey }, TimeSpan.Zero, token).ConfigureAwait(false);
                    }
                    else
                    {
                        // The id exists: a replayed step re-sends the start (harmless), or another instance holds the id.
                        var existing = await Store.GetInstanceAsync(child.PartitionKey, token).ConfigureAwait(false);
                        if (existing?.ParentId == meta.PartitionKey && existing.ParentStep == command.Step)
                        {
                            await Store.SendAsync(new WorkMessage { Kind = MessageKind.Start, InstanceId = child.PartitionKey }, TimeSpan.Zero, token).ConfigureAwait(false);
                        }
                        else
                        {
                            await Store.SendAsync(new WorkMessage
                            {
                                Kind = MessageKind.TaskFailed, InstanceId = meta.PartitionKey, Generation = meta.Generation, Step = command.Step,
                                Failure = new TaskFailureDetails(typeof(InvalidOperationException).FullName!, $"An instance with id '{child.PartitionKey}' already exists."),
                            }, TimeSpan.Zero, token).ConfigureAwait(false);
                        }
                    }
                    break;
            }
        }).ConfigureAwait(false);
        await sendingCalls.ConfigureAwait(false);
    }

    /// <summary>Takes the lease and brings the executor up to date; returns an outcome for the whole batch when the
    /// instance cannot be processed here now.</summary>
    private async Task<DeliveryOutcome?> AcquireAsync(DateTimeOffset now, CancellationToken ct)
    {
        var meta = await Store.GetInstanceAsync(InstanceId, ct).ConfigureAwait(false);
        if (meta is null)
        {
            Reset();
            return DeliveryOutcome.Done; // purged, or never created: nothing to deliver to
        }
        if (meta.LeaseOwner is { } owner && owner != worker.WorkerId && meta.LeaseUntil > now)
        {
            Reset();
            var wait = meta.LeaseUntil.Value - now;
            // An owner that renewed its lease within the last half of it is alive and stepping: send the message back
            // soon, for the owner to receive (with several workers, each receive may go to any of them). Otherwise the
            // owner may be gone: look again at most a second later, until its lease runs out.
            return DeliveryOutcome.Later(wait > Options.LeaseDuration / 2 ? s_liveOwnerRetryDelay
                : wait < TimeSpan.FromSeconds(1) ? wait : TimeSpan.FromSeconds(1));
        }
        if (!meta.IsTerminal)
        {
            meta.LeaseOwner = worker.WorkerId;
            meta.LeaseUntil = now + Options.LeaseDuration;
            var etag = await Store.TryUpdateInstanceAsync(meta, ct).ConfigureAwait(false);
            if (etag is null)
            {
                Reset();
                return DeliveryOutcome.Later(TimeSpan.FromMilliseconds(200));
            }
            meta.ETag = etag.Value;
        }
        var cached = _meta;
        if (_executor is not null && cached is not null && cached.Generation == meta.Generation && cached.NextRow <= meta.NextRow)
        {
            if (cached.NextRow < meta.NextRow)
            {
                // Another worker advanced the instance while we did not own it: replay just what it added.
                _executor.LoadHistory(await Store.LoadHistoryAsync(InstanceId, meta.Generation, cached.NextRow, ct).ConfigureAwait(false));
            }
        }
        else
        {
            var input = await Store.ReadMetaValueAsync(meta.Input, meta.InputBlob, ct).ConfigureAwait(false);
            _executor = CreateExecutor(meta, input);
            if (_executor is not null && meta.NextRow > 0)
            {
                _executor.LoadHistory(await Store.LoadHistoryAsync(InstanceId, meta.Generation, 0, ct).ConfigureAwait(false));
            }
        }
        if (_executor is not null)
        {
            var status = await Store.ReadMetaValueAsync(meta.CustomStatus, meta.CustomStatusBlob, ct).ConfigureAwait(false);
            _executor.RestoreCustomStatus(status);
        }
        Volatile.Write(ref _meta, meta);
        return null;
    }

    private OrchestrationExecutor? CreateExecutor(InstanceRow meta, string? input)
    {
        var orchestrator = worker.Registry.CreateOrchestrator(meta.Name, worker.Services);
        return orchestrator is null ? null : new OrchestrationExecutor(InstanceId, meta.Name, meta.Generation, input, orchestrator, worker.LoggerFactory);
    }

    private async Task<List<WorkMessage>> ReadInboxAsync(InstanceRow meta, CancellationToken ct)
    {
        var json = await Store.ReadMetaValueAsync(meta.Inbox, meta.InboxBlob, ct).ConfigureAwait(false);
        return json is null ? [] : JsonSerializer.Deserialize<List<WorkMessage>>(json, DurableJson.Options) ?? [];
    }

    private static void CompleteAll(List<Delivery> batch, DeliveryOutcome outcome)
    {
        foreach (var delivery in batch)
        {
            delivery.Completion.TrySetResult(outcome);
        }
    }

    private static InstanceRow Copy(InstanceRow row) => row.Clone();

    private sealed record Delivery(WorkMessage Message, TaskCompletionSource<DeliveryOutcome> Completion);

    private static partial class Log
    {
        [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "A step of orchestration {InstanceId} failed; its messages will be delivered again")]
        public static partial void StepFailed(ILogger logger, Exception exception, string instanceId);

        [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Orchestration {InstanceId}: dropped a {Kind} message for step {Step} that never matched a scheduled step")]
        public static partial void EarlyMessageDropped(ILogger logger, string instanceId, MessageKind kind, int step);

        [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Orchestration {InstanceId} finished: {Status}")]
        public static partial void InstanceFinished(ILogger logger, string instanceId, OrchestrationRuntimeStatus status);
    }
}

/// <summary>Another worker took the instance over while this one was processing a step; the step is discarded.</summary>
internal sealed class LeaseLostException(string instanceId) : Exception($"The lease on orchestration '{instanceId}' was lost; the step will be redone.");
