using System.Text.Json;
using Azure;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Durable.Runtime;

namespace CreditFunctions.Durable;

/// <summary>Options of a new instance.</summary>
public sealed record StartOrchestrationOptions
{
    /// <summary>The instance id; a new GUID (32 hex digits) when null. Starting an id that exists returns it unchanged.</summary>
    public string? InstanceId { get; init; }

    /// <summary>When to start; now when null.</summary>
    public DateTimeOffset? StartAt { get; init; }
}

/// <summary>Which instances <see cref="DurableTaskClient.QueryInstancesAsync"/> lists.</summary>
public sealed record OrchestrationQuery
{
    /// <summary>Only these statuses; all when null or empty.</summary>
    public IReadOnlyCollection<OrchestrationRuntimeStatus>? Statuses { get; init; }

    /// <summary>Only instances created at or after this time.</summary>
    public DateTimeOffset? CreatedFrom { get; init; }

    /// <summary>Only instances created before this time.</summary>
    public DateTimeOffset? CreatedTo { get; init; }

    /// <summary>Only instances whose id starts with this prefix.</summary>
    public string? InstanceIdPrefix { get; init; }

    /// <summary>Instances per page, 1 to 1,000; 100 by default.</summary>
    public int PageSize { get; init; } = 100;

    /// <summary>The token of the previous page, to continue.</summary>
    public string? ContinuationToken { get; init; }

    /// <summary>Whether to fill in inputs and outputs.</summary>
    public bool FetchInputsAndOutputs { get; init; }
}

/// <summary>One page of instances and the token of the next page (null on the last).</summary>
public sealed record OrchestrationQueryPage(IReadOnlyList<OrchestrationMetadata> Instances, string? ContinuationToken);

/// <summary>A message an operator can inspect in the poison queue and send back to the work queue.</summary>
public sealed record PoisonMessage(string MessageId, string InstanceId, string Kind, string Body, long DequeueCount, DateTimeOffset? InsertedOn);

/// <summary>
/// Starts and manages orchestration instances of a hub. Commands (events, terminate, suspend, resume) are messages:
/// they take effect when a worker processes them, in the order the instance receives them.
/// </summary>
public sealed class DurableTaskClient
{
    private readonly DurableStore _store;

    internal DurableTaskClient(DurableStore store) => _store = store;

    /// <summary>
    /// Schedules a new instance of orchestrator <paramref name="name"/>. Idempotent by instance id: when the id exists
    /// the existing instance is left as it is and its id returned, so a retried webhook starts one instance.
    /// </summary>
    /// <returns>The instance id.</returns>
    /// <exception cref="ArgumentException">The name or the instance id is invalid.</exception>
    public async Task<string> ScheduleNewOrchestrationInstanceAsync(string name, object? input = null, StartOrchestrationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var instanceId = options?.InstanceId ?? Guid.NewGuid().ToString("N");
        InstanceIds.Validate(instanceId, nameof(options));
        var now = _store.Now;
        var (inline, blob) = await _store.StoreMetaValueAsync(instanceId, DurableJson.Serialize(input), cancellationToken).ConfigureAwait(false);
        var row = new InstanceRow
        {
            PartitionKey = instanceId, Name = name, Status = OrchestrationRuntimeStatus.Pending, Input = inline, InputBlob = blob,
            CreatedAt = now, LastUpdatedAt = now,
        };
        if (!await _store.TryAddInstanceAsync(row, cancellationToken).ConfigureAwait(false))
        {
            var existing = await _store.GetInstanceAsync(instanceId, cancellationToken).ConfigureAwait(false);
            if (existing is not { Status: OrchestrationRuntimeStatus.Pending, NextRow: 0, Generation: 0 })
            {
                return instanceId;
            }
            // Still pending: the first start may have died before sending its message. A second start message is harmless.
        }
        var delay = options?.StartAt is { } at ? at - now : TimeSpan.Zero;
        await _store.SendAsync(new WorkMessage { Kind = MessageKind.Start, InstanceId = instanceId }, delay, cancellationToken).ConfigureAwait(false);
        return instanceId;
    }

