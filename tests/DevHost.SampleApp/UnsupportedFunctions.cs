using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Http;

namespace DevHost.SampleApp;

// Functions the dev host must refuse at start-up. The tests exclude them with a function filter, except the tests
// that prove the refusal.
public static class UnsupportedFunctions
{
    [Function(nameof(UnsupportedQueueOutput))]
    [QueueOutput("unsupported-out")]
    public static string UnsupportedQueueOutput([QueueTrigger("unsupported-in")] string message) => message;

    [Function(nameof(UnsupportedRetry))]
    [FixedDelayRetry(3, "00:00:01")]
    public static void UnsupportedRetry([TimerTrigger("0 0 0 1 1 *")] TimerInfo timer)
    {
    }

    [Function(nameof(UnsupportedHttpRequestData))]
    public static HttpResponseData UnsupportedHttpRequestData([HttpTrigger(AuthorizationLevel.Anonymous, "get")] HttpRequestData request) =>
        request.CreateResponse(System.Net.HttpStatusCode.OK);

    [Function(nameof(UnsupportedMultiOutput))]
    public static MultiOutput UnsupportedMultiOutput([HttpTrigger(AuthorizationLevel.Anonymous, "post")] Microsoft.AspNetCore.Http.HttpRequest request) =>
        new() { Message = "hello" };

    public sealed class MultiOutput
    {
        [QueueOutput("unsupported-multi")]
        public string? Message { get; init; }

        [HttpResult]
        public Microsoft.AspNetCore.Mvc.IActionResult? Result { get; init; }
    }
}
