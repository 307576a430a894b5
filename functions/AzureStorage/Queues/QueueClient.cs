using System.Globalization;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Queues;

/// <summary>
/// One queue: create and delete it, send, receive, peek, update and delete messages.
/// </summary>
/// <remarks>
/// <para>Delivery is at least once. A received message stays in the queue, invisible for its visibility timeout,
/// and is delivered again (with a higher <see cref="QueueMessage.DequeueCount"/>) unless deleted in time; handlers
/// must be idempotent. Extend the lease of a long-running message with <see cref="UpdateMessageAsync"/>.</para>
/// <para>Requests are retried by the pipeline on 408, 429, 5xx and network errors. A send whose response is lost
/// may therefore enqueue the message twice; a receive whose response is lost hides its messages until their
/// visibility timeout elapses.</para>
/// <para>Time spans are sent in whole seconds; fractions of a second are dropped. Thread-safe.</para>
/// </remarks>
public class QueueClient
{
    private const string XmlContentType = "application/xml; charset=utf-8";
    private const int MaxMessagesPerCall = 32;
    private static readonly TimeSpan s_maxVisibility = TimeSpan.FromDays(7);
    private static readonly TimeSpan s_neverExpires = TimeSpan.FromSeconds(-1);

    private readonly StoragePipeline _pipeline;
    private readonly QueueClientOptions? _options;

    /// <summary>Creates a client for one queue from a storage connection string that carries an account key.</summary>
    /// <param name="connectionString">A connection string with <c>AccountKey</c>, or <c>UseDevelopmentStorage=true</c>.</param>
    /// <param name="queueName">3–63 lower-case letters, digits and single hyphens, starting and ending with a letter
    /// or digit.</param>
    /// <param name="options">Retry and diagnostics settings; pass a <see cref="QueueClientOptions"/> to choose the
    /// message encoding (base64 by default).</param>
    /// <exception cref="FormatException">The connection string is malformed.</exception>
    /// <exception cref="ArgumentException">The connection string has no account key, or the queue name is invalid.</exception>
    public QueueClient(string connectionString, string queueName, StorageClientOptions? options = null)
    {
        var connection = StorageConnectionString.Parse(connectionString);
        Uri = BuildQueueUri(connection.QueueEndpoint, queueName);
        Name = queueName;
        AccountName = StorageConnectionString.AccountNameFromEndpoint(connection.QueueEndpoint);
        _options = options as QueueClientOptions;
        _pipeline = new StoragePipeline(options, StorageAuth.From(connection, null), StorageService.Queue);
    }

    /// <summary>For mocking only: a client that sends nothing.</summary>
    protected QueueClient()
    {
        _pipeline = null!;
        Uri = null!;
        Name = string.Empty;
        AccountName = string.Empty;
    }

    internal QueueClient(Uri queueUri, string accountName, StoragePipeline pipeline, QueueClientOptions? options)
    {
        Uri = queueUri;
        Name = queueUri.AbsolutePath.TrimEnd('/').Split('/')[^1];
        AccountName = accountName;
        _pipeline = pipeline;
        _options = options;
    }

    /// <summary>The queue's URL.</summary>
    public Uri Uri { get; }

    /// <summary>The queue's name.</summary>
    public string Name { get; }

    /// <summary>The storage account name.</summary>
    public string AccountName { get; }

    /// <summary>Returns a client for another queue of the same account that shares this client's pipeline and
    /// options (e.g. the <c>-poison</c> queue). Sends nothing.</summary>
    /// <param name="queueName">3–63 lower-case letters, digits and single hyphens.</param>
    /// <exception cref="ArgumentException">The name breaks the service's naming rules.</exception>
    public virtual QueueClient GetSiblingQueue(string queueName)
    {
        var account = new Uri(Uri, "./");
        return new QueueClient(BuildQueueUri(account, queueName), AccountName, _pipeline, _options);
    }

    /// <summary>How this client encodes message bodies.</summary>
    public QueueMessageEncoding MessageEncoding => _options?.MessageEncoding ?? QueueMessageEncoding.Base64;

    /// <summary>The largest encoded message text the service accepts: 65,536 UTF-8 bytes. With base64 encoding that
    /// is a body of at most 49,152 bytes.</summary>
    public virtual int MessageMaxBytes => QueueXml.MessageMaxBytes;

