using System.Text.Json;

namespace CreditFunctions.Api;

/// <summary>
/// Request bodies read with a limit on the bytes actually read (a chunked body included, whatever its
/// <c>Content-Length</c> says), and JSON errors that name the field and the type it must be.
/// </summary>
public static class RequestBody
{
    /// <summary>The default limit of a JSON body: 64 KiB.</summary>
    public const int LimitBytesDefault = 64 * 1024;

    /// <summary>Reads the whole body, or answers 413 problem+json naming <c>body</c> as soon as it passes
    /// <paramref name="limitBytes"/>. An empty body is an empty array.</summary>
    public static async Task<(byte[]? Bytes, IResult? Problem)> ReadAsync(HttpRequest request, int limitBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentLength > limitBytes)
        {
            return (null, TooLarge(limitBytes));
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limitBytes)
            {
                return (null, TooLarge(limitBytes));
            }
            buffer.Write(chunk, 0, read);
        }
        return (buffer.ToArray(), null);
    }

    /// <summary>Reads the body (up to <paramref name="limitBytes"/>, else 413) and deserializes it: null for an empty
    /// body, or the 400 naming the field a JSON error is about.</summary>
    public static async Task<(T? Body, IResult? Problem)> ReadJsonAsync<T>(HttpRequest request, JsonSerializerOptions options, CancellationToken cancellationToken,
        int limitBytes = LimitBytesDefault) where T : class
    {
        var (bytes, tooLarge) = await ReadAsync(request, limitBytes, cancellationToken).ConfigureAwait(false);
        if (tooLarge is not null)
        {
            return (null, tooLarge);
        }
        try
        {
            return (bytes!.Length == 0 ? null : JsonSerializer.Deserialize<T>(bytes, options), null);
        }
        catch (JsonException ex)
        {
            var (field, message) = Describe(ex);
            return (null, Problems.Validation(field, message));
        }
    }

    /// <summary>The optional <c>Idempotency-Key</c> (a malformed one is the 400 naming it) and the JSON body, as
    /// <see cref="ReadJsonAsync{T}"/>: what every charging route reads first.</summary>
    public static async Task<(T? Body, string? Key, IResult? Problem)> ReadKeyedJsonAsync<T>(HttpRequest request, JsonSerializerOptions options,
        CancellationToken cancellationToken, int limitBytes = LimitBytesDefault) where T : class
    {
        var key = IdempotencyKeys.Read(request, required: false, out var keyProblem);
        if (keyProblem is not null)
        {
            return (null, null, keyProblem);
        }
        var (body, problem) = await ReadJsonAsync<T>(request, options, cancellationToken, limitBytes).ConfigureAwait(false);
        return (body, key, problem);
    }

    /// <summary>413, naming <c>body</c> and its limit.</summary>
    public static IResult TooLarge(int limitBytes) =>
        Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload-too-large", "The request body is too large.",
            $"The body may be at most {limitBytes:N0} bytes; nothing was written.",
            new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["body"] = [$"at most {limitBytes:N0} bytes"] } });

    /// <summary>The field a JSON error is about (as the client spelled its path, <c>people[3].email</c>) and what it
    /// must be (<c>must be a string</c>), from what System.Text.Json reports.</summary>
    public static (string Field, string Message) Describe(JsonException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var field = error.Path is { Length: > 2 } path ? path.TrimStart('$', '.') : "body";
        var message = error.Message;
        var converted = message.IndexOf("converted to ", StringComparison.Ordinal);
        if (converted >= 0)
        {
            var type = message[(converted + "converted to ".Length)..].Split(". Path", 2)[0];
            return (field, "must be " + Expected(type));
        }
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            return (field, "is not a field of this request");
        }
        // Our own converters (credits, enums) say what is wrong in their first sentence.
        return (field, field == "body" ? "must be a JSON object of the documented shape" : "is not valid here: " + message.Split(". ", 2)[0].TrimEnd('.') + ".");
    }

    private static string Expected(string type) => type switch
    {
        _ when type.Contains("System.String", StringComparison.Ordinal) && !type.Contains("List", StringComparison.Ordinal) => "a string",
        _ when type.Contains("Boolean", StringComparison.Ordinal) => "true or false",
        _ when type.Contains("DateTimeOffset", StringComparison.Ordinal) => "an ISO 8601 date-time",
        _ when type.Contains("Int32", StringComparison.Ordinal) || type.Contains("Int64", StringComparison.Ordinal) => "a whole number",
        _ when type.Contains("Decimal", StringComparison.Ordinal) || type.Contains("Credits", StringComparison.Ordinal) => "a number with at most three decimals",
        _ when type.Contains("List", StringComparison.Ordinal) || type.EndsWith("[]", StringComparison.Ordinal) => "an array",
        _ when type.Contains("Dictionary", StringComparison.Ordinal) => "an object",
        _ => "an object of the documented shape",
    };
}
