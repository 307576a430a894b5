using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace CreditFunctions.Triggers.LocalHost;

/// <summary>An invocation that the server answered with a non-2xx status: the function failed (or refused the envelope).</summary>
public sealed class FunctionInvocationFailedException : Exception
{
    /// <summary>Creates the exception for <paramref name="functionName"/> and the status it answered.</summary>
    public FunctionInvocationFailedException(string functionName, int statusCode)
        : base($"Function '{functionName}' answered {statusCode}.")
    {
        FunctionName = functionName;
        StatusCode = statusCode;
    }

    /// <summary>The function.</summary>
    public string FunctionName { get; } = string.Empty;

    /// <summary>The HTTP status the server answered.</summary>
    public int StatusCode { get; }
}

/// <summary>
/// Plays the Functions host's part in an invocation: POSTs the envelope to the server's own <c>/{function}</c>
/// endpoint over HTTP, with an invocation id, so local-host mode runs the very code path the host drives in Azure.
/// </summary>
internal sealed class LocalInvoker(HttpClient http) : IDisposable
{
    /// <summary>Invokes <paramref name="function"/>; returns when the server answered 2xx.</summary>
    /// <exception cref="FunctionInvocationFailedException">The server answered non-2xx.</exception>
    public async Task InvokeAsync(FunctionDefinition function, JsonObject envelope, CancellationToken cancellationToken)
    {
        using var activity = TriggerTelemetry.Source.StartActivity("deliver " + function.Name, ActivityKind.Producer);
        activity?.SetTag("faas.name", function.Name);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/" + function.Name)
        {
            Content = new StringContent(envelope.ToJsonString(), Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        request.Headers.Add(InvocationEnvelope.InvocationIdHeader, Guid.NewGuid().ToString());
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
            throw new FunctionInvocationFailedException(function.Name, (int)response.StatusCode);
        }
    }

    public void Dispose() => http.Dispose();
}
