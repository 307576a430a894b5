using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;

namespace CreditFunctions.Hosting;

/// <summary>Short-lived links to one blob.</summary>
public static class BlobSas
{
    /// <summary>A SAS for <paramref name="blob"/> alone: signed with the account key when the client has one (connection
    /// string, Azurite), else with a user delegation key (managed identity in Azure).</summary>
    public static async Task<Uri> ForBlobAsync(BlobServiceClient blobs, BlobBaseClient blob, BlobSasPermissions permissions, DateTimeOffset now,
        DateTimeOffset expires, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentNullException.ThrowIfNull(blob);
        if (blob.CanGenerateSasUri)
        {
            return blob.GenerateSasUri(permissions, expires);
        }
        var key = await blobs.GetUserDelegationKeyAsync(now.AddMinutes(-5), expires, ct).ConfigureAwait(false);
        var sas = new BlobSasBuilder(permissions, expires)
        {
            BlobContainerName = blob.BlobContainerName, BlobName = blob.Name, Resource = "b", StartsOn = now.AddMinutes(-5),
        };
        return new BlobUriBuilder(blob.Uri) { Sas = sas.ToSasQueryParameters(key.Value, blobs.AccountName) }.ToUri();
    }
}
