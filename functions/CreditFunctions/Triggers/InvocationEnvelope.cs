using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CreditFunctions.Triggers;

/// <summary>
/// The custom-handler invocation contract: the JSON the Functions host POSTs to <c>/{function}</c>
/// (<c>{"Data": {binding: value}, "Metadata": {…, "sys": {MethodName, UtcNow, RandGuid}}}</c>) and the answer
/// (<c>{"Outputs": {}, "Logs": [], "ReturnValue": null}</c>). Local-host mode builds the same envelopes.
/// </summary>
/// <remarks>
/// Fields read: queue — <c>Data.message</c> (a string; any other JSON value is taken as its JSON text),
/// <c>Metadata.DequeueCount</c>, <c>Id</c>, <c>InsertionTime</c>, <c>ExpirationTime</c>, <c>NextVisibleTime</c>;
/// blob — <c>Data.blob</c> (base64, as the host sends binary data), <c>Metadata.BlobTrigger</c> (<c>container/name</c>),
/// and when present <c>Uri</c>, <c>Properties.ContentLength</c>/<c>ContentType</c>, <c>Metadata</c> and the path's
/// captures; timer — <c>Data.timer.IsPastDue</c> and <c>ScheduleStatus.Last</c>/<c>Next</c>/<c>LastUpdated</c>
/// (null when the schedule is not monitored); all — <c>Metadata.sys.UtcNow</c>. Names are matched
/// case-insensitively and numbers may come as strings.
/// </remarks>
public static class InvocationEnvelope
{
    /// <summary>The header that carries the invocation id.</summary>
    public const string InvocationIdHeader = "x-azure-functions-invocationid";

    /// <summary>Reads an invocation of <paramref name="function"/>.</summary>
    /// <exception cref="FormatException">The envelope lacks what the trigger needs; the message names the field,
    /// never its value.</exception>
    public static TriggerContext Parse(FunctionDefinition function, string invocationId, JsonElement envelope, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(configuration);
        if (envelope.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("The invocation is not a JSON object.");
        }
        var data = Property(envelope, "Data") is { ValueKind: JsonValueKind.Object } d ? d : throw new FormatException("The invocation has no Data object.");
        var metadata = Property(envelope, "Metadata") is { ValueKind: JsonValueKind.Object } m ? m.Clone() : default;
        var value = Property(data, function.Trigger.BindingName) ?? throw new FormatException($"Data has no '{function.Trigger.BindingName}'.");
        var hostNow = Date(Property(Property(metadata, "sys"), "UtcNow"));
        return function.Trigger switch
        {
            QueueTrigger queue => new QueueTriggerContext
            {
                FunctionName = function.Name, InvocationId = invocationId, HostUtcNow = hostNow, Metadata = metadata,
                MessageText = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText(),
                QueueName = BindingExpressions.Resolve(queue.QueueName, configuration),
                MessageId = Text(Property(metadata, "Id")),
                DequeueCount = Number(Property(metadata, "DequeueCount")) ?? 1,
                InsertionTime = Date(Property(metadata, "InsertionTime")),
                ExpirationTime = Date(Property(metadata, "ExpirationTime")),
                NextVisibleTime = Date(Property(metadata, "NextVisibleTime")),
            },
            BlobTrigger blob => ParseBlob(function, blob, invocationId, hostNow, metadata, value),
            TimerTrigger => ParseTimer(function, invocationId, hostNow, metadata, value),
            _ => throw new FormatException($"Function '{function.Name}' is forwarded HTTP and takes no envelope."),
        };
    }

    /// <summary>The answer to a completed invocation: no outputs (handlers write to storage themselves), no logs.</summary>
    public static JsonObject Completed() => Response([]);

    /// <summary>The answer to a failed invocation, sent with a non-2xx status so that the host counts it as failed.</summary>
    public static JsonObject Failed(string log) => Response([log]);

