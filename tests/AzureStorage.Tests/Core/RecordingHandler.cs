using System.Net;
using System.Text;

namespace CreditFunctions.AzureStorage.Tests.Core;

/// <summary>An HTTP handler that records every request and answers with a canned response (no network).</summary>
internal sealed class RecordingHandler(HttpStatusCode status, string body = "", string contentType = "application/json") : HttpMessageHandler
{
    public List<HttpRequestMessage> Requests { get; } = [];

    public Dictionary<string, string> ResponseHeaders { get; } = new(StringComparer.OrdinalIgnoreCase);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Add(request);
        var response = new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, contentType), RequestMessage = request };
        foreach (var (name, value) in ResponseHeaders)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }
        return Task.FromResult(response);
    }
}

internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
