using System.Collections.Concurrent;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.Durable.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CreditFunctions.Durable;

/// <summary>
/// Runs a hub's work: orchestration steps and activities, one queue message at a time through
/// <see cref="HandleMessageAsync(QueueMessage, CancellationToken)"/>. In Azure a queue-triggered function on
/// <see cref="DurableTaskHub.WorkQueueName"/> calls it; locally and in tests <see cref="StartAsync"/> runs an
/// in-process pump. Any number of workers in any number of processes may share a hub: an instance is processed by
/// the worker holding its lease, activities by whichever worker receives them.
/// </summary>
public sealed partial class DurableWorker : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, InstanceRunner> _runners = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private QueueMessagePump? _pump;
    private int _sweepCounter;

    /// <summary>Creates a worker for <paramref name="hub"/> that runs the orchestrators and activities of <paramref name="registry"/>.</summary>
    public DurableWorker(DurableTaskHub hub, DurableTaskRegistry registry, IServiceProvider? services = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(hub);
        ArgumentNullException.ThrowIfNull(registry);
        Hub = hub;
        Registry = registry;
        Services = services ?? EmptyServices.Instance;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        Logger = LoggerFactory.CreateLogger<DurableWorker>();
        WorkerId = $"{Environment.MachineName}.{Environment.ProcessId}.{Guid.NewGuid().ToString("N")[..8]}";
    }

    /// <summary>The hub this worker serves.</summary>
    public DurableTaskHub Hub { get; }

    /// <summary>This worker's identity in instance leases.</summary>
    public string WorkerId { get; }

    internal DurableTaskRegistry Registry { get; }

    internal IServiceProvider Services { get; }

    internal ILoggerFactory LoggerFactory { get; }

    internal ILogger Logger { get; }

    internal DurableStore Store => Hub.Store;

    /// <summary>Starts an in-process pump on the work queue with <see cref="DurableTaskHubOptions.MaxConcurrentWorkItems"/>
    /// handlers at once (creating the hub's storage when missing).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_pump is not null)
        {
            throw new InvalidOperationException("The worker is already started.");
        }
        await Hub.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
        var options = Store.Options;
        _pump = new QueueMessagePump(Store.Work, HandleMessageAsync, new QueueMessagePumpOptions
        {
            BatchSize = Math.Min(32, options.MaxConcurrentWorkItems),
            MaxConcurrentCalls = options.MaxConcurrentWorkItems,
            VisibilityTimeout = options.WorkItemVisibilityTimeout,
            MaxDequeueCount = options.MaxDeliveryAttempts + 1, // activities turn their last delivery into a failure themselves
            RetryDelay = attempt => TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, attempt - 1))),
            MinPollingInterval = TimeSpan.FromMilliseconds(20),
            MaxPollingInterval = options.MaxPollingInterval,
            PoisonQueueName = Store.Poison.Name,
            OnHandlerFailed = (message, ex) => Log.MessageFailed(Logger, ex, message.MessageId, message.DequeueCount),
            OnPoisoned = message => Log.MessagePoisoned(Logger, message.MessageId, Store.Poison.Name),
            OnStorageError = ex => Log.StorageError(Logger, ex),
        });
        Store.MessageSent += _pump.Wake;
        await _pump.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops receiving and waits for the running work to finish.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_pump is not null)
        {
            Store.MessageSent -= _pump.Wake;
            await _pump.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_pump is not null)
        {
            await _pump.DisposeAsync().ConfigureAwait(false);
        }
        _stopping.Dispose();
    }

    /// <summary>Handles one message of the work queue. Returning means the message may be deleted; throwing means it
    /// must be delivered again. Idempotent: a redelivered message changes nothing twice.</summary>
    public Task HandleMessageAsync(QueueMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return HandleMessageAsync(message.Body, message.DequeueCount, cancellationToken);
    }

    /// <summary>Handles one message body as the Functions host delivers it, with its dequeue count.</summary>
    public async Task HandleMessageAsync(BinaryData body, long dequeueCount, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        var message = await Store.ParseAsync(body, cancellationToken).ConfigureAwait(false);
        if (message.Kind == MessageKind.Activity)
        {
            await RunActivitiesAsync(message.Items ?? [message], dequeueCount, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (message.Kind == MessageKind.TimerFired && message.FireAt is { } fireAt && fireAt > Store.Now)
        {
            // A timer further away than a queue can delay a message arrives early: send it on for the rest.
            await Store.SendAsync(message, fireAt - Store.Now, cancellationToken).ConfigureAwait(false);
            return;
        }
        await DeliverToInstanceAsync(message.Items ?? [message], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Gives messages of one instance to its runner (in one step when they arrive together) and sends back
    /// to the queue, with a delay, those it cannot take now.</summary>
    private async Task DeliverToInstanceAsync(IReadOnlyList<WorkMessage> messages, CancellationToken cancellationToken)
    {
        var outcomes = await Task.WhenAll(messages.Select(PostAsync)).ConfigureAwait(false);
        var later = new List<WorkMessage>();
        var early = new List<WorkMessage>();
        var laterDelay = TimeSpan.Zero;
        var earlyDelay = TimeSpan.Zero;
        for (var i = 0; i < messages.Count; i++)
        {
            switch (outcomes[i].Kind)
            {
                case DeliveryOutcomeKind.SendAgain:
                    later.Add(messages[i]);
                    laterDelay = outcomes[i].Delay > laterDelay ? outcomes[i].Delay : laterDelay;
                    break;
                case DeliveryOutcomeKind.Early:
                    early.Add(messages[i] with { Attempt = messages[i].Attempt + 1 });
                    earlyDelay = outcomes[i].Delay > earlyDelay ? outcomes[i].Delay : earlyDelay;
                    break;
            }
        }
        if (later.Count > 0)
        {
            await Store.SendPackedAsync(later, DurableStore.ItemsPerMessageMax, laterDelay, cancellationToken).ConfigureAwait(false);
        }
        if (early.Count > 0)
        {
            await Store.SendPackedAsync(early, DurableStore.ItemsPerMessageMax, earlyDelay, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<DeliveryOutcome> PostAsync(WorkMessage message)
    {
        while (true)
        {
            var runner = _runners.GetOrAdd(message.InstanceId, id => new InstanceRunner(this, id));
            var posted = runner.Post(message);
            if (posted is not null)
            {
                SweepNow();
                return await posted.ConfigureAwait(false);
            }
            _runners.TryRemove(new KeyValuePair<string, InstanceRunner>(message.InstanceId, runner));
        }
    }

    /// <summary>Runs the activity calls of one message (all of one instance) together and returns their results.</summary>
    private async Task RunActivitiesAsync(List<WorkMessage> calls, long dequeueCount, CancellationToken cancellationToken)
    {
        var results = await Task.WhenAll(calls.Select(call => dequeueCount > Store.Options.MaxDeliveryAttempts
            ? Task.FromResult(Failed(call, new TaskFailureDetails("WorkItemAbandoned",
                $"Activity '{call.Name}' did not complete in {Store.Options.MaxDeliveryAttempts} deliveries (its worker stopped each time).")))
            : ExecuteActivityAsync(call, dequeueCount))).ConfigureAwait(false);
        var runner = _runners.GetValueOrDefault(calls[0].InstanceId);
        if (runner is not null && runner.HoldsLease(Store.Now))
        {
            // This worker owns the orchestration: hand the results over in memory. The work item is deleted only after
            // the results are committed, so a crash before that reruns the activities instead of losing their results.
            await DeliverToInstanceAsync(results, cancellationToken).ConfigureAwait(false);
            return;
        }
        await Store.SendPackedAsync(results, DurableStore.ItemsPerMessageMax, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
    }

    private async Task<WorkMessage> ExecuteActivityAsync(WorkMessage message, long dequeueCount)
    {
        var name = message.Name ?? string.Empty;
        var activity = Registry.CreateActivity(name, Services);
        if (activity is null)
        {
            return Failed(message, new TaskFailureDetails(typeof(InvalidOperationException).FullName!, $"No activity named '{name}' is registered with this worker."));
        }
        try
        {
            var input = DurableJson.Deserialize(message.Payload, activity.InputType);
            var context = new TaskActivityContext(name, message.InstanceId, message.StepKey ?? $"{message.InstanceId}#{message.Generation}.{message.Step}",
                Math.Max(1, message.Attempt), dequeueCount, _stopping.Token);
            var output = await activity.RunAsync(context, input).ConfigureAwait(false);
            return new WorkMessage
            {
                Kind = MessageKind.TaskCompleted, InstanceId = message.InstanceId, Generation = message.Generation, Step = message.Step,
                Payload = DurableJson.Serialize(output),
            };
        }
        catch (Exception ex)
        {
            Log.ActivityFailed(Logger, ex, name, message.InstanceId);
            return Failed(message, TaskFailureDetails.FromException(ex));
        }
    }

    private static WorkMessage Failed(WorkMessage message, TaskFailureDetails failure) => new()
    {
        Kind = MessageKind.TaskFailed, InstanceId = message.InstanceId, Generation = message.Generation, Step = message.Step, Failure = failure,
    };

    internal void Retire(InstanceRunner runner)
    {
        if (runner.TryRetire(Store.Now, force: true))
        {
            _runners.TryRemove(new KeyValuePair<string, InstanceRunner>(runner.InstanceId, runner));
        }
    }

    private void SweepNow()
    {
        if (Interlocked.Increment(ref _sweepCounter) % 1024 != 0)
        {
            return;
        }
        var now = Store.Now;
        foreach (var runner in _runners.Values)
        {
            if (now - runner.LastUsed > Store.Options.LeaseDuration * 2 && runner.TryRetire(now))
            {
                _runners.TryRemove(new KeyValuePair<string, InstanceRunner>(runner.InstanceId, runner));
            }
        }
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public static EmptyServices Instance { get; } = new();

        public object? GetService(Type serviceType) => null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Durable work message {MessageId} failed on delivery {DequeueCount}")]
        public static partial void MessageFailed(ILogger logger, Exception exception, string messageId, long dequeueCount);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Durable work message {MessageId} moved to {PoisonQueue}")]
        public static partial void MessagePoisoned(ILogger logger, string messageId, string poisonQueue);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Storage error in the durable work pump")]
        public static partial void StorageError(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Activity {Activity} of {InstanceId} failed")]
        public static partial void ActivityFailed(ILogger logger, Exception exception, string activity, string instanceId);
    }
}
