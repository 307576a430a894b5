using System.Globalization;
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

/// <summary>An open hold as the wallets of old rows counted it, one entry per hold (read to convert, never written).</summary>
internal sealed class LegacyOpenHold
{
    public string Id { get; set; } = string.Empty;
    public long Amount { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>A member's spend limit in one wallet and what the member spent in its current period.</summary>
internal sealed class MemberLimit
{
    public long Amount { get; set; }
    public string Period { get; set; } = SpendPeriods.Month;
    public string PeriodKey { get; set; } = string.Empty;
    public long Spent { get; set; }
}

/// <summary>The periods of spend limits, in UTC: a day, an ISO week (from Monday), a calendar month.</summary>
internal static class SpendPeriods
{
    public const string Day = "day";
    public const string Week = "week";
    public const string Month = "month";

    public static readonly string[] All = [Day, Week, Month];

    public static string Key(string period, DateTimeOffset at) => period switch
    {
        Day => at.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        Week => $"{ISOWeek.GetYear(at.UtcDateTime)}-W{ISOWeek.GetWeekOfYear(at.UtcDateTime):00}",
        _ => at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture),
    };

    public static DateTimeOffset Start(string period, DateTimeOffset at)
    {
        var day = new DateTimeOffset(at.UtcDateTime.Date, TimeSpan.Zero);
        return period switch
        {
            Day => day,
            Week => day.AddDays(-(((int)day.DayOfWeek + 6) % 7)),
            _ => new DateTimeOffset(day.Year, day.Month, 1, 0, 0, 0, TimeSpan.Zero),
        };
    }

    public static DateTimeOffset End(string period, DateTimeOffset at) => period switch
    {
        Day => Start(period, at).AddDays(1),
        Week => Start(period, at).AddDays(7),
        _ => Start(period, at).AddMonths(1),
    };
}

/// <summary>A low-balance alert of one wallet: its threshold and webhook, whether it is armed (the balance was at or above
/// the threshold since it last fired), and the alert it fired last until its delivery is acknowledged.</summary>
internal sealed class BalanceAlert
{
    public long Threshold { get; set; }
    public string WebhookUrl { get; set; } = string.Empty;
    public bool Armed { get; set; }
    public string? PendingId { get; set; }
    public DateTimeOffset? PendingAt { get; set; }
    public long PendingAvailable { get; set; }
    public DateTimeOffset? LastFiredAt { get; set; }

    public BalanceAlert Copy() => (BalanceAlert)MemberwiseClone();
}

[JsonSerializable(typeof(BalanceAlert))]
[JsonSerializable(typeof(Dictionary<string, MemberLimit>))]
[JsonSerializable(typeof(List<GrantBucket>))]
[JsonSerializable(typeof(List<LegacyOpenHold>))]
[JsonSerializable(typeof(LedgerResult))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;

/// <summary>
/// One wallet in memory: pure arithmetic on exact thousandths, no I/O. Balance is the sum of the buckets'
/// remainders; an expired bucket stops counting at once and is swept into <see cref="Expired"/> (with a history line)
/// by the next write. Available is the unexpired balance minus unexpired open holds.
/// </summary>
/// <remarks>
/// The wallet does not list its open holds (each is its own <c>H|</c> row): it keeps what they still reserve summed per
/// expiry instant (<see cref="HeldUntil"/>), which is all availability needs, since holds expire without a write. A
/// hold's expiry is rounded up by <see cref="HoldExpiry"/> so that the instants stay few — at most about 940 of them
/// however many holds are open — and the wallet row stays far below the 64 KiB a table property may hold.
/// </remarks>
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

    /// <summary>The wallet's low-balance alert, when one is set.</summary>
    public BalanceAlert? Alert { get; set; }

    /// <summary>Members' spend limits of this credit type, by user id (at most <see cref="LimitsMax"/>).</summary>
    public Dictionary<string, MemberLimit> Limits { get; private set; } = new(StringComparer.Ordinal);

    /// <summary>Most members with a limit per credit type: the wallet row stays far below a property's 64 KiB.</summary>
    public const int LimitsMax = 500;

    /// <summary>What open holds still reserve, per expiry instant (UTC ticks); never an entry of 0.</summary>
    public SortedDictionary<long, long> HeldUntil { get; private set; } = [];

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
        HeldUntil = ReadHeld(row),
        Alert = string.IsNullOrEmpty(row.Alert) ? null : JsonSerializer.Deserialize(row.Alert, LedgerJsonContext.Default.BalanceAlert),
        Limits = string.IsNullOrEmpty(row.Limits) ? new(StringComparer.Ordinal)
            : new(JsonSerializer.Deserialize(row.Limits, LedgerJsonContext.Default.DictionaryStringMemberLimit) ?? [], StringComparer.Ordinal),
    };

