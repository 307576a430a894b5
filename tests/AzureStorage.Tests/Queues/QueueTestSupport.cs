using System.Diagnostics;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests.Queues;

internal static class QueueTestSupport
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static QueueClient Client(AzuriteFixture azurite, string name, QueueMessageEncoding encoding = QueueMessageEncoding.Base64) =>
        new(azurite.ConnectionString, name, new QueueClientOptions { MessageEncoding = encoding });

    public static async Task<QueueClient> NewQueueAsync(AzuriteFixture azurite, QueueMessageEncoding encoding = QueueMessageEncoding.Base64)
    {
        var queue = Client(azurite, AzuriteFixture.NewName("q"), encoding);
        Assert.NotNull(await queue.CreateIfNotExistsAsync(cancellationToken: Ct));
        return queue;
    }

    /// <summary>Calls <paramref name="probe"/> every 100 ms until <paramref name="done"/> holds; fails after <paramref name="timeout"/>.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}.");
            }
            await Task.Delay(100, Ct);
        }
    }

    /// <summary>Receives with a long visibility timeout until a message comes back.</summary>
    public static async Task<QueueMessage> ReceiveEventuallyAsync(QueueClient queue, TimeSpan timeout, TimeSpan? visibilityTimeout = null)
    {
        var message = await EventuallyAsync(
            async () => (await queue.ReceiveMessageAsync(visibilityTimeout ?? TimeSpan.FromSeconds(30), Ct)).Value,
            m => m is not null, timeout, "a message to become visible");
        return message!;
    }
}
