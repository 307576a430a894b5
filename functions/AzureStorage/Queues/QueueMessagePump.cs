using Azure;
using System.Diagnostics;

namespace CreditFunctions.AzureStorage.Queues;

/// <summary>Handles one received message. Returning completes the message (it is deleted); throwing fails this
/// delivery (the message becomes visible again after a back-off, and goes to the poison queue after
/// <see cref="QueueMessagePumpOptions.MaxDequeueCount"/> deliveries).</summary>
public delegate Task QueueMessageHandler(QueueMessage message, CancellationToken cancellationToken);

/// <summary>How a <see cref="QueueMessagePump"/> receives and retries, with the Functions host's queue rules as defaults.</summary>
public sealed record QueueMessagePumpOptions
{
    /// <summary>Messages asked for per receive call, 1 to 32; 32 by default.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Handlers running at once; 16 by default. A new batch is received when fewer than half are busy.</summary>
    public int MaxConcurrentCalls { get; init; } = 16;

    /// <summary>How long a received message stays invisible to other receivers; renewed while its handler runs.
    /// 30 seconds by default.</summary>
    public TimeSpan VisibilityTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Deliveries before a failing message moves to the poison queue; 5 by default, as the Functions host.</summary>
    public int MaxDequeueCount { get; init; } = 5;

    /// <summary>How long a failed message stays invisible before its next delivery, by the dequeue count of the
    /// failed delivery. By default 0 (immediately visible again), like the Functions host's default
    /// <c>visibilityTimeout</c>.</summary>
    public Func<long, TimeSpan> RetryDelay { get; init; } = _ => TimeSpan.Zero;

    /// <summary>The shortest wait between receives of an empty queue; 50 ms by default.</summary>
    public TimeSpan MinPollingInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest wait between receives of an empty queue (the wait doubles while the queue stays empty);
    /// 2 seconds by default. <see cref="QueueMessagePump.Wake"/> cuts a wait short.</summary>
    public TimeSpan MaxPollingInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The queue that receives messages after their last failed delivery; <c>&lt;queue&gt;-poison</c> by default.</summary>
    public string? PoisonQueueName { get; init; }

    /// <summary>Called when a handler throws (the message will be retried or poisoned); for logging.</summary>
    public Action<QueueMessage, Exception>? OnHandlerFailed { get; init; }

    /// <summary>Called when a message moves to the poison queue; for logging.</summary>
    public Action<QueueMessage>? OnPoisoned { get; init; }

    /// <summary>Called when receiving, deleting or renewing fails at the storage level; the pump goes on.</summary>
    public Action<Exception>? OnStorageError { get; init; }
}

/// <summary>
/// Receives messages from a queue and runs a handler for each, with bounded concurrency and the Functions host's
/// delivery rules: a message is deleted after its handler returns; a failed delivery makes it visible again after
/// <see cref="QueueMessagePumpOptions.RetryDelay"/>; after <see cref="QueueMessagePumpOptions.MaxDequeueCount"/>
/// deliveries it is copied to the poison queue and deleted. Delivery is at least once: a handler that outlives its
/// visibility (a process killed mid-handler) is delivered again, so handlers must be idempotent.
/// </summary>
public sealed class QueueMessagePump : IAsyncDisposable
{
    private readonly QueueClient _queue;
    private readonly QueueClient _poison;
    private readonly QueueMessageHandler _handler;
    private readonly QueueMessagePumpOptions _options;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _running = [];
    private readonly object _gate = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private long _completed;
    private long _failed;
    private long _poisoned;

    /// <summary>Creates a pump for <paramref name="queue"/>; call <see cref="StartAsync"/> to begin.</summary>
    public QueueMessagePump(QueueClient queue, QueueMessageHandler handler, QueueMessagePumpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(handler);
        _queue = queue;
        _handler = handler;
        _options = options ?? new QueueMessagePumpOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.BatchSize, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(_options.BatchSize, 32, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxConcurrentCalls, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxDequeueCount, 1, nameof(options));
        _poison = queue.GetSiblingQueue(_options.PoisonQueueName ?? queue.Name + "-poison");
        _slots = new SemaphoreSlim(_options.MaxConcurrentCalls);
    }

    /// <summary>The queue this pump drains.</summary>
    public string QueueName => _queue.Name;

    /// <summary>Messages whose handler returned.</summary>
    public long CompletedCount => Interlocked.Read(ref _completed);

    /// <summary>Deliveries whose handler threw.</summary>
    public long FailedCount => Interlocked.Read(ref _failed);

    /// <summary>Messages moved to the poison queue.</summary>
    public long PoisonedCount => Interlocked.Read(ref _poisoned);

