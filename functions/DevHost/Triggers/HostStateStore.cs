using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace DevHost.Triggers;

/// <summary>
/// The host's own state in the <c>azure-webjobs-hosts</c> container, in the host's layout: blob receipts at
/// <c>blobreceipts/{hostId}/{function}/{etag}/{container}/{blob}</c> and timer schedule status at
/// <c>timers/{hostId}/{function}/status</c>.
/// </summary>
internal sealed class HostStateStore(BlobServiceClient blobs, string hostId)
{
    public const string ContainerName = "azure-webjobs-hosts";

    private readonly BlobContainerClient _container = blobs.GetBlobContainerClient(ContainerName);

    public string HostId => hostId;

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);

    public BlobClient Receipt(string functionId, string etag, string container, string blob) =>
        _container.GetBlobClient($"blobreceipts/{hostId}/{functionId}/{etag.Trim('"')}/{container}/{blob}");

    public async Task<TimerStatus?> GetTimerStatusAsync(string functionId, CancellationToken cancellationToken)
    {
        try
        {
            var content = await TimerBlob(functionId).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return content.Value.Content.ToObjectFromJson<TimerStatus>();
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }
    }

    public Task SetTimerStatusAsync(string functionId, TimerStatus status, CancellationToken cancellationToken) =>
        TimerBlob(functionId).UploadAsync(BinaryData.FromObjectAsJson(status), new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" },
        }, cancellationToken);

    private BlobClient TimerBlob(string functionId) => _container.GetBlobClient($"timers/{hostId}/{functionId}/status");
}

/// <summary>A timer's schedule status, as the host keeps it.</summary>
internal sealed record TimerStatus(DateTime Last, DateTime Next, DateTime LastUpdated);
