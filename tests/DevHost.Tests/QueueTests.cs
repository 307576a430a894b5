using System.Text.Json;
using Azure.Storage.Queues;

namespace DevHost.Tests;

public sealed class QueueTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private QueueClient Queue(string name) =>
        new(azurite.ConnectionString, name, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });

    [Fact]
    public async Task Queue_message_is_processed_and_bound_as_poco_and_as_QueueMessage()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        await using var host = await TestHosts.StartAsync(settings, "ProcessWork", "ProcessText");

        await Queue(settings["WorkQueue"]!).SendMessageAsync(JsonSerializer.Serialize(new { id = "w1", amount = 5 }), Ct);
        await Queue(settings["TextQueue"]!).SendMessageAsync("plain text", Ct);

        await TestHosts.EventuallyAsync(() => host.Recorder().Values("ProcessWork").Count == 1 && host.Recorder().Values("ProcessText").Count == 1);
        Assert.Equal(["w1:5"], host.Recorder().Values("ProcessWork"));
        Assert.Equal(["plain text|True|1"], host.Recorder().Values("ProcessText"));
        await TestHosts.EventuallyAsync(async () => (await Queue(settings["WorkQueue"]!).GetPropertiesAsync(Ct)).Value.ApproximateMessagesCount == 0,
            because: "a processed message is deleted");
    }

    [Fact]
    public async Task Failing_message_goes_to_poison_after_max_dequeue_count()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        await using var host = await TestHosts.StartAsync(settings, "FailAlways");
        var queue = settings["FailQueue"]!;

        await Queue(queue).SendMessageAsync("bad", Ct);

        var poison = Queue(queue + "-poison");
        await TestHosts.EventuallyAsync(async () => await poison.ExistsAsync(Ct) && (await poison.PeekMessagesAsync(10, Ct)).Value.Length == 1);
        // host.json of the sample app: maxDequeueCount 3, visibilityTimeout 0.
        Assert.Equal(["bad:1", "bad:2", "bad:3"], host.Recorder().Values("FailAlways"));
        Assert.Equal("bad", (await poison.PeekMessagesAsync(10, Ct)).Value.Single().MessageText);
        Assert.Empty((await Queue(queue).PeekMessagesAsync(10, Ct)).Value);
    }

    [Fact]
    public async Task Message_that_is_not_base64_goes_to_poison_without_a_delivery()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        await using var host = await TestHosts.StartAsync(settings, "ProcessText");
        var raw = new QueueClient(azurite.ConnectionString, settings["TextQueue"], new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });

        await raw.SendMessageAsync("not base64 !", Ct);

        var poison = new QueueClient(azurite.ConnectionString, settings["TextQueue"] + "-poison", new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        await TestHosts.EventuallyAsync(async () => await poison.ExistsAsync(Ct) && (await poison.PeekMessagesAsync(10, Ct)).Value.Length == 1);
        Assert.Equal("not base64 !", (await poison.PeekMessagesAsync(10, Ct)).Value.Single().MessageText);
        Assert.Empty(host.Recorder().Values("ProcessText"));
    }

    [Fact]
    public async Task AzureFunctionsJobHost_settings_override_host_json()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        settings["AzureFunctionsJobHost__extensions__queues__maxDequeueCount"] = "2";
        await using var host = await TestHosts.StartAsync(settings, "FailAlways");
        var queue = settings["FailQueue"]!;

        await Queue(queue).SendMessageAsync("bad", Ct);

        var poison = Queue(queue + "-poison");
        await TestHosts.EventuallyAsync(async () => await poison.ExistsAsync(Ct) && (await poison.PeekMessagesAsync(10, Ct)).Value.Length == 1);
        Assert.Equal(["bad:1", "bad:2"], host.Recorder().Values("FailAlways"));
    }

    [Fact]
    public async Task Disabled_function_does_not_run()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        settings["AzureWebJobs.ProcessWork.Disabled"] = "true";
        await using var host = await TestHosts.StartAsync(settings, "ProcessWork", "ProcessText");

        Assert.DoesNotContain(host.Functions, f => f.Name == "ProcessWork");
        Assert.Contains(host.Functions, f => f.Name == "ProcessText" && f.Target == settings["TextQueue"]);
    }

    [Fact]
    public async Task Graceful_stop_finishes_a_queue_invocation_under_way()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        var host = await TestHosts.StartAsync(settings, "SlowQueue");
        var queue = Queue(settings["SlowQueue"]!);
        await queue.SendMessageAsync("m1", Ct);
        var recorder = host.Recorder();
        await recorder.SlowStarted.Task.WaitAsync(TestHosts.Timeout, Ct);

        await host.StopAsync(Ct);

        Assert.Equal(["m1"], recorder.Values("SlowQueue"));
        Assert.Empty((await queue.PeekMessagesAsync(10, Ct)).Value);
        await host.DisposeAsync();
    }
}
