using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace CreditFunctions.AzureStorage.Queues;

/// <summary>One <c>QueueMessage</c> element of a <c>QueueMessagesList</c> response, with its text still encoded.</summary>
internal sealed record RawQueueMessage(
    string MessageId,
    string? PopReceipt,
    string? MessageText,
    long DequeueCount,
    DateTimeOffset? InsertionTime,
    DateTimeOffset? ExpirationTime,
    DateTimeOffset? TimeNextVisible);

/// <summary>The XML bodies of the Queue service's message operations and the body encodings.</summary>
internal static class QueueXml
{
    /// <summary>The largest <c>MessageText</c> the service accepts, in UTF-8 bytes after encoding.</summary>
    public const int MessageMaxBytes = 64 * 1024;

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Builds <c>&lt;QueueMessage&gt;&lt;MessageText&gt;…&lt;/MessageText&gt;&lt;/QueueMessage&gt;</c>.</summary>
    public static byte[] BuildMessageBody(string messageText)
    {
        using var buffer = new MemoryStream(messageText.Length + 96);
        var settings = new XmlWriterSettings
        {
            Encoding = s_strictUtf8,
            NewLineHandling = NewLineHandling.Entitize, // keeps '\r' intact through the server's XML parser
            CheckCharacters = true,
        };
        using (var writer = XmlWriter.Create(buffer, settings))
        {
            writer.WriteStartDocument();
            writer.WriteStartElement("QueueMessage");
            writer.WriteElementString("MessageText", messageText);
            writer.WriteEndElement();
            writer.WriteEndDocument();
        }
        return buffer.ToArray();
    }

    /// <summary>Encodes a body into message text and checks it against the service's limits.</summary>
    /// <exception cref="ArgumentException">The encoded text exceeds <see cref="MessageMaxBytes"/>, or (without
    /// encoding) the body is not valid UTF-8 or holds characters XML cannot carry.</exception>
    public static string EncodeBody(ReadOnlySpan<byte> body, QueueMessageEncoding encoding, string paramName)
    {
        if (encoding == QueueMessageEncoding.Base64)
        {
            CheckSize(((body.Length + 2) / 3) * 4, body.Length, paramName);
            return Convert.ToBase64String(body);
        }
        string text;
        try
        {
            text = s_strictUtf8.GetString(body);
        }
        catch (DecoderFallbackException)
        {
            throw new ArgumentException(
                "The message body is not valid UTF-8; send it with QueueMessageEncoding.Base64.", paramName);
        }
        return EncodeText(text, encoding, paramName);
    }

    /// <summary>Encodes a text body (as UTF-8) into message text and checks it against the service's limits.</summary>
    /// <exception cref="ArgumentException">See <see cref="EncodeBody"/>.</exception>
    public static string EncodeText(string text, QueueMessageEncoding encoding, string paramName)
    {
        if (encoding == QueueMessageEncoding.Base64)
        {
            byte[] utf8;
            try
            {
                utf8 = s_strictUtf8.GetBytes(text);
            }
            catch (EncoderFallbackException)
            {
                throw new ArgumentException("The message text has an unpaired surrogate and cannot be encoded as UTF-8.", paramName);
            }
            return EncodeBody(utf8, encoding, paramName);
        }
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            if (!XmlConvert.IsXmlChar(c))
            {
                throw new ArgumentException(
                    $"The message text has a character XML cannot carry (U+{(int)c:X4} at index {i}); send it with QueueMessageEncoding.Base64.",
                    paramName);
            }
        }
        CheckSize(Encoding.UTF8.GetByteCount(text), null, paramName);
        return text;
    }

    private static void CheckSize(int encodedBytes, int? base64BodyBytes, string paramName)
    {
        if (encodedBytes <= MessageMaxBytes)
        {
            return;
        }
        var message = base64BodyBytes is { } n
            ? $"A {n}-byte body is {encodedBytes} bytes once base64-encoded; the service's limit is {MessageMaxBytes} bytes (64 KiB) of encoded message text, a body of at most {MessageMaxBytes / 4 * 3} bytes."
            : $"The message text is {encodedBytes} bytes of UTF-8; the service's limit is {MessageMaxBytes} bytes (64 KiB) of message text.";
        throw new ArgumentException(message, paramName);
    }

    /// <summary>Decodes message text into the body; returns false when base64 text is not valid base64.</summary>
    public static bool TryDecode(string text, QueueMessageEncoding encoding, out BinaryData body)
    {
        if (encoding == QueueMessageEncoding.None)
        {
            body = BinaryData.FromString(text);
            return true;
        }
        try
        {
            body = BinaryData.FromBytes(Convert.FromBase64String(text));
            return true;
        }
        catch (FormatException)
        {
            body = BinaryData.FromString(text);
            return false;
        }
    }

    /// <summary>Reads the <c>QueueMessage</c> elements of a <c>QueueMessagesList</c> body.</summary>
    /// <exception cref="InvalidDataException">The body is not the documented shape.</exception>
    public static List<RawQueueMessage> ParseMessages(BinaryData content)
    {
        XDocument doc;
        try
        {
            using var stream = content.ToStream();
            using var reader = XmlReader.Create(stream, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
            // Whitespace-only message text is content, not formatting.
            doc = XDocument.Load(reader, LoadOptions.PreserveWhitespace);
        }
        catch (XmlException ex)
        {
            throw new InvalidDataException("The Queue service returned a message list that is not well-formed XML.", ex);
        }
        if (doc.Root is not { Name.LocalName: "QueueMessagesList" } root)
        {
            throw new InvalidDataException("The Queue service returned XML without a QueueMessagesList root.");
        }
        var messages = new List<RawQueueMessage>();
        foreach (var element in root.Elements("QueueMessage"))
        {
            var id = element.Element("MessageId")?.Value
                ?? throw new InvalidDataException("The Queue service returned a message without a MessageId.");
            var dequeueCount = element.Element("DequeueCount")?.Value is { } count
                ? long.Parse(count, NumberStyles.Integer, CultureInfo.InvariantCulture)
                : 0;
            messages.Add(new RawQueueMessage(
                id,
                element.Element("PopReceipt")?.Value,
                element.Element("MessageText")?.Value,
                dequeueCount,
                ParseDate(element.Element("InsertionTime")?.Value),
                ParseDate(element.Element("ExpirationTime")?.Value),
                ParseDate(element.Element("TimeNextVisible")?.Value)));
        }
        return messages;
    }

    /// <summary>Parses an RFC 1123 date as the service writes it (always GMT).</summary>
    public static DateTimeOffset? ParseDate(string? value) =>
        string.IsNullOrWhiteSpace(value)
            ? null
            : DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
