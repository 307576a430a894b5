using System.Globalization;
using Azure;
using Azure.Core;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>Writes request headers (conditions, content headers, metadata) and reads response headers.</summary>
internal static class BlobHeaders
{
    private const string MetadataPrefix = "x-ms-meta-";

    public static void ApplyConditions(Request request, RequestConditions? conditions)
    {
        if (conditions is null)
        {
            return;
        }
        if (conditions.IfMatch is { } ifMatch)
        {
            request.Headers.SetValue("If-Match", HeaderValue(ifMatch));
        }
        if (conditions.IfNoneMatch is { } ifNoneMatch)
        {
            request.Headers.SetValue("If-None-Match", HeaderValue(ifNoneMatch));
        }
        if (conditions.IfModifiedSince is { } modifiedSince)
        {
            request.Headers.SetValue("If-Modified-Since", modifiedSince.ToString("R", CultureInfo.InvariantCulture));
        }
        if (conditions.IfUnmodifiedSince is { } unmodifiedSince)
        {
            request.Headers.SetValue("If-Unmodified-Since", unmodifiedSince.ToString("R", CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Sets the blob's stored content headers (<c>x-ms-blob-content-*</c>), as Put Blob and Put Block List take them.</summary>
    public static void ApplyHttpHeaders(Request request, BlobHttpHeaders? headers)
    {
        if (headers is null)
        {
            return;
        }
        SetIfPresent(request, "x-ms-blob-content-type", headers.ContentType);
        SetIfPresent(request, "x-ms-blob-content-encoding", headers.ContentEncoding);
        SetIfPresent(request, "x-ms-blob-content-language", headers.ContentLanguage);
        SetIfPresent(request, "x-ms-blob-content-disposition", headers.ContentDisposition);
        SetIfPresent(request, "x-ms-blob-cache-control", headers.CacheControl);
    }

    /// <exception cref="ArgumentException">A name is not a valid C# identifier or a value is not printable ASCII.</exception>
    public static void ApplyMetadata(Request request, IDictionary<string, string>? metadata)
    {
        if (metadata is null)
        {
            return;
        }
        foreach (var (name, value) in metadata)
        {
            ValidateMetadata(name, value);
            request.Headers.SetValue(MetadataPrefix + name, value);
        }
    }

    internal static void ValidateMetadata(string name, string? value)
    {
        if (string.IsNullOrEmpty(name) || !(char.IsAsciiLetter(name[0]) || name[0] == '_') ||
            !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            throw new ArgumentException(
                $"Metadata name '{name}' is invalid: names must be C# identifiers (ASCII letters, digits and '_', not starting with a digit).",
                nameof(name));
        }
        if (value is null || value.Any(c => c is < ' ' or > '~'))
        {
            throw new ArgumentException(
                $"The value of metadata '{name}' must be printable ASCII: encode other text (e.g. base64) before storing it.",
                nameof(value));
        }
    }

    public static IDictionary<string, string> ReadMetadata(Response response)
    {
        var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var header in response.Headers)
        {
            if (header.Name.StartsWith(MetadataPrefix, StringComparison.OrdinalIgnoreCase))
            {
                metadata[header.Name[MetadataPrefix.Length..]] = header.Value;
            }
        }
        return metadata;
    }

    public static ETag ReadETag(Response response) => response.Headers.ETag ?? default;

    public static DateTimeOffset ReadDate(Response response, string name) => ReadOptionalDate(response, name) ?? default;

    public static DateTimeOffset? ReadOptionalDate(Response response, string name) =>
        response.Headers.TryGetValue(name, out var value) ? ParseHttpDate(value) : null;

    public static DateTimeOffset? ParseHttpDate(string? value) =>
        DateTimeOffset.TryParseExact(value, "R", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
            ? date
            : null;

    public static long ReadLong(Response response, string name) =>
        response.Headers.TryGetValue(name, out var value) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : 0;

    public static string? ReadString(Response response, string name) =>
        response.Headers.TryGetValue(name, out var value) ? value : null;

    /// <summary>Formats a range as <c>bytes=first-last</c> (or <c>bytes=first-</c> to the end).</summary>
    public static string FormatRange(HttpRange range)
    {
        if (range.Offset < 0 || range.Length is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(range), "A range needs a non-negative offset and a positive length (or none).");
        }
        var last = range.Length is { } length ? (range.Offset + length - 1).ToString(CultureInfo.InvariantCulture) : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"bytes={range.Offset}-{last}");
    }

    private static string HeaderValue(ETag etag) => etag == ETag.All ? "*" : etag.ToString("H");

    private static void SetIfPresent(Request request, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            request.Headers.SetValue(name, value);
        }
    }
}
