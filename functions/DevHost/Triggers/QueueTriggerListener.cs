using System.Text.Json;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using DevHost.Configuration;
using DevHost.Discovery;
using DevHost.Invocation;
using Microsoft.Extensions.Logging;

namespace DevHost.Triggers;

/// <summary>
/// Runs a queue-triggered function with the host's queue rules (host.json <c>extensions.queues</c>): receives up
/// to <c>batchSize</c> messages and receives again when no more than <c>newBatchThreshold</c> are running; a message
/// is deleted when the function returns; a failed one becomes visible again after <c>visibilityTimeout</c>; after
/// <c>maxDequeueCount</c> deliveries it is copied to <c>&lt;queue&gt;-poison</c> and deleted. An empty queue is
/// polled with a back-off from 100 ms up to <c>maxPollingInterval</c>. Delivery is at least once.
/// </summary>
internal sealed class QueueTriggerListener : ITriggerListener
{
    private static readonly TimeSpan LeaseVisibility = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan MinPollingInterval = TimeSpan.FromMilliseconds(100);

    private readonly FunctionDescriptor _function;
    private readonly QueueClient _queue;
    private readonly QueueClient _poison;
    private readonly QueueClient _rawPoison;
    private readonly QueueSettings _settings;
    private readonly FunctionInvoker _invoker;
    private readonly JsonSerializerOptions _json;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly HashSet<Task> _running = [];
    private readonly Lock _gate = new();
    private TaskCompletionSource _slotFreed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;

