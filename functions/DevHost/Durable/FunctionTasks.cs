using DevHost.Discovery;
using DevHost.Invocation;
using Microsoft.DurableTask;

namespace DevHost.Durable;

/// <summary>An <c>[OrchestrationTrigger]</c> function as an SDK orchestrator, for the shim factory.</summary>
internal sealed class FunctionOrchestrator(FunctionDescriptor function, Func<FunctionInvoker> invoker, DataConverter converter) : ITaskOrchestrator
{
    private static readonly Dictionary<string, object?> NoBindingData = [];

    public Type InputType => typeof(object);

    public Type OutputType => function.ResultType == typeof(void) ? typeof(object) : function.ResultType;

    public Task<object?> RunAsync(TaskOrchestrationContext context, object? input)
    {
        var wrapped = new FunctionsOrchestrationContext(context, converter);
        var invocation = new InvocationInput(_ => wrapped, NoBindingData) { Quiet = true };
        return invoker().InvokeOnCurrentContextAsync(function, invocation, CancellationToken.None);
    }
}

/// <summary>An <c>[ActivityTrigger]</c> function as an SDK activity; its input is deserialized to the trigger
/// parameter's type.</summary>
internal sealed class FunctionActivity(FunctionDescriptor function, Func<FunctionInvoker> invoker) : ITaskActivity
{
    public Type InputType => function.TriggerParameter.ParameterType;

    public Type OutputType => function.ResultType == typeof(void) ? typeof(object) : function.ResultType;

    public Task<object?> RunAsync(TaskActivityContext context, object? input)
    {
        var bindingData = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase) { ["instanceId"] = context.InstanceId };
        // Activities are not cancelled by a stop: the worker's graceful stop lets them finish.
        return invoker().InvokeAsync(function, new InvocationInput(_ => input, bindingData), CancellationToken.None);
    }
}
