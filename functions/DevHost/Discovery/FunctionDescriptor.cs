using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;

namespace DevHost.Discovery;

/// <summary>One binding of a function's metadata (one entry of <c>functions.metadata</c> <c>bindings</c>).</summary>
internal sealed record BindingInfo(string Name, string Type, string Direction, JsonObject Raw)
{
    public bool IsTrigger => Type.EndsWith("Trigger", StringComparison.OrdinalIgnoreCase);

    public bool IsIn => string.Equals(Direction, "In", StringComparison.OrdinalIgnoreCase);

    public string? GetString(string property) =>
        Raw.TryGetPropertyValue(property, out var node) && node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    public bool GetBool(string property) =>
        Raw.TryGetPropertyValue(property, out var node) && node is JsonValue value &&
        (value.TryGetValue<bool>(out var flag) ? flag : value.TryGetValue<string>(out var text) && bool.TryParse(text, out flag) && flag);

    public IReadOnlyList<string> GetStrings(string property) =>
        Raw.TryGetPropertyValue(property, out var node) && node is JsonArray array
            ? [.. array.Select(item => item?.GetValue<string>()).OfType<string>()]
            : [];

    public static BindingInfo Parse(string json)
    {
        var raw = JsonNode.Parse(json) as JsonObject ?? throw new InvalidOperationException("A binding in the function metadata is not a JSON object.");
        string Required(string property) => raw[property]?.GetValue<string>()
            ?? throw new InvalidOperationException($"A binding in the function metadata has no '{property}'.");
        return new BindingInfo(Required("name"), Required("type"), Required("direction"), raw);
    }
}

/// <summary>Where an argument of the entry point comes from.</summary>
internal enum ArgumentSource
{
    Trigger,
    DurableClient,
    FunctionContext,
    CancellationToken,
    BindingData,
}

internal sealed record ArgumentPlan(ParameterInfo Parameter, ArgumentSource Source, string? BindingDataName = null);

/// <summary>A function the dev host runs: its metadata, its resolved entry point and how each argument is bound.</summary>
internal sealed class FunctionDescriptor
{
    public required IFunctionMetadata Metadata { get; init; }
    public required string Name { get; init; }
    public required IReadOnlyList<BindingInfo> Bindings { get; init; }
    public required BindingInfo Trigger { get; init; }
    public required MethodInfo Method { get; init; }

    /// <summary>Set by validation.</summary>
    public IReadOnlyList<ArgumentPlan> Arguments { get; set; } = [];

    public ParameterInfo TriggerParameter => Arguments.Single(a => a.Source == ArgumentSource.Trigger).Parameter;

    /// <summary>The return type with Task/ValueTask unwrapped; typeof(void) for none.</summary>
    public Type ResultType
    {
        get
        {
            var type = Method.ReturnType;
            if (type == typeof(Task) || type == typeof(ValueTask))
            {
                return typeof(void);
            }
            if (type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Task<>) || type.GetGenericTypeDefinition() == typeof(ValueTask<>)))
            {
                return type.GetGenericArguments()[0];
            }
            return type;
        }
    }
}
