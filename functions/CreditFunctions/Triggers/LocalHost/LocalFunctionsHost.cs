using System.Collections.Concurrent;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace CreditFunctions.Triggers.LocalHost;

/// <summary>
/// Local-host mode: when no Functions host runs the app, the server plays the host's part for its own non-HTTP
/// functions, calling them through the same <c>POST /{function}</c> envelopes the host sends. Once the server listens
/// it starts a <see cref="QueueMessagePump"/> per queue trigger (the host's rules: delete on success, retry after
/// <c>visibilityTimeout</c>, <c>&lt;queue&gt;-poison</c> after <c>maxDequeueCount</c>), a blob scan per blob trigger
/// (<see cref="BlobTriggerDelivery"/>) and a <see cref="TimerScheduler"/> per timer trigger. When the app stops, it
/// stops receiving first and waits for the invocations under way (a graceful drain).
/// </summary>
public sealed class LocalFunctionsHost : IHostedService, IAsyncDisposable
{
    private readonly IServiceProvider _services;
    private readonly FunctionsCatalog _catalog;
    private readonly LocalHostOptions _options;
    private readonly IConfiguration _configuration;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, StorageAccount> _accounts = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<QueueMessagePump> _pumps = [];
    private readonly List<Task> _loops = [];
    private readonly List<TimerScheduler> _timers = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _starting = Task.CompletedTask;
    private Task? _draining;
    private LocalInvoker? _invoker;

    /// <summary>Created by the container; reads everything else from <paramref name="services"/>.</summary>
    public LocalFunctionsHost(IServiceProvider services, FunctionsCatalog catalog, LocalHostOptions options, IConfiguration configuration,
        TimeProvider clock, ILogger<LocalFunctionsHost> logger)
    {
        _services = services;
        _catalog = catalog;
        _options = options;
        _configuration = configuration;
        _clock = clock;
        _logger = logger;
    }

    /// <summary>Completes once every enabled function's delivery has started (or faults when starting failed).</summary>
    public Task Ready => _ready.Task;

