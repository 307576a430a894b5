using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using DevHost.Discovery;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// DURABLE0010 flags the invoker's own logger because orchestrators pass through it; orchestrator invocations are
// Quiet and never log (see InvokeOnCurrentContextAsync).
#pragma warning disable DURABLE0010

namespace DevHost.Invocation;

/// <summary>What one invocation gets: the trigger value (converted to the parameter's type by the caller) and the
/// binding data.</summary>
internal sealed record InvocationInput(Func<Type, object?> Trigger, IReadOnlyDictionary<string, object?> BindingData)
{
    /// <summary>Runs on the new context before the function (e.g. sets <c>Items["HttpRequestContext"]</c>).</summary>
    public Action<DevHostFunctionContext>? PrepareContext { get; init; }

    /// <summary>Replay-time invocations (orchestrators) are not logged per episode.</summary>
    public bool Quiet { get; init; }
}

/// <summary>
/// Invokes a function's entry point: a DI scope per invocation, the function's class created with
/// <see cref="ActivatorUtilities"/> (or none for a static method), arguments bound by the validated plan.
/// Exceptions from the function propagate unwrapped.
/// </summary>
internal sealed class FunctionInvoker(IServiceProvider services, DurableTaskClient durableClient, ILogger<FunctionInvoker> logger)
{
    private readonly ConcurrentDictionary<Type, ObjectFactory> _factories = new();
    private readonly ConcurrentDictionary<FunctionDescriptor, DevHostFunctionDefinition> _definitions = new();

    public IServiceProvider Services => services;

    /// <summary>Invokes and awaits the function; returns its result (null for void/Task).</summary>
    public async Task<object?> InvokeAsync(FunctionDescriptor function, InvocationInput input, CancellationToken cancellationToken)
    {
        var scope = services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var prepared = Prepare(function, input, scope.ServiceProvider, cancellationToken);
            var watch = Stopwatch.StartNew();
            try
            {
                object? result;
                var instance = prepared.CreateInstance();
                try
                {
                    result = await AwaitResultAsync(prepared.Invoke(instance), continueOnCapturedContext: false).ConfigureAwait(false);
                }
                finally
                {
                    await DisposeAsync(instance).ConfigureAwait(false);
                }
                if (!input.Quiet)
                {
                    Log.Executed(logger, function.Name, prepared.Context.InvocationId, watch.ElapsedMilliseconds);
                }
                return result;
            }
            catch (Exception ex)
            {
                Log.ExecutionFailed(logger, function.Name, prepared.Context.InvocationId, watch.ElapsedMilliseconds, ex);
                throw;
            }
        }
    }

    /// <summary>
    /// For orchestrators: invokes on the caller's synchronization context and never leaves it (the Durable Task
    /// Framework runs orchestrator code on a single-threaded scheduler; a ConfigureAwait(false) here would break
    /// replay). No scope: an episode's task may never complete (the orchestrator awaits work of a later episode), so
    /// orchestrators get the root provider.
    /// </summary>
    public Task<object?> InvokeOnCurrentContextAsync(FunctionDescriptor function, InvocationInput input, CancellationToken cancellationToken)
    {
        var prepared = Prepare(function, input, services, cancellationToken);
        return AwaitResultAsync(prepared.Invoke(prepared.CreateInstance()), continueOnCapturedContext: true);
    }

    private sealed record Prepared(DevHostFunctionContext Context, Func<object?> CreateInstance, Func<object?, object?> Invoke);

    private Prepared Prepare(FunctionDescriptor function, InvocationInput input, IServiceProvider scoped, CancellationToken cancellationToken)
    {
        var definition = _definitions.GetOrAdd(function, f => new DevHostFunctionDefinition(f));
        var context = new DevHostFunctionContext(function, definition, scoped, input.BindingData, cancellationToken);
        input.PrepareContext?.Invoke(context);
        if (!input.Quiet)
        {
            Log.Executing(logger, function.Name, context.InvocationId);
        }
        var arguments = new object?[function.Arguments.Count];
        for (var i = 0; i < arguments.Length; i++)
        {
            var plan = function.Arguments[i];
            arguments[i] = plan.Source switch
            {
                ArgumentSource.Trigger => input.Trigger(plan.Parameter.ParameterType),
                ArgumentSource.DurableClient => durableClient,
                ArgumentSource.FunctionContext => context,
                ArgumentSource.CancellationToken => cancellationToken,
                ArgumentSource.BindingData => ConvertBindingData(function, plan, input.BindingData),
                _ => throw new InvalidOperationException($"Unknown argument source {plan.Source}."),
            };
        }
        var method = function.Method;
        return new Prepared(
            context,
            () => method.IsStatic ? null : _factories.GetOrAdd(method.DeclaringType!, t => ActivatorUtilities.CreateFactory(t, Type.EmptyTypes))(scoped, null),
            instance => method.Invoke(instance, BindingFlags.DoNotWrapExceptions, binder: null, arguments, CultureInfo.InvariantCulture));
    }

    private static async ValueTask DisposeAsync(object? instance)
    {
        switch (instance)
        {
            case IAsyncDisposable asyncDisposable:
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
            default:
                break;
        }
    }

    private static object? ConvertBindingData(FunctionDescriptor function, ArgumentPlan plan, IReadOnlyDictionary<string, object?> data)
    {
        var type = plan.Parameter.ParameterType;
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        if (!data.TryGetValue(plan.BindingDataName!, out var value) || value is null)
        {
            return type.IsValueType && Nullable.GetUnderlyingType(type) is null ? Activator.CreateInstance(type) : null;
        }
        if (underlying.IsInstanceOfType(value))
        {
            return value;
        }
        try
        {
            var text = Convert.ToString(value, CultureInfo.InvariantCulture)!;
            return underlying == typeof(Guid) ? Guid.Parse(text, CultureInfo.InvariantCulture)
                : underlying == typeof(DateTimeOffset) ? DateTimeOffset.Parse(text, CultureInfo.InvariantCulture)
                : Convert.ChangeType(text, underlying, CultureInfo.InvariantCulture);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"Function '{function.Name}': binding data '{plan.BindingDataName}' is not a {underlying.Name}.", ex);
        }
    }

    private static async Task<object?> AwaitResultAsync(object? returned, bool continueOnCapturedContext)
    {
        switch (returned)
        {
            case Task task:
                await task.ConfigureAwait(continueOnCapturedContext);
                return TaskResult(task);
            case ValueTask valueTask:
                await valueTask.ConfigureAwait(continueOnCapturedContext);
                return null;
            case not null when returned.GetType() is { IsGenericType: true } type && type.GetGenericTypeDefinition() == typeof(ValueTask<>):
                var asTask = (Task)type.GetMethod(nameof(ValueTask<int>.AsTask))!.Invoke(returned, null)!;
                await asTask.ConfigureAwait(continueOnCapturedContext);
                return TaskResult(asTask);
            default:
                return returned;
        }
    }

    private static object? TaskResult(Task task)
    {
        var type = task.GetType();
        // Task<VoidTaskResult> (an async Task method's task) has a Result that is no value.
        return type.IsGenericType && type.GetGenericArguments()[0].Name != "VoidTaskResult"
            ? type.GetProperty(nameof(Task<int>.Result))!.GetValue(task)
            : null;
    }
}
