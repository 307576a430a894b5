namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>Builds container and blob URLs: names are escaped per path segment, <c>/</c> in a blob name stays a separator.</summary>
internal static class BlobUris
{
    public static Uri Container(Uri serviceUri, string containerName)
    {
        ArgumentException.ThrowIfNullOrEmpty(containerName);
        return new Uri(ServiceRoot(serviceUri) + "/" + Uri.EscapeDataString(containerName));
    }

    public static Uri Blob(Uri containerUri, string blobName)
    {
        ArgumentException.ThrowIfNullOrEmpty(blobName);
        var segments = blobName.Split('/');
        foreach (var segment in segments)
        {
            if (segment is "." or "..")
            {
                throw new ArgumentException(
                    "A blob name cannot contain '.' or '..' as a path segment: URLs would resolve them away.", nameof(blobName));
            }
        }
        return new Uri(containerUri.AbsoluteUri + "/" + string.Join('/', segments.Select(Uri.EscapeDataString)));
    }

    /// <summary>The service endpoint without query, fragment or trailing slash.</summary>
    public static string ServiceRoot(Uri serviceUri)
    {
        ArgumentNullException.ThrowIfNull(serviceUri);
        if (!serviceUri.IsAbsoluteUri || serviceUri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException("The service URI must be an absolute http or https URL.", nameof(serviceUri));
        }
        return serviceUri.GetLeftPart(UriPartial.Path).TrimEnd('/');
    }
}
