using System.Globalization;
using System.Text.Json;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>
/// Reads the properties of one row as the service returned it. A missing property reads as null; a property of
/// another type than asked throws <see cref="FormatException"/> naming it.
/// </summary>
public readonly struct TableEntityReader
{
    private readonly JsonElement _row;

    internal TableEntityReader(JsonElement row) => _row = row;

    /// <summary>The row's partition key.</summary>
    public string PartitionKey => GetString(nameof(PartitionKey)) ?? string.Empty;

    /// <summary>The row's row key.</summary>
    public string RowKey => GetString(nameof(RowKey)) ?? string.Empty;

    /// <summary>True when the row has the property.</summary>
    public bool Contains(string name) => _row.TryGetProperty(name, out _);

    /// <summary>Reads a string property.</summary>
    public string? GetString(string name) =>
        Get(name) is { } e ? e.ValueKind == JsonValueKind.String ? e.GetString() : throw WrongType(name, "string") : null;

    /// <summary>Reads a 32-bit integer property.</summary>
    public int? GetInt32(string name) =>
        Get(name) is { } e ? e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : throw WrongType(name, "Int32") : null;

    /// <summary>Reads a 64-bit integer property (also accepts an Int32 value).</summary>
    public long? GetInt64(string name)
    {
        if (Get(name) is not { } e)
        {
            return null;
        }
        if (e.ValueKind == JsonValueKind.String && long.TryParse(e.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s))
        {
            return s;
        }
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var n) ? n : throw WrongType(name, "Int64");
    }

    /// <summary>Reads a double property.</summary>
    public double? GetDouble(string name)
    {
        if (Get(name) is not { } e)
        {
            return null;
        }
        if (e.ValueKind == JsonValueKind.Number)
        {
            return e.GetDouble();
        }
        return e.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            _ => throw WrongType(name, "Double"),
        };
    }

    /// <summary>Reads a Boolean property.</summary>
    public bool? GetBoolean(string name) =>
        Get(name) is { } e ? e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, "Boolean"),
        } : null;

    /// <summary>Reads a date property (UTC).</summary>
    public DateTimeOffset? GetDateTimeOffset(string name) =>
        Get(name) is { } e
            ? e.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(e.GetString(), CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var v) ? v : throw WrongType(name, "DateTime")
            : null;

    /// <summary>Reads a GUID property.</summary>
    public Guid? GetGuid(string name) =>
        Get(name) is { } e ? e.ValueKind == JsonValueKind.String && Guid.TryParse(e.GetString(), out var v) ? v : throw WrongType(name, "Guid") : null;

    /// <summary>Reads a binary property.</summary>
    public byte[]? GetBinary(string name) =>
        Get(name) is { } e ? e.ValueKind == JsonValueKind.String && e.TryGetBytesFromBase64(out var v) ? v : throw WrongType(name, "Binary") : null;

    /// <summary>Every property of the row with its declared or inferred type, for untyped entities.</summary>
    internal IEnumerable<(string Name, JsonElement Value, string? EdmType)> EnumerateProperties()
    {
        foreach (var property in _row.EnumerateObject())
        {
            if (property.Name.StartsWith("odata.", StringComparison.Ordinal) || property.Name.Contains('@', StringComparison.Ordinal))
            {
                continue;
            }
            string? edmType = _row.TryGetProperty(property.Name + "@odata.type", out var t) ? t.GetString() : null;
            yield return (property.Name, property.Value, edmType);
        }
    }

    internal string? ODataETag => _row.TryGetProperty("odata.etag", out var e) ? e.GetString() : null;

    private JsonElement? Get(string name) =>
        _row.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;

    private static FormatException WrongType(string name, string expected) =>
        new($"Table property '{name}' is not a valid {expected}.");
}