    /// <summary>The row's <c>HeldUntil</c> (<c>ticks:amount</c> pairs joined by <c>;</c>), or the per-hold list of older rows
    /// summed per expiry.</summary>
    private static SortedDictionary<long, long> ReadHeld(WalletRow row)
    {
        var held = new SortedDictionary<long, long>();
        if (!string.IsNullOrEmpty(row.HeldUntil))
        {
            foreach (var pair in row.HeldUntil.Split(';'))
            {
                var colon = pair.IndexOf(':', StringComparison.Ordinal);
                held[long.Parse(pair.AsSpan(0, colon), CultureInfo.InvariantCulture)] = long.Parse(pair.AsSpan(colon + 1), CultureInfo.InvariantCulture);
            }
        }
        if (!string.IsNullOrEmpty(row.Holds))
        {
            foreach (var hold in JsonSerializer.Deserialize(row.Holds, LedgerJsonContext.Default.ListLegacyOpenHold) ?? [])
            {
                held[hold.ExpiresAt.UtcTicks] = held.GetValueOrDefault(hold.ExpiresAt.UtcTicks) + hold.Amount;
            }
        }
        foreach (var empty in held.Where(h => h.Value == 0).Select(h => h.Key).ToList())
        {
            held.Remove(empty);
        }
        return held;
    }

    public WalletRow ToRow(string teamId) => new()
    {
        PartitionKey = teamId,
        RowKey = LedgerKeys.Wallet(CreditType),
        Granted = Granted,
        Spent = Spent,
        Refunded = Refunded,
        Expired = Expired,
        Buckets = JsonSerializer.Serialize(Buckets, LedgerJsonContext.Default.ListGrantBucket),
        Limits = Limits.Count == 0 ? null : JsonSerializer.Serialize(Limits, LedgerJsonContext.Default.DictionaryStringMemberLimit),
        Alert = Alert is null ? null : JsonSerializer.Serialize(Alert, LedgerJsonContext.Default.BalanceAlert),
        HeldUntil = string.Join(';', HeldUntil.Select(h => h.Key.ToString(CultureInfo.InvariantCulture) + ":" + h.Value.ToString(CultureInfo.InvariantCulture))),
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
        HeldUntil = new SortedDictionary<long, long>(HeldUntil),
        Alert = Alert?.Copy(),
        Limits = Limits.ToDictionary(l => l.Key, l => new MemberLimit { Amount = l.Value.Amount, Period = l.Value.Period, PeriodKey = l.Value.PeriodKey, Spent = l.Value.Spent },
            StringComparer.Ordinal),
    };

    public void Committed(ETag etag)
    {
        ETag = etag;
        Exists = true;
    }

    /// <summary>Every bucket's remainder, expired or not: what the lines add up to until the next sweep.</summary>
    public long RecordedBalance => Buckets.Sum(b => b.Remaining);

    public long Balance(DateTimeOffset now) => Buckets.Where(b => !b.IsExpired(now)).Sum(b => b.Remaining);

    public long Held(DateTimeOffset now) => HeldUntil.Where(h => h.Key > now.UtcTicks).Sum(h => h.Value);

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
        foreach (var expired in HeldUntil.Keys.TakeWhile(ticks => ticks <= now.UtcTicks).ToList())
        {
            HeldUntil.Remove(expired);
        }
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