    /// <summary>The most messages one receive or peek returns: 32.</summary>
    public virtual int MaxPeekableMessages => MaxMessagesPerCall;

    /// <summary>Creates the queue unless it exists. Safe to call concurrently and repeatedly.</summary>
    /// <param name="metadata">Metadata for a newly created queue; an existing queue keeps its own.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The response when this call created the queue; null when it already existed.</returns>
    /// <exception cref="RequestFailedException">The service refused, e.g. <c>QueueBeingDeleted</c> shortly after a delete.</exception>
    public virtual async Task<Response?> CreateIfNotExistsAsync(IDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default)
    {
        using var message = CreateMessage(RequestMethod.Put, path: null);
        if (metadata is not null)
        {
            foreach (var (name, value) in metadata)
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(name, nameof(metadata));
                message.Request.Headers.SetValue("x-ms-meta-" + name, value);
            }
        }
        try
        {
            var response = await _pipeline.SendAsync(message, cancellationToken, 201, 204).ConfigureAwait(false);
            return response.Status == 201 ? response : null;
        }
        catch (RequestFailedException ex) when (ex.ErrorCode == "QueueAlreadyExists")
        {
            // Exists with other metadata: still "already exists" for this call.
            return null;
        }
    }

    /// <summary>Deletes the queue and every message in it, if it exists.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>True when this call deleted the queue; false when there was none. A queue of the same name cannot be
    /// created again for at least 30 seconds on Azure (<c>QueueBeingDeleted</c>).</returns>
    public virtual async Task<Response<bool>> DeleteIfExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = CreateMessage(RequestMethod.Delete, path: null);
        var response = await _pipeline.SendAsync(message, cancellationToken, 204, 404).ConfigureAwait(false);
        return Response.FromValue(response.Status == 204, response);
    }

    /// <summary>Tells whether the queue exists.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    public virtual async Task<Response<bool>> ExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = CreateMetadataRequest();
        var response = await _pipeline.SendAsync(message, cancellationToken, 200, 404).ConfigureAwait(false);
        return Response.FromValue(response.Status == 200, response);
    }

    /// <summary>Reads the queue's metadata and approximate message count.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="RequestFailedException">The queue does not exist (<c>QueueNotFound</c>) or the call failed.</exception>
    public virtual async Task<Response<QueueProperties>> GetPropertiesAsync(CancellationToken cancellationToken = default)
    {
        using var message = CreateMetadataRequest();
        var response = await _pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var header in response.Headers)
        {
            if (header.Name.StartsWith("x-ms-meta-", StringComparison.OrdinalIgnoreCase))
            {
                metadata[header.Name["x-ms-meta-".Length..]] = header.Value;
            }
        }
        var count = response.Headers.TryGetValue("x-ms-approximate-messages-count", out var countText)
            ? int.Parse(countText, NumberStyles.Integer, CultureInfo.InvariantCulture)
            : 0;
        return Response.FromValue(new QueueProperties { ApproximateMessagesCount = count, Metadata = metadata }, response);
    }

    /// <summary>Adds a text message (its UTF-8 bytes are the body) to the back of the queue.</summary>
    /// <param name="messageText">The body; see <see cref="SendMessageAsync(BinaryData, TimeSpan?, TimeSpan?, CancellationToken)"/>
    /// for the size limit.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public virtual Task<Response<SendReceipt>> SendMessageAsync(string messageText, CancellationToken cancellationToken) =>
        SendMessageAsync(messageText, null, null, cancellationToken);

    /// <summary>Adds a text message (its UTF-8 bytes are the body) to the back of the queue.</summary>
    /// <param name="messageText">The body; see <see cref="SendMessageAsync(BinaryData, TimeSpan?, TimeSpan?, CancellationToken)"/>
    /// for the size limit.</param>
    /// <param name="visibilityTimeout">How long the message stays hidden after sending: 0 to 7 days; 0 by default.
    /// Must be shorter than <paramref name="timeToLive"/>.</param>
    /// <param name="timeToLive">How long the message lives: at least 1 second, or -1 second for never; 7 days by
    /// default.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="ArgumentOutOfRangeException">A time span is out of range; the exception names it.</exception>
    /// <exception cref="ArgumentException">The encoded message is larger than 64 KiB, or cannot be carried without encoding.</exception>
    public virtual Task<Response<SendReceipt>> SendMessageAsync(string messageText, TimeSpan? visibilityTimeout = null,
        TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messageText);
        var text = QueueXml.EncodeText(messageText, MessageEncoding, nameof(messageText));
        return SendEncodedAsync(text, visibilityTimeout, timeToLive, cancellationToken);
    }

    /// <summary>Adds a message to the back of the queue.</summary>
    /// <param name="message">The body. Its encoded text may be at most 65,536 UTF-8 bytes: with base64 encoding a body
    /// of up to 49,152 bytes. Larger bodies are rejected before anything is sent.</param>
    /// <param name="visibilityTimeout">How long the message stays hidden after sending: 0 to 7 days; 0 by default.
    /// Must be shorter than <paramref name="timeToLive"/>.</param>
    /// <param name="timeToLive">How long the message lives: at least 1 second, or -1 second for never; 7 days by
    /// default.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The new message's id, first pop receipt and times.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A time span is out of range; the exception names it.</exception>
    /// <exception cref="ArgumentException">The encoded message is larger than 64 KiB, or cannot be carried without encoding.</exception>
    /// <exception cref="RequestFailedException">The service refused, e.g. <c>QueueNotFound</c>.</exception>
    public virtual Task<Response<SendReceipt>> SendMessageAsync(BinaryData message, TimeSpan? visibilityTimeout = null,
        TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var text = QueueXml.EncodeBody(message.ToMemory().Span, MessageEncoding, nameof(message));
        return SendEncodedAsync(text, visibilityTimeout, timeToLive, cancellationToken);
    }

    private async Task<Response<SendReceipt>> SendEncodedAsync(string messageText, TimeSpan? visibilityTimeout,
        TimeSpan? timeToLive, CancellationToken cancellationToken)
    {
        int? visibility = visibilityTimeout is { } v ? Seconds(v, TimeSpan.Zero, nameof(visibilityTimeout)) : null;
        int? ttl = null;
        if (timeToLive is { } t)
        {
            if (t == s_neverExpires)
            {
                ttl = -1;
            }
            else if (t < TimeSpan.FromSeconds(1) || t.TotalSeconds > int.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(timeToLive), t,
                    $"The time to live must be at least 1 second and at most {int.MaxValue} seconds, or -1 second for a message that never expires.");
            }
            else
            {
                ttl = (int)t.TotalSeconds;
                if (visibility >= ttl)
                {
                    throw new ArgumentOutOfRangeException(nameof(visibilityTimeout), visibilityTimeout,
                        "The visibility timeout must be shorter than the time to live.");
                }
            }
        }

        using var message = CreateMessage(RequestMethod.Post, "/messages");
        if (visibility is { } vs)
        {
            message.Request.Uri.AppendQuery("visibilitytimeout", vs.ToString(CultureInfo.InvariantCulture));
        }
        if (ttl is { } ts)
        {
            message.Request.Uri.AppendQuery("messagettl", ts.ToString(CultureInfo.InvariantCulture));
        }
        SetXmlBody(message, messageText);
        var response = await _pipeline.SendAsync(message, cancellationToken, 201).ConfigureAwait(false);
        var sent = QueueXml.ParseMessages(response.Content) is [var first, ..]
            ? first
            : throw new InvalidDataException("The Queue service answered a sent message without a QueueMessage element.");
        var receipt = new SendReceipt
        {
            MessageId = sent.MessageId,
            PopReceipt = sent.PopReceipt ?? throw new InvalidDataException("The Queue service answered a sent message without a PopReceipt."),
            InsertionTime = sent.InsertionTime ?? default,
            ExpirationTime = sent.ExpirationTime ?? default,
            TimeNextVisible = sent.TimeNextVisible ?? default,
        };
        return Response.FromValue(receipt, response);
    }

    /// <summary>Receives one message, if any is visible; see <see cref="ReceiveMessagesAsync(int?, TimeSpan?, CancellationToken)"/>.</summary>
    /// <param name="visibilityTimeout">How long the message stays hidden from other receivers: 1 second to 7 days;
    /// 30 seconds by default.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The message, or null when none is visible.</returns>
    public virtual async Task<Response<QueueMessage?>> ReceiveMessageAsync(TimeSpan? visibilityTimeout = null, CancellationToken cancellationToken = default)
    {
        var response = await ReceiveMessagesAsync(1, visibilityTimeout, cancellationToken).ConfigureAwait(false);
        return Response.FromValue(response.Value.FirstOrDefault(), response.GetRawResponse());
    }

    /// <summary>Receives one visible message with the default 30-second visibility timeout.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The message, or null when none is visible.</returns>
    public virtual Task<Response<QueueMessage?>> ReceiveMessageAsync(CancellationToken cancellationToken) =>
        ReceiveMessageAsync(null, cancellationToken);

    /// <summary>Receives one visible message with the default 30-second visibility timeout.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The messages, possibly none.</returns>
    public virtual Task<Response<QueueMessage[]>> ReceiveMessagesAsync(CancellationToken cancellationToken) =>
        ReceiveMessagesAsync(null, null, cancellationToken);

    /// <summary>
    /// Receives up to <paramref name="maxMessages"/> visible messages from the front of the queue and hides them for
    /// <paramref name="visibilityTimeout"/>. Each receive increments a message's dequeue count and gives it a new pop
    /// receipt. Delete each message once handled, or it is delivered again.
    /// </summary>
    /// <param name="maxMessages">1 to 32; 1 by default. Fewer may come back even when more are queued.</param>
    /// <param name="visibilityTimeout">How long the messages stay hidden from other receivers: 1 second to 7 days;
    /// 30 seconds by default.</param>
    /// <param name="cancellationToken">Cancels the request; messages the service already handed out stay hidden
    /// until their visibility timeout elapses.</param>
    /// <returns>The messages, possibly none.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range; the exception names it.</exception>
    /// <exception cref="FormatException">With base64 encoding, a message is not valid base64 and no
    /// <see cref="QueueClientOptions.MessageDecodingFailed"/> handler is set. The messages of this call reappear after
    /// their visibility timeout.</exception>
    /// <exception cref="RequestFailedException">The service refused, e.g. <c>QueueNotFound</c>.</exception>
    public virtual async Task<Response<QueueMessage[]>> ReceiveMessagesAsync(int? maxMessages = null, TimeSpan? visibilityTimeout = null,
        CancellationToken cancellationToken = default)
    {
        CheckMaxMessages(maxMessages);
        int? visibility = visibilityTimeout is { } v ? Seconds(v, TimeSpan.FromSeconds(1), nameof(visibilityTimeout)) : null;
        using var message = CreateMessage(RequestMethod.Get, "/messages");
        if (maxMessages is { } n)
        {
            message.Request.Uri.AppendQuery("numofmessages", n.ToString(CultureInfo.InvariantCulture));
        }
        if (visibility is { } vs)
        {
            message.Request.Uri.AppendQuery("visibilitytimeout", vs.ToString(CultureInfo.InvariantCulture));
        }
        var response = await _pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        var result = new List<QueueMessage>();
        foreach (var raw in QueueXml.ParseMessages(response.Content))
        {
            var decoded = QueueXml.TryDecode(raw.MessageText ?? string.Empty, MessageEncoding, out var body);
            var received = new QueueMessage
            {
                MessageId = raw.MessageId,
                PopReceipt = raw.PopReceipt ?? throw new InvalidDataException("The Queue service returned a received message without a PopReceipt."),
                Body = body,
                DequeueCount = raw.DequeueCount,
                InsertedOn = raw.InsertionTime,
                ExpiresOn = raw.ExpirationTime,
                NextVisibleOn = raw.TimeNextVisible,
            };
            if (decoded)
            {
                result.Add(received);
            }
            else
            {
                await OnDecodingFailedAsync(new QueueMessageDecodingFailedEventArgs(this, received, null, false, cancellationToken)).ConfigureAwait(false);
            }
        }
        return Response.FromValue(result.ToArray(), response);
    }

    /// <summary>Peeks at the first visible message without hiding it or counting a dequeue.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The messages, possibly none.</returns>
    public virtual Task<Response<PeekedMessage[]>> PeekMessagesAsync(CancellationToken cancellationToken) =>
        PeekMessagesAsync(null, cancellationToken);

    /// <summary>
    /// Returns up to <paramref name="maxMessages"/> visible messages from the front of the queue without changing
    /// their visibility or dequeue count. Peeked messages carry no pop receipt and cannot be deleted from a peek.
    /// </summary>
    /// <param name="maxMessages">1 to 32; 1 by default.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The messages, possibly none.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxMessages"/> is out of range.</exception>
    /// <exception cref="FormatException">With base64 encoding, a message is not valid base64 and no
    /// <see cref="QueueClientOptions.MessageDecodingFailed"/> handler is set.</exception>
    /// <exception cref="RequestFailedException">The service refused, e.g. <c>QueueNotFound</c>.</exception>
    public virtual async Task<Response<PeekedMessage[]>> PeekMessagesAsync(int? maxMessages = null, CancellationToken cancellationToken = default)
    {
        CheckMaxMessages(maxMessages);
        using var message = CreateMessage(RequestMethod.Get, "/messages");
        message.Request.Uri.AppendQuery("peekonly", "true");
        if (maxMessages is { } n)
        {
            message.Request.Uri.AppendQuery("numofmessages", n.ToString(CultureInfo.InvariantCulture));
        }
        var response = await _pipeline.SendAsync(message, cancellationToken, 200).ConfigureAwait(false);
        var result = new List<PeekedMessage>();
        foreach (var raw in QueueXml.ParseMessages(response.Content))
        {
            var decoded = QueueXml.TryDecode(raw.MessageText ?? string.Empty, MessageEncoding, out var body);
            var peeked = new PeekedMessage
            {
                MessageId = raw.MessageId,
                Body = body,
                DequeueCount = raw.DequeueCount,
                InsertedOn = raw.InsertionTime,
                ExpiresOn = raw.ExpirationTime,
            };
            if (decoded)
            {
                result.Add(peeked);
            }
            else
            {
                await OnDecodingFailedAsync(new QueueMessageDecodingFailedEventArgs(this, null, peeked, false, cancellationToken)).ConfigureAwait(false);
            }
        }
        return Response.FromValue(result.ToArray(), response);
    }

    /// <summary>Deletes a received message. Only the latest pop receipt of the message works.</summary>
    /// <param name="messageId">The message's id.</param>
    /// <param name="popReceipt">The pop receipt from the latest receive or update of the message.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="RequestFailedException"><c>PopReceiptMismatch</c> (400) when the message was received again or
    /// updated since, or <c>MessageNotFound</c> (404) when it is gone; in both cases another receiver may own it.</exception>
    public virtual async Task<Response> DeleteMessageAsync(string messageId, string popReceipt, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        ArgumentException.ThrowIfNullOrEmpty(popReceipt);
        using var message = CreateMessage(RequestMethod.Delete, MessagePath(messageId));
        message.Request.Uri.AppendQuery("popreceipt", popReceipt);
        return await _pipeline.SendAsync(message, cancellationToken, 204).ConfigureAwait(false);
    }

    /// <summary>
    /// Changes a received message's visibility timeout (extending or ending its lease) and optionally its body.
    /// The message becomes visible <paramref name="visibilityTimeout"/> after the call, and the old pop receipt
    /// stops working.
    /// </summary>
    /// <param name="messageId">The message's id.</param>
    /// <param name="popReceipt">The pop receipt from the latest receive or update of the message.</param>
    /// <param name="message">A new body, or null to keep the current one. Same size rule as a send.</param>
    /// <param name="visibilityTimeout">How long from now the message stays hidden: 0 (visible at once) to 7 days;
    /// 0 by default.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The new pop receipt and visibility time; use <see cref="QueueMessage.Update"/> to carry them.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="visibilityTimeout"/> is out of range.</exception>
    /// <exception cref="ArgumentException">The encoded body is larger than 64 KiB, or cannot be carried without encoding.</exception>
    /// <exception cref="RequestFailedException"><c>PopReceiptMismatch</c> or <c>MessageNotFound</c>: the lease is lost.</exception>
    public virtual async Task<Response<UpdateReceipt>> UpdateMessageAsync(string messageId, string popReceipt, BinaryData? message = null,
        TimeSpan visibilityTimeout = default, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        ArgumentException.ThrowIfNullOrEmpty(popReceipt);
        var visibility = Seconds(visibilityTimeout, TimeSpan.Zero, nameof(visibilityTimeout));
        var text = message is null ? null : QueueXml.EncodeBody(message.ToMemory().Span, MessageEncoding, nameof(message));

        using var request = CreateMessage(RequestMethod.Put, MessagePath(messageId));
        request.Request.Uri.AppendQuery("popreceipt", popReceipt);
        request.Request.Uri.AppendQuery("visibilitytimeout", visibility.ToString(CultureInfo.InvariantCulture));
        if (text is not null)
        {
            SetXmlBody(request, text);
        }
        var response = await _pipeline.SendAsync(request, cancellationToken, 204).ConfigureAwait(false);
        if (!response.Headers.TryGetValue("x-ms-popreceipt", out var newReceipt) || string.IsNullOrEmpty(newReceipt))
        {
            throw new InvalidDataException("The Queue service answered an update without an x-ms-popreceipt header.");
        }
        response.Headers.TryGetValue("x-ms-time-next-visible", out var nextVisible);
        var receipt = new UpdateReceipt { PopReceipt = newReceipt, NextVisibleOn = QueueXml.ParseDate(nextVisible) ?? default };
        return Response.FromValue(receipt, response);
    }

    /// <summary>Deletes every message in the queue, visible or not. On Azure a large queue may time out part-way
    /// (the call then fails and can be repeated).</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="RequestFailedException">The service refused, e.g. <c>QueueNotFound</c>.</exception>
    public virtual async Task<Response> ClearMessagesAsync(CancellationToken cancellationToken = default)
    {
        using var message = CreateMessage(RequestMethod.Delete, "/messages");
        return await _pipeline.SendAsync(message, cancellationToken, 204).ConfigureAwait(false);
    }

    /// <summary>The queue URL under a service endpoint, after checking the queue naming rules.</summary>
    internal static Uri BuildQueueUri(Uri serviceUri, string queueName)
    {
        ValidateQueueName(queueName);
        return new Uri(serviceUri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/" + queueName);
    }

    /// <summary>3–63 characters of <c>a-z</c>, <c>0-9</c> and <c>-</c>; starts and ends with a letter or digit; no
    /// consecutive hyphens.</summary>
    internal static void ValidateQueueName(string queueName)
    {
        ArgumentNullException.ThrowIfNull(queueName);
        var valid = queueName.Length is >= 3 and <= 63
            && queueName[0] != '-' && queueName[^1] != '-'
            && !queueName.Contains("--", StringComparison.Ordinal)
            && queueName.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');
        if (!valid)
        {
            throw new ArgumentException(
                $"'{queueName}' is not a valid queue name: use 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.",
                nameof(queueName));
        }
    }

    private async Task OnDecodingFailedAsync(QueueMessageDecodingFailedEventArgs args)
    {
        if (_options is { HasDecodingFailedHandlers: true } options)
        {
            await options.RaiseMessageDecodingFailedAsync(args).ConfigureAwait(false);
            return;
        }
        var id = args.ReceivedMessage?.MessageId ?? args.PeekedMessage!.MessageId;
        throw new FormatException(
            $"Message '{id}' in queue '{Name}' is not valid base64. Read it with QueueMessageEncoding.None or handle QueueClientOptions.MessageDecodingFailed; a received message reappears after its visibility timeout.");
    }

    private static void CheckMaxMessages(int? maxMessages)
    {
        if (maxMessages is < 1 or > MaxMessagesPerCall)
        {
            throw new ArgumentOutOfRangeException(nameof(maxMessages), maxMessages, $"maxMessages must be between 1 and {MaxMessagesPerCall}.");
        }
    }

    private static int Seconds(TimeSpan value, TimeSpan min, string paramName)
    {
        if (value < min || value > s_maxVisibility)
        {
            throw new ArgumentOutOfRangeException(paramName, value,
                $"{paramName} must be between {min.TotalSeconds:0} second(s) and 7 days.");
        }
        return (int)value.TotalSeconds;
    }

    private static string MessagePath(string messageId) => "/messages/" + Uri.EscapeDataString(messageId);

    private HttpMessage CreateMessage(RequestMethod method, string? path)
    {
        var uri = new RequestUriBuilder();
        uri.Reset(Uri);
        if (path is not null)
        {
            uri.AppendPath(path, escape: false);
        }
        return _pipeline.CreateMessage(method, uri);
    }

    private HttpMessage CreateMetadataRequest()
    {
        var message = CreateMessage(RequestMethod.Get, path: null);
        message.Request.Uri.AppendQuery("comp", "metadata");
        return message;
    }

    private static void SetXmlBody(HttpMessage message, string messageText)
    {
        message.Request.Content = RequestContent.Create(QueueXml.BuildMessageBody(messageText));
        message.Request.Headers.SetValue("Content-Type", XmlContentType);
    }
}