    /// <summary>The envelope the host sends for a queue message.</summary>
    public static JsonObject ForQueueMessage(FunctionDefinition function, QueueMessageInfo message, DateTimeOffset utcNow)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(message);
        return Envelope(function, message.MessageText, new JsonObject
        {
            ["DequeueCount"] = message.DequeueCount,
            ["ExpirationTime"] = Format(message.ExpirationTime),
            ["Id"] = message.MessageId,
            ["InsertionTime"] = Format(message.InsertionTime),
            ["NextVisibleTime"] = Format(message.NextVisibleTime),
            ["PopReceipt"] = message.PopReceipt,
        }, utcNow);
    }

    /// <summary>The envelope the host sends for a blob: its content in base64, its path, URL and properties.</summary>
    public static JsonObject ForBlob(FunctionDefinition function, BlobInfo blob, DateTimeOffset utcNow)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(blob);
        var metadata = new JsonObject
        {
            ["BlobTrigger"] = $"{blob.ContainerName}/{blob.BlobName}",
            ["Uri"] = blob.Uri.ToString(),
            ["Properties"] = new JsonObject
            {
                ["ContentLength"] = blob.Content.ToMemory().Length,
                ["ContentType"] = blob.ContentType,
                ["ETag"] = blob.ETag,
                ["LastModified"] = Format(blob.LastModified),
            },
            ["Metadata"] = new JsonObject(blob.BlobMetadata.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
        };
        foreach (var (name, value) in blob.PathParameters)
        {
            metadata[name] = value;
        }
        return Envelope(function, Convert.ToBase64String(blob.Content.ToMemory().Span), metadata, utcNow);
    }

    /// <summary>The envelope the host sends for a timer occurrence (<paramref name="status"/> null: not monitored).</summary>
    public static JsonObject ForTimer(FunctionDefinition function, TimerStatus? status, bool isPastDue, DateTimeOffset utcNow)
    {
        ArgumentNullException.ThrowIfNull(function);
        var timer = new JsonObject
        {
            ["Schedule"] = new JsonObject { ["AdjustForDST"] = true },
            ["ScheduleStatus"] = status is null ? null : new JsonObject
            {
                ["Last"] = Format(status.Last ?? DateTimeOffset.MinValue),
                ["Next"] = Format(status.Next),
                ["LastUpdated"] = Format(status.LastUpdated),
            },
            ["IsPastDue"] = isPastDue,
        };
        return Envelope(function, timer, new JsonObject(), utcNow);
    }

    private static JsonObject Envelope(FunctionDefinition function, JsonNode? value, JsonObject metadata, DateTimeOffset utcNow)
    {
        metadata["sys"] = new JsonObject
        {
            ["MethodName"] = function.Name,
            ["UtcNow"] = Format(utcNow),
            ["RandGuid"] = Guid.NewGuid().ToString(),
        };
        return new JsonObject
        {
            ["Data"] = new JsonObject { [function.Trigger.BindingName] = value },
            ["Metadata"] = metadata,
        };
    }

    private static JsonObject Response(string[] logs) => new()
    {
        ["Outputs"] = new JsonObject(),
        ["Logs"] = new JsonArray(logs.Select(l => (JsonNode?)l).ToArray()),
        ["ReturnValue"] = null,
    };

    private static BlobTriggerContext ParseBlob(FunctionDefinition function, BlobTrigger trigger, string invocationId, DateTimeOffset? hostNow,
        JsonElement metadata, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new FormatException($"Data.{trigger.BindingName} is not a base64 string.");
        }
        byte[] content;
        try
        {
            content = Convert.FromBase64String(value.GetString()!);
        }
        catch (FormatException)
        {
            throw new FormatException($"Data.{trigger.BindingName} is not valid base64.");
        }
        var path = Text(Property(metadata, "BlobTrigger")) ?? throw new FormatException("Metadata has no BlobTrigger.");
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            throw new FormatException("Metadata.BlobTrigger is not container/name.");
        }
        var (container, name) = (path[..slash], path[(slash + 1)..]);
        var pattern = BlobPathPattern.Parse(trigger.Path, function.Name);
        var captures = pattern.Match(name) ?? new Dictionary<string, string>();
        var parameters = pattern.Parameters.ToDictionary(p => p, p => Text(Property(metadata, p)) ?? captures.GetValueOrDefault(p) ?? string.Empty, StringComparer.Ordinal);
        var properties = Property(metadata, "Properties");
        var blobMetadata = Property(metadata, "Metadata") is { ValueKind: JsonValueKind.Object } md
            ? md.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String).ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.OrdinalIgnoreCase)
            : new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        return new BlobTriggerContext
        {
            FunctionName = function.Name, InvocationId = invocationId, HostUtcNow = hostNow, Metadata = metadata,
            Content = BinaryData.FromBytes(content),
            ContainerName = container,
            BlobName = name,
            PathParameters = parameters,
            Uri = Text(Property(metadata, "Uri")) is { } uri && Uri.TryCreate(uri, UriKind.Absolute, out var parsed) ? parsed : null,
            ContentLength = Number(Property(properties, "ContentLength")) ?? Number(Property(properties, "Length")),
            ContentType = Text(Property(properties, "ContentType")),
            BlobMetadata = blobMetadata,
        };
    }

    private static TimerTriggerContext ParseTimer(FunctionDefinition function, string invocationId, DateTimeOffset? hostNow, JsonElement metadata, JsonElement value)
    {
        using var nested = value.ValueKind == JsonValueKind.String ? JsonDocument.Parse(value.GetString()!) : null;
        var timer = nested?.RootElement ?? value;
        if (timer.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"Data.{function.Trigger.BindingName} is not a timer object.");
        }
        var status = Property(timer, "ScheduleStatus");
        var last = Date(Property(status, "Last"));
        return new TimerTriggerContext
        {
            FunctionName = function.Name, InvocationId = invocationId, HostUtcNow = hostNow, Metadata = metadata,
            IsPastDue = Property(timer, "IsPastDue") is { } pastDue && (pastDue.ValueKind == JsonValueKind.True ||
                (pastDue.ValueKind == JsonValueKind.String && bool.TryParse(pastDue.GetString(), out var p) && p)),
            Last = last is { Year: > 1 } ? last : null,
            Next = Date(Property(status, "Next")),
            LastUpdated = Date(Property(status, "LastUpdated")),
        };
    }

    private static JsonElement? Property(JsonElement? element, string name)
    {
        if (element is not { ValueKind: JsonValueKind.Object } obj)
        {
            return null;
        }
        if (obj.TryGetProperty(name, out var exact))
        {
            return exact;
        }
        foreach (var property in obj.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return property.Value;
            }
        }
        return null;
    }

    private static string? Text(JsonElement? element) => element switch
    {
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Number } n => n.GetRawText(),
        _ => null,
    };

    private static long? Number(JsonElement? element) => element switch
    {
        { ValueKind: JsonValueKind.Number } n when n.TryGetInt64(out var v) => v,
        { ValueKind: JsonValueKind.String } s when long.TryParse(s.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) => v,
        _ => null,
    };

    private static DateTimeOffset? Date(JsonElement? element) =>
        Text(element) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)
            ? value
            : null;

    private static string? Format(DateTimeOffset? value) => value?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>A received queue message, as an invocation envelope describes it.</summary>
