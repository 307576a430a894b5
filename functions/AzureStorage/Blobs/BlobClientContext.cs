using Azure.Core;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>What the clients of one <see cref="BlobServiceClient"/> share: the pipeline, the account and how to sign SAS.</summary>
internal sealed class BlobClientContext(StoragePipeline pipeline, string accountName, StorageSharedKeyCredential? sharedKey,
    TokenCredential? tokenCredential, string serviceVersion)
{
    public StoragePipeline Pipeline { get; } = pipeline;

    public string AccountName { get; } = accountName;

    /// <summary>The account key; null when the clients authenticate with a token credential.</summary>
    public StorageSharedKeyCredential? SharedKey { get; } = sharedKey;

    public TokenCredential? TokenCredential { get; } = tokenCredential;

    /// <summary>The REST API version sent as <c>x-ms-version</c> and signed into SAS tokens as <c>sv</c>.</summary>
    public string ServiceVersion { get; } = serviceVersion;
}
