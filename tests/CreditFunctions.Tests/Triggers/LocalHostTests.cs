using System.Text.Json;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.TestSupport;
using CreditFunctions.Triggers;
using CreditFunctions.Triggers.LocalHost;
using Microsoft.Extensions.DependencyInjection;

namespace CreditFunctions.Tests.Triggers;

/// <summary>Local-host mode end to end on Azurite: the server delivers its own queue, blob and timer triggers through
/// its invocation endpoints, with the host's rules.</summary>
public sealed class LocalHostTests(AzuriteFixture azurite)
{
    private readonly string _workQueue = AzuriteFixture.NewName("work");
    private readonly string _localTable = AzuriteFixture.NewName("localhost");
    private readonly string _blobQueue = AzuriteFixture.NewName("blobq");
    private readonly string _container = AzuriteFixture.NewName("uploads");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_queue_message_is_delivered_once_with_its_text_and_then_deleted()
    {
        var recorder = new Recorder();
        await using var app = await StartAsync(s => s.AddQueueFunction("work", new QueueTrigger("%WORK_QUEUE%"), (t, _, ct) => recorder.HandleAsync(t, ct)));

        await Queue(_workQueue).SendMessageAsync("""{"item":42}""", Ct);

        await Eventually.HoldsAsync(() => recorder.Completed == 1, "the delivery");
        await Eventually.ReturnsAsync(() => PeekAsync(_workQueue), m => m.Length == 0, "the message to be deleted");
        await Task.Delay(500, Ct);
        var context = Assert.IsType<QueueTriggerContext>(Assert.Single(recorder.Received));
        Assert.Equal("""{"item":42}""", context.MessageText);
        Assert.Equal(1, context.DequeueCount);
        Assert.Equal(_workQueue, context.QueueName);
        Assert.NotNull(context.MessageId);
        Assert.Equal(1, recorder.Calls);
    }

    [Fact]
    public async Task A_failed_delivery_is_retried_with_the_next_dequeue_count_until_it_completes()
    {
        var recorder = new Recorder { FailFirst = 2 };
        await using var app = await StartAsync(s => s.AddQueueFunction("work", new QueueTrigger("%WORK_QUEUE%"), (t, _, ct) => recorder.HandleAsync(t, ct)));

        await Queue(_workQueue).SendMessageAsync("flaky", Ct);

        await Eventually.HoldsAsync(() => recorder.Completed == 1, "the third delivery to complete");
        await Eventually.ReturnsAsync(() => PeekAsync(_workQueue), m => m.Length == 0, "the message to be deleted");
        Assert.Equal([1L, 2, 3], recorder.Received.Cast<QueueTriggerContext>().Select(c => c.DequeueCount));
        Assert.Empty(await PeekAsync(_workQueue + "-poison"));
    }

    [Fact]
    public async Task A_message_that_always_fails_moves_to_the_poison_queue_after_five_deliveries_and_health_counts_it()
    {
        var recorder = new Recorder { FailFirst = int.MaxValue };
        await using var app = await StartAsync(s => s.AddQueueFunction("work", new QueueTrigger("%WORK_QUEUE%"), (t, _, ct) => recorder.HandleAsync(t, ct)));

        await Queue(_workQueue).SendMessageAsync("always fails", Ct);

        var poisoned = await Eventually.ReturnsAsync(() => PeekAsync(_workQueue + "-poison"), m => m.Length == 1, "the poison message");
        Assert.Equal("always fails", poisoned[0].MessageText);
        await Task.Delay(500, Ct);
        Assert.Equal([1L, 2, 3, 4, 5], recorder.Received.Cast<QueueTriggerContext>().Select(c => c.DequeueCount));
        Assert.Empty(await PeekAsync(_workQueue));

        using var health = JsonDocument.Parse(await app.Client.GetStringAsync("/api/health", Ct));
        var queue = Assert.Single(health.RootElement.GetProperty("queues").EnumerateArray(), q => q.GetProperty("function").GetString() == "work");
        Assert.Equal(_workQueue, queue.GetProperty("queue").GetString());
        Assert.Equal(0, queue.GetProperty("approximateMessageCount").GetInt32());
        Assert.Equal(1, queue.GetProperty("poisonApproximateMessageCount").GetInt32());
    }

