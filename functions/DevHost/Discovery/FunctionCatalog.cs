using System.Reflection;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;

namespace DevHost.Discovery;

/// <summary>
/// Reads the app's functions from the metadata provider the Functions SDK generates into the app assembly (the same
/// JSON the host gets with worker indexing) and resolves each entry point by reflection.
/// </summary>
internal static class FunctionCatalog
{
    public static async Task<IReadOnlyList<FunctionDescriptor>> LoadAsync(Assembly appAssembly, CancellationToken cancellationToken)
    {
        var providerType = appAssembly.GetTypes().FirstOrDefault(t =>
                t.Name == "GeneratedFunctionMetadataProvider" && typeof(IFunctionMetadataProvider).IsAssignableFrom(t))
            ?? throw new InvalidOperationException(
                $"Assembly {appAssembly.GetName().Name} has no GeneratedFunctionMetadataProvider: is it an isolated-worker Functions app " +
                "built with Microsoft.Azure.Functions.Worker.Sdk (worker indexing on)?");
        var provider = (IFunctionMetadataProvider)(Activator.CreateInstance(providerType, nonPublic: true)
            ?? throw new InvalidOperationException($"Cannot create {providerType.FullName}."));
        var directory = Path.GetDirectoryName(appAssembly.Location) ?? AppContext.BaseDirectory;
        var metadata = await provider.GetFunctionMetadataAsync(directory).WaitAsync(cancellationToken).ConfigureAwait(false);
        var functions = new List<FunctionDescriptor>(metadata.Length);
        foreach (var function in metadata)
        {
            var name = function.Name ?? throw new InvalidOperationException("A function in the generated metadata has no name.");
            var bindings = (function.RawBindings ?? []).Select(BindingInfo.Parse).ToList();
            var triggers = bindings.Where(b => b.IsTrigger).ToList();
            if (triggers.Count != 1)
            {
                throw new UnsupportedFunctionException(name, $"it has {triggers.Count} trigger bindings; a function has exactly one");
            }
            functions.Add(new FunctionDescriptor
            {
                Metadata = function,
                Name = name,
                Bindings = bindings,
                Trigger = triggers[0],
                Method = ResolveEntryPoint(appAssembly, name, function.EntryPoint),
            });
        }
        return functions;
    }

    private static MethodInfo ResolveEntryPoint(Assembly assembly, string functionName, string? entryPoint)
    {
        var dot = entryPoint?.LastIndexOf('.') ?? -1;
        if (entryPoint is null || dot <= 0)
        {
            throw new InvalidOperationException($"Function '{functionName}' has no usable entry point ('{entryPoint}').");
        }
        var typeName = entryPoint[..dot];
        var methodName = entryPoint[(dot + 1)..];
        var type = assembly.GetType(typeName) ?? FindNested(assembly, typeName)
            ?? throw new InvalidOperationException($"Function '{functionName}': type '{typeName}' is not in {assembly.GetName().Name}.");
        var candidates = type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)
            .Where(m => m.Name == methodName)
            .ToList();
        var method = candidates.FirstOrDefault(m => m.GetCustomAttribute<FunctionAttribute>()?.Name == functionName)
            ?? (candidates.Count == 1 ? candidates[0] : null);
        return method ?? throw new InvalidOperationException($"Function '{functionName}': no single method '{methodName}' on {type.FullName}.");
    }

    private static Type? FindNested(Assembly assembly, string typeName)
    {
        // Entry points name nested types with '.', reflection with '+'.
        for (var dot = typeName.LastIndexOf('.'); dot > 0; dot = typeName.LastIndexOf('.', dot - 1))
        {
            var candidate = typeName[..dot] + "+" + typeName[(dot + 1)..].Replace('.', '+');
            if (assembly.GetType(candidate) is { } type)
            {
                return type;
            }
        }
        return null;
    }
}
