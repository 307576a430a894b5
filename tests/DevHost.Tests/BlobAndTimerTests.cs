using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace DevHost.Tests;

public sealed class BlobAndTimerTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Blob_is_delivered_once_per_version_and_a_rewrite_again()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        await using var host = await TestHosts.StartAsync(settings, "OnBlob");
        var container = new BlobContainerClient(azurite.ConnectionString, settings["BlobContainer"]);
        await container.CreateIfNotExistsAsync(cancellationToken: Ct);

        await container.UploadBlobAsync("in/a.txt", BinaryData.FromString("one"), Ct);
        await container.UploadBlobAsync("other/b.txt", BinaryData.FromString("not matched"), Ct);
        await TestHosts.EventuallyAsync(() => host.Recorder().Values("OnBlob").Count == 1);
        await Task.Delay(1_000, Ct); // several scans
        Assert.Equal(["a.txt=one"], host.Recorder().Values("OnBlob"));

        await container.GetBlobClient("in/a.txt").UploadAsync(BinaryData.FromString("two"), overwrite: true, Ct);
        await TestHosts.EventuallyAsync(() => host.Recorder().Values("OnBlob").Count == 2);
        await Task.Delay(1_000, Ct);
        Assert.Equal(["a.txt=one", "a.txt=two"], host.Recorder().Values("OnBlob"));
    }

    [Fact]
    public async Task Restart_does_not_redeliver_a_delivered_blob()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        var container = new BlobContainerClient(azurite.ConnectionString, settings["BlobContainer"]);
        await container.CreateIfNotExistsAsync(cancellationToken: Ct);
        await container.UploadBlobAsync("in/a.txt", BinaryData.FromString("one"), Ct);
        await using (var first = await TestHosts.StartAsync(settings, "OnBlob"))
        {
            await TestHosts.EventuallyAsync(() => first.Recorder().Values("OnBlob").Count == 1);
        }

        await using var second = await TestHosts.StartAsync(settings, "OnBlob");
        await container.UploadBlobAsync("in/b.txt", BinaryData.FromString("new"), Ct);

        await TestHosts.EventuallyAsync(() => second.Recorder().Values("OnBlob").Count >= 1);
        await Task.Delay(1_000, Ct);
        Assert.Equal(["b.txt=new"], second.Recorder().Values("OnBlob"));
    }

    [Fact]
    public async Task Failing_blob_is_poisoned_after_max_dequeue_count()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        await using var host = await TestHosts.StartAsync(settings, "OnBlobFailing");
        var containerName = settings["FailingBlobContainer"]!;
        var container = new BlobContainerClient(azurite.ConnectionString, containerName);
        await container.CreateIfNotExistsAsync(cancellationToken: Ct);

        await container.UploadBlobAsync("x.bin", BinaryData.FromBytes([1, 2, 3]), Ct);

        var poison = new QueueClient(azurite.ConnectionString, "webjobs-blobtrigger-poison", new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        await TestHosts.EventuallyAsync(async () => await poison.ExistsAsync(Ct) &&
            (await poison.PeekMessagesAsync(32, Ct)).Value.Any(m => m.MessageText.Contains(containerName, StringComparison.Ordinal)));
        var message = (await poison.PeekMessagesAsync(32, Ct)).Value.Single(m => m.MessageText.Contains(containerName, StringComparison.Ordinal));
        using var json = JsonDocument.Parse(message.MessageText);
        Assert.Equal("x.bin", json.RootElement.GetProperty("BlobName").GetString());
    }

    [Fact]
    public async Task Timer_fires_on_its_schedule_and_records_its_status()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        settings["TickSchedule"] = "*/1 * * * * *";
        await using var host = await TestHosts.StartAsync(settings, "Tick");

        await TestHosts.EventuallyAsync(() => host.Recorder().Values("Tick").Count >= 2);

        Assert.All(host.Recorder().Values("Tick"), v => Assert.StartsWith("False|", v, StringComparison.Ordinal));
        var status = await ReadStatusAsync(settings);
        Assert.True(status.GetProperty("Next").GetDateTime() > status.GetProperty("Last").GetDateTime());
    }

    [Fact]
    public async Task Timer_occurrence_missed_while_stopped_runs_once_past_due()
    {
        var settings = TestHosts.Settings(azurite.ConnectionString);
        var missed = DateTime.UtcNow.AddMinutes(-5);
        var container = new BlobContainerClient(azurite.ConnectionString, "azure-webjobs-hosts");
        await container.CreateIfNotExistsAsync(cancellationToken: Ct);
        await container.GetBlobClient(StatusPath(settings)).UploadAsync(
            BinaryData.FromObjectAsJson(new { Last = missed.AddYears(-1), Next = missed, LastUpdated = missed.AddYears(-1) }), Ct);

        await using (var host = await TestHosts.StartAsync(settings, "Tick"))
        {
            await TestHosts.EventuallyAsync(() => host.Recorder().Values("Tick").Count == 1);
            Assert.StartsWith("True|", host.Recorder().Values("Tick")[0], StringComparison.Ordinal);
            await TestHosts.EventuallyAsync(async () => (await ReadStatusAsync(settings)).GetProperty("Next").GetDateTime() > DateTime.UtcNow);
        }

        await using var restarted = await TestHosts.StartAsync(settings, "Tick");
        await Task.Delay(1_000, Ct);
        Assert.Empty(restarted.Recorder().Values("Tick"));
    }

    private static string StatusPath(Dictionary<string, string?> settings) =>
        $"timers/{settings["AzureFunctionsWebHost:hostid"]}/DevHost.SampleApp.StorageFunctions.Tick/status";

    private async Task<JsonElement> ReadStatusAsync(Dictionary<string, string?> settings)
    {
        var blob = new BlobContainerClient(azurite.ConnectionString, "azure-webjobs-hosts").GetBlobClient(StatusPath(settings));
        var content = await blob.DownloadContentAsync(Ct);
        return JsonDocument.Parse(content.Value.Content.ToString()).RootElement.Clone();
    }
}
