using DevHost.Discovery;
using DevHost.Invocation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;

namespace DevHost.Http;

/// <summary>
/// Maps HTTP-triggered functions onto ASP.NET Core routing at <c>/{routePrefix}/{route}</c> with the methods the
/// metadata names (all methods when it names none). The function gets the Kestrel request as
/// <see cref="HttpRequest"/>; <c>context.GetHttpContext()</c> works. <see cref="IActionResult"/>s run through MVC
/// core's executors and <see cref="IResult"/>s through their own, both with the shared JSON settings. An unhandled
/// exception answers 500 with no body, as the host does.
/// </summary>
internal static class HttpTriggerEndpoints
{
    public static string RouteOf(FunctionDescriptor function, string routePrefix)
    {
        var route = (function.Trigger.GetString("route") ?? function.Name).Trim('/');
        return routePrefix.Length == 0 ? route : $"{routePrefix.Trim('/')}/{route}";
    }

    public static IReadOnlyList<string> MethodsOf(FunctionDescriptor function) =>
        [.. function.Trigger.GetStrings("methods").Select(m => m.ToUpperInvariant())];

    public static void Map(WebApplication app, FunctionDescriptor function, string routePrefix, Func<FunctionInvoker> invoker)
    {
        var pattern = "/" + RouteOf(function, routePrefix);
        var methods = MethodsOf(function);
        RequestDelegate handler = http => HandleAsync(http, function, invoker());
        var endpoint = methods.Count == 0 ? app.Map(pattern, handler) : app.MapMethods(pattern, methods, handler);
        endpoint.WithDisplayName(function.Name);
    }

    private static async Task HandleAsync(HttpContext http, FunctionDescriptor function, FunctionInvoker invoker)
    {
        var bindingData = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in http.Request.RouteValues)
        {
            bindingData[key] = value;
        }
        var input = new InvocationInput(_ => http.Request, bindingData)
        {
            PrepareContext = context => context.Items["HttpRequestContext"] = http,
        };
        object? result;
        try
        {
            result = await invoker.InvokeAsync(function, input, http.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception) when (!http.Response.HasStarted)
        {
            // Logged by the invoker; the host answers an unhandled exception with a bare 500.
            http.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }
        switch (result)
        {
            case IActionResult action:
                await action.ExecuteResultAsync(new ActionContext(http, http.GetRouteData(), new ActionDescriptor())).ConfigureAwait(false);
                break;
            case IResult minimal:
                await minimal.ExecuteAsync(http).ConfigureAwait(false);
                break;
            default:
                http.Response.StatusCode = StatusCodes.Status204NoContent;
                break;
        }
    }
}
