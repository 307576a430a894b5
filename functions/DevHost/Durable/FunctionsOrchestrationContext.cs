using System.Text.Json;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Entities;
using Microsoft.Extensions.Logging;

namespace DevHost.Durable;

/// <summary>
/// The context an <c>[OrchestrationTrigger]</c> function receives: the shim's context, except that
/// <see cref="GetInput{T}"/> converts the input to the type the orchestrator asks for. (The shim is registered with
/// an <see cref="object"/> input, since a function declares its input type only at the <c>GetInput&lt;T&gt;</c>
/// call, so it holds a <see cref="JsonElement"/>.) Everything else is delegated unchanged.
/// </summary>
internal sealed class FunctionsOrchestrationContext(TaskOrchestrationContext inner, DataConverter converter) : TaskOrchestrationContext
{
    public override TaskName Name => inner.Name;
    public override string InstanceId => inner.InstanceId;
    public override ParentOrchestrationInstance? Parent => inner.Parent;
    public override DateTime CurrentUtcDateTime => inner.CurrentUtcDateTime;
    public override bool IsReplaying => inner.IsReplaying;
    public override string Version => inner.Version;
    public override IReadOnlyDictionary<string, object?> Properties => inner.Properties;
    public override TaskOrchestrationEntityFeature Entities => inner.Entities;
    protected override ILoggerFactory LoggerFactory => ReplaySafeLoggerFactory;

    public override T? GetInput<T>()
        where T : default
    {
        var input = inner.GetInput<object>();
        return input switch
        {
            null => default,
            T typed => typed,
            JsonElement element => converter.Deserialize<T>(element.GetRawText()),
            _ => converter.Deserialize<T>(converter.Serialize(input)),
        };
    }

    public override Task<TResult> CallActivityAsync<TResult>(TaskName name, object? input = null, TaskOptions? options = null) =>
        inner.CallActivityAsync<TResult>(name, input, options);

    public override Task CreateTimer(DateTime fireAt, CancellationToken cancellationToken) => inner.CreateTimer(fireAt, cancellationToken);

    public override Task<T> WaitForExternalEvent<T>(string eventName, CancellationToken cancellationToken = default) =>
        inner.WaitForExternalEvent<T>(eventName, cancellationToken);

    public override void SendEvent(string instanceId, string eventName, object payload) => inner.SendEvent(instanceId, eventName, payload);

    public override void SetCustomStatus(object? customStatus) => inner.SetCustomStatus(customStatus);

    public override Task<TResult> CallSubOrchestratorAsync<TResult>(TaskName orchestratorName, object? input = null, TaskOptions? options = null) =>
        inner.CallSubOrchestratorAsync<TResult>(orchestratorName, input, options);

    public override void ContinueAsNew(object? newInput = null, bool preserveUnprocessedEvents = true) => inner.ContinueAsNew(newInput, preserveUnprocessedEvents);

    public override Guid NewGuid() => inner.NewGuid();
}
