using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CreditFunctions.Durable.Http;
using CreditFunctions.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using static CreditFunctions.Durable.Tests.DurableTestHost;

namespace CreditFunctions.Durable.Tests;

public sealed class HttpManagementTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Start_answers_202_with_location_and_the_management_urls_and_status_turns_200_when_done()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<string, string>("Greet", async (ctx, name) => $"hello {name}:{await ctx.WaitForExternalEvent<string>("punctuation")}"));
        await using var web = await StartWebAsync(host, (_, id) => !id.StartsWith("hidden", StringComparison.Ordinal));
        using var http = new HttpClient { BaseAddress = new Uri(web.Urls.First()) };

        var started = await http.PostAsync("/start/Greet", JsonContent.Create("ada"), Ct);
        var urls = await started.Content.ReadFromJsonAsync<DurableManagementUrls>(DurableJson.Options, Ct);
        var running = await http.GetAsync(urls!.StatusQueryGetUri, Ct);
        var raised = await http.PostAsync(urls.SendEventPostUri.Replace("{eventName}", "punctuation", StringComparison.Ordinal), JsonContent.Create("!"), Ct);
        await host.WaitAsync(urls.Id);
        var done = await http.GetAsync(urls.StatusQueryGetUri, Ct);
        using var status = JsonDocument.Parse(await done.Content.ReadAsStringAsync(Ct));

        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        Assert.Equal(urls.StatusQueryGetUri, started.Headers.Location!.ToString());
        Assert.EndsWith($"/runtime/webhooks/durabletask/instances/{urls.Id}", urls.PurgeHistoryDeleteUri, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, running.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, raised.StatusCode);
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Equal("Completed", status.RootElement.GetProperty("runtimeStatus").GetString());
        Assert.Equal("hello ada:!", status.RootElement.GetProperty("output").GetString());
        Assert.Equal(HttpStatusCode.OK, (await http.DeleteAsync(urls.PurgeHistoryDeleteUri, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(urls.StatusQueryGetUri, Ct)).StatusCode);
    }

    [Fact]
    public async Task An_instance_the_caller_may_not_see_answers_404_like_a_missing_one()
    {
        await using var host = await DurableTestHost.StartAsync(azurite, r => r
            .AddOrchestratorFunc<int, int>("Waits", async (ctx, _) => await ctx.WaitForExternalEvent<int>("x")));
        await using var web = await StartWebAsync(host, (_, id) => !id.StartsWith("hidden", StringComparison.Ordinal));
        using var http = new HttpClient { BaseAddress = new Uri(web.Urls.First()) };
        await host.Client.ScheduleNewOrchestrationInstanceAsync("Waits", 0, new StartOrchestrationOptions { InstanceId = "hidden-1" }, Ct);

        var get = await http.GetAsync("/runtime/webhooks/durabletask/instances/hidden-1", Ct);
        var terminate = await http.PostAsync("/runtime/webhooks/durabletask/instances/hidden-1/terminate", null, Ct);
        var missing = await http.GetAsync("/runtime/webhooks/durabletask/instances/nobody", Ct);
        var list = await http.GetFromJsonAsync<JsonElement[]>("/runtime/webhooks/durabletask/instances", Ct);
        var badStatus = await http.GetAsync("/runtime/webhooks/durabletask/instances?runtimeStatus=Sleeping", Ct);

        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, terminate.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Empty(list!);
        Assert.Equal(HttpStatusCode.BadRequest, badStatus.StatusCode);
        Assert.Contains("runtimeStatus", await badStatus.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.NotEqual(OrchestrationRuntimeStatus.Terminated, (await host.Client.GetInstanceAsync("hidden-1", cancellationToken: Ct))!.RuntimeStatus);
    }

    private static async Task<WebApplication> StartWebAsync(DurableTestHost host, Func<HttpContext, string, bool> canSee)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapDurableManagement(host.Client, canSee: canSee);
        app.MapPost("/start/{name}", async (HttpRequest request, string name, CancellationToken ct) =>
        {
            var input = await request.ReadFromJsonAsync<JsonElement>(ct);
            var id = await host.Client.ScheduleNewOrchestrationInstanceAsync(name, input, cancellationToken: ct);
            return DurableHttpApi.CreateCheckStatusResponse(request, id);
        });
        await app.StartAsync(Ct);
        return app;
    }
}
