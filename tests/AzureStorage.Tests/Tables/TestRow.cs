using Azure;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.AzureStorage.Tests.Tables;

/// <summary>A typed entity with one property of every Table type, mapped explicitly.</summary>
internal sealed class TestRow : ITableEntity<TestRow>
{
    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string? Name { get; set; }
    public int? Count { get; set; }
    public long? Amount { get; set; }
    public double? Ratio { get; set; }
    public bool? Active { get; set; }
    public DateTimeOffset? At { get; set; }
    public Guid? Id { get; set; }
    public byte[]? Blob { get; set; }

    public static TestRow Create(string pk, string rk, string? name = null) => new() { PartitionKey = pk, RowKey = rk, Name = name };

    public void WriteProperties(TableEntityWriter writer)
    {
        writer.Write(nameof(Name), Name);
        writer.Write(nameof(Count), Count);
        writer.Write(nameof(Amount), Amount);
        writer.Write(nameof(Ratio), Ratio);
        writer.Write(nameof(Active), Active);
        writer.Write(nameof(At), At);
        writer.Write(nameof(Id), Id);
        if (Blob is not null)
        {
            writer.Write(nameof(Blob), Blob);
        }
    }

    public static TestRow ReadEntity(TableEntityReader reader) => new()
    {
        Name = reader.GetString(nameof(Name)),
        Count = reader.GetInt32(nameof(Count)),
        Amount = reader.GetInt64(nameof(Amount)),
        Ratio = reader.GetDouble(nameof(Ratio)),
        Active = reader.GetBoolean(nameof(Active)),
        At = reader.GetDateTimeOffset(nameof(At)),
        Id = reader.GetGuid(nameof(Id)),
        Blob = reader.GetBinary(nameof(Blob)),
    };
}
