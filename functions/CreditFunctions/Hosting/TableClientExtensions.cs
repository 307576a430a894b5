using Azure.Data.Tables;

namespace CreditFunctions.Hosting;

/// <summary>Point reads that answer null for a missing row.</summary>
internal static class TableClientExtensions
{
    /// <summary>The entity, or null when the row does not exist.</summary>
    public static async Task<T?> GetEntityOrNullAsync<T>(this TableClient table, string partitionKey, string rowKey, CancellationToken cancellationToken = default)
        where T : class, ITableEntity, new()
    {
        var response = await table.GetEntityIfExistsAsync<T>(partitionKey, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        return response.HasValue ? response.Value : null;
    }
}
