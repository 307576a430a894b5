using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.DurableTask.Client;

namespace DevHost.Tests;

public sealed class HttpTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Http_routes_methods_route_values_and_results_follow_the_metadata()
    {
        await using var host = await TestHosts.StartAsync(TestHosts.Settings(azurite.ConnectionString), "Hello", "Add", "CreateWork", "Minimal");
        using var http = new HttpClient { BaseAddress = host.BaseAddress };

        var hello = await http.GetAsync(new Uri("api/hello/World", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, hello.StatusCode);
        Assert.Equal("""{"name":"World","length":5}""", await hello.Content.ReadAsStringAsync(Ct));

        Assert.Equal("""{"sum":5}""", await http.GetStringAsync(new Uri("api/add/2/3", UriKind.Relative), Ct));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("api/add/two/3", UriKind.Relative), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await http.PostAsync(new Uri("api/hello/World", UriKind.Relative), null, Ct)).StatusCode);

        var created = await http.PostAsJsonAsync(new Uri("api/orders", UriKind.Relative), new { id = "w1", amount = 7 }, Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/api/orders/w1", created.Headers.Location?.OriginalString);
        Assert.Equal("""{"id":"w1","amount":7}""", await created.Content.ReadAsStringAsync(Ct));
        Assert.Equal(["/api/orders"], host.Recorder().Values("CreateWork"));

        var minimal = await http.PutAsync(new Uri("api/minimal?q=x", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, minimal.StatusCode);
        Assert.Equal("""{"method":"PUT","query":"x"}""", await minimal.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Durable_client_parameter_in_an_http_function_starts_an_orchestration()
    {
        await using var host = await TestHosts.StartAsync(TestHosts.Settings(azurite.ConnectionString), "StartOrchestration", "Chain", "SayHello");
        using var http = new HttpClient { BaseAddress = host.BaseAddress };

        var response = await http.PostAsJsonAsync(new Uri("api/orchestrations/Chain", UriKind.Relative), new { names = new[] { "a", "b" } }, Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var instanceId = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("instanceId").GetString()!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TestHosts.Timeout);
        var done = await host.DurableClient.WaitForInstanceCompletionAsync(instanceId, getInputsAndOutputs: true, timeout.Token);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.Equal(["Hello a (SayHello)", "Hello b (SayHello)"], done.ReadOutputAs<List<string>>());
    }

    [Fact]
    public async Task Graceful_stop_finishes_an_http_request_under_way()
    {
        var host = await TestHosts.StartAsync(TestHosts.Settings(azurite.ConnectionString), "Slow");
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        var request = http.GetStringAsync(new Uri("api/slow", UriKind.Relative), Ct);
        var recorder = host.Recorder();
        await recorder.SlowStarted.Task.WaitAsync(TestHosts.Timeout, Ct);

        await host.StopAsync(Ct);

        // MVC writes a string result as text/plain, as in Azure.
        Assert.Equal("slow done", await request.WaitAsync(TestHosts.Timeout, Ct));
        Assert.Equal(["finished"], recorder.Values("Slow"));
        await host.DisposeAsync();
    }
}
