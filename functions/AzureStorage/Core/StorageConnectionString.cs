using Azure.Core;

namespace CreditFunctions.AzureStorage;

/// <summary>
/// The parsed form of an Azure Storage connection string: the three service endpoints and either a Shared Key
/// credential or, when the string names endpoints but no key, none (the caller then supplies a
/// <see cref="TokenCredential"/>, e.g. a managed identity).
/// </summary>
/// <remarks>
/// Accepted forms: <c>UseDevelopmentStorage=true</c> (Azurite's well-known account on its default ports, optionally
/// with <c>DevelopmentStorageProxyUri</c>); <c>DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=…</c>
/// (host-style URLs); explicit <c>BlobEndpoint</c>/<c>QueueEndpoint</c>/<c>TableEndpoint</c> with or without a key
/// (path-style URLs such as Azurite's <c>http://127.0.0.1:10000/devstoreaccount1</c> included).
/// </remarks>
public sealed class StorageConnectionString
{
    /// <summary>Azurite's well-known development account name.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    /// <summary>Azurite's well-known development account key (public, documented, not a secret).</summary>
    public const string DevelopmentAccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private StorageConnectionString(Uri blob, Uri queue, Uri table, StorageSharedKeyCredential? key)
    {
        BlobEndpoint = blob;
        QueueEndpoint = queue;
        TableEndpoint = table;
        SharedKey = key;
    }

    /// <summary>The Blob service endpoint.</summary>
    public Uri BlobEndpoint { get; }

    /// <summary>The Queue service endpoint.</summary>
    public Uri QueueEndpoint { get; }

    /// <summary>The Table service endpoint.</summary>
    public Uri TableEndpoint { get; }

    /// <summary>The Shared Key credential, or null when the connection string carries no key.</summary>
    public StorageSharedKeyCredential? SharedKey { get; }

    /// <summary>The account name: from the key when there is one, otherwise taken from the endpoint.</summary>
    public string AccountName => SharedKey?.AccountName ?? AccountNameFromEndpoint(BlobEndpoint);

    /// <summary>Builds the development-storage connection for an Azurite listening on the given endpoints.</summary>
    public static StorageConnectionString ForDevelopment(Uri blobEndpoint, Uri queueEndpoint, Uri tableEndpoint) =>
        new(blobEndpoint, queueEndpoint, tableEndpoint,
            new StorageSharedKeyCredential(DevelopmentAccountName, DevelopmentAccountKey));

    /// <summary>Builds a connection that authenticates with a token credential (no key).</summary>
    public static StorageConnectionString ForServiceUris(Uri blobEndpoint, Uri queueEndpoint, Uri tableEndpoint) =>
        new(blobEndpoint, queueEndpoint, tableEndpoint, null);

    /// <summary>Parses a connection string.</summary>
    /// <exception cref="FormatException">The string is malformed or lacks what is needed; the message names the
    /// setting at fault and never repeats a key.</exception>
    public static StorageConnectionString Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException("Connection string settings must have the form Name=Value separated by ';'.");
            }
            var name = part[..eq].Trim();
            if (!settings.TryAdd(name, part[(eq + 1)..].Trim()))
            {
                throw new FormatException($"Connection string setting '{name}' appears more than once.");
            }
        }

        if (settings.TryGetValue("UseDevelopmentStorage", out var dev))
        {
            if (!bool.TryParse(dev, out var useDev) || !useDev)
            {
                throw new FormatException("UseDevelopmentStorage must be 'true' when present.");
            }
            var proxy = settings.TryGetValue("DevelopmentStorageProxyUri", out var p) ? ParseUri(p, "DevelopmentStorageProxyUri") : new Uri("http://127.0.0.1");
            Uri Dev(int port) => new($"{proxy.Scheme}://{proxy.Host}:{port}/{DevelopmentAccountName}");
            return ForDevelopment(Dev(10000), Dev(10001), Dev(10002));
        }

        settings.TryGetValue("AccountName", out var accountName);
        StorageSharedKeyCredential? key = null;
        if (settings.TryGetValue("AccountKey", out var accountKey))
        {
            if (string.IsNullOrEmpty(accountName))
            {
                throw new FormatException("AccountKey requires AccountName.");
            }
            try
            {
                key = new StorageSharedKeyCredential(accountName, accountKey);
            }
            catch (ArgumentException)
            {
                throw new FormatException("AccountKey is not valid base64.");
            }
        }

        var protocol = settings.TryGetValue("DefaultEndpointsProtocol", out var proto) ? proto.ToLowerInvariant() : "https";
        if (protocol is not ("https" or "http"))
        {
            throw new FormatException("DefaultEndpointsProtocol must be 'https' or 'http'.");
        }
        var suffix = settings.TryGetValue("EndpointSuffix", out var s) ? s : "core.windows.net";

        Uri Endpoint(string setting, string service)
        {
            if (settings.TryGetValue(setting, out var explicitEndpoint))
            {
                return ParseUri(explicitEndpoint, setting);
            }
            if (string.IsNullOrEmpty(accountName))
            {
                throw new FormatException($"The connection string needs either {setting} or AccountName.");
            }
            return new Uri($"{protocol}://{accountName}.{service}.{suffix}");
        }

        return new StorageConnectionString(Endpoint("BlobEndpoint", "blob"), Endpoint("QueueEndpoint", "queue"),
            Endpoint("TableEndpoint", "table"), key);
    }

    private static Uri ParseUri(string value, string setting)
    {
        if (!Uri.TryCreate(value.TrimEnd('/'), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new FormatException($"{setting} must be an absolute http or https URL.");
        }
        return uri;
    }

    /// <summary>
    /// The account name of an endpoint: the first path segment for path-style URLs (Azurite, IP hosts) or the
    /// first label of the host for host-style URLs.
    /// </summary>
    internal static string AccountNameFromEndpoint(Uri endpoint)
    {
        if (IsPathStyle(endpoint))
        {
            var segment = endpoint.AbsolutePath.Trim('/').Split('/')[0];
            return segment;
        }
        return endpoint.Host.Split('.')[0];
    }

    /// <summary>Path-style URLs carry the account in the path: IP hosts, localhost and custom ports.</summary>
    internal static bool IsPathStyle(Uri endpoint) =>
        endpoint.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 || endpoint.IsLoopback ||
        endpoint.AbsolutePath.Trim('/').Length > 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"BlobEndpoint={BlobEndpoint};QueueEndpoint={QueueEndpoint};TableEndpoint={TableEndpoint};Auth={(SharedKey is null ? "token" : "SharedKey")}";
}
