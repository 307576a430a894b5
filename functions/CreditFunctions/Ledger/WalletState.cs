using System.Text.Json;
using System.Text.Json.Serialization;
using Azure;

namespace CreditFunctions.Ledger;

/// <summary>A spendable grant: what is left of it, its spending priority and expiry.</summary>
internal sealed class GrantBucket
{
    public string Id { get; set; } = string.Empty;
    public GrantKind Kind { get; set; }
    public long Remaining { get; set; }
    public int Priority { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }

    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } e && e <= now;
}

/// <summary>An open hold as the wallet counts it: what it still reserves (its amount minus charges drawn from it).</summary>
internal sealed class OpenHold
{
    public string Id { get; set; } = string.Empty;
    public long Amount { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
}

[JsonSerializable(typeof(List<GrantBucket>))]
[JsonSerializable(typeof(List<OpenHold>))]
[JsonSerializable(typeof(LedgerResult))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;

/// <summary>
/// One wallet in memory: pure arithmetic on exact thousandths, no I/O. Balance is the sum of the buckets'
/// remainders; an expired bucket stops counting at once and is swept into <see cref="Expired"/> (with a history line)
/// by the next write. Available is the unexpired balance minus unexpired open holds.
/// </summary>
internal sealed class WalletState
{
    /// <summary>Buckets of refunded credits share one id per wallet.</summary>
    public const string RefundBucketId = "refunds";

    /// <summary>Default spending priorities: plan allocations before top-ups, refunds with top-ups.</summary>
    public const int PlanPriority = 10;
    public const int TopUpPriority = 20;

    private WalletState(string creditType) => CreditType = creditType;

    public string CreditType { get; }
    public ETag ETag { get; private set; }
    public bool Exists { get; private set; }
    public long Granted { get; private set; }
    public long Spent { get; private set; }
    public long Refunded { get; private set; }
    public long Expired { get; private set; }
    public List<GrantBucket> Buckets { get; private set; } = [];
    public List<OpenHold> Holds { get; private set; } = [];

    public static WalletState Empty(string creditType) => new(creditType);

    public static WalletState FromRow(string creditType, WalletRow row) => new(creditType)
    {
        ETag = row.ETag,
        Exists = true,
        Granted = row.Granted,
        Spent = row.Spent,
        Refunded = row.Refunded,
        Expired = row.Expired,
        Buckets = JsonSerializer.Deserialize(row.Buckets, LedgerJsonContext.Default.ListGrantBucket) ?? [],
        Holds = JsonSerializer.Deserialize(row.Holds, LedgerJsonContext.Default.ListOpenHold) ?? [],
    };

    public WalletRow ToRow(string teamId) => new()
    {
        PartitionKey = teamId,
        RowKey = LedgerKeys.Wallet(CreditType),
        Granted = Granted,
        Spent = Spent,
        Refunded = Refunded,
        Expired = Expired,
        Buckets = JsonSerializer.Serialize(Buckets, LedgerJsonContext.Default.ListGrantBucket),
        Holds = JsonSerializer.Serialize(Holds, LedgerJsonContext.Default.ListOpenHold),
    };

    public WalletState Clone() => new(CreditType)
    {
        ETag = ETag,
        Exists = Exists,
        Granted = Granted,
        Spent = Spent,
        Refunded = Refunded,
        Expired = Expired,
        Buckets = Buckets.Select(b => new GrantBucket { Id = b.Id, Kind = b.Kind, Remaining = b.Remaining, Priority = b.Priority, ExpiresAt = b.ExpiresAt }).ToList(),
        Holds = Holds.Select(h => new OpenHold { Id = h.Id, Amount = h.Amount, ExpiresAt = h.ExpiresAt }).ToList(),
    };

    public void Committed(ETag etag)
    {
        ETag = etag;
        Exists = true;
    }

    /// <summary>Every bucket's remainder, expired or not: what the lines add up to until the next sweep.</summary>
    public long RecordedBalance => Buckets.Sum(b => b.Remaining);

    public long Balance(DateTimeOffset now) => Buckets.Where(b => !b.IsExpired(now)).Sum(b => b.Remaining);

    public long Held(DateTimeOffset now) => Holds.Where(h => h.ExpiresAt > now).Sum(h => h.Amount);

    public long Available(DateTimeOffset now) => Balance(now) - Held(now);

    public long ExpiringBefore(DateTimeOffset now, DateTimeOffset horizon) =>
        Buckets.Where(b => !b.IsExpired(now) && b.ExpiresAt is { } e && e <= horizon).Sum(b => b.Remaining);

    /// <summary>Removes up to <paramref name="max"/> expired buckets and expired holds; returns the expired buckets
    /// that still had credits (each becomes an expiry line).</summary>
    public List<GrantBucket> SweepExpired(DateTimeOffset now, int max)
    {
        var swept = Buckets.Where(b => b.IsExpired(now)).OrderBy(b => b.ExpiresAt).Take(max).ToList();
        foreach (var bucket in swept)
        {
            Buckets.Remove(bucket);
            Expired += bucket.Remaining;
        }
        Holds.RemoveAll(h => h.ExpiresAt <= now);
        return swept.Where(b => b.Remaining > 0).ToList();
    }

    /// <summary>Takes <paramref name="amount"/> from unexpired buckets: lowest priority number first, then the
    /// soonest expiry (never-expiring last), then the oldest. The caller has checked availability.</summary>
    public void Spend(long amount, DateTimeOffset now)
    {
        if (amount > Balance(now))
        {
            throw new InvalidOperationException("Spend exceeds the balance; availability must be checked first.");
        }
        var left = amount;
        foreach (var bucket in Buckets.Where(b => !b.IsExpired(now) && b.Remaining > 0)
                     .OrderBy(b => b.Priority).ThenBy(b => b.ExpiresAt ?? DateTimeOffset.MaxValue).ThenBy(b => b.Id, StringComparer.Ordinal).ToList())
        {
            var take = Math.Min(left, bucket.Remaining);
            bucket.Remaining -= take;
            left -= take;
            if (left == 0)
            {
                break;
            }
        }
        Buckets.RemoveAll(b => b.Remaining == 0 && b.Id != RefundBucketId);
        Spent += amount;
    }

    public void Grant(string id, GrantKind kind, long amount, int priority, DateTimeOffset? expiresAt)
    {
        Buckets.Add(new GrantBucket { Id = id, Kind = kind, Remaining = amount, Priority = priority, ExpiresAt = expiresAt });
        Granted += amount;
    }

    /// <summary>Returns refunded credits into the wallet's never-expiring refund bucket.</summary>
    public void Refund(long amount)
    {
        var bucket = Buckets.FirstOrDefault(b => b.Id == RefundBucketId);
        if (bucket is null)
        {
            Buckets.Add(bucket = new GrantBucket { Id = RefundBucketId, Kind = GrantKind.Refund, Priority = TopUpPriority });
        }
        bucket.Remaining += amount;
        Refunded += amount;
    }

    public void AddHold(string id, long amount, DateTimeOffset expiresAt) =>
        Holds.Add(new OpenHold { Id = id, Amount = amount, ExpiresAt = expiresAt });

    public void RemoveHold(string id) => Holds.RemoveAll(h => h.Id == id);

    /// <summary>What an unexpired open hold still reserves in this wallet; 0 when the wallet does not count it.</summary>
    public long HeldFor(string id, DateTimeOffset now) => Holds.FirstOrDefault(h => h.Id == id && h.ExpiresAt > now)?.Amount ?? 0;

    /// <summary>Charges <paramref name="amount"/> against an open hold: the hold's reservation shrinks by what it covers
    /// and the balance is spent, so the available balance moves only by what the reservation did not cover. The hold
    /// stays counted (possibly at 0) until it is settled or expires. The caller has checked availability.</summary>
    public void DrawFromHold(string id, long amount, DateTimeOffset now)
    {
        if (Holds.FirstOrDefault(h => h.Id == id && h.ExpiresAt > now) is { } hold)
        {
            hold.Amount -= Math.Min(amount, hold.Amount);
        }
        Spend(amount, now);
    }
}