    /// <summary>Creates the queue and its poison queue when missing, then starts receiving in the background.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("The pump is already started.");
        }
        await _queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await _poison.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(() => ReceiveLoopAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>Ends a polling wait now: call after sending to this queue from the same process, so the message is
    /// picked up without waiting for the next poll.</summary>
    public void Wake()
    {
        lock (_gate)
        {
            _wake.TrySetResult();
        }
    }

    /// <summary>Stops receiving and waits for the running handlers to finish (a graceful drain). Handlers see
    /// <paramref name="cancellationToken"/> cancelled only when the drain itself is cancelled.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        Task[] running;
        lock (_gate)
        {
            running = [.. _running];
        }
        await Task.WhenAll(running).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _slots.Dispose();
    }

    private async Task ReceiveLoopAsync(CancellationToken stopping)
    {
        var idle = _options.MinPollingInterval;
        while (!stopping.IsCancellationRequested)
        {
            Task wake;
            lock (_gate)
            {
                if (_wake.Task.IsCompleted)
                {
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                wake = _wake.Task;
            }
            // Receive again once at least half the slots are free (the host's newBatchThreshold).
            var free = await WaitForFreeSlotsAsync(stopping).ConfigureAwait(false);
            if (free == 0)
            {
                break;
            }
            QueueMessage[] messages;
            try
            {
                messages = (await _queue.ReceiveMessagesAsync(Math.Min(free, _options.BatchSize), _options.VisibilityTimeout, stopping)
                    .ConfigureAwait(false)).Value;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or IOException)
            {
                _options.OnStorageError?.Invoke(ex);
                messages = [];
            }
            if (messages.Length == 0)
            {
                try
                {
                    await Task.WhenAny(wake, Task.Delay(idle, stopping)).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                idle = wake.IsCompleted ? _options.MinPollingInterval : Min(idle * 2, _options.MaxPollingInterval);
                continue;
            }
            idle = _options.MinPollingInterval;
            var drained = messages.Length < Math.Min(free, _options.BatchSize);
            foreach (var message in messages)
            {
                await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                var task = Task.Run(() => DeliverAsync(message), CancellationToken.None);
                lock (_gate)
                {
                    _running.Add(task);
                }
                _ = task.ContinueWith(t =>
                {
                    lock (_gate)
                    {
                        _running.Remove(t);
                    }
                    _slots.Release();
                }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
            if (drained)
            {
                // Fewer messages than asked for: the queue had no more, so receiving again at once would come back
                // empty. Wait the shortest polling interval, or until woken.
                try
                {
                    await Task.WhenAny(wake, Task.Delay(_options.MinPollingInterval, stopping)).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private async Task<int> WaitForFreeSlotsAsync(CancellationToken stopping)
    {
        var threshold = Math.Max(1, _options.MaxConcurrentCalls / 2);
        while (_slots.CurrentCount < threshold)
        {
            try
            {
                await Task.Delay(5, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
        }
        return _slots.CurrentCount;
    }

    private async Task DeliverAsync(QueueMessage message)
    {
        if (message.DequeueCount > _options.MaxDequeueCount)
        {
            // A message whose handler never returned (its process died each time) is poisoned without another try.
            await MoveToPoisonAsync(message).ConfigureAwait(false);
            return;
        }
        using var renewal = new CancellationTokenSource();
        var lease = new MessageLease(message);
        var renewing = RenewWhileRunningAsync(lease, renewal.Token);
        Exception? failure = null;
        try
        {
            await _handler(message, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        await renewal.CancelAsync().ConfigureAwait(false);
        await renewing.ConfigureAwait(false);
        try
        {
            if (failure is null)
            {
                await _queue.DeleteMessageAsync(message.MessageId, lease.PopReceipt).ConfigureAwait(false);
                Interlocked.Increment(ref _completed);
                return;
            }
            Interlocked.Increment(ref _failed);
            _options.OnHandlerFailed?.Invoke(message, failure);
            if (message.DequeueCount >= _options.MaxDequeueCount)
            {
                await MoveToPoisonAsync(message, lease.PopReceipt).ConfigureAwait(false);
                return;
            }
            await _queue.UpdateMessageAsync(message.MessageId, lease.PopReceipt, visibilityTimeout: _options.RetryDelay(message.DequeueCount))
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or IOException)
        {
            // The message comes back after its visibility timeout: at least once, never lost.
            _options.OnStorageError?.Invoke(ex);
        }
    }

    private async Task MoveToPoisonAsync(QueueMessage message, string? popReceipt = null)
    {
        try
        {
            // Copy first, then delete: a crash in between leaves a duplicate in the poison queue, never a lost message.
            await _poison.SendMessageAsync(message.Body, timeToLive: TimeSpan.FromSeconds(-1)).ConfigureAwait(false);
            await _queue.DeleteMessageAsync(message.MessageId, popReceipt ?? message.PopReceipt).ConfigureAwait(false);
            Interlocked.Increment(ref _poisoned);
            _options.OnPoisoned?.Invoke(message);
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or IOException)
        {
            _options.OnStorageError?.Invoke(ex);
        }
    }

    private async Task RenewWhileRunningAsync(MessageLease lease, CancellationToken done)
    {
        var every = _options.VisibilityTimeout / 2;
        while (true)
        {
            try
            {
                await Task.Delay(every, done).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                var receipt = await _queue.UpdateMessageAsync(lease.MessageId, lease.PopReceipt, visibilityTimeout: _options.VisibilityTimeout, cancellationToken: done)
                    .ConfigureAwait(false);
                lease.PopReceipt = receipt.Value.PopReceipt;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or IOException)
            {
                _options.OnStorageError?.Invoke(ex);
            }
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    [DebuggerDisplay("{MessageId}")]
    private sealed class MessageLease(QueueMessage message)
    {
        public string MessageId { get; } = message.MessageId;

        public string PopReceipt { get; set; } = message.PopReceipt;
    }
}
