using System.Net;
using System.Net.Sockets;

namespace CreditFunctions.Platform;

/// <summary>
/// The only way out to a URL a customer gives (webhooks; forms and CRM later). A URL passes when it is an absolute
/// <c>https</c> URL of at most <see cref="UrlLengthMax"/> characters without user info, whose host resolves only to
/// public addresses — never loopback, private (RFC 1918, unique-local <c>fc00::/7</c>), link-local (<c>169.254/16</c>
/// with the cloud metadata address, <c>fe80::/10</c>), CGNAT (<c>100.64/10</c>), multicast, unspecified, reserved, or
/// an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 form of those. The exception is an exact origin
/// (<c>scheme://host:port</c>) listed in <see cref="AllowSetting"/>: empty by default and in Azure; a local run lists its
/// sandbox there. The address is checked on the connection itself (<see cref="CreateHandler"/>: the handler resolves,
/// checks every address and connects only to an allowed one), so a name that resolves elsewhere between the check at
/// request time and the delivery (DNS rebinding) is refused too. Redirects are never followed.
/// </summary>
public sealed class EgressGuard
{
    /// <summary>The allow-list setting: comma-separated exact origins, e.g. <c>http://127.0.0.1:5080</c>.</summary>
    public const string AllowSetting = "CREDITFUNCTIONS_EGRESS_ALLOW";

    /// <summary>The longest URL accepted.</summary>
    public const int UrlLengthMax = 2000;

    private static readonly IPNetwork2[] s_blockedV4 = [.. new[]
    {
        "0.0.0.0/8",        // "this network", unspecified
        "10.0.0.0/8",       // RFC 1918
        "100.64.0.0/10",    // CGNAT
        "127.0.0.0/8",      // loopback
        "169.254.0.0/16",   // link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",    // RFC 1918
        "192.0.0.0/24",     // IETF protocol assignments
        "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", // documentation
        "192.168.0.0/16",   // RFC 1918
        "198.18.0.0/15",    // benchmarking
        "224.0.0.0/4",      // multicast
        "240.0.0.0/4",      // reserved, broadcast
    }.Select(IPNetwork2.Parse)];

    private static readonly IPNetwork2[] s_blockedV6 = [.. new[]
    {
        "::/128",           // unspecified
        "::1/128",          // loopback
        "100::/64",         // discard
        "2001:db8::/32",    // documentation
        "fc00::/7",         // unique-local
        "fe80::/10",        // link-local
        "fec0::/10",        // site-local (deprecated)
        "ff00::/8",         // multicast
    }.Select(IPNetwork2.Parse)];

    private static readonly IPNetwork2 s_ipv4Compatible = IPNetwork2.Parse("::/96");
    private static readonly IPNetwork2 s_nat64 = IPNetwork2.Parse("64:ff9b::/96");
    private static readonly IPNetwork2 s_sixToFour = IPNetwork2.Parse("2002::/16");

    private readonly HashSet<string> _allowedOrigins;

    /// <summary>A guard allowing <paramref name="allowedOrigins"/> (exact <c>scheme://host:port</c> origins) besides
    /// public https URLs.</summary>
    /// <exception cref="ArgumentException">An entry is not an http(s) origin.</exception>
    public EgressGuard(IEnumerable<string> allowedOrigins)
    {
        ArgumentNullException.ThrowIfNull(allowedOrigins);
        _allowedOrigins = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in allowedOrigins.Select(e => e.Trim()).Where(e => e.Length > 0))
        {
            if (!Uri.TryCreate(entry, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || uri.PathAndQuery != "/" || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
            {
                throw new ArgumentException($"{AllowSetting}: '{entry}' is not an origin 'scheme://host:port'.", nameof(allowedOrigins));
            }
            _allowedOrigins.Add(Origin(uri));
        }
    }

    /// <summary>The guard configured by <see cref="AllowSetting"/>.</summary>
    /// <exception cref="InvalidOperationException">The setting holds something other than origins.</exception>
    public static EgressGuard From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        try
        {
            return new EgressGuard((configuration[AllowSetting] ?? string.Empty).Split(','));
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException(ex.Message, ex);
        }
    }

