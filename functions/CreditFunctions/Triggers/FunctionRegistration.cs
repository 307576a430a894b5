using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CreditFunctions.Triggers;

/// <summary>A queue-triggered function's handler, resolved from the invocation's service scope.</summary>
public interface IQueueFunction
{
    /// <summary>Handles one delivery. Returning completes the message; throwing fails this delivery (retried, then
    /// poisoned after the fifth). Must be idempotent: a message can be delivered again after it completed.</summary>
    Task RunAsync(QueueTriggerContext trigger, CancellationToken cancellationToken);
}

/// <summary>A blob-triggered function's handler, resolved from the invocation's service scope.</summary>
public interface IBlobFunction
{
    /// <summary>Handles one blob version. Throwing fails this delivery (retried up to five deliveries). Must be
    /// idempotent.</summary>
    Task RunAsync(BlobTriggerContext trigger, CancellationToken cancellationToken);
}

/// <summary>A timer-triggered function's handler, resolved from the invocation's service scope.</summary>
public interface ITimerFunction
{
    /// <summary>Handles one occurrence. A failure is logged and not retried; the next occurrence comes on schedule.</summary>
    Task RunAsync(TimerTriggerContext trigger, CancellationToken cancellationToken);
}

/// <summary>
/// Declares the app's functions. Each call adds one <see cref="FunctionDefinition"/> to the
/// <see cref="FunctionsCatalog"/>, from which the server maps <c>POST /{name}</c>, <c>functions generate</c> writes
/// <c>{name}/function.json</c> for the publish output, local-host mode delivers triggers, and <c>/api/health</c> reports
/// queue depths. A feature declares its functions in its own <c>AddXxx</c> method.
/// </summary>
/// <example>
/// <code>
/// services.AddQueueFunction&lt;DurableWorkFunction&gt;("durable-work", new QueueTrigger("%CREDITFUNCTIONS_WORK_QUEUE%"));
/// services.AddTimerFunction("plan-grants", new TimerTrigger("0 5 0 * * *"),
///     (trigger, services, ct) =&gt; services.GetRequiredService&lt;PlanGrants&gt;().RunAsync(ct));
/// </code>
/// </example>
public static class FunctionRegistration
{
    /// <summary>Declares an HTTP function whose requests the host forwards to the server's own routes.</summary>
    /// <exception cref="ArgumentException">The name or trigger is invalid.</exception>
    public static IServiceCollection AddHttpFunction(this IServiceCollection services, string name, HttpTrigger? trigger = null) =>
        services.AddFunction(new FunctionDefinition(name, trigger ?? new HttpTrigger(), null));

    /// <summary>Declares a queue-triggered function handled by <typeparamref name="THandler"/> (scoped per invocation).</summary>
    /// <exception cref="ArgumentException">The name or trigger is invalid.</exception>
    public static IServiceCollection AddQueueFunction<THandler>(this IServiceCollection services, string name, QueueTrigger trigger)
        where THandler : class, IQueueFunction
    {
        services.TryAddScoped<THandler>();
        return services.AddFunction(new FunctionDefinition(name, trigger,
            (sp, context, ct) => sp.GetRequiredService<THandler>().RunAsync((QueueTriggerContext)context, ct)));
    }

    /// <summary>Declares a queue-triggered function handled by <paramref name="handler"/>, which receives the
    /// invocation's service scope.</summary>
    /// <exception cref="ArgumentException">The name or trigger is invalid.</exception>
    public static IServiceCollection AddQueueFunction(this IServiceCollection services, string name, QueueTrigger trigger,
        Func<QueueTriggerContext, IServiceProvider, CancellationToken, Task> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return services.AddFunction(new FunctionDefinition(name, trigger, (sp, context, ct) => handler((QueueTriggerContext)context, sp, ct)));
    }

    /// <summary>Declares a blob-triggered function handled by <typeparamref name="THandler"/> (scoped per invocation).</summary>
    /// <exception cref="ArgumentException">The name or trigger is invalid.</exception>
    public static IServiceCollection AddBlobFunction<THandler>(this IServiceCollection services, string name, BlobTrigger trigger)
        where THandler : class, IBlobFunction
    {
        services.TryAddScoped<THandler>();
        return services.AddFunction(new FunctionDefinition(name, trigger,
            (sp, context, ct) => sp.GetRequiredService<THandler>().RunAsync((BlobTriggerContext)context, ct)));
    }

