using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace DevHost.SampleApp;

public sealed class HttpFunctions(Recorder recorder)
{
    [Function(nameof(Hello))]
    public IActionResult Hello([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "hello/{name}")] HttpRequest request, string name) =>
        new OkObjectResult(new Greeting(name, name.Length));

    [Function(nameof(Add))]
    public static IActionResult Add([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "add/{a:int}/{b:int}")] HttpRequest request, int a, int b) =>
        new OkObjectResult(new { sum = a + b });

    [Function(nameof(CreateWork))]
    public async Task<IActionResult> CreateWork(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "orders")] HttpRequest request, FunctionContext context, CancellationToken cancellationToken)
    {
        var item = await request.ReadFromJsonAsync<WorkItem>(cancellationToken);
        if (item is null)
        {
            return new BadRequestResult();
        }
        recorder.Add(nameof(CreateWork), context.GetHttpContext() is { } http ? http.Request.Path : "no http context");
        return new CreatedResult($"/api/orders/{item.Id}", item);
    }

    [Function(nameof(Minimal))]
    public static IResult Minimal([HttpTrigger(AuthorizationLevel.Function, "get", "put", Route = "minimal")] HttpRequest request) =>
        Results.Json(new { method = request.Method, query = request.Query["q"].ToString() }, statusCode: 202);

    [Function(nameof(Slow))]
    public async Task<IActionResult> Slow([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "slow")] HttpRequest request)
    {
        recorder.SlowStarted.TrySetResult();
        await Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None);
        recorder.Add(nameof(Slow), "finished");
        return new OkObjectResult("slow done");
    }

    [Function(nameof(StartOrchestration))]
    public static async Task<IActionResult> StartOrchestration(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "orchestrations/{name}")] HttpRequest request,
        string name,
        [DurableClient] DurableTaskClient client)
    {
        var input = await request.ReadFromJsonAsync<ChainInput>();
        var instanceId = await client.ScheduleNewOrchestrationInstanceAsync(name, input);
        return new AcceptedResult($"/api/orchestrations/{instanceId}", new { instanceId });
    }
}
