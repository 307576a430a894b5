using System.Reflection;
using System.Text.RegularExpressions;
using Azure.Storage.Blobs;
using Azure.Storage.Queues.Models;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace DevHost.Discovery;

/// <summary>
/// The dev host's declared set of binding features. A function that uses anything else is refused at start-up with
/// an <see cref="UnsupportedFunctionException"/>; see the README of the dev host for the list.
/// </summary>
internal static partial class FunctionValidator
{
    public const string HttpTrigger = "httpTrigger";
    public const string QueueTrigger = "queueTrigger";
    public const string BlobTrigger = "blobTrigger";
    public const string TimerTrigger = "timerTrigger";
    public const string OrchestrationTrigger = "orchestrationTrigger";
    public const string ActivityTrigger = "activityTrigger";
    public const string DurableClient = "durableClient";

    private static readonly string[] KnownTriggers = [HttpTrigger, QueueTrigger, BlobTrigger, TimerTrigger, OrchestrationTrigger, ActivityTrigger];
    private static readonly Type[] QueueTypes = [typeof(string), typeof(BinaryData), typeof(byte[]), typeof(QueueMessage)];
    private static readonly Type[] BlobTypes = [typeof(Stream), typeof(string), typeof(byte[]), typeof(BinaryData), typeof(BlobClient)];
    private static readonly string[] QueueBindingData = ["id", "dequeueCount", "insertionTime", "expirationTime", "nextVisibleTime", "popReceipt", "queueTrigger"];
    private static readonly Type[] RouteValueTypes = [typeof(string), typeof(int), typeof(long), typeof(Guid), typeof(bool), typeof(double), typeof(decimal)];

