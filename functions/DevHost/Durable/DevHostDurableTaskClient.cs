using System.Text.Json;
using DurableTask.AzureStorage;
using DurableTask.Core;
using DurableTask.Core.Exceptions;
using DurableTask.Core.Query;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using CoreQuery = DurableTask.Core.Query.OrchestrationQuery;
using CorePurgeResult = DurableTask.Core.PurgeResult;
using PurgeResult = Microsoft.DurableTask.Client.PurgeResult;

namespace DevHost.Durable;

/// <summary>
/// A <see cref="DurableTaskClient"/> over the Durable Task Framework's <see cref="TaskHubClient"/> and the Azure
/// Storage provider's query and purge interfaces, with payloads in the dev host's shared JSON settings.
/// </summary>
/// <remarks>
/// Starting an instance whose id already names a pending, running or suspended instance starts nothing and returns
/// the id (idempotent start); an id of a completed, failed or terminated instance starts it anew, as the provider
/// does. Two starts racing with the same new id can both succeed (the provider checks, then writes). Waits poll every
/// 100 ms. Entities are not supported.
/// </remarks>
public sealed class DevHostDurableTaskClient : DurableTaskClient
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private static readonly DurableTask.Core.OrchestrationStatus[] NotTerminal =
    [
        DurableTask.Core.OrchestrationStatus.Pending,
        DurableTask.Core.OrchestrationStatus.Running,
        DurableTask.Core.OrchestrationStatus.ContinuedAsNew,
        DurableTask.Core.OrchestrationStatus.Suspended,
    ];

    private readonly AzureStorageOrchestrationService _service;
    private readonly TaskHubClient _client;
    private readonly DataConverter _converter;

    internal DevHostDurableTaskClient(string hubName, AzureStorageOrchestrationService service, DataConverter converter, ILoggerFactory loggerFactory)
        : base(hubName)
    {
        _service = service;
        _converter = converter;
        _client = new TaskHubClient(service, new SdkDataConverter(converter), loggerFactory);
    }

    /// <inheritdoc />
    public override async Task<string> ScheduleNewOrchestrationInstanceAsync(
        TaskName orchestratorName, object? input = null, StartOrchestrationOptions? options = null, CancellationToken cancellation = default)
    {
        var instanceId = options?.InstanceId ?? Guid.NewGuid().ToString("N");
        var tags = options?.Tags is { Count: > 0 } given ? given.ToDictionary(t => t.Key, t => t.Value) : null;
        try
        {
            if (options?.StartAt is { } startAt)
            {
                await _client.CreateOrchestrationInstanceAsync(orchestratorName.Name, string.Empty, instanceId, input, tags,
                    NotTerminal, startAt.UtcDateTime).WaitAsync(cancellation).ConfigureAwait(false);
            }
            else
            {
                await _client.CreateOrchestrationInstanceAsync(orchestratorName.Name, string.Empty, instanceId, input, tags,
                    NotTerminal).WaitAsync(cancellation).ConfigureAwait(false);
            }
        }
        catch (OrchestrationAlreadyExistsException)
        {
            // Idempotent start: the instance with this id is already under way.
        }
        return instanceId;
    }

    /// <inheritdoc />
    public override Task RaiseEventAsync(string instanceId, string eventName, object? eventPayload = null, CancellationToken cancellation = default) =>
        _client.RaiseEventAsync(new OrchestrationInstance { InstanceId = instanceId }, eventName, eventPayload!).WaitAsync(cancellation);

    /// <inheritdoc />
    public override Task TerminateInstanceAsync(string instanceId, TerminateInstanceOptions? options = null, CancellationToken cancellation = default)
    {
        var reason = options?.Output switch
        {
            null => null,
            string text => text,
            var output => _converter.Serialize(output),
        };
        return _client.TerminateInstanceAsync(new OrchestrationInstance { InstanceId = instanceId }, reason!).WaitAsync(cancellation);
    }

    /// <inheritdoc />
    public override Task SuspendInstanceAsync(string instanceId, string? reason = null, CancellationToken cancellation = default) =>
        _client.SuspendInstanceAsync(new OrchestrationInstance { InstanceId = instanceId }, reason).WaitAsync(cancellation);

    /// <inheritdoc />
    public override Task ResumeInstanceAsync(string instanceId, string? reason = null, CancellationToken cancellation = default) =>
        _client.ResumeInstanceAsync(new OrchestrationInstance { InstanceId = instanceId }, reason).WaitAsync(cancellation);

    /// <inheritdoc />
    public override async Task<OrchestrationMetadata?> GetInstancesAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default)
    {
        var states = await _service.GetOrchestrationStateAsync(instanceId, allExecutions: false, fetchInput: getInputsAndOutputs)
            .WaitAsync(cancellation).ConfigureAwait(false);
        return states.FirstOrDefault() is { } state ? ToMetadata(state, getInputsAndOutputs) : null;
    }

    /// <inheritdoc />
    public override AsyncPageable<OrchestrationMetadata> GetAllInstancesAsync(Microsoft.DurableTask.Client.OrchestrationQuery? filter = null) =>
        Pageable.Create(async (continuation, pageSize, cancellation) =>
        {
            var query = new CoreQuery
            {
                RuntimeStatus = filter?.Statuses?.Select(s => (DurableTask.Core.OrchestrationStatus)s).ToList(),
                CreatedTimeFrom = filter?.CreatedFrom?.UtcDateTime,
                CreatedTimeTo = filter?.CreatedTo?.UtcDateTime,
                InstanceIdPrefix = filter?.InstanceIdPrefix,
                PageSize = pageSize ?? filter?.PageSize ?? Microsoft.DurableTask.Client.OrchestrationQuery.DefaultPageSize,
                ContinuationToken = continuation ?? filter?.ContinuationToken,
                FetchInputsAndOutputs = filter?.FetchInputsAndOutputs ?? false,
            };
            var result = await _service.GetOrchestrationWithQueryAsync(query, cancellation).ConfigureAwait(false);
            var fetch = filter?.FetchInputsAndOutputs ?? false;
            return new Page<OrchestrationMetadata>([.. result.OrchestrationState.Select(s => ToMetadata(s, fetch))], result.ContinuationToken);
        });

    /// <inheritdoc />
    public override async Task<OrchestrationMetadata> WaitForInstanceStartAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default)
    {
        while (true)
        {
            if (await GetInstancesAsync(instanceId, getInputsAndOutputs, cancellation).ConfigureAwait(false) is { } metadata &&
                metadata.RuntimeStatus != OrchestrationRuntimeStatus.Pending)
            {
                return metadata;
            }
            await Task.Delay(PollInterval, cancellation).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override async Task<OrchestrationMetadata> WaitForInstanceCompletionAsync(string instanceId, bool getInputsAndOutputs = false, CancellationToken cancellation = default)
    {
        while (true)
        {
            if (await GetInstancesAsync(instanceId, getInputsAndOutputs, cancellation).ConfigureAwait(false) is { IsCompleted: true } metadata)
            {
                return metadata;
            }
            await Task.Delay(PollInterval, cancellation).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override async Task<PurgeResult> PurgeInstanceAsync(string instanceId, PurgeInstanceOptions? options = null, CancellationToken cancellation = default)
    {
        var result = await ((IOrchestrationServicePurgeClient)_service).PurgeInstanceStateAsync(instanceId).WaitAsync(cancellation).ConfigureAwait(false);
        return new PurgeResult(result.DeletedInstanceCount);
    }

    /// <inheritdoc />
    public override async Task<PurgeResult> PurgeAllInstancesAsync(PurgeInstancesFilter filter, PurgeInstanceOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var coreFilter = new PurgeInstanceFilter(
            filter.CreatedFrom?.UtcDateTime ?? DateTime.MinValue,
            filter.CreatedTo?.UtcDateTime,
            filter.Statuses?.Select(s => (DurableTask.Core.OrchestrationStatus)s));
        CorePurgeResult result = await ((IOrchestrationServicePurgeClient)_service).PurgeInstanceStateAsync(coreFilter).WaitAsync(cancellation).ConfigureAwait(false);
        return new PurgeResult(result.DeletedInstanceCount);
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private OrchestrationMetadata ToMetadata(OrchestrationState state, bool withPayloads)
    {
        var status = (OrchestrationRuntimeStatus)state.OrchestrationStatus;
        return new OrchestrationMetadata(state.Name, state.OrchestrationInstance.InstanceId)
        {
            RuntimeStatus = status,
            CreatedAt = new DateTimeOffset(DateTime.SpecifyKind(state.CreatedTime, DateTimeKind.Utc)),
            LastUpdatedAt = new DateTimeOffset(DateTime.SpecifyKind(state.LastUpdatedTime, DateTimeKind.Utc)),
            SerializedInput = withPayloads ? state.Input : null,
            SerializedOutput = withPayloads && status != OrchestrationRuntimeStatus.Failed ? state.Output : null,
            SerializedCustomStatus = state.Status,
            FailureDetails = status == OrchestrationRuntimeStatus.Failed ? ToFailure(state) : null,
            DataConverter = _converter,
        };
    }

    private static TaskFailureDetails ToFailure(OrchestrationState state)
    {
        if (state.FailureDetails is { } details)
        {
            return ToFailure(details);
        }
        // The Azure Storage provider keeps no failure details in the instance table: its output holds
        // "ErrorType: message" text (best effort).
        var text = state.Output ?? string.Empty;
        if (text.StartsWith('"'))
        {
            try
            {
                text = JsonSerializer.Deserialize<string>(text) ?? text;
            }
            catch (JsonException)
            {
                // Not a JSON string: keep the raw text.
            }
        }
        if (text.StartsWith('{'))
        {
            try
            {
                var parsed = JsonSerializer.Deserialize<FailureDetails>(text, FailureJson);
                if (parsed is { ErrorType: not null })
                {
                    return ToFailure(parsed);
                }
            }
            catch (JsonException)
            {
                // Not failure details JSON.
            }
        }
        var colon = text.IndexOf(": ", StringComparison.Ordinal);
        return colon > 0 && !text[..colon].Contains(' ', StringComparison.Ordinal)
            ? new TaskFailureDetails(text[..colon], text[(colon + 2)..], null, null, null)
            : new TaskFailureDetails("Unknown", text, null, null, null);
    }

    private static TaskFailureDetails ToFailure(FailureDetails details) =>
        new(details.ErrorType, details.ErrorMessage, details.StackTrace, details.InnerFailure is { } inner ? ToFailure(inner) : null, null);

    private static readonly JsonSerializerOptions FailureJson = new() { PropertyNameCaseInsensitive = true };
}
