using System.Collections.Immutable;
using DevHost.Discovery;
using Microsoft.Azure.Functions.Worker;

namespace DevHost.Invocation;

/// <summary>The <see cref="FunctionContext"/> a function receives on the dev host. <see cref="RetryContext"/> is
/// null (no retry policies); <c>GetInvocationResult</c>, <c>GetOutputBindings</c> and <c>BindInputAsync</c> are not
/// available (they need the worker's internal binding feature).</summary>
internal sealed class DevHostFunctionContext : FunctionContext
{
    public DevHostFunctionContext(FunctionDescriptor function, DevHostFunctionDefinition definition, IServiceProvider services,
        IReadOnlyDictionary<string, object?> bindingData, CancellationToken cancellationToken)
    {
        InvocationId = Guid.NewGuid().ToString();
        FunctionDefinition = definition;
        InstanceServices = services;
        BindingContext = new DevHostBindingContext(bindingData);
        CancellationToken = cancellationToken;
        FunctionId = function.Metadata.FunctionId ?? function.Name;
        var activity = System.Diagnostics.Activity.Current;
        TraceContext = new DevHostTraceContext(activity?.Id ?? string.Empty, activity?.TraceStateString ?? string.Empty);
    }

    public override string InvocationId { get; }
    public override string FunctionId { get; }
    public override TraceContext TraceContext { get; }
    public override BindingContext BindingContext { get; }
    public override RetryContext RetryContext => null!;
    public override IServiceProvider InstanceServices { get; set; }
    public override FunctionDefinition FunctionDefinition { get; }
    public override IDictionary<object, object> Items { get; set; } = new Dictionary<object, object>();
    public override IInvocationFeatures Features { get; } = new DevHostInvocationFeatures();
    public override CancellationToken CancellationToken { get; }
}

internal sealed class DevHostFunctionDefinition : FunctionDefinition
{
    public DevHostFunctionDefinition(FunctionDescriptor function)
    {
        Name = function.Name;
        Id = function.Metadata.FunctionId ?? function.Name;
        EntryPoint = function.Metadata.EntryPoint ?? string.Empty;
        PathToAssembly = function.Method.DeclaringType!.Assembly.Location;
        Parameters = [.. function.Method.GetParameters().Select(p => new FunctionParameter(p.Name ?? string.Empty, p.ParameterType))];
        InputBindings = function.Bindings.Where(b => b.IsIn)
            .ToImmutableDictionary(b => b.Name, b => (BindingMetadata)new DevHostBindingMetadata(b.Name, b.Type, BindingDirection.In));
        OutputBindings = function.Bindings.Where(b => !b.IsIn)
            .ToImmutableDictionary(b => b.Name, b => (BindingMetadata)new DevHostBindingMetadata(b.Name, b.Type, BindingDirection.Out));
    }

    public override ImmutableArray<FunctionParameter> Parameters { get; }
    public override string PathToAssembly { get; }
    public override string EntryPoint { get; }
    public override string Id { get; }
    public override string Name { get; }
    public override IImmutableDictionary<string, BindingMetadata> InputBindings { get; }
    public override IImmutableDictionary<string, BindingMetadata> OutputBindings { get; }
}

internal sealed class DevHostBindingMetadata(string name, string type, BindingDirection direction) : BindingMetadata
{
    public override string Name { get; } = name;
    public override string Type { get; } = type;
    public override BindingDirection Direction { get; } = direction;
}

internal sealed class DevHostBindingContext(IReadOnlyDictionary<string, object?> bindingData) : BindingContext
{
    public override IReadOnlyDictionary<string, object?> BindingData { get; } = bindingData;
}

internal sealed class DevHostTraceContext(string traceParent, string traceState) : TraceContext
{
    public override string TraceParent { get; } = traceParent;
    public override string TraceState { get; } = traceState;
}

internal sealed class DevHostInvocationFeatures : IInvocationFeatures
{
    private readonly Dictionary<Type, object> _features = [];

    public T? Get<T>() => _features.TryGetValue(typeof(T), out var feature) ? (T)feature : default;

    public void Set<T>(T instance)
    {
        if (instance is null)
        {
            _features.Remove(typeof(T));
        }
        else
        {
            _features[typeof(T)] = instance;
        }
    }

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator() => _features.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
