using System.Text;
using CreditFunctions.Auth;
using Azure.Data.Tables;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Auth;

/// <summary>Stores on a fresh, uniquely named table, and a raw view of its rows.</summary>
internal sealed class StoreTestSupport(AzuriteFixture azurite)
{
    public TableClient Table { get; } = new TableServiceClient(azurite.ConnectionString).GetTableClient(AzuriteFixture.NewName("teams"));

    public TeamStore Teams => new(Table);

    public ApiKeyStore Keys => new(Table);

    /// <summary>Every row of the table as stored, untyped; empty when the table does not exist.</summary>
    public async Task<List<TableEntity>> RowsAsync()
    {
        await Table.CreateIfNotExistsAsync(TestContext.Current.CancellationToken);
        return Table.Query<TableEntity>(cancellationToken: TestContext.Current.CancellationToken).ToList();
    }

    /// <summary>Every stored value as text (binary values as base64 and as raw bytes), for "is the secret in here" checks.</summary>
    public static IEnumerable<string> StoredTexts(TableEntity row)
    {
        yield return row.PartitionKey;
        yield return row.RowKey;
        foreach (var value in ((IDictionary<string, object>)row).Values)
        {
            switch (value)
            {
                case byte[] bytes:
                    yield return Convert.ToBase64String(bytes);
                    yield return Encoding.UTF8.GetString(bytes);
                    break;
                case not null:
                    yield return Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!;
                    break;
            }
        }
    }
}
