using System.Text.Json;
using Azure;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>
/// An untyped entity: a dictionary of properties for tools and tests. Values are string, int, long, double, bool,
/// DateTimeOffset, Guid or byte[]. Typed entities (<see cref="ITableEntity{TSelf}"/>) are the fast path.
/// </summary>
public sealed class TableEntity : Dictionary<string, object?>, ITableEntity<TableEntity>
{
    /// <summary>Creates an empty entity.</summary>
    public TableEntity() : base(StringComparer.Ordinal)
    {
    }

    /// <summary>Creates an entity with its keys.</summary>
    public TableEntity(string partitionKey, string rowKey) : this()
    {
        PartitionKey = partitionKey;
        RowKey = rowKey;
    }

    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <inheritdoc />
    public void WriteProperties(TableEntityWriter writer)
    {
        foreach (var (name, value) in this)
        {
            switch (value)
            {
                case null: break;
                case string s: writer.Write(name, s); break;
                case int i: writer.Write(name, i); break;
                case long l: writer.Write(name, l); break;
                case double d: writer.Write(name, d); break;
                case bool b: writer.Write(name, b); break;
                case DateTimeOffset dto: writer.Write(name, dto); break;
                case DateTime dt: writer.Write(name, new DateTimeOffset(DateTime.SpecifyKind(dt, DateTimeKind.Utc))); break;
                case Guid g: writer.Write(name, g); break;
                case byte[] bytes: writer.Write(name, bytes); break;
                default: throw new NotSupportedException($"Property '{name}' has type {value.GetType().Name}, which the Table service cannot store.");
            }
        }
    }

    /// <inheritdoc />
    public static TableEntity ReadEntity(TableEntityReader reader)
    {
        var entity = new TableEntity();
        foreach (var (name, value, edmType) in reader.EnumerateProperties())
        {
            if (name is nameof(PartitionKey) or nameof(RowKey) or nameof(Timestamp))
            {
                continue;
            }
            entity[name] = edmType switch
            {
                "Edm.Int64" => reader.GetInt64(name),
                "Edm.Double" => reader.GetDouble(name),
                "Edm.DateTime" => reader.GetDateTimeOffset(name),
                "Edm.Guid" => reader.GetGuid(name),
                "Edm.Binary" => reader.GetBinary(name),
                _ => value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Number when value.TryGetInt32(out var i) => i,
                    JsonValueKind.Number => value.GetDouble(),
                    _ => null,
                },
            };
        }
        return entity;
    }
}