    [Fact]
    public async Task A_message_that_is_not_base64_goes_to_the_poison_queue_without_a_delivery()
    {
        var recorder = new Recorder();
        await using var app = await StartAsync(s => s.AddQueueFunction("work", new QueueTrigger("%WORK_QUEUE%"), (t, _, ct) => recorder.HandleAsync(t, ct)));
        var raw = new QueueClient(azurite.ConnectionString, _workQueue, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        await raw.CreateIfNotExistsAsync(cancellationToken: Ct);

        await raw.SendMessageAsync("plain text, not base64!", Ct);

        var poisoned = await Eventually.ReturnsAsync(() => PeekAsync(_workQueue + "-poison"), m => m.Length == 1, "the poison message");
        Assert.Equal("plain text, not base64!", poisoned[0].MessageText);
        Assert.Empty(recorder.Received);
    }

    [Fact]
    public async Task A_message_being_handled_when_the_app_stops_completes_and_is_not_delivered_again()
    {
        var recorder = new Recorder { Delay = TimeSpan.FromSeconds(1.5) };
        var app = await StartAsync(s => s.AddQueueFunction("work", new QueueTrigger("%WORK_QUEUE%"), (t, _, ct) => recorder.HandleAsync(t, ct)));
        try
        {
            await Queue(_workQueue).SendMessageAsync("slow", Ct);
            await Eventually.HoldsAsync(() => recorder.Calls == 1, "the delivery to start");

            await app.StopAsync();

            Assert.Equal(1, recorder.Completed);
        }
        finally
        {
            await app.DisposeAsync();
        }
        Assert.Empty(await PeekAsync(_workQueue));
        Assert.Empty(await PeekAsync(_workQueue + "-poison"));
    }

    [Fact]
    public async Task A_new_blob_is_delivered_exactly_once_even_after_a_restart()
    {
        var recorder = new Recorder();
        void Declare(IServiceCollection s) => s.AddBlobFunction("uploaded", new BlobTrigger("%UPLOADS%/incoming/{name}"), (t, _, ct) => recorder.HandleAsync(t, ct));
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(_container);
        await container.CreateIfNotExistsAsync(Ct);
        await using (var first = await StartAsync(Declare))
        {
            await container.GetBlobClient("incoming/leads.csv").UploadAsync(BinaryData.FromString("email\nada@example.com\n"), cancellationToken: Ct);
            await container.GetBlobClient("elsewhere/ignored.csv").UploadAsync(BinaryData.FromString("x"), cancellationToken: Ct);

            await Eventually.HoldsAsync(() => recorder.Completed == 1, "the blob's delivery");
            await Task.Delay(1000, Ct); // five scans more
        }
        var context = Assert.IsType<BlobTriggerContext>(Assert.Single(recorder.Received));
        Assert.Equal("incoming/leads.csv", context.BlobName);
        Assert.Equal("leads.csv", context.PathParameters["name"]);
        Assert.Equal("email\nada@example.com\n", context.Content.ToString());

        await using (var second = await StartAsync(Declare))
        {
            await Task.Delay(1000, Ct);
            Assert.Equal(1, recorder.Calls);

            // The restarted app does deliver: a second blob arrives, the first still does not come again.
            await container.GetBlobClient("incoming/more.csv").UploadAsync(BinaryData.FromString("email\n"), cancellationToken: Ct);
            await Eventually.HoldsAsync(() => recorder.Completed == 2, "the second blob's delivery");
            await Task.Delay(600, Ct);
        }
        Assert.Equal(["incoming/leads.csv", "incoming/more.csv"], recorder.Received.Cast<BlobTriggerContext>().Select(c => c.BlobName));
    }

    [Fact]
    public async Task A_blob_whose_function_fails_is_retried_and_a_new_version_is_delivered_again()
    {
        var recorder = new Recorder { FailFirst = 1 };
        await using var app = await StartAsync(s => s.AddBlobFunction("uploaded", new BlobTrigger("%UPLOADS%/{name}"), (t, _, ct) => recorder.HandleAsync(t, ct)));
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(_container);
        await container.CreateIfNotExistsAsync(Ct);

        await container.GetBlobClient("a.csv").UploadAsync(BinaryData.FromString("v1"), cancellationToken: Ct);
        await Eventually.HoldsAsync(() => recorder.Completed == 1, "the retried delivery");
        await container.GetBlobClient("a.csv").UploadAsync(BinaryData.FromString("v2"), cancellationToken: Ct);
        await Eventually.HoldsAsync(() => recorder.Completed == 2, "the new version's delivery");

        Assert.Equal(["v1", "v1", "v2"], recorder.Received.Cast<BlobTriggerContext>().Select(c => c.Content.ToString()));
    }

    [Fact]
    public async Task A_timer_fires_on_schedule_by_the_apps_clock_and_a_missed_occurrence_fires_late_after_a_restart()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 3, 1, 0, 0, 30, TimeSpan.Zero));
        var recorder = new Recorder();
        void Declare(IServiceCollection s)
        {
            s.AddSingleton<TimeProvider>(clock);
            s.AddTimerFunction("every-five-minutes", new TimerTrigger("0 */5 * * * *"), (t, _, ct) => recorder.HandleAsync(t, ct));
        }
        var at = (int minute) => new DateTimeOffset(2026, 3, 1, 0, minute, 0, TimeSpan.Zero);
        await using (var app = await StartAsync(Declare))
        {
            var host = app.Services.GetRequiredService<LocalFunctionsHost>();
            await Eventually.HoldsAsync(() => host.GetNextOccurrence("every-five-minutes") == at(5), "the timer to wait for 00:05");
            clock.Advance(TimeSpan.FromMinutes(4));
            await Task.Delay(300, Ct);
            Assert.Equal(0, recorder.Calls);

            clock.Advance(TimeSpan.FromMinutes(1));
            await Eventually.HoldsAsync(() => recorder.Completed == 1 && host.GetNextOccurrence("every-five-minutes") == at(10), "the 00:05 occurrence");
            clock.Advance(TimeSpan.FromMinutes(5));
            await Eventually.HoldsAsync(() => recorder.Completed == 2 && host.GetNextOccurrence("every-five-minutes") == at(15), "the 00:10 occurrence");
        }
        var fired = recorder.Received.Cast<TimerTriggerContext>().ToList();
        Assert.All(fired, c => Assert.False(c.IsPastDue));
        Assert.Equal([at(5), at(10)], fired.Select(c => c.Next!.Value));
        Assert.Equal(at(5), fired[1].Last);

        // Down from 00:10 to 00:32: the 00:15 occurrence (and those after it) were missed; one late run catches up.
        clock.Advance(TimeSpan.FromMinutes(22));
        await using (var restarted = await StartAsync(Declare))
        {
            var host = restarted.Services.GetRequiredService<LocalFunctionsHost>();
            await Eventually.HoldsAsync(() => recorder.Completed == 3 && host.GetNextOccurrence("every-five-minutes") == at(35), "the late occurrence");
            await Task.Delay(300, Ct);
        }
        var late = Assert.IsType<TimerTriggerContext>(recorder.Received.Last());
        Assert.True(late.IsPastDue);
        Assert.Equal(at(15), late.Next);
        Assert.Equal(3, recorder.Calls);
    }

    [Fact]
    public async Task A_disabled_function_gets_no_deliveries()
    {
        var recorder = new Recorder();
        await using var app = await StartAsync(s => s.AddQueueFunction("work", new QueueTrigger("%WORK_QUEUE%"), (t, _, ct) => recorder.HandleAsync(t, ct)),
            new Dictionary<string, string?> { ["AzureWebJobs.work.Disabled"] = "true" });

        await Queue(_workQueue).CreateIfNotExistsAsync(cancellationToken: Ct);
        await Queue(_workQueue).SendMessageAsync("waits", Ct);
        await Task.Delay(800, Ct);

        Assert.Empty(recorder.Received);
        Assert.Single(await PeekAsync(_workQueue));
    }

    private async Task<TestApp> StartAsync(Action<IServiceCollection> declare, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["CREDITFUNCTIONS_LOCALHOST"] = "true",
            ["CREDITFUNCTIONS_LOCALHOST_TABLE"] = _localTable,
            ["CREDITFUNCTIONS_LOCALHOST_BLOB_QUEUE"] = _blobQueue,
            ["CREDITFUNCTIONS_LOCALHOST_BLOB_SCAN_SECONDS"] = "0.2",
            ["AzureFunctionsJobHost:extensions:queues:visibilityTimeout"] = "00:00:00.100",
            ["AzureFunctionsJobHost:extensions:queues:maxPollingInterval"] = "00:00:00.200",
            ["AzureWebJobs.plan-grants.Disabled"] = "true",
            ["WORK_QUEUE"] = _workQueue,
            ["UPLOADS"] = _container,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        var app = await TestApp.StartAsync(azurite, settings: settings, configureServices: declare);
        await app.Services.GetRequiredService<LocalFunctionsHost>().Ready.WaitAsync(Eventually.Wait, Ct);
        return app;
    }

    private QueueClient Queue(string name) => new(azurite.ConnectionString, name);

    private async Task<PeekedMessage[]> PeekAsync(string queue)
    {
        var client = Queue(queue);
        await client.CreateIfNotExistsAsync(cancellationToken: Ct);
        return (await client.PeekMessagesAsync(32, Ct)).Value;
    }
}
