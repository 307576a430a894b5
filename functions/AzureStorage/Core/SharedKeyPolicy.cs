using System.Globalization;
using System.Net;
using System.Text;
using Azure.Core;
using Azure.Core.Pipeline;

namespace CreditFunctions.AzureStorage;

/// <summary>
/// Signs each try of a request with the Shared Key scheme. Runs per retry, after the retry policy, so every attempt
/// carries a fresh <c>x-ms-date</c>. Blob and Queue use the full string-to-sign; Table uses its shorter form.
/// </summary>
internal sealed class SharedKeyPolicy : HttpPipelineSynchronousPolicy
{
    private readonly StorageSharedKeyCredential _credential;
    private readonly bool _tableService;
    private readonly TimeProvider _clock;

    public SharedKeyPolicy(StorageSharedKeyCredential credential, bool tableService, TimeProvider? clock = null)
    {
        _credential = credential;
        _tableService = tableService;
        _clock = clock ?? TimeProvider.System;
    }

    public override void OnSendingRequest(HttpMessage message)
    {
        var date = _clock.GetUtcNow().ToString("R", CultureInfo.InvariantCulture);
        message.Request.Headers.SetValue("x-ms-date", date);
        var stringToSign = _tableService
            ? BuildTableStringToSign(message.Request, _credential.AccountName)
            : BuildStringToSign(message.Request, _credential.AccountName);
        var signature = _credential.ComputeHmacSha256(stringToSign);
        message.Request.Headers.SetValue("Authorization", $"SharedKey {_credential.AccountName}:{signature}");
    }

    /// <summary>The Blob and Queue service string-to-sign (version 2009-09-19 and later).</summary>
    internal static string BuildStringToSign(Request request, string accountName)
    {
        var contentLength = request.Content is not null && request.Content.TryComputeLength(out var length) && length > 0
            ? length.ToString(CultureInfo.InvariantCulture)
            : string.Empty;
        var sb = new StringBuilder(256);
        sb.Append(request.Method.Method).Append('\n');
        sb.Append(Header(request, "Content-Encoding")).Append('\n');
        sb.Append(Header(request, "Content-Language")).Append('\n');
        sb.Append(contentLength).Append('\n');
        sb.Append(Header(request, "Content-MD5")).Append('\n');
        sb.Append(Header(request, "Content-Type")).Append('\n');
        sb.Append('\n'); // Date: x-ms-date is used instead.
        sb.Append(Header(request, "If-Modified-Since")).Append('\n');
        sb.Append(Header(request, "If-Match")).Append('\n');
        sb.Append(Header(request, "If-None-Match")).Append('\n');
        sb.Append(Header(request, "If-Unmodified-Since")).Append('\n');
        sb.Append(Header(request, "Range")).Append('\n');
        AppendCanonicalizedHeaders(sb, request);
        AppendCanonicalizedResource(sb, request.Uri.ToUri(), accountName);
        return sb.ToString();
    }

    /// <summary>The Table service string-to-sign: verb, MD5, type, date and resource with only <c>comp</c>.</summary>
    internal static string BuildTableStringToSign(Request request, string accountName)
    {
        var uri = request.Uri.ToUri();
        var sb = new StringBuilder(128);
        sb.Append(request.Method.Method).Append('\n');
        sb.Append(Header(request, "Content-MD5")).Append('\n');
        sb.Append(Header(request, "Content-Type")).Append('\n');
        sb.Append(Header(request, "x-ms-date")).Append('\n');
        sb.Append('/').Append(accountName).Append(uri.AbsolutePath);
        foreach (var (name, value) in ParseQuery(uri.Query))
        {
            if (string.Equals(name, "comp", StringComparison.OrdinalIgnoreCase))
            {
                sb.Append("?comp=").Append(value);
            }
        }
        return sb.ToString();
    }

    private static string Header(Request request, string name) =>
        request.Headers.TryGetValue(name, out var value) ? value : string.Empty;

    private static void AppendCanonicalizedHeaders(StringBuilder sb, Request request)
    {
        var headers = new List<(string Name, string Value)>();
        foreach (var header in request.Headers)
        {
            if (header.Name.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
            {
                headers.Add((header.Name.ToLowerInvariant(), header.Value.Trim()));
            }
        }
        headers.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var (name, value) in headers)
        {
            sb.Append(name).Append(':').Append(value).Append('\n');
        }
    }

    private static void AppendCanonicalizedResource(StringBuilder sb, Uri uri, string accountName)
    {
        sb.Append('/').Append(accountName).Append(uri.AbsolutePath.Length == 0 ? "/" : uri.AbsolutePath);
        var parameters = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, value) in ParseQuery(uri.Query))
        {
            var key = name.ToLowerInvariant();
            if (!parameters.TryGetValue(key, out var values))
            {
                parameters[key] = values = [];
            }
            values.Add(value);
        }
        foreach (var (name, values) in parameters)
        {
            values.Sort(StringComparer.Ordinal);
            sb.Append('\n').Append(name).Append(':').Append(string.Join(',', values));
        }
    }

    private static IEnumerable<(string Name, string Value)> ParseQuery(string query)
    {
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? pair : pair[..eq];
            var value = eq < 0 ? string.Empty : pair[(eq + 1)..];
            yield return (WebUtility.UrlDecode(name), WebUtility.UrlDecode(value));
        }
    }
}
