using System.Diagnostics;
using System.Text;
using Azure;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.TestSupport;
using static CreditFunctions.AzureStorage.Tests.Queues.QueueTestSupport;

namespace CreditFunctions.AzureStorage.Tests.Queues;

public sealed class QueueClientTests(AzuriteFixture azurite)
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Create_if_not_exists_creates_the_queue_once_and_is_idempotent()
    {
        var queue = Client(azurite, AzuriteFixture.NewName("q"));
        Assert.False((await queue.ExistsAsync(Ct)).Value);

        var created = await queue.CreateIfNotExistsAsync(cancellationToken: Ct);
        Assert.NotNull(created);
        Assert.Equal(201, created.Status);
        Assert.Null(await queue.CreateIfNotExistsAsync(cancellationToken: Ct));
        Assert.Null(await queue.CreateIfNotExistsAsync(new Dictionary<string, string> { ["other"] = "metadata" }, Ct));
        Assert.True((await queue.ExistsAsync(Ct)).Value);
    }

    [Fact]
    public async Task Delete_if_exists_deletes_the_queue_once_and_then_reports_false()
    {
        var queue = await NewQueueAsync(azurite);
        await queue.SendMessageAsync("goes with the queue", cancellationToken: Ct);

        Assert.True((await queue.DeleteIfExistsAsync(Ct)).Value);
        Assert.False((await queue.DeleteIfExistsAsync(Ct)).Value);
        Assert.False((await queue.ExistsAsync(Ct)).Value);
    }

    [Fact]
    public async Task Operations_on_a_missing_queue_fail_with_QueueNotFound()
    {
        var queue = Client(azurite, AzuriteFixture.NewName("missing"));

        var send = await Assert.ThrowsAsync<RequestFailedException>(() => queue.SendMessageAsync("x", cancellationToken: Ct));
        Assert.Equal(404, send.Status);
        Assert.Equal("QueueNotFound", send.ErrorCode);
        var receive = await Assert.ThrowsAsync<RequestFailedException>(() => queue.ReceiveMessagesAsync(Ct));
        Assert.Equal("QueueNotFound", receive.ErrorCode);
        var properties = await Assert.ThrowsAsync<RequestFailedException>(() => queue.GetPropertiesAsync(Ct));
        Assert.Equal("QueueNotFound", properties.ErrorCode);
    }

    [Fact]
    public async Task A_binary_body_round_trips_and_travels_as_base64_of_its_bytes()
    {
        var queue = await NewQueueAsync(azurite);
        var raw = Client(azurite, queue.Name, QueueMessageEncoding.None);
        var body = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var before = DateTimeOffset.UtcNow.AddSeconds(-5);

        var receipt = (await queue.SendMessageAsync(new BinaryData(body), cancellationToken: Ct)).Value;

        var onTheWire = Assert.Single((await raw.PeekMessagesAsync(Ct)).Value);
        Assert.Equal(Convert.ToBase64String(body), onTheWire.MessageText);
        var received = (await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(30), Ct)).Value;
        Assert.NotNull(received);
        Assert.Equal(body, received.Body.ToArray());
        Assert.Equal(receipt.MessageId, received.MessageId);
        Assert.Equal(1, received.DequeueCount);
        Assert.False(string.IsNullOrEmpty(received.PopReceipt));
        Assert.InRange(received.InsertedOn!.Value, before, DateTimeOffset.UtcNow.AddSeconds(5));
        Assert.Equal(TimeSpan.FromDays(7), received.ExpiresOn!.Value - received.InsertedOn!.Value);
        Assert.InRange(received.NextVisibleOn!.Value, DateTimeOffset.UtcNow.AddSeconds(20), DateTimeOffset.UtcNow.AddSeconds(35));
        Assert.Equal(receipt.InsertionTime, received.InsertedOn);
    }

    [Fact]
    public async Task A_text_body_travels_as_base64_of_its_utf8_bytes_as_the_Functions_host_expects()
    {
        var queue = await NewQueueAsync(azurite);
        var raw = Client(azurite, queue.Name, QueueMessageEncoding.None);
        const string text = "{\"loan\":\"Crédit <7> & ✓\"}";

        await queue.SendMessageAsync(text, cancellationToken: Ct);

        Assert.Equal(Convert.ToBase64String(Encoding.UTF8.GetBytes(text)), Assert.Single((await raw.PeekMessagesAsync(Ct)).Value).MessageText);
        Assert.Equal(text, (await queue.ReceiveMessageAsync(Ct)).Value!.MessageText);
    }

    [Fact]
    public async Task Without_encoding_text_is_xml_escaped_and_round_trips_unchanged()
    {
        var queue = await NewQueueAsync(azurite, QueueMessageEncoding.None);
        string[] texts = ["<a href=\"x\">&amp; 'q' ]]> </a>\tend  ", "   ", "line one\nline two", "crlf\r\nand cr\r"];

        foreach (var text in texts)
        {
            await queue.SendMessageAsync(text, cancellationToken: Ct);
        }

        var received = (await queue.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30), Ct)).Value;
        Assert.Equal(texts.Order(StringComparer.Ordinal), received.Select(m => m.MessageText).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Without_encoding_bodies_xml_cannot_carry_are_rejected_before_sending()
    {
        var queue = await NewQueueAsync(azurite, QueueMessageEncoding.None);

        var control = await Assert.ThrowsAsync<ArgumentException>(() => queue.SendMessageAsync("bell\u0007", cancellationToken: Ct));
        Assert.Equal("messageText", control.ParamName);
        Assert.Contains("U+0007", control.Message, StringComparison.Ordinal);
        var notUtf8 = await Assert.ThrowsAsync<ArgumentException>(() => queue.SendMessageAsync(new BinaryData(new byte[] { 0xC3, 0x28 }), cancellationToken: Ct));
        Assert.Equal("message", notUtf8.ParamName);
        Assert.Equal(0, (await queue.GetPropertiesAsync(Ct)).Value.ApproximateMessagesCount);
    }

    [Fact]
    public async Task Receive_returns_up_to_32_messages_in_one_call()
    {
        var queue = await NewQueueAsync(azurite);
        await Task.WhenAll(Enumerable.Range(0, 35).Select(i => queue.SendMessageAsync($"m{i}", cancellationToken: Ct)));

        var first = (await queue.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30), Ct)).Value;
        var rest = (await queue.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30), Ct)).Value;

        Assert.Equal(32, first.Length);
        Assert.Equal(3, rest.Length);
        Assert.Equal(35, first.Concat(rest).Select(m => m.MessageText).Distinct().Count());
        Assert.Empty((await queue.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30), Ct)).Value);
    }

    [Fact]
    public async Task Receive_and_peek_reject_batch_sizes_outside_1_to_32_before_sending()
    {
        var queue = Client(azurite, AzuriteFixture.NewName("never"));

        foreach (var n in new[] { 0, 33, -1 })
        {
            Assert.Equal("maxMessages", (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => queue.ReceiveMessagesAsync(n, null, Ct))).ParamName);
            Assert.Equal("maxMessages", (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => queue.PeekMessagesAsync(n, Ct))).ParamName);
        }
    }

    [Fact]
    public async Task Message_reappears_after_its_visibility_timeout_with_a_higher_dequeue_count_and_is_gone_after_delete()
    {
        var queue = await NewQueueAsync(azurite);
        await queue.SendMessageAsync("work item", cancellationToken: Ct);

        var first = (await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(1), Ct)).Value!;
        Assert.Equal(1, first.DequeueCount);
        Assert.Null((await queue.ReceiveMessageAsync(Ct)).Value);

        var again = await ReceiveEventuallyAsync(queue, s_wait);
        Assert.Equal(first.MessageId, again.MessageId);
        Assert.Equal(2, again.DequeueCount);
        Assert.NotEqual(first.PopReceipt, again.PopReceipt);
        Assert.Equal("work item", again.MessageText);

        await queue.DeleteMessageAsync(again.MessageId, again.PopReceipt, Ct);
        Assert.Equal(0, (await queue.GetPropertiesAsync(Ct)).Value.ApproximateMessagesCount);
        Assert.Empty((await queue.PeekMessagesAsync(Ct)).Value);
    }

    [Fact]
    public async Task An_initial_visibility_delay_hides_a_sent_message_until_it_elapses()
    {
        var queue = await NewQueueAsync(azurite);
        var clock = Stopwatch.StartNew();

        var receipt = (await queue.SendMessageAsync("later", TimeSpan.FromSeconds(2), cancellationToken: Ct)).Value;

        Assert.Equal(TimeSpan.FromSeconds(2), receipt.TimeNextVisible - receipt.InsertionTime);
        Assert.Null((await queue.ReceiveMessageAsync(Ct)).Value);
        Assert.Empty((await queue.PeekMessagesAsync(Ct)).Value);
        var message = await ReceiveEventuallyAsync(queue, s_wait);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"visible after {clock.Elapsed}");
        Assert.Equal("later", message.MessageText);
    }

    [Fact]
    public async Task A_message_expires_after_its_time_to_live_and_minus_one_second_means_never()
    {
        var queue = await NewQueueAsync(azurite);

        var shortLived = (await queue.SendMessageAsync("short", timeToLive: TimeSpan.FromSeconds(1), cancellationToken: Ct)).Value;
        var forever = (await queue.SendMessageAsync("forever", timeToLive: TimeSpan.FromSeconds(-1), cancellationToken: Ct)).Value;

        Assert.Equal(TimeSpan.FromSeconds(1), shortLived.ExpirationTime - shortLived.InsertionTime);
        Assert.Equal(9999, forever.ExpirationTime.Year);
        var remaining = await EventuallyAsync(
            async () => (await queue.PeekMessagesAsync(32, Ct)).Value,
            peeked => peeked.All(m => m.MessageId != shortLived.MessageId), s_wait, "the short-lived message to expire");
        Assert.Equal(forever.MessageId, Assert.Single(remaining).MessageId);
        Assert.Equal("forever", Assert.Single((await queue.ReceiveMessagesAsync(32, null, Ct)).Value).MessageText);
    }

    [Fact]
    public async Task Delete_with_a_stale_pop_receipt_fails_with_PopReceiptMismatch()
    {
        var queue = await NewQueueAsync(azurite);
        await queue.SendMessageAsync("contended", cancellationToken: Ct);
        var stale = (await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(1), Ct)).Value!;
        var current = await ReceiveEventuallyAsync(queue, s_wait);

        var mismatch = await Assert.ThrowsAsync<RequestFailedException>(() => queue.DeleteMessageAsync(stale.MessageId, stale.PopReceipt, Ct));

        Assert.Equal(400, mismatch.Status);
        Assert.Equal("PopReceiptMismatch", mismatch.ErrorCode);
        await queue.DeleteMessageAsync(current.MessageId, current.PopReceipt, Ct);
        var gone = await Assert.ThrowsAsync<RequestFailedException>(() => queue.DeleteMessageAsync(current.MessageId, current.PopReceipt, Ct));
        Assert.Equal(404, gone.Status);
        Assert.Equal("MessageNotFound", gone.ErrorCode);
    }

    [Fact]
    public async Task Updating_the_visibility_extends_the_lease_and_retires_the_old_pop_receipt()
    {
        var queue = await NewQueueAsync(azurite);
        await queue.SendMessageAsync("long job", cancellationToken: Ct);
        var leased = (await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(1), Ct)).Value!;

        var extended = (await queue.UpdateMessageAsync(leased.MessageId, leased.PopReceipt, visibilityTimeout: TimeSpan.FromSeconds(4), cancellationToken: Ct)).Value;

        Assert.NotEqual(leased.PopReceipt, extended.PopReceipt);
        Assert.InRange(extended.NextVisibleOn, DateTimeOffset.UtcNow.AddSeconds(2), DateTimeOffset.UtcNow.AddSeconds(6));
        await Task.Delay(TimeSpan.FromSeconds(2), Ct); // past the original 1 s lease
        Assert.Null((await queue.ReceiveMessageAsync(Ct)).Value);
        var stale = await Assert.ThrowsAsync<RequestFailedException>(() => queue.DeleteMessageAsync(leased.MessageId, leased.PopReceipt, Ct));
        Assert.Equal("PopReceiptMismatch", stale.ErrorCode);
        var staleUpdate = await Assert.ThrowsAsync<RequestFailedException>(() =>
            queue.UpdateMessageAsync(leased.MessageId, leased.PopReceipt, visibilityTimeout: TimeSpan.FromSeconds(4), cancellationToken: Ct));
        Assert.Equal("PopReceiptMismatch", staleUpdate.ErrorCode);

        var carried = leased.Update(extended);
        Assert.Equal(extended.PopReceipt, carried.PopReceipt);
        Assert.Equal(extended.NextVisibleOn, carried.NextVisibleOn);
        await queue.DeleteMessageAsync(carried.MessageId, carried.PopReceipt, Ct);
        Assert.Equal(0, (await queue.GetPropertiesAsync(Ct)).Value.ApproximateMessagesCount);
    }

    [Fact]
    public async Task Update_can_replace_the_body_and_a_zero_timeout_makes_the_message_visible_at_once()
    {
        var queue = await NewQueueAsync(azurite);
        var raw = Client(azurite, queue.Name, QueueMessageEncoding.None);
        await queue.SendMessageAsync("v1", cancellationToken: Ct);
        var leased = (await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(60), Ct)).Value!;

        await queue.UpdateMessageAsync(leased.MessageId, leased.PopReceipt, BinaryData.FromString("v2"), TimeSpan.Zero, Ct);

        Assert.Equal(Convert.ToBase64String("v2"u8), Assert.Single((await raw.PeekMessagesAsync(Ct)).Value).MessageText);
        var again = (await queue.ReceiveMessageAsync(Ct)).Value!;
        Assert.Equal("v2", again.MessageText);
        Assert.Equal(2, again.DequeueCount);
    }

    [Fact]
    public async Task Peek_changes_neither_dequeue_count_nor_visibility()
    {
        var queue = await NewQueueAsync(azurite);
        var sent = (await queue.SendMessageAsync("look", cancellationToken: Ct)).Value;

        for (var i = 0; i < 3; i++)
        {
            var peeked = Assert.Single((await queue.PeekMessagesAsync(32, Ct)).Value);
            Assert.Equal(sent.MessageId, peeked.MessageId);
            Assert.Equal(0, peeked.DequeueCount);
            Assert.Equal("look", peeked.MessageText);
        }

        var received = (await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(30), Ct)).Value!;
        Assert.Equal(1, received.DequeueCount);
        Assert.Empty((await queue.PeekMessagesAsync(Ct)).Value);
    }

    [Fact]
    public async Task Get_properties_reports_the_approximate_message_count_and_metadata()
    {
        var queue = Client(azurite, AzuriteFixture.NewName("q"));
        await queue.CreateIfNotExistsAsync(new Dictionary<string, string> { ["owner"] = "ledger" }, Ct);
        Assert.Equal(0, (await queue.GetPropertiesAsync(Ct)).Value.ApproximateMessagesCount);

        for (var i = 0; i < 5; i++)
        {
            await queue.SendMessageAsync($"m{i}", cancellationToken: Ct);
        }
        await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(30), Ct);

        var properties = (await queue.GetPropertiesAsync(Ct)).Value;
        Assert.Equal(5, properties.ApproximateMessagesCount);
        Assert.Equal("ledger", properties.Metadata["owner"]);
    }

    [Fact]
    public async Task Bodies_whose_encoded_text_exceeds_64_KiB_are_rejected_before_sending()
    {
        var queue = await NewQueueAsync(azurite);
        var largest = new byte[48 * 1024];
        Random.Shared.NextBytes(largest);

        await queue.SendMessageAsync(new BinaryData(largest), cancellationToken: Ct);
        var tooLarge = await Assert.ThrowsAsync<ArgumentException>(() => queue.SendMessageAsync(new BinaryData(new byte[largest.Length + 1]), cancellationToken: Ct));

        Assert.Equal("message", tooLarge.ParamName);
        Assert.Contains("49153-byte", tooLarge.Message, StringComparison.Ordinal);
        Assert.Contains("65540 bytes", tooLarge.Message, StringComparison.Ordinal);
        Assert.Contains("65536 bytes", tooLarge.Message, StringComparison.Ordinal);
        var received = (await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(30), Ct)).Value!;
        Assert.Equal(largest, received.Body.ToArray());
        var tooLargeUpdate = await Assert.ThrowsAsync<ArgumentException>(() =>
            queue.UpdateMessageAsync(received.MessageId, received.PopReceipt, new BinaryData(new byte[largest.Length + 1]), TimeSpan.Zero, Ct));
        Assert.Equal("message", tooLargeUpdate.ParamName);
        Assert.Equal(1, (await queue.GetPropertiesAsync(Ct)).Value.ApproximateMessagesCount);
    }

    [Fact]
    public async Task Without_encoding_the_64_KiB_limit_counts_utf8_bytes()
    {
        var queue = await NewQueueAsync(azurite, QueueMessageEncoding.None);

        await queue.SendMessageAsync(new string('a', 64 * 1024), cancellationToken: Ct);
        var ascii = await Assert.ThrowsAsync<ArgumentException>(() => queue.SendMessageAsync(new string('a', 64 * 1024 + 1), cancellationToken: Ct));
        var accented = await Assert.ThrowsAsync<ArgumentException>(() => queue.SendMessageAsync(new string('é', 32 * 1024 + 1), cancellationToken: Ct));

        Assert.Equal("messageText", ascii.ParamName);
        Assert.Contains("65537 bytes", ascii.Message, StringComparison.Ordinal);
        Assert.Contains("65538 bytes", accented.Message, StringComparison.Ordinal);
        Assert.Equal(64 * 1024, (await queue.ReceiveMessageAsync(Ct)).Value!.MessageText.Length);
    }

    [Fact]
    public async Task Clear_removes_every_message_visible_or_not()
    {
        var queue = await NewQueueAsync(azurite);
        for (var i = 0; i < 3; i++)
        {
            await queue.SendMessageAsync($"m{i}", cancellationToken: Ct);
        }
        await queue.SendMessageAsync("hidden", TimeSpan.FromSeconds(60), cancellationToken: Ct);
        await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(60), Ct);

        await queue.ClearMessagesAsync(Ct);

        Assert.Equal(0, (await queue.GetPropertiesAsync(Ct)).Value.ApproximateMessagesCount);
        Assert.Empty((await queue.PeekMessagesAsync(32, Ct)).Value);
    }

    [Fact]
    public async Task Time_spans_out_of_range_are_rejected_naming_the_parameter()
    {
        var queue = Client(azurite, AzuriteFixture.NewName("never"));

        async Task<string?> ParamOf(Func<Task> call) => (await Assert.ThrowsAsync<ArgumentOutOfRangeException>(call)).ParamName;

        Assert.Equal("visibilityTimeout", await ParamOf(() => queue.SendMessageAsync("x", TimeSpan.FromSeconds(-1), cancellationToken: Ct)));
        Assert.Equal("visibilityTimeout", await ParamOf(() => queue.SendMessageAsync("x", TimeSpan.FromDays(7).Add(TimeSpan.FromSeconds(1)), cancellationToken: Ct)));
        Assert.Equal("visibilityTimeout", await ParamOf(() => queue.SendMessageAsync("x", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), Ct)));
        Assert.Equal("timeToLive", await ParamOf(() => queue.SendMessageAsync("x", timeToLive: TimeSpan.Zero, cancellationToken: Ct)));
        Assert.Equal("timeToLive", await ParamOf(() => queue.SendMessageAsync("x", timeToLive: TimeSpan.FromSeconds(-2), cancellationToken: Ct)));
        Assert.Equal("visibilityTimeout", await ParamOf(() => queue.ReceiveMessagesAsync(1, TimeSpan.Zero, Ct)));
        Assert.Equal("visibilityTimeout", await ParamOf(() => queue.ReceiveMessagesAsync(1, TimeSpan.FromDays(8), Ct)));
        Assert.Equal("visibilityTimeout", await ParamOf(() => queue.UpdateMessageAsync("id", "receipt", null, TimeSpan.FromDays(8), Ct)));
        Assert.Equal("visibilityTimeout", await ParamOf(() => queue.UpdateMessageAsync("id", "receipt", null, TimeSpan.FromSeconds(-1), Ct)));
    }

    [Fact]
    public async Task A_message_that_is_not_base64_makes_receive_throw_unless_a_decoding_handler_takes_it()
    {
        var queue = await NewQueueAsync(azurite);
        var raw = Client(azurite, queue.Name, QueueMessageEncoding.None);
        await raw.SendMessageAsync("not base64!", cancellationToken: Ct);

        var failure = await Assert.ThrowsAsync<FormatException>(() => queue.PeekMessagesAsync(Ct));
        Assert.Contains(queue.Name, failure.Message, StringComparison.Ordinal);

        var seen = new List<QueueMessageDecodingFailedEventArgs>();
        var options = new QueueClientOptions();
        options.MessageDecodingFailed += async args =>
        {
            seen.Add(args);
            if (args.ReceivedMessage is { } poison)
            {
                await args.Queue.DeleteMessageAsync(poison.MessageId, poison.PopReceipt, args.CancellationToken);
            }
        };
        var handled = new QueueClient(azurite.ConnectionString, queue.Name, options);

        Assert.Empty((await handled.PeekMessagesAsync(Ct)).Value);
        Assert.Empty((await handled.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(1), Ct)).Value);

        Assert.Equal(2, seen.Count);
        Assert.Equal("not base64!", seen[0].PeekedMessage!.MessageText);
        Assert.Equal("not base64!", seen[1].ReceivedMessage!.MessageText);
        Assert.Equal(0, (await queue.GetPropertiesAsync(Ct)).Value.ApproximateMessagesCount);
    }
}
