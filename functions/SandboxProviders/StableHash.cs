using System.Text;

namespace SandboxProviders;

/// <summary>
/// Turns strings into a number in [0, 1) that is the same on every machine and every run (FNV-1a over UTF-8, then
/// a SplitMix64 finaliser so that similar inputs spread evenly). Every "random" decision of the sandbox comes from
/// here: whether a vendor knows a person, whether its email is right, a call's failure roll and latency.
/// </summary>
public static class StableHash
{
    /// <summary>A uniform value in [0, 1) for the parts, in order.</summary>
    public static double Unit(string first, string second, string third = "")
    {
        var hash = 14695981039346656037UL;
        foreach (var part in new[] { first, second, third })
        {
            foreach (var b in Encoding.UTF8.GetBytes(part))
            {
                hash = (hash ^ b) * 1099511628211UL;
            }
            hash = (hash ^ 0x1F) * 1099511628211UL;
        }
        hash ^= hash >> 30;
        hash *= 0xBF58476D1CE4E5B9UL;
        hash ^= hash >> 27;
        hash *= 0x94D049BB133111EBUL;
        hash ^= hash >> 31;
        return (hash >> 11) * (1.0 / (1UL << 53));
    }
}