    /// <summary>The origins allowed besides public https URLs, as <c>scheme://host:port</c>.</summary>
    public IReadOnlyCollection<string> AllowedOrigins => _allowedOrigins;

    /// <summary>
    /// Why <paramref name="url"/> may not be called, or null when it may, as far as can be told without resolving its
    /// host: the scheme, the length, user info, and a host that is a refused IP address or <c>localhost</c>. The
    /// address it resolves to is checked again on every connection.
    /// </summary>
    public string? Refusal(string? url)
    {
        if (url is null || url.Length > UrlLengthMax || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return $"An absolute https URL of at most {UrlLengthMax:N0} characters.";
        }
        if (uri.UserInfo.Length > 0)
        {
            return "A URL without user name or password.";
        }
        if (IsAllowedOrigin(uri))
        {
            return null;
        }
        if (uri.Scheme != "https")
        {
            return "Only https URLs are called.";
        }
        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var address) && IsRefused(address))
        {
            return "The URL points at a private, loopback, link-local or reserved address.";
        }
        if (uri.IsLoopback || uri.IdnHost.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || uri.IdnHost.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return "The URL points at this machine.";
        }
        return null;
    }

    /// <summary>Whether <paramref name="uri"/>'s origin is on the allow-list.</summary>
    public bool IsAllowedOrigin(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return uri.IsAbsoluteUri && _allowedOrigins.Contains(Origin(uri));
    }

    /// <summary>Whether no customer-given URL may reach <paramref name="address"/> (see the class remarks); the IPv4
    /// forms embedded in IPv6 addresses are checked as IPv4.</summary>
    public static bool IsRefused(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            return IsRefused(address.MapToIPv4());
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return s_blockedV4.Any(n => n.Contains(address));
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return true;
        }
        if (s_blockedV6.Any(n => n.Contains(address)))
        {
            return true;
        }
        var bytes = address.GetAddressBytes();
        // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry the IPv4 address in the last 32 bits,
        // 6to4 (2002:aabb:ccdd::/48) in bits 16-47.
        if (s_ipv4Compatible.Contains(address) || s_nat64.Contains(address))
        {
            return IsRefused(new IPAddress(bytes.AsSpan(12, 4)));
        }
        if (s_sixToFour.Contains(address))
        {
            return IsRefused(new IPAddress(bytes.AsSpan(2, 4)));
        }
        return false;
    }

    /// <summary>
    /// A handler that applies the guard on every connection: the request's URL must pass <see cref="Refusal"/>, its host
    /// is resolved here and the connection is made only to an address that <see cref="IsRefused"/> does not refuse
    /// (an allowed origin connects to whatever it resolves to). No proxy, no redirects, no cookies. A refused
    /// connection fails the request with an <see cref="HttpRequestException"/> whose inner exception is an
    /// <see cref="EgressRefusedException"/>.
    /// </summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        ConnectCallback = ConnectAsync,
    };

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var uri = context.InitialRequestMessage.RequestUri;
        if (uri is null)
        {
            throw new EgressRefusedException("The request has no URL.");
        }
        if (Refusal(uri.OriginalString) is { } refusal)
        {
            throw new EgressRefusedException(refusal);
        }
        var allowed = IsAllowedOrigin(uri);
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        var candidates = allowed ? addresses : [.. addresses.Where(a => !IsRefused(a))];
        if (candidates.Length == 0)
        {
            throw new EgressRefusedException(addresses.Length == 0
                ? "The URL's host does not resolve."
                : "The URL's host resolves to a private, loopback, link-local or reserved address.");
        }
        SocketException? last = null;
        foreach (var address in candidates)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }

    private static string Origin(Uri uri) =>
        $"{uri.Scheme.ToLowerInvariant()}://{uri.IdnHost.ToLowerInvariant()}:{uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>The egress guard refused a URL or the addresses its host resolves to. Not transient: retrying the same URL
/// is refused again until the URL or its DNS changes.</summary>
public sealed class EgressRefusedException : Exception
{
    /// <summary>A refusal with its reason.</summary>
    public EgressRefusedException(string message) : base(message)
    {
    }

    /// <summary>A refusal with its reason.</summary>
    public EgressRefusedException()
    {
    }

    /// <summary>A refusal with its reason and cause.</summary>
    public EgressRefusedException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
