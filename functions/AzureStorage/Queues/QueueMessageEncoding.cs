namespace CreditFunctions.AzureStorage.Queues;

/// <summary>How a <see cref="QueueClient"/> turns message bodies into the service's <c>MessageText</c> and back.</summary>
public enum QueueMessageEncoding
{
    /// <summary>
    /// The text on the wire is the base64 of the body bytes. This is what the Azure Functions queue trigger expects by
    /// default (<c>messageEncoding: base64</c> in <c>host.json</c>) and what lets any bytes travel intact.
    /// </summary>
    Base64 = 0,

    /// <summary>
    /// The body is sent as UTF-8 text, XML-escaped. Bodies must be valid UTF-8 made of characters XML 1.0 allows;
    /// anything else is rejected before sending.
    /// </summary>
    None = 1,
}
