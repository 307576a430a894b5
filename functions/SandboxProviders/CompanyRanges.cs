using System.Collections.Frozen;
using System.Net;
using System.Net.Sockets;

namespace SandboxProviders;

/// <summary>A company of the data set (the employers of its people, by domain).</summary>
public sealed record Company(string Name, string Domain);

/// <summary>
/// The sandbox's IP plan, deterministic from the data set: company k (its companies ordered by domain) owns
/// <c>20.(k / 256).(k % 256).0/24</c>; <c>100.64.0.0/10</c> is a mobile carrier's (an ISP: a miss), <c>73.0.0.0/8</c>
/// residential broadband (a miss); anything else is unknown. A reverse-IP vendor knows a company's range with its
/// <c>hitRate</c> (a stable draw per vendor and company).
/// </summary>
public static class CompanyRanges
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<PeopleDataSet, IReadOnlyList<Company>> s_companies = [];

    /// <summary>What an address is: a company's (with the company), or a miss of some kind.</summary>
    public sealed record Resolution(string Kind, Company? Company);

    /// <summary>The data set's companies, ordered by domain (company k is the k-th).</summary>
    public static IReadOnlyList<Company> Companies(PeopleDataSet people)
    {
        ArgumentNullException.ThrowIfNull(people);
        return s_companies.GetValue(people, set => set.People
            .GroupBy(p => p.CompanyDomain, StringComparer.Ordinal)
            .Select(g => new Company(g.First().CompanyName, g.Key))
            .OrderBy(c => c.Domain, StringComparer.Ordinal)
            .ToList());
    }

    /// <summary>An address inside company <paramref name="index"/>'s range (<paramref name="host"/> 1–254).</summary>
    public static IPAddress AddressOf(int index, int host = 10) =>
        new([20, (byte)(index / 256), (byte)(index % 256), (byte)Math.Clamp(host, 1, 254)]);

    /// <summary>The index of <paramref name="domain"/>'s company, or -1.</summary>
    public static int IndexOf(PeopleDataSet people, string domain)
    {
        var companies = Companies(people);
        for (var i = 0; i < companies.Count; i++)
        {
            if (string.Equals(companies[i].Domain, domain, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Whether the reverse-IP vendor knows company <paramref name="company"/>'s range.</summary>
    public static bool Knows(string vendor, VendorSettings settings, Company company) =>
        StableHash.Unit(vendor, "range", company.Domain) < (settings ?? throw new ArgumentNullException(nameof(settings))).HitRate;

    /// <summary>What <paramref name="vendor"/> answers for <paramref name="address"/>.</summary>
    public static Resolution Resolve(string vendor, VendorSettings settings, PeopleDataSet people, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            return new Resolution("unknown", null);
        }
        var b = address.GetAddressBytes();
        if (b[0] == 100 && (b[1] & 0xC0) == 64)
        {
            return new Resolution("isp", null);
        }
        if (b[0] == 73)
        {
            return new Resolution("residential", null);
        }
        var companies = Companies(people);
        var index = (b[1] * 256) + b[2];
        if (b[0] == 20 && index < companies.Count && Knows(vendor, settings, companies[index]))
        {
            return new Resolution("company", companies[index]);
        }
        return new Resolution("unknown", null);
    }
}