    /// <summary>Checks every function and sets its argument plan; throws for the first unsupported one.</summary>
    public static void Validate(FunctionDescriptor function)
    {
        var name = function.Name;
        if (function.Metadata.Retry is not null)
        {
            throw new UnsupportedFunctionException(name, "it has a retry policy ([FixedDelayRetry]/[ExponentialBackoffRetry]); the dev host runs no retry policies");
        }
        var trigger = function.Trigger;
        if (!KnownTriggers.Any(known => Is(trigger.Type, known)))
        {
            throw new UnsupportedFunctionException(name, $"its trigger type '{trigger.Type}' is not supported (supported: {string.Join(", ", KnownTriggers)})");
        }
        foreach (var binding in function.Bindings.Where(b => !ReferenceEquals(b, trigger)))
        {
            if (binding.IsIn && string.Equals(binding.Type, DurableClient, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            if (!binding.IsIn && binding.Name == "$return" && string.Equals(binding.Type, "http", StringComparison.OrdinalIgnoreCase) &&
                string.Equals(trigger.Type, HttpTrigger, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var what = binding.IsIn ? "input" : "output";
            throw new UnsupportedFunctionException(name,
                $"its {what} binding '{binding.Name}' of type '{binding.Type}' is not supported (the dev host supports no output bindings " +
                "other than the HTTP result, and no input bindings other than [DurableClient])");
        }

        var bindingData = BindingDataNames(function);
        var plans = new List<ArgumentPlan>();
        foreach (var parameter in function.Method.GetParameters())
        {
            plans.Add(Plan(function, parameter, bindingData));
        }
        if (plans.Count(p => p.Source == ArgumentSource.Trigger) != 1)
        {
            throw new UnsupportedFunctionException(name, $"no parameter receives its trigger '{trigger.Name}'");
        }
        function.Arguments = plans;
        CheckTriggerType(function, plans.Single(p => p.Source == ArgumentSource.Trigger).Parameter.ParameterType);
        CheckReturnType(function);
    }

    /// <summary>The route template's parameter names (<c>{id}</c>, <c>{id:int}</c>, <c>{*rest}</c>, <c>{id?}</c>).</summary>
    public static IReadOnlyList<string> TemplateNames(string template) =>
        [.. TemplateParameter().Matches(template).Select(m => m.Groups["name"].Value)];

    private static ArgumentPlan Plan(FunctionDescriptor function, ParameterInfo parameter, HashSet<string> bindingData)
    {
        var type = parameter.ParameterType;
        if (parameter.Name == function.Trigger.Name)
        {
            return new ArgumentPlan(parameter, ArgumentSource.Trigger);
        }
        var binding = function.Bindings.FirstOrDefault(b => b.Name == parameter.Name && b.IsIn);
        if (binding is not null && string.Equals(binding.Type, DurableClient, StringComparison.OrdinalIgnoreCase))
        {
            return type.IsAssignableFrom(typeof(Durable.DevHostDurableTaskClient))
                ? new ArgumentPlan(parameter, ArgumentSource.DurableClient)
                : throw new UnsupportedFunctionException(function.Name, $"its [DurableClient] parameter '{parameter.Name}' is a {type.Name}; only DurableTaskClient is supported");
        }
        if (type == typeof(FunctionContext))
        {
            return new ArgumentPlan(parameter, ArgumentSource.FunctionContext);
        }
        if (type == typeof(CancellationToken))
        {
            return new ArgumentPlan(parameter, ArgumentSource.CancellationToken);
        }
        if (parameter.Name is { } parameterName && bindingData.Contains(parameterName))
        {
            var underlying = Nullable.GetUnderlyingType(type) ?? type;
            if (RouteValueTypes.Contains(underlying) || underlying == typeof(DateTimeOffset))
            {
                return new ArgumentPlan(parameter, ArgumentSource.BindingData, bindingData.First(n => n.Equals(parameterName, StringComparison.OrdinalIgnoreCase)));
            }
            throw new UnsupportedFunctionException(function.Name, $"its parameter '{parameterName}' binds binding data as a {type.Name}; supported are string and simple values");
        }
        throw new UnsupportedFunctionException(function.Name,
            $"its parameter '{parameter.Name}' ({type.Name}) is bound to nothing the dev host knows (supported: the trigger, [DurableClient], " +
            $"FunctionContext, CancellationToken, and binding data: {string.Join(", ", bindingData.DefaultIfEmpty("none"))})");
    }

    private static HashSet<string> BindingDataNames(FunctionDescriptor function)
    {
        var trigger = function.Trigger;
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        switch (trigger.Type)
        {
            case var t when Is(t, HttpTrigger):
                names.UnionWith(TemplateNames(trigger.GetString("route") ?? function.Name));
                break;
            case var t when Is(t, QueueTrigger):
                names.UnionWith(QueueBindingData);
                break;
            case var t when Is(t, BlobTrigger):
                names.UnionWith(TemplateNames(trigger.GetString("path") ?? string.Empty));
                names.Add("blobTrigger");
                names.Add("uri");
                break;
            default:
                break;
        }
        return names;
    }

    private static void CheckTriggerType(FunctionDescriptor function, Type type)
    {
        var trigger = function.Trigger;
        var name = function.Name;
        switch (trigger.Type)
        {
            case var t when Is(t, HttpTrigger):
                if (type != typeof(HttpRequest))
                {
                    throw new UnsupportedFunctionException(name, $"its HTTP trigger parameter is a {type.Name}; only HttpRequest (ASP.NET Core integration) is supported");
                }
                break;
            case var t when Is(t, QueueTrigger):
                if (!QueueTypes.Contains(type) && !IsPoco(type))
                {
                    throw new UnsupportedFunctionException(name, $"its queue trigger parameter is a {type.Name}; supported are string, BinaryData, byte[], QueueMessage and JSON POCOs");
                }
                break;
            case var t when Is(t, BlobTrigger):
                if (!BlobTypes.Contains(type))
                {
                    throw new UnsupportedFunctionException(name, $"its blob trigger parameter is a {type.Name}; supported are Stream, string, byte[], BinaryData and BlobClient");
                }
                if (string.Equals(trigger.GetString("source"), "EventGrid", StringComparison.OrdinalIgnoreCase))
                {
                    throw new UnsupportedFunctionException(name, "its blob trigger uses source EventGrid; the dev host only polls (LogsAndContainerScan)");
                }
                break;
            case var t when Is(t, TimerTrigger):
                if (type != typeof(TimerInfo))
                {
                    throw new UnsupportedFunctionException(name, $"its timer trigger parameter is a {type.Name}; only TimerInfo is supported");
                }
                break;
            case var t when Is(t, OrchestrationTrigger):
                if (type != typeof(TaskOrchestrationContext))
                {
                    throw new UnsupportedFunctionException(name, $"its orchestration trigger parameter is a {type.Name}; only TaskOrchestrationContext is supported");
                }
                if (function.Arguments.Any(a => a.Source is ArgumentSource.DurableClient or ArgumentSource.BindingData))
                {
                    throw new UnsupportedFunctionException(name, "an orchestrator takes only its TaskOrchestrationContext, FunctionContext and CancellationToken");
                }
                break;
            case var t when Is(t, ActivityTrigger):
                break;
            default:
                throw new UnsupportedFunctionException(name, $"its trigger type '{trigger.Type}' is not supported (supported: httpTrigger, queueTrigger, " +
                    "blobTrigger, timerTrigger, orchestrationTrigger, activityTrigger)");
        }
    }

    private static void CheckReturnType(FunctionDescriptor function)
    {
        var result = function.ResultType;
        if (Is(function.Trigger.Type, HttpTrigger) && !typeof(IActionResult).IsAssignableFrom(result) && !typeof(IResult).IsAssignableFrom(result))
        {
            throw new UnsupportedFunctionException(function.Name,
                $"its HTTP function returns {result.Name}; supported are IActionResult and IResult (or a Task/ValueTask of them)");
        }
    }

    private static bool IsPoco(Type type) =>
        type.IsClass && type != typeof(object) && !type.IsAbstract && !typeof(System.Collections.IEnumerable).IsAssignableFrom(type) ||
        type.IsValueType && !type.IsPrimitive && !type.IsEnum && type.Namespace?.StartsWith("System", StringComparison.Ordinal) != true;

    private static bool Is(string type, string expected) => string.Equals(type, expected, StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex(@"\{\**(?<name>[A-Za-z_][A-Za-z0-9_]*)[^}]*\}")]
    private static partial Regex TemplateParameter();
}
