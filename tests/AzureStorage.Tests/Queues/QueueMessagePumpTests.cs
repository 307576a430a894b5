using System.Collections.Concurrent;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.TestSupport;
using static CreditFunctions.AzureStorage.Tests.Queues.QueueTestSupport;

namespace CreditFunctions.AzureStorage.Tests.Queues;

public sealed class QueueMessagePumpTests(AzuriteFixture azurite)
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(20);

    private static QueueMessagePumpOptions Fast => new() { MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(100) };

    [Fact]
    public async Task Every_message_is_handled_and_then_deleted()
    {
        var queue = await NewQueueAsync(azurite);
        var seen = new ConcurrentBag<string>();
        for (var i = 0; i < 50; i++)
        {
            await queue.SendMessageAsync($"m{i}", Ct);
        }

        await using var pump = new QueueMessagePump(queue, (m, _) => { seen.Add(m.MessageText); return Task.CompletedTask; }, Fast);
        await pump.StartAsync(Ct);
        await EventuallyAsync(() => Task.FromResult(pump.CompletedCount), n => n == 50, s_wait, "50 completions");

        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"m{i}").Order(), seen.Order());
        Assert.Empty((await queue.PeekMessagesAsync(32, Ct)).Value);
    }

    [Fact]
    public async Task A_failing_message_is_retried_and_poisoned_after_the_fifth_delivery_with_its_body()
    {
        var queue = await NewQueueAsync(azurite);
        var deliveries = new ConcurrentQueue<long>();
        await queue.SendMessageAsync("always fails", Ct);

        await using var pump = new QueueMessagePump(queue, (m, _) =>
        {
            deliveries.Enqueue(m.DequeueCount);
            throw new InvalidOperationException("handler failed");
        }, Fast);
        await pump.StartAsync(Ct);
        var poison = queue.GetSiblingQueue(queue.Name + "-poison");
        var poisoned = await EventuallyAsync(async () => (await poison.PeekMessagesAsync(32, Ct)).Value, m => m.Length == 1, s_wait, "the poison message");

        Assert.Equal("always fails", poisoned[0].MessageText);
        Assert.Equal([1L, 2, 3, 4, 5], deliveries.ToArray());
        Assert.Equal(1, pump.PoisonedCount);
        Assert.Empty((await queue.PeekMessagesAsync(32, Ct)).Value);
    }

    [Fact]
    public async Task A_message_that_fails_once_is_delivered_again_and_completes()
    {
        var queue = await NewQueueAsync(azurite);
        var attempts = 0;
        await queue.SendMessageAsync("flaky", Ct);

        await using var pump = new QueueMessagePump(queue, (m, _) =>
            Interlocked.Increment(ref attempts) == 1 ? throw new InvalidOperationException("first try fails") : Task.CompletedTask, Fast);
        await pump.StartAsync(Ct);
        await EventuallyAsync(() => Task.FromResult(pump.CompletedCount), n => n == 1, s_wait, "the completion");

        Assert.Equal(2, attempts);
        Assert.Equal(1, pump.FailedCount);
        Assert.Equal(0, pump.PoisonedCount);
    }

    [Fact]
    public async Task A_handler_longer_than_the_visibility_timeout_keeps_its_message_hidden()
    {
        var queue = await NewQueueAsync(azurite);
        var deliveries = 0;
        await queue.SendMessageAsync("slow", Ct);
        var options = Fast with { VisibilityTimeout = TimeSpan.FromSeconds(1) };

        await using var pump = new QueueMessagePump(queue, async (m, ct) =>
        {
            Interlocked.Increment(ref deliveries);
            await Task.Delay(TimeSpan.FromSeconds(2.5), ct);
        }, options);
        await pump.StartAsync(Ct);
        await EventuallyAsync(() => Task.FromResult(pump.CompletedCount), n => n == 1, s_wait, "the completion");

        Assert.Equal(1, deliveries);
    }

    [Fact]
    public async Task Stop_waits_for_running_handlers_and_receives_nothing_more()
    {
        var queue = await NewQueueAsync(azurite);
        var started = new TaskCompletionSource();
        var finished = false;
        await queue.SendMessageAsync("in flight", Ct);

        var pump = new QueueMessagePump(queue, async (m, _) =>
        {
            started.TrySetResult();
            await Task.Delay(500, Ct);
            finished = true;
        }, Fast);
        await pump.StartAsync(Ct);
        await started.Task.WaitAsync(s_wait, Ct);
        await pump.DisposeAsync();

        Assert.True(finished);
        Assert.Equal(1, pump.CompletedCount);
        await queue.SendMessageAsync("after stop", Ct);
        await Task.Delay(300, Ct);
        Assert.Single((await queue.PeekMessagesAsync(32, Ct)).Value);
    }
}
