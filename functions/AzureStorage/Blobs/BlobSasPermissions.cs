namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>What a blob SAS allows. Values match Azure.Storage.Sas.BlobSasPermissions.</summary>
[Flags]
public enum BlobSasPermissions
{
    /// <summary>Nothing; not accepted when generating a SAS.</summary>
    None = 0,

    /// <summary>Read the content, properties and metadata (<c>r</c>).</summary>
    Read = 1,

    /// <summary>Create a blob that does not exist yet (<c>c</c>).</summary>
    Create = 4,

    /// <summary>Create or overwrite the blob's content, properties and metadata (<c>w</c>).</summary>
    Write = 8,

    /// <summary>Delete the blob (<c>d</c>).</summary>
    Delete = 16,
}