    /// <summary>Adds a grant's credits. Credits that spend and expire alike are one bucket (spending order is by priority
    /// and expiry, so they are interchangeable): a plan's allocations of one period, or a team's top-ups, stay one bucket
    /// however many grants made them.</summary>
    public void Grant(string id, GrantKind kind, long amount, int priority, DateTimeOffset? expiresAt)
    {
        if (Buckets.FirstOrDefault(b => b.Id != RefundBucketId && b.Kind == kind && b.Priority == priority && b.ExpiresAt == expiresAt) is { } same)
        {
            same.Remaining += amount;
        }
        else
        {
            Buckets.Add(new GrantBucket { Id = id, Kind = kind, Remaining = amount, Priority = priority, ExpiresAt = expiresAt });
        }
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

    /// <summary>What <paramref name="userId"/> may still spend in the current period; null when no limit applies.</summary>
    public long? LimitLeft(string userId, DateTimeOffset now) =>
        Limits.TryGetValue(userId, out var limit)
            ? Math.Max(0, limit.Amount - (limit.PeriodKey == SpendPeriods.Key(limit.Period, now) ? limit.Spent : 0))
            : null;

    /// <summary>Counts a spend of a member with a limit (a new period starts from 0).</summary>
    public void CountSpend(string userId, long amount, DateTimeOffset now)
    {
        if (amount <= 0 || !Limits.TryGetValue(userId, out var limit))
        {
            return;
        }
        var key = SpendPeriods.Key(limit.Period, now);
        if (limit.PeriodKey != key)
        {
            (limit.PeriodKey, limit.Spent) = (key, 0);
        }
        limit.Spent += amount;
    }

    /// <summary>A refund of a member's charge made in the limit's current period gives that much back to the limit.</summary>
    public void UncountSpend(string userId, long amount, DateTimeOffset chargedAt)
    {
        if (Limits.TryGetValue(userId, out var limit) && limit.PeriodKey == SpendPeriods.Key(limit.Period, chargedAt))
        {
            limit.Spent = Math.Max(0, limit.Spent - amount);
        }
    }

    /// <summary>Reserves <paramref name="amount"/> until <paramref name="expiresAt"/> (already rounded by <see cref="HoldExpiry"/>).</summary>
    public void AddHold(long amount, DateTimeOffset expiresAt)
    {
        if (amount > 0)
        {
            HeldUntil[expiresAt.UtcTicks] = HeldUntil.GetValueOrDefault(expiresAt.UtcTicks) + amount;
        }
    }

    /// <summary>What the wallet counts for <paramref name="hold"/>: its remainder while it is open and unexpired, as far
    /// as the wallet's reservation at its expiry covers it (a stale wallet that never counted it covers nothing).</summary>
    public long HeldFor(HoldRow hold, DateTimeOffset now) =>
        hold.State != HoldStates.Open || hold.ExpiresAt <= now ? 0 : Math.Min(hold.Remaining, HeldUntil.GetValueOrDefault(hold.ExpiresAt.UtcTicks));

    /// <summary>Ends the reservation of a hold being settled: what it still reserved becomes available.</summary>
    public void ReleaseHold(HoldRow hold) => Unreserve(hold.ExpiresAt, hold.Remaining);

    /// <summary>Charges <paramref name="amount"/> against an open hold (before the hold records the draw): the reservation
    /// shrinks by what the hold covers and the balance is spent, so the available balance moves only by what the
    /// reservation did not cover. The caller has checked availability.</summary>
    public void DrawFromHold(HoldRow hold, long amount, DateTimeOffset now)
    {
        if (hold.ExpiresAt > now)
        {
            Unreserve(hold.ExpiresAt, Math.Min(amount, hold.Remaining));
        }
        Spend(amount, now);
    }

    private void Unreserve(DateTimeOffset expiresAt, long amount)
    {
        if (amount <= 0 || !HeldUntil.TryGetValue(expiresAt.UtcTicks, out var held))
        {
            return;
        }
        if (held <= amount)
        {
            HeldUntil.Remove(expiresAt.UtcTicks);
        }
        else
        {
            HeldUntil[expiresAt.UtcTicks] = held - amount;
        }
    }
}

/// <summary>
/// When a hold expires: its requested expiry rounded up to the second when it is within the minute, to the minute
/// within the hour, to the quarter hour within the day, and to the hour beyond (holds last at most 30 days). A hold
/// never expires before it was asked to and at most an hour later, and a wallet needs at most about
/// 60 + 60 + 96 + 720 expiry instants however many holds are open.
/// </summary>
internal static class HoldExpiry
{
    public static DateTimeOffset Effective(DateTimeOffset requested, DateTimeOffset now)
    {
        var ahead = requested - now;
        var step = ahead <= TimeSpan.FromMinutes(1) ? TimeSpan.FromSeconds(1)
            : ahead <= TimeSpan.FromHours(1) ? TimeSpan.FromMinutes(1)
            : ahead <= TimeSpan.FromDays(1) ? TimeSpan.FromMinutes(15)
            : TimeSpan.FromHours(1);
        var rounded = (requested.UtcTicks + step.Ticks - 1) / step.Ticks * step.Ticks;
        return new DateTimeOffset(rounded, TimeSpan.Zero);
    }
}