    /// <summary>The occurrence a timer function waits for, or null before it has started waiting.</summary>
    public DateTimeOffset? GetNextOccurrence(string functionName) =>
        _timers.FirstOrDefault(t => string.Equals(t.FunctionName, functionName, StringComparison.OrdinalIgnoreCase))?.NextOccurrence;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var lifetime = _services.GetRequiredService<IHostApplicationLifetime>();
        // Deliveries need the server's address, known once it listens; and they stop as soon as stopping begins, before
        // the server stops taking requests, so that what is under way can still complete.
        lifetime.ApplicationStarted.Register(() => _starting = Task.Run(StartDeliveriesAsync));
        lifetime.ApplicationStopping.Register(() => _draining ??= DrainAsync());
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _draining ??= DrainAsync();
        await _draining.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _draining ??= DrainAsync();
        await _draining.ConfigureAwait(false);
        _invoker?.Dispose();
        _stopping.Dispose();
    }

    private async Task StartDeliveriesAsync()
    {
        try
        {
            var stopping = _stopping.Token;
            var address = _services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
            _invoker = new LocalInvoker(new HttpClient { BaseAddress = new Uri(address), Timeout = Timeout.InfiniteTimeSpan });
            var enabled = new List<FunctionDefinition>();
            foreach (var function in _catalog.Functions.Where(f => f.Handler is not null))
            {
                if (FunctionsCatalog.IsDisabled(function.Name, _configuration))
                {
                    TriggerLog.Disabled(_logger, function.Name);
                    continue;
                }
                enabled.Add(function);
            }
            var state = new LocalHostState(Account(FunctionTrigger.DefaultConnection).CreateTableServiceClient().GetTableClient(_options.TableName));
            await state.CreateIfNotExistsAsync(stopping).ConfigureAwait(false);
            foreach (var function in enabled)
            {
                switch (function.Trigger)
                {
                    case QueueTrigger queue:
                        await StartQueueAsync(function, queue, stopping).ConfigureAwait(false);
                        break;
                    case TimerTrigger timer:
                        StartTimer(function, timer, state, stopping);
                        break;
                    default:
                        break;
                }
            }
            var blobFunctions = enabled.Where(f => f.Trigger is BlobTrigger).ToList();
            if (blobFunctions.Count > 0)
            {
                await StartBlobsAsync(blobFunctions, state, stopping).ConfigureAwait(false);
            }
            _ready.TrySetResult();
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            _ready.TrySetCanceled();
        }
        catch (Exception ex)
        {
            // A trigger that cannot start (a missing setting, storage down) must not pass unnoticed: stop the app.
            TriggerLog.StartFailed(_logger, ex);
            _ready.TrySetException(ex);
            _services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        }
    }

    private async Task StartQueueAsync(FunctionDefinition function, QueueTrigger trigger, CancellationToken stopping)
    {
        var queueName = BindingExpressions.Resolve(trigger.QueueName, _configuration);
        var queue = Queues(trigger.Connection).GetQueueClient(queueName);
        var pump = new QueueMessagePump(queue, (message, ct) => _invoker!.InvokeAsync(function, InvocationEnvelope.ForQueueMessage(function, Info(message), _clock.GetUtcNow()), ct),
            PumpOptions(function.Name, queueName));
        await pump.StartAsync(stopping).ConfigureAwait(false);
        _pumps.Add(pump);
        TriggerLog.Listening(_logger, function.Name, function.Trigger.BindingType, queueName);
    }

    private void StartTimer(FunctionDefinition function, TimerTrigger trigger, LocalHostState state, CancellationToken stopping)
    {
        var schedule = CronSchedule.Parse(BindingExpressions.Resolve(trigger.Schedule, _configuration));
        var scheduler = new TimerScheduler(function, schedule, state, _invoker!, _clock, _logger);
        _timers.Add(scheduler);
        _loops.Add(Task.Run(() => RunUntilStoppedAsync(function.Name, scheduler.RunAsync, stopping), CancellationToken.None));
        TriggerLog.Listening(_logger, function.Name, function.Trigger.BindingType, schedule.Expression);
    }

    private async Task StartBlobsAsync(List<FunctionDefinition> functions, LocalHostState state, CancellationToken stopping)
    {
        var queue = Queues(FunctionTrigger.DefaultConnection).GetQueueClient(_options.BlobQueueName);
        var blobs = new ConcurrentDictionary<string, BlobServiceClient>(StringComparer.OrdinalIgnoreCase);
        var delivery = new BlobTriggerDelivery(_catalog, state, connection => blobs.GetOrAdd(connection, c => Account(c).CreateBlobServiceClient()),
            queue, _invoker!, _clock, _configuration, _logger);
        var pump = new QueueMessagePump(queue, delivery.DeliverAsync, PumpOptions("blob triggers", queue.Name));
        await pump.StartAsync(stopping).ConfigureAwait(false);
        _pumps.Add(pump);
        foreach (var function in functions)
        {
            _loops.Add(Task.Run(() => RunUntilStoppedAsync(function.Name, async ct =>
            {
                while (true)
                {
                    if (await delivery.ScanAsync(function, ct).ConfigureAwait(false) > 0)
                    {
                        pump.Wake();
                    }
                    await Task.Delay(_options.BlobScanInterval, ct).ConfigureAwait(false);
                }
            }, stopping), CancellationToken.None));
            TriggerLog.Listening(_logger, function.Name, function.Trigger.BindingType, ((BlobTrigger)function.Trigger).Path);
        }
    }

    /// <summary>Runs a loop until the app stops; a storage failure is logged and the loop starts again after a pause.</summary>
    private async Task RunUntilStoppedAsync(string function, Func<CancellationToken, Task> loop, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await loop(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is Azure.RequestFailedException or HttpRequestException or IOException)
            {
                TriggerLog.StorageFailed(_logger, function, ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private QueueMessagePumpOptions PumpOptions(string function, string queueName) => new()
    {
        BatchSize = _options.BatchSize,
        MaxConcurrentCalls = _options.BatchSize + _options.NewBatchThreshold,
        MaxDequeueCount = _options.MaxDequeueCount,
        RetryDelay = _ => _options.RetryDelay,
        MaxPollingInterval = _options.MaxPollingInterval,
        OnHandlerFailed = (message, ex) => TriggerLog.DeliveryFailed(_logger, function, message.MessageId, message.DequeueCount, ex),
        OnPoisoned = message => TriggerLog.Poisoned(_logger, function, message.MessageId, queueName + "-poison", message.DequeueCount),
        OnStorageError = ex => TriggerLog.StorageFailed(_logger, function, ex),
    };

    private async Task DrainAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _starting.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or Azure.RequestFailedException or HttpRequestException or IOException)
        {
            // Starting failed or was cut short; what did start is drained below.
        }
        await Task.WhenAll(_pumps.Select(p => p.StopAsync())).ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        TriggerLog.Drained(_logger, _pumps.Count + _loops.Count);
    }

    private StorageAccount Account(string connection) => _accounts.GetOrAdd(connection, c => StorageAccount.From(_configuration, c));

    private QueueServiceClient Queues(string connection)
    {
        var options = new QueueClientOptions();
        // The host moves a message it cannot decode from base64 to the poison queue; so does local-host mode.
        options.MessageDecodingFailed += async args =>
        {
            if (args.ReceivedMessage is { } message)
            {
                await args.Queue.GetSiblingQueue(args.Queue.Name + "-poison").SendMessageAsync(message.Body, timeToLive: TimeSpan.FromSeconds(-1),
                    cancellationToken: args.CancellationToken).ConfigureAwait(false);
                await args.Queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, args.CancellationToken).ConfigureAwait(false);
            }
        };
        return Account(connection).CreateQueueServiceClient(options);
    }

    private static QueueMessageInfo Info(QueueMessage message) => new(message.MessageId, message.PopReceipt, message.MessageText, message.DequeueCount)
    {
        InsertionTime = message.InsertedOn,
        ExpirationTime = message.ExpiresOn,
        NextVisibleTime = message.NextVisibleOn,
    };
}
