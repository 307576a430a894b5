using Azure.Storage.Queues.Models;
using Microsoft.Azure.Functions.Worker;

namespace DevHost.SampleApp;

public sealed class StorageFunctions(Recorder recorder)
{
    [Function(nameof(ProcessWork))]
    public void ProcessWork([QueueTrigger("%WorkQueue%")] WorkItem item) => recorder.Add(nameof(ProcessWork), $"{item.Id}:{item.Amount}");

    [Function(nameof(ProcessText))]
    public void ProcessText([QueueTrigger("%TextQueue%")] QueueMessage message, string id, long dequeueCount) =>
        recorder.Add(nameof(ProcessText), $"{message.MessageText}|{id == message.MessageId}|{dequeueCount}");

    [Function(nameof(FailAlways))]
    public void FailAlways([QueueTrigger("%FailQueue%")] string message, long dequeueCount)
    {
        recorder.Add(nameof(FailAlways), $"{message}:{dequeueCount}");
        throw new InvalidOperationException("This function always fails.");
    }

    [Function(nameof(SlowQueue))]
    public async Task SlowQueue([QueueTrigger("%SlowQueue%")] string message)
    {
        recorder.SlowStarted.TrySetResult();
        await Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None);
        recorder.Add(nameof(SlowQueue), message);
    }

    [Function(nameof(OnBlob))]
    public void OnBlob([BlobTrigger("%BlobContainer%/in/{name}")] string content, string name) =>
        recorder.Add(nameof(OnBlob), $"{name}={content}");

    [Function(nameof(OnBlobFailing))]
    public static void OnBlobFailing([BlobTrigger("%FailingBlobContainer%/{name}")] byte[] content, string name) =>
        throw new InvalidOperationException($"Cannot handle {content.Length} bytes.");

    [Function(nameof(Tick))]
    public void Tick([TimerTrigger("%TickSchedule%", UseMonitor = true)] TimerInfo timer) =>
        recorder.Add(nameof(Tick), $"{timer.IsPastDue}|{timer.ScheduleStatus?.Next:O}");
}