    /// <summary>The instance's state, or null when no such instance exists.</summary>
    public async Task<OrchestrationMetadata?> GetInstanceAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellationToken = default)
    {
        if (!InstanceIds.IsValid(instanceId))
        {
            return null;
        }
        var row = await _store.GetInstanceAsync(instanceId, cancellationToken).ConfigureAwait(false);
        return row is null ? null : await ToMetadataAsync(row, getInputsAndOutputs, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits until the instance completes, fails or is terminated, polling its state; when a worker of this
    /// process finishes the instance, the state is read again at once rather than at the next poll.</summary>
    /// <exception cref="InvalidOperationException">The instance does not exist.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public async Task<OrchestrationMetadata> WaitForInstanceCompletionAsync(string instanceId, bool getInputsAndOutputs = true,
        CancellationToken cancellationToken = default)
    {
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnFinished(string id)
        {
            if (string.Equals(id, instanceId, StringComparison.Ordinal))
            {
                finished.TrySetResult();
            }
        }
        // Subscribed before the first read: a finish between a read and the wait is not missed.
        _store.InstanceFinished += OnFinished;
        try
        {
            var delay = TimeSpan.FromMilliseconds(20);
            while (true)
            {
                if (finished.Task.IsCompleted)
                {
                    finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                var row = (InstanceIds.IsValid(instanceId) ? await _store.GetInstanceAsync(instanceId, cancellationToken).ConfigureAwait(false) : null)
                    ?? throw new InvalidOperationException($"No orchestration instance '{instanceId}' exists.");
                if (row.IsTerminal)
                {
                    // The row read is the finished state: inputs and outputs come from it (a blob read only when stored in one).
                    return await ToMetadataAsync(row, getInputsAndOutputs, cancellationToken).ConfigureAwait(false);
                }
                using (var poll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    var wait = Task.Delay(delay, poll.Token);
                    await Task.WhenAny(finished.Task, wait).ConfigureAwait(false);
                    await poll.CancelAsync().ConfigureAwait(false);
                }
                cancellationToken.ThrowIfCancellationRequested();
                delay = TimeSpan.FromMilliseconds(Math.Min(500, delay.TotalMilliseconds * 1.5));
            }
        }
        finally
        {
            _store.InstanceFinished -= OnFinished;
        }
    }

    /// <summary>Sends the event <paramref name="eventName"/> to the instance. Delivered once even if the message is
    /// redelivered; buffered when the orchestrator is not waiting yet; ignored once the instance has finished.</summary>
    public Task RaiseEventAsync(string instanceId, string eventName, object? eventData = null, CancellationToken cancellationToken = default)
    {
        InstanceIds.Validate(instanceId, nameof(instanceId));
        ArgumentException.ThrowIfNullOrWhiteSpace(eventName);
        return _store.SendAsync(new WorkMessage
        {
            Kind = MessageKind.Event, InstanceId = instanceId, Name = eventName, Payload = DurableJson.Serialize(eventData), MessageId = Guid.NewGuid().ToString("N"),
        }, TimeSpan.Zero, cancellationToken);
    }

    /// <summary>Terminates the instance (its status becomes Terminated with <paramref name="reason"/> as output).
    /// Running activities finish but their results are ignored.</summary>
    public Task TerminateInstanceAsync(string instanceId, object? reason = null, CancellationToken cancellationToken = default) =>
        SendCommandAsync(instanceId, MessageKind.Terminate, DurableJson.Serialize(reason ?? "Terminated"), cancellationToken);

    /// <summary>Suspends the instance: results and events that arrive meanwhile are kept and applied on resume.</summary>
    public Task SuspendInstanceAsync(string instanceId, string? reason = null, CancellationToken cancellationToken = default) =>
        SendCommandAsync(instanceId, MessageKind.Suspend, DurableJson.Serialize(reason), cancellationToken);

    /// <summary>Resumes a suspended instance.</summary>
    public Task ResumeInstanceAsync(string instanceId, string? reason = null, CancellationToken cancellationToken = default) =>
        SendCommandAsync(instanceId, MessageKind.Resume, DurableJson.Serialize(reason), cancellationToken);

    /// <summary>
    /// Deletes every row and blob of a finished instance. Messages still queued for it (late results, timers) are
    /// discarded when delivered, since the instance no longer exists.
    /// </summary>
    /// <returns>False when no such instance exists.</returns>
    /// <exception cref="InvalidOperationException">The instance has not finished; terminate it first.</exception>
    public async Task<bool> PurgeInstanceAsync(string instanceId, CancellationToken cancellationToken = default)
    {
        var row = InstanceIds.IsValid(instanceId) ? await _store.GetInstanceAsync(instanceId, cancellationToken).ConfigureAwait(false) : null;
        if (row is null)
        {
            return false;
        }
        if (!row.IsTerminal)
        {
            throw new InvalidOperationException($"Instance '{instanceId}' is {row.Status}; only completed, failed or terminated instances can be purged.");
        }
        await _store.PurgeAsync(instanceId, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Lists instances by status, creation time and id prefix, one page at a time.</summary>
    public async Task<OrchestrationQueryPage> QueryInstancesAsync(OrchestrationQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.PageSize, 1, nameof(query));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.PageSize, 1000, nameof(query));
        var filter = TableQueryFilter.Create($"RowKey eq {DurableStore.MetaRow}");
        if (query.Statuses is { Count: > 0 } statuses)
        {
            filter += " and (" + string.Join(" or ", statuses.Select(s => TableQueryFilter.Create($"Status eq {s.ToString()}"))) + ")";
        }
        if (query.CreatedFrom is { } from)
        {
            filter += TableQueryFilter.Create($" and CreatedAt ge {from}");
        }
        if (query.CreatedTo is { } to)
        {
            filter += TableQueryFilter.Create($" and CreatedAt lt {to}");
        }
        if (query.InstanceIdPrefix is { Length: > 0 } prefix)
        {
            filter += TableQueryFilter.Create($" and PartitionKey ge {prefix} and PartitionKey lt {prefix + '\uffff'}");
        }
        await foreach (var page in _store.Instances.QueryAsync<InstanceRow>(filter, query.PageSize, cancellationToken: cancellationToken)
            .AsPages(query.ContinuationToken, query.PageSize).ConfigureAwait(false))
        {
            var items = new List<OrchestrationMetadata>(page.Values.Count);
            foreach (var row in page.Values)
            {
                items.Add(await ToMetadataAsync(row, query.FetchInputsAndOutputs, cancellationToken).ConfigureAwait(false));
            }
            return new OrchestrationQueryPage(items, page.ContinuationToken);
        }
        return new OrchestrationQueryPage([], null);
    }

    /// <summary>The messages in the hub's poison queue (at most 32, oldest first), for an operator to inspect.</summary>
    public async Task<IReadOnlyList<PoisonMessage>> GetPoisonMessagesAsync(CancellationToken cancellationToken = default)
    {
        var peeked = await _store.Poison.PeekMessagesAsync(32, cancellationToken).ConfigureAwait(false);
        return peeked.Value.Select(m =>
        {
            var text = m.MessageText;
            var (instance, kind) = Describe(text);
            return new PoisonMessage(m.MessageId, instance, kind, text, m.DequeueCount, m.InsertedOn);
        }).ToList();
    }

    /// <summary>Moves every message of the poison queue back to the work queue, for another round of deliveries;
    /// returns how many moved.</summary>
    public async Task<int> ReplayPoisonMessagesAsync(CancellationToken cancellationToken = default)
    {
        var moved = 0;
        while (true)
        {
            var batch = (await _store.Poison.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(1), cancellationToken).ConfigureAwait(false)).Value;
            if (batch.Length == 0)
            {
                return moved;
            }
            foreach (var message in batch)
            {
                await _store.Work.SendMessageAsync(message.Body, null, TimeSpan.FromSeconds(-1), cancellationToken).ConfigureAwait(false);
                await _store.Poison.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellationToken).ConfigureAwait(false);
                moved++;
            }
        }
    }

    private Task SendCommandAsync(string instanceId, MessageKind kind, string? payload, CancellationToken cancellationToken)
    {
        InstanceIds.Validate(instanceId, nameof(instanceId));
        return _store.SendAsync(new WorkMessage { Kind = kind, InstanceId = instanceId, Payload = payload, MessageId = Guid.NewGuid().ToString("N") },
            TimeSpan.Zero, cancellationToken);
    }

    private async Task<OrchestrationMetadata> ToMetadataAsync(InstanceRow row, bool withData, CancellationToken cancellationToken) => new()
    {
        InstanceId = row.PartitionKey,
        Name = row.Name,
        RuntimeStatus = row.Status,
        CreatedAt = row.CreatedAt,
        LastUpdatedAt = row.LastUpdatedAt,
        SerializedInput = withData ? await _store.ReadMetaValueAsync(row.Input, row.InputBlob, cancellationToken).ConfigureAwait(false) : null,
        SerializedOutput = withData ? await _store.ReadMetaValueAsync(row.Output, row.OutputBlob, cancellationToken).ConfigureAwait(false) : null,
        SerializedCustomStatus = await _store.ReadMetaValueAsync(row.CustomStatus, row.CustomStatusBlob, cancellationToken).ConfigureAwait(false),
        FailureDetails = row.FailureDetails,
    };

    private static (string InstanceId, string Kind) Describe(string text)
    {
        try
        {
            var message = JsonSerializer.Deserialize<WorkMessage>(text, DurableJson.Options);
            return (message?.InstanceId ?? "?", message?.Kind.ToString() ?? "?");
        }
        catch (JsonException)
        {
            return ("?", "unreadable");
        }
    }
}
