using DevHost.Configuration;
using DevHost.Discovery;
using DevHost.Invocation;
using DurableTask.AzureStorage;
using DurableTask.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Worker;
using Microsoft.DurableTask.Worker.Shims;
using Microsoft.Extensions.Logging;

namespace DevHost.Durable;

/// <summary>
/// Durable Functions on the Durable Task Framework's Azure Storage provider: one <see cref="TaskHubWorker"/> runs
/// the app's orchestrator and activity functions through <see cref="DurableTaskShimFactory"/>, and
/// <see cref="Client"/> manages instances.
/// </summary>
internal sealed class DurableBackend : IDisposable
{
    private readonly AzureStorageOrchestrationService _service;
    private readonly TaskHubWorker _worker;
    private readonly ILogger _logger;
    private readonly string _workerId;
    private readonly string _hubName;
    private readonly int _orchestrators;
    private readonly int _activities;
    private bool _started;

    public DurableBackend(DurableSettings settings, string connectionString, IReadOnlyList<FunctionDescriptor> functions,
        Func<FunctionInvoker> invoker, DataConverter converter, ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger("DevHost.Durable");
        _hubName = settings.HubName;
        // Unique per process and per host: two workers with one id would take each other's partition leases.
        _workerId = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        var storage = new AzureStorageOrchestrationServiceSettings
        {
            StorageAccountClientProvider = new StorageAccountClientProvider(connectionString),
            TaskHubName = settings.HubName,
            PartitionCount = settings.PartitionCount,
            ControlQueueBatchSize = settings.ControlQueueBatchSize,
            ControlQueueVisibilityTimeout = settings.ControlQueueVisibilityTimeout,
            WorkItemQueueVisibilityTimeout = settings.WorkItemQueueVisibilityTimeout,
            MaxQueuePollingInterval = settings.MaxQueuePollingInterval,
            ExtendedSessionsEnabled = settings.ExtendedSessionsEnabled,
            ExtendedSessionIdleTimeout = settings.ExtendedSessionIdleTimeout,
            MaxConcurrentTaskActivityWorkItems = settings.MaxConcurrentActivityFunctions,
            MaxConcurrentTaskOrchestrationWorkItems = settings.MaxConcurrentOrchestratorFunctions,
            WorkerId = _workerId,
            LoggerFactory = loggerFactory,
        };
        if (settings.ControlQueueBufferThreshold is { } threshold)
        {
            storage.ControlQueueBufferThreshold = threshold;
        }
        if (settings.LeaseInterval is { } leaseInterval)
        {
            storage.LeaseInterval = leaseInterval;
        }
        if (settings.LeaseRenewInterval is { } renew)
        {
            storage.LeaseRenewInterval = renew;
        }
        if (settings.LeaseAcquireInterval is { } acquire)
        {
            storage.LeaseAcquireInterval = acquire;
        }
        if (settings.UseTablePartitionManagement is { } table)
        {
            storage.UseTablePartitionManagement = table;
        }
        _service = new AzureStorageOrchestrationService(storage);
        Client = new DevHostDurableTaskClient(settings.HubName, _service, converter, loggerFactory);

        var shims = new DurableTaskShimFactory(new DurableTaskWorkerOptions { DataConverter = converter }, loggerFactory);
        _worker = new TaskHubWorker(_service, loggerFactory) { ErrorPropagationMode = ErrorPropagationMode.UseFailureDetails };
        foreach (var function in functions)
        {
            if (string.Equals(function.Trigger.Type, FunctionValidator.OrchestrationTrigger, StringComparison.OrdinalIgnoreCase))
            {
                var orchestrator = new FunctionOrchestrator(function, invoker, converter);
                _worker.AddTaskOrchestrations(new Creator<TaskOrchestration>(function.Name,
                    () => shims.CreateOrchestration(new TaskName(function.Name), orchestrator)));
                _orchestrators++;
            }
            else if (string.Equals(function.Trigger.Type, FunctionValidator.ActivityTrigger, StringComparison.OrdinalIgnoreCase))
            {
                var activity = new FunctionActivity(function, invoker);
                _worker.AddTaskActivities(new Creator<TaskActivity>(function.Name, () => shims.CreateActivity(new TaskName(function.Name), activity)));
                _activities++;
            }
        }
    }

    public DevHostDurableTaskClient Client { get; }

    /// <summary>Creates the task hub's queues, tables and containers when missing.</summary>
    public Task CreateIfNotExistsAsync() => _service.CreateIfNotExistsAsync();

    public async Task StartWorkerAsync()
    {
        await _worker.StartAsync().ConfigureAwait(false);
        _started = true;
        Log.DurableStarted(_logger, _workerId, _hubName, _orchestrators, _activities);
    }

    /// <summary>Stops the worker gracefully: work items under way finish, then partition leases are released.</summary>
    public async Task StopWorkerAsync()
    {
        if (!_started)
        {
            return;
        }
        _started = false;
        await _worker.StopAsync(isForced: false).ConfigureAwait(false);
        Log.DurableStopped(_logger, _workerId);
    }

    public void Dispose()
    {
        _worker.Dispose();
        _service.Dispose();
    }

    private sealed class Creator<T> : ObjectCreator<T>
    {
        private readonly Func<T> _create;

        public Creator(string name, Func<T> create)
        {
            Name = name;
            Version = string.Empty;
            _create = create;
        }

        public override T Create() => _create();
    }
}
