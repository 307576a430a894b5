using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;

namespace CreditFunctions.Usage;

/// <summary>
/// The usage page's files, embedded in the app: <c>index.html</c> and its assets, each asset served under a name
/// that carries a hash of its content (<c>usage.3f2a9c1d.js</c>), so an asset URL never changes meaning and can be
/// cached for a year, while the page itself is revalidated on every load and always names the current assets.
/// </summary>
public sealed class UsagePageAssets
{
    private const string ResourcePrefix = "CreditFunctions.Usage.Page.";
    private readonly FrozenDictionary<string, Asset> _byFingerprintedName;

    /// <summary>Reads the embedded files once.</summary>
    public UsagePageAssets()
    {
        var assembly = typeof(UsagePageAssets).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var file = resource[ResourcePrefix.Length..];
            if (file == "index.html")
            {
                continue;
            }
            var bytes = Read(resource);
            var hash = Convert.ToHexStringLower(SHA256.HashData(bytes))[..10];
            var dot = file.LastIndexOf('.');
            var fingerprinted = file[..dot] + "." + hash + file[dot..];
            assets[fingerprinted] = new Asset(bytes, ContentType(file), "\"" + hash + "\"");
            names[file] = fingerprinted;
        }
        _byFingerprintedName = assets.ToFrozenDictionary(StringComparer.Ordinal);
        // The page names its assets as {{asset:usage.js}}; they become fingerprinted names relative to the page (/api/usage).
        var html = Encoding.UTF8.GetString(Read(ResourcePrefix + "index.html"));
        foreach (var (file, fingerprinted) in names)
        {
            html = html.Replace("{{asset:" + file + "}}", "usage/assets/" + fingerprinted, StringComparison.Ordinal);
        }
        Page = Encoding.UTF8.GetBytes(html);
        PageETag = "\"" + Convert.ToHexStringLower(SHA256.HashData(Page))[..16] + "\"";
        AssetNames = names.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The page's HTML, naming the fingerprinted assets.</summary>
    public byte[] Page { get; }

    /// <summary>The page's entity tag.</summary>
    public string PageETag { get; }

    /// <summary>Each asset's file name and its fingerprinted name.</summary>
    public IReadOnlyDictionary<string, string> AssetNames { get; }

    /// <summary>The asset of a fingerprinted name, or null.</summary>
    public Asset? Find(string fingerprintedName) => _byFingerprintedName.GetValueOrDefault(fingerprintedName);

    private static byte[] Read(string resource)
    {
        using var stream = typeof(UsagePageAssets).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The embedded file {resource} is missing.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static string ContentType(string file) => Path.GetExtension(file) switch
    {
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };

    /// <summary>One asset: its bytes, content type and entity tag.</summary>
    public sealed record Asset(byte[] Bytes, string ContentType, string ETag);
}