    public QueueTriggerListener(FunctionDescriptor function, string queueName, string connectionString, QueueSettings settings,
        FunctionInvoker invoker, JsonSerializerOptions json, ILogger logger)
    {
        _function = function;
        _settings = settings;
        _invoker = invoker;
        _json = json;
        _logger = logger;
        var options = new QueueClientOptions { MessageEncoding = settings.Base64 ? QueueMessageEncoding.Base64 : QueueMessageEncoding.None };
        // As the host does: a message that is not valid base64 goes to the poison queue as it is, without a delivery.
        options.MessageDecodingFailed += OnDecodingFailedAsync;
        _queue = new QueueClient(connectionString, queueName, options);
        _poison = new QueueClient(connectionString, queueName + "-poison", options);
        _rawPoison = new QueueClient(connectionString, queueName + "-poison", new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
    }

    public string FunctionName => _function.Name;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(() => ReceiveLoopAsync(_stopping.Token), CancellationToken.None);
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _abort.Dispose();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
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
        using var registration = cancellationToken.Register(() => _abort.Cancel());
        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private async Task ReceiveLoopAsync(CancellationToken stopping)
    {
        var idle = MinPollingInterval;
        while (!stopping.IsCancellationRequested)
        {
            Task slotFreed;
            int running;
            lock (_gate)
            {
                running = _running.Count;
                if (_slotFreed.Task.IsCompleted)
                {
                    _slotFreed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                slotFreed = _slotFreed.Task;
            }
            try
            {
                if (running > _settings.NewBatchThreshold)
                {
                    await slotFreed.WaitAsync(stopping).ConfigureAwait(false);
                    continue;
                }
                QueueMessage[] messages;
                try
                {
                    messages = (await _queue.ReceiveMessagesAsync(_settings.BatchSize, LeaseVisibility, stopping).ConfigureAwait(false)).Value;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The loop must outlive any one failed receive.
                    Log.ListenerStorageError(_logger, _function.Name, ex);
                    messages = [];
                }
                if (messages.Length == 0)
                {
                    await Task.Delay(idle, stopping).ConfigureAwait(false);
                    idle = TimeSpan.FromTicks(Math.Min(idle.Ticks * 2, Math.Max(_settings.MaxPollingInterval.Ticks, MinPollingInterval.Ticks)));
                    continue;
                }
                idle = MinPollingInterval;
                foreach (var message in messages)
                {
                    Start(message);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
        }
    }

    private void Start(QueueMessage message)
    {
        lock (_gate)
        {
            var task = Task.Run(() => DeliverAsync(message), CancellationToken.None);
            _running.Add(task);
            _ = task.ContinueWith(t =>
            {
                lock (_gate)
                {
                    _running.Remove(t);
                    _slotFreed.TrySetResult();
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task DeliverAsync(QueueMessage message)
    {
        var popReceipt = message.PopReceipt;
        try
        {
            if (message.DequeueCount > _settings.MaxDequeueCount)
            {
                // Delivered too often without an outcome (the process died each time): poison without another try.
                await MoveToPoisonAsync(message, popReceipt).ConfigureAwait(false);
                return;
            }
            using var renewal = new CancellationTokenSource();
            var renewing = RenewAsync(message, receipt => popReceipt = receipt, () => popReceipt, renewal.Token);
            Exception? failure = null;
            try
            {
                await _invoker.InvokeAsync(_function, new InvocationInput(type => Convert(message, type), BindingData(message)), _abort.Token)
                    .ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            await renewal.CancelAsync().ConfigureAwait(false);
            await renewing.ConfigureAwait(false);
            if (failure is null)
            {
                await _queue.DeleteMessageAsync(message.MessageId, popReceipt).ConfigureAwait(false);
            }
            else if (message.DequeueCount >= _settings.MaxDequeueCount)
            {
                await MoveToPoisonAsync(message, popReceipt).ConfigureAwait(false);
            }
            else
            {
                await _queue.UpdateMessageAsync(message.MessageId, popReceipt, visibilityTimeout: _settings.VisibilityTimeout).ConfigureAwait(false);
                Log.QueueMessageRetried(_logger, _function.Name, message.MessageId, message.DequeueCount, _settings.VisibilityTimeout);
            }
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or IOException)
        {
            // The message comes back after its visibility timeout: at least once, never lost.
            Log.ListenerStorageError(_logger, _function.Name, ex);
        }
    }

    private async Task OnDecodingFailedAsync(QueueMessageDecodingFailedEventArgs args)
    {
        if (args.ReceivedMessage is not { } message)
        {
            return;
        }
        try
        {
            await _rawPoison.CreateIfNotExistsAsync().ConfigureAwait(false);
            await _rawPoison.SendMessageAsync(message.Body, timeToLive: TimeSpan.FromSeconds(-1)).ConfigureAwait(false);
            await _queue.DeleteMessageAsync(message.MessageId, message.PopReceipt).ConfigureAwait(false);
            Log.QueueMessagePoisoned(_logger, _function.Name, message.MessageId, _rawPoison.Name, message.DequeueCount);
        }
        catch (RequestFailedException ex)
        {
            Log.ListenerStorageError(_logger, _function.Name, ex);
        }
    }

    private async Task MoveToPoisonAsync(QueueMessage message, string popReceipt)
    {
        // Copy first, then delete: a crash in between leaves a duplicate in the poison queue, never a lost message.
        await _poison.CreateIfNotExistsAsync().ConfigureAwait(false);
        await _poison.SendMessageAsync(message.Body, timeToLive: TimeSpan.FromSeconds(-1)).ConfigureAwait(false);
        await _queue.DeleteMessageAsync(message.MessageId, popReceipt).ConfigureAwait(false);
        Log.QueueMessagePoisoned(_logger, _function.Name, message.MessageId, _poison.Name, message.DequeueCount);
    }

    private async Task RenewAsync(QueueMessage message, Action<string> setReceipt, Func<string> getReceipt, CancellationToken done)
    {
        while (true)
        {
            try
            {
                await Task.Delay(LeaseVisibility / 2, done).ConfigureAwait(false);
                var receipt = await _queue.UpdateMessageAsync(message.MessageId, getReceipt(), visibilityTimeout: LeaseVisibility, cancellationToken: done)
                    .ConfigureAwait(false);
                setReceipt(receipt.Value.PopReceipt);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or IOException)
            {
                Log.ListenerStorageError(_logger, _function.Name, ex);
            }
        }
    }

    private object? Convert(QueueMessage message, Type type) =>
        type == typeof(QueueMessage) ? message
        : type == typeof(string) ? message.Body.ToString()
        : type == typeof(BinaryData) ? message.Body
        : type == typeof(byte[]) ? message.Body.ToArray()
        : JsonSerializer.Deserialize(message.Body.ToMemory().Span, type, _json);

    private static Dictionary<string, object?> BindingData(QueueMessage message) => new(StringComparer.OrdinalIgnoreCase)
    {
        ["id"] = message.MessageId,
        ["dequeueCount"] = message.DequeueCount,
        ["insertionTime"] = message.InsertedOn,
        ["expirationTime"] = message.ExpiresOn,
        ["nextVisibleTime"] = message.NextVisibleOn,
        ["popReceipt"] = message.PopReceipt,
        ["queueTrigger"] = message.Body.ToString(),
    };
}
