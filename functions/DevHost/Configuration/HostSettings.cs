using Microsoft.Extensions.Configuration;
using static DevHost.Configuration.DevHostConfiguration;

namespace DevHost.Configuration;

/// <summary>host.json <c>extensions.queues</c>, with the host's defaults.</summary>
internal sealed record QueueSettings
{
    public int BatchSize { get; init; } = 16;
    public int NewBatchThreshold { get; init; } = 8;
    public int MaxDequeueCount { get; init; } = 5;
    public TimeSpan VisibilityTimeout { get; init; } = TimeSpan.Zero;
    public TimeSpan MaxPollingInterval { get; init; } = TimeSpan.FromMinutes(1);
    public bool Base64 { get; init; } = true;

    public static QueueSettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection($"{JobHostSection}:extensions:queues");
        var batchSize = GetInt(section, "batchSize", 16);
        if (batchSize is < 1 or > 32)
        {
            throw new InvalidOperationException("host.json extensions.queues.batchSize must be between 1 and 32.");
        }
        var encoding = section["messageEncoding"] ?? "base64";
        return new QueueSettings
        {
            BatchSize = batchSize,
            // The host's default is batchSize / 2 per core; the dev host runs one "core" worth of concurrency.
            NewBatchThreshold = GetInt(section, "newBatchThreshold", batchSize / 2),
            MaxDequeueCount = Math.Max(1, GetInt(section, "maxDequeueCount", 5)),
            VisibilityTimeout = GetTimeSpan(section, "visibilityTimeout", TimeSpan.Zero),
            MaxPollingInterval = GetTimeSpan(section, "maxPollingInterval", TimeSpan.FromMinutes(1)),
            Base64 = encoding.ToUpperInvariant() switch
            {
                "BASE64" => true,
                "NONE" => false,
                _ => throw new InvalidOperationException($"host.json extensions.queues.messageEncoding '{encoding}' is neither base64 nor none."),
            },
        };
    }
}

/// <summary>host.json <c>extensions.durableTask</c> as the Durable extension maps it onto the Azure Storage provider.</summary>
internal sealed record DurableSettings
{
    public string HubName { get; init; } = "TestHubName";
    public string ConnectionName { get; init; } = "AzureWebJobsStorage";
    public int PartitionCount { get; init; } = 4;
    public int ControlQueueBatchSize { get; init; } = 32;
    public int? ControlQueueBufferThreshold { get; init; }
    public TimeSpan ControlQueueVisibilityTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan WorkItemQueueVisibilityTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan MaxQueuePollingInterval { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan? LeaseInterval { get; init; }
    public TimeSpan? LeaseRenewInterval { get; init; }
    public TimeSpan? LeaseAcquireInterval { get; init; }
    public bool? UseTablePartitionManagement { get; init; }
    public bool ExtendedSessionsEnabled { get; init; }
    public TimeSpan ExtendedSessionIdleTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public int MaxConcurrentActivityFunctions { get; init; } = 10 * Environment.ProcessorCount;
    public int MaxConcurrentOrchestratorFunctions { get; init; } = 10 * Environment.ProcessorCount;

    public static DurableSettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection($"{JobHostSection}:extensions:durableTask");
        var storage = section.GetSection("storageProvider");
        var defaults = new DurableSettings();
        TimeSpan? Optional(string key) => storage[key] is { Length: > 0 } ? GetTimeSpan(storage, key, TimeSpan.Zero) : null;
        var settings = new DurableSettings
        {
            HubName = section["hubName"] is { Length: > 0 } hub ? Resolve(configuration, hub, "durableTask") : defaults.HubName,
            ConnectionName = storage["connectionName"] ?? storage["connectionStringName"] ?? defaults.ConnectionName,
            PartitionCount = GetInt(storage, "partitionCount", defaults.PartitionCount),
            ControlQueueBatchSize = GetInt(storage, "controlQueueBatchSize", defaults.ControlQueueBatchSize),
            ControlQueueBufferThreshold = storage["controlQueueBufferThreshold"] is { Length: > 0 } ? GetInt(storage, "controlQueueBufferThreshold", 0) : null,
            ControlQueueVisibilityTimeout = GetTimeSpan(storage, "controlQueueVisibilityTimeout", defaults.ControlQueueVisibilityTimeout),
            WorkItemQueueVisibilityTimeout = GetTimeSpan(storage, "workItemQueueVisibilityTimeout", defaults.WorkItemQueueVisibilityTimeout),
            MaxQueuePollingInterval = GetTimeSpan(storage, "maxQueuePollingInterval", defaults.MaxQueuePollingInterval),
            LeaseInterval = Optional("leaseInterval"),
            LeaseRenewInterval = Optional("leaseRenewInterval"),
            LeaseAcquireInterval = Optional("leaseAcquireInterval"),
            UseTablePartitionManagement = storage["useTablePartitionManagement"] is { Length: > 0 } ? GetBool(storage, "useTablePartitionManagement", false) : null,
            ExtendedSessionsEnabled = GetBool(section, "extendedSessionsEnabled", false),
            ExtendedSessionIdleTimeout = TimeSpan.FromSeconds(GetInt(section, "extendedSessionIdleTimeoutInSeconds", 30)),
            MaxConcurrentActivityFunctions = GetInt(section, "maxConcurrentActivityFunctions", defaults.MaxConcurrentActivityFunctions),
            MaxConcurrentOrchestratorFunctions = GetInt(section, "maxConcurrentOrchestratorFunctions", defaults.MaxConcurrentOrchestratorFunctions),
        };
        if (settings.ControlQueueBatchSize is < 1 or > 32)
        {
            throw new InvalidOperationException("host.json extensions.durableTask.storageProvider.controlQueueBatchSize must be between 1 and 32.");
        }
        if (settings.PartitionCount is < 1 or > 16)
        {
            throw new InvalidOperationException("host.json extensions.durableTask.storageProvider.partitionCount must be between 1 and 16.");
        }
        return settings;
    }
}