    /// <summary>Declares a blob-triggered function handled by <paramref name="handler"/>.</summary>
    /// <exception cref="ArgumentException">The name or trigger is invalid.</exception>
    public static IServiceCollection AddBlobFunction(this IServiceCollection services, string name, BlobTrigger trigger,
        Func<BlobTriggerContext, IServiceProvider, CancellationToken, Task> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return services.AddFunction(new FunctionDefinition(name, trigger, (sp, context, ct) => handler((BlobTriggerContext)context, sp, ct)));
    }

    /// <summary>Declares a timer-triggered function handled by <typeparamref name="THandler"/> (scoped per invocation).</summary>
    /// <exception cref="ArgumentException">The name or schedule is invalid.</exception>
    public static IServiceCollection AddTimerFunction<THandler>(this IServiceCollection services, string name, TimerTrigger trigger)
        where THandler : class, ITimerFunction
    {
        services.TryAddScoped<THandler>();
        return services.AddFunction(new FunctionDefinition(name, trigger,
            (sp, context, ct) => sp.GetRequiredService<THandler>().RunAsync((TimerTriggerContext)context, ct)));
    }

    /// <summary>Declares a timer-triggered function handled by <paramref name="handler"/>.</summary>
    /// <exception cref="ArgumentException">The name or schedule is invalid.</exception>
    public static IServiceCollection AddTimerFunction(this IServiceCollection services, string name, TimerTrigger trigger,
        Func<TimerTriggerContext, IServiceProvider, CancellationToken, Task> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return services.AddFunction(new FunctionDefinition(name, trigger, (sp, context, ct) => handler((TimerTriggerContext)context, sp, ct)));
    }

    private static IServiceCollection AddFunction(this IServiceCollection services, FunctionDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(services);
        // Registered as instances so that the catalog can be read from the service collection without building a
        // provider (function.json generation runs no storage code).
        if (FunctionsCatalog.DefinitionsIn(services).Any(d => string.Equals(d.Name, definition.Name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"A function named '{definition.Name}' is already declared.", nameof(definition));
        }
        services.AddSingleton(definition);
        services.TryAddSingleton(sp => new FunctionsCatalog(sp.GetServices<FunctionDefinition>()));
        return services;
    }
}

/// <summary>The app's functions: every <see cref="FunctionDefinition"/> declared through <see cref="FunctionRegistration"/>.</summary>
public sealed class FunctionsCatalog
{
    /// <summary>A catalog of <paramref name="functions"/>.</summary>
    /// <exception cref="ArgumentException">Two functions share a name (names are case-insensitive, as in the host).</exception>
    public FunctionsCatalog(IEnumerable<FunctionDefinition> functions)
    {
        ArgumentNullException.ThrowIfNull(functions);
        Functions = [.. functions.OrderBy(f => f.Name, StringComparer.Ordinal)];
        if (Functions.GroupBy(f => f.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            throw new ArgumentException($"A function named '{duplicate.Key}' is declared twice.", nameof(functions));
        }
    }

    /// <summary>The functions, by name.</summary>
    public IReadOnlyList<FunctionDefinition> Functions { get; }

    /// <summary>The function named <paramref name="name"/> (case-insensitive), or null.</summary>
    public FunctionDefinition? Find(string name) =>
        Functions.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The catalog declared in <paramref name="services"/>, read without building a service provider.</summary>
    public static FunctionsCatalog From(IServiceCollection services) => new(DefinitionsIn(services));

    /// <summary>
    /// True when the app setting <c>AzureWebJobs.{name}.Disabled</c> (or <c>AzureWebJobs__{name}__Disabled</c>) is
    /// <c>true</c>, as the Functions host reads it: local-host mode then delivers nothing to the function.
    /// </summary>
    public static bool IsDisabled(string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var value = configuration[$"AzureWebJobs.{name}.Disabled"] ?? configuration[$"AzureWebJobs:{name}:Disabled"];
        return bool.TryParse(value, out var disabled) && disabled;
    }

    internal static IEnumerable<FunctionDefinition> DefinitionsIn(IServiceCollection services) =>
        services.Where(d => d.ServiceType == typeof(FunctionDefinition) && d.ImplementationInstance is FunctionDefinition)
            .Select(d => (FunctionDefinition)d.ImplementationInstance!);
}
