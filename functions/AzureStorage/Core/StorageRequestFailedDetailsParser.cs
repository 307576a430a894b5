using System.Text.Json;
using System.Xml;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage;

/// <summary>
/// Reads the storage error code and message of a failed response: the <c>x-ms-error-code</c> header, the XML
/// <c>&lt;Error&gt;</c> body of Blob and Queue, or the JSON <c>odata.error</c> body of Table.
/// </summary>
internal sealed class StorageRequestFailedDetailsParser : RequestFailedDetailsParser
{
    public static readonly StorageRequestFailedDetailsParser Instance = new();

    public override bool TryParse(Response response, out ResponseError? error, out IDictionary<string, string>? data)
    {
        data = null;
        response.Headers.TryGetValue("x-ms-error-code", out var code);
        string? message = null;
        try
        {
            var content = response.Content;
            if (content is not null && content.ToMemory().Length > 0)
            {
                var span = content.ToMemory().Span;
                if (span[0] == (byte)'<')
                {
                    var xml = new XmlDocument { XmlResolver = null };
                    xml.LoadXml(content.ToString());
                    code ??= xml.SelectSingleNode("/Error/Code")?.InnerText;
                    message = xml.SelectSingleNode("/Error/Message")?.InnerText;
                }
                else if (span[0] == (byte)'{')
                {
                    (var jsonCode, message) = ParseJsonError(content.ToMemory());
                    code ??= jsonCode;
                }
            }
        }
        catch (Exception ex) when (ex is XmlException or JsonException or InvalidOperationException)
        {
            // A body that is not the documented error shape still yields the header's code.
        }
        error = code is null && message is null ? null : new ResponseError(code, message ?? code);
        return error is not null;
    }

    /// <summary>Reads <c>{"odata.error":{"code":…,"message":{"value":…}}}</c> (also without the odata prefix).</summary>
    internal static (string? Code, string? Message) ParseJsonError(ReadOnlyMemory<byte> json)
    {
        using var doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("odata.error", out var err) && !doc.RootElement.TryGetProperty("error", out err))
        {
            return (null, null);
        }
        var code = err.TryGetProperty("code", out var c) ? c.GetString() : null;
        string? message = null;
        if (err.TryGetProperty("message", out var m))
        {
            message = m.ValueKind == JsonValueKind.Object && m.TryGetProperty("value", out var v) ? v.GetString()
                : m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        }
        return (code, message);
    }
}
