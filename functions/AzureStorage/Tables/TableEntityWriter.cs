using System.Globalization;
using System.Text.Json;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>
/// Writes an entity's properties in the Table service's JSON format, with the <c>@odata.type</c> annotations that
/// keep 64-bit integers, dates, GUIDs and binary values typed. A null value writes nothing (the property is absent).
/// </summary>
public sealed class TableEntityWriter
{
    private readonly Utf8JsonWriter _json;

    internal TableEntityWriter(Utf8JsonWriter json) => _json = json;

    /// <summary>Writes a string property (Edm.String).</summary>
    public void Write(string name, string? value)
    {
        if (value is not null)
        {
            _json.WriteString(name, value);
        }
    }

    /// <summary>Writes a 32-bit integer property (Edm.Int32).</summary>
    public void Write(string name, int? value)
    {
        if (value is { } v)
        {
            _json.WriteNumber(name, v);
        }
    }

    /// <summary>Writes a 64-bit integer property (Edm.Int64, sent as a string as the format requires).</summary>
    public void Write(string name, long? value)
    {
        if (value is { } v)
        {
            _json.WriteString(name + "@odata.type", "Edm.Int64");
            _json.WriteString(name, v.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Writes a double property (Edm.Double). Do not use it for money.</summary>
    public void Write(string name, double? value)
    {
        if (value is { } v)
        {
            _json.WriteString(name + "@odata.type", "Edm.Double");
            if (double.IsFinite(v))
            {
                _json.WriteNumber(name, v);
            }
            else
            {
                _json.WriteString(name, double.IsNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
            }
        }
    }

    /// <summary>Writes a Boolean property (Edm.Boolean).</summary>
    public void Write(string name, bool? value)
    {
        if (value is { } v)
        {
            _json.WriteBoolean(name, v);
        }
    }

    /// <summary>Writes a date property (Edm.DateTime, stored in UTC with 100 ns precision).</summary>
    public void Write(string name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            _json.WriteString(name + "@odata.type", "Edm.DateTime");
            _json.WriteString(name, v.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Writes a GUID property (Edm.Guid).</summary>
    public void Write(string name, Guid? value)
    {
        if (value is { } v)
        {
            _json.WriteString(name + "@odata.type", "Edm.Guid");
            _json.WriteString(name, v.ToString("D"));
        }
    }

    /// <summary>Writes a binary property (Edm.Binary, at most 64 KiB).</summary>
    public void Write(string name, ReadOnlySpan<byte> value)
    {
        _json.WriteString(name + "@odata.type", "Edm.Binary");
        _json.WriteBase64String(name, value);
    }
}