public sealed record QueueMessageInfo(string MessageId, string PopReceipt, string MessageText, long DequeueCount)
{
    /// <summary>When it was queued.</summary>
    public DateTimeOffset? InsertionTime { get; init; }

    /// <summary>When it expires.</summary>
    public DateTimeOffset? ExpirationTime { get; init; }

    /// <summary>When it becomes visible again.</summary>
    public DateTimeOffset? NextVisibleTime { get; init; }
}

/// <summary>A blob version, as an invocation envelope describes it.</summary>
public sealed record BlobInfo(string ContainerName, string BlobName, Uri Uri, BinaryData Content, IReadOnlyDictionary<string, string> PathParameters)
{
    /// <summary>Its content type.</summary>
    public string? ContentType { get; init; }

    /// <summary>Its ETag, quoted as the service sends it.</summary>
    public string? ETag { get; init; }

    /// <summary>When it was last written.</summary>
    public DateTimeOffset? LastModified { get; init; }

    /// <summary>Its user-defined metadata.</summary>
    public IReadOnlyDictionary<string, string> BlobMetadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>A monitored schedule's status, as the host records it between occurrences.</summary>
/// <param name="Last">The previous occurrence; null before the first.</param>
/// <param name="Next">The occurrence expected next.</param>
/// <param name="LastUpdated">When the status was recorded.</param>
public sealed record TimerStatus(DateTimeOffset? Last, DateTimeOffset Next, DateTimeOffset LastUpdated);
