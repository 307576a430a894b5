using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure;
using System.Runtime.Serialization;
using Azure.Data.Tables;

namespace CreditFunctions.Ledger;

/// <summary>
/// Row keys of a team's partition. Everything of a team lives in one partition so that a charge, its wallet, its
/// idempotency record, its ownership record and its history lines commit in one entity-group transaction.
/// <list type="bullet">
/// <item><c>W|{creditType}</c> wallet: counters, grant buckets and what open holds reserve per expiry.</item>
/// <item><c>I|{sha256(key)}</c> idempotency record with the first result.</item>
/// <item><c>L|{lineId}</c> history line; line ids start with inverted ticks so a range scan is newest first.</item>
/// <item><c>U|{user}|{lineId}</c> copy of the line under its user, for "my usage" without scanning the team's lines.</item>
/// <item><c>O|{dataType}|{sha256(subject)}</c> ownership: the team bought this data.</item>
/// <item><c>H|{holdId}</c> hold.</item>
/// <item><c>M|a|{feature}|{action}</c>, <c>M|u|{user}</c> markers: what the team has used, for filter lists.</item>
/// </list>
/// </summary>
internal static class LedgerKeys
{
    public static string Wallet(string creditType) => "W|" + creditType;

    public const string WalletFrom = "W|";
    public const string WalletTo = "W}";

    public static string Idempotency(string key) => "I|" + Hash(key);

    public static string Line(string lineId) => "L|" + lineId;

    public static string UserLine(string userId, string lineId) => "U|" + userId + "|" + lineId;

    public static string Ownership(string dataType, string subjectId) => "O|" + dataType + "|" + Hash(subjectId);

    public static string Hold(string holdId) => "H|" + holdId;

    public const string MarkerFrom = "M|";
    public const string MarkerTo = "M}";
    public const string ActionMarkerPrefix = "M|a|";
    public const string UserMarkerPrefix = "M|u|";

    public static string ActionMarker(string feature, string action) => ActionMarkerPrefix + feature + "|" + action;

    public static string UserMarker(string userId) => UserMarkerPrefix + userId;

    /// <summary>"This user used this action": a member's filter lists read these (user ids and action names hold no '|').</summary>
    public const string UserActionMarkerPrefix = "M|ua|";

    public static string UserActionMarker(string userId, string feature, string action) => UserActionMarkerPrefix + userId + "|" + feature + "|" + action;

    /// <summary>
    /// A line id: 19 digits of inverted ticks (newest sorts first), 4 hex digits of inverted sequence (so lines
    /// committed together keep their order, newest first) and 4 random hex digits (so two processes writing in the
    /// same tick do not collide; if they ever do, the commit fails on that row and is planned again).
    /// </summary>
    public static string NewLineId(DateTimeOffset at, int sequence) =>
        InvertedTicks(at) + (0xFFFF - (sequence & 0xFFFF)).ToString("x4", CultureInfo.InvariantCulture) +
        Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));

    public static string InvertedTicks(DateTimeOffset at) =>
        (DateTimeOffset.MaxValue.UtcTicks - at.UtcTicks).ToString("D19", CultureInfo.InvariantCulture);

    public static DateTimeOffset LineTime(string lineId) =>
        new(DateTimeOffset.MaxValue.UtcTicks - long.Parse(lineId.AsSpan(0, 19), CultureInfo.InvariantCulture), TimeSpan.Zero);

    public static bool IsLineId(string lineId) =>
        lineId.Length == 27 && lineId.All(char.IsAsciiHexDigitLower) && lineId.AsSpan(0, 19).IndexOfAnyExceptInRange('0', '9') < 0;

    private static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)).AsSpan(0, 16));
}

/// <summary>A team's wallet of one credit type: lifetime counters, spendable grant buckets and open holds.</summary>
internal sealed class WalletRow : ITableEntity
{
    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public long Granted { get; set; }
    public long Spent { get; set; }
    public long Refunded { get; set; }
    public long Expired { get; set; }
    public string Buckets { get; set; } = "[]";

    /// <summary>The low-balance alert (JSON); null without one.</summary>
    public string? Alert { get; set; }

    /// <summary>Members' spend limits and their spending in the current period (JSON by user id); null without any.</summary>
    public string? Limits { get; set; }

    /// <summary>What open holds reserve per expiry: <c>ticks:amount</c> pairs joined by <c>;</c>.</summary>
    public string HeldUntil { get; set; } = string.Empty;

    /// <summary>Rows written before <see cref="HeldUntil"/> listed every open hold here; read once to convert, and gone
    /// from the row at its next write (written as null, a replace drops it).</summary>
    public string? Holds { get; set; }
}

/// <summary>The first result of an idempotency key and the fingerprint of the parameters it came with.</summary>
internal sealed class IdempotencyRow : ITableEntity
{
    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Key { get; set; } = string.Empty;
    public string Fingerprint { get; set; } = string.Empty;
    public string Result { get; set; } = string.Empty;
}

/// <summary>The kinds of history line.</summary>
internal static class LineKinds
{
    public const string Charge = "charge";
    public const string Refund = "refund";
    public const string Grant = "grant";
    public const string Expiry = "expiry";
}

/// <summary>A history line (and, under <c>U|</c>, its per-user copy).</summary>
internal sealed class LineRow : ITableEntity
{
    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string LineId { get; set; } = string.Empty;
    public string Kind { get; set; } = LineKinds.Charge;
    public DateTimeOffset At { get; set; }
    public string UserId { get; set; } = string.Empty;
    public string CreditType { get; set; } = string.Empty;
    public long Amount { get; set; }
    public string? Feature { get; set; }
    public string? Action { get; set; }
    public string? DataType { get; set; }
    public string? SubjectId { get; set; }
    public string? Description { get; set; }
    public string? Related { get; set; }
    public string? ChargeId { get; set; }
    public string? HoldId { get; set; }
    public string? Reason { get; set; }
    public long RefundedSoFar { get; set; }
    public bool Owned { get; set; }

    /// <summary>For a job line (<see cref="RollUpLines"/>): the leads it charged; null for a line of one charge.</summary>
    public int? Leads { get; set; }

    /// <summary>For a job line: the leads it recorded at 0 credits because the team already owned their data.</summary>
    public int? OwnedLeads { get; set; }

    /// <summary>For a job line: the leads refunded so far (each refunded in full, one at a time).</summary>
    public int? RefundedLeads { get; set; }

    public LineRow CopyFor(string rowKey) => new()
    {
        PartitionKey = PartitionKey, RowKey = rowKey, LineId = LineId, Kind = Kind, At = At, UserId = UserId,
        CreditType = CreditType, Amount = Amount, Feature = Feature, Action = Action, DataType = DataType, SubjectId = SubjectId,
        Description = Description, Related = Related, ChargeId = ChargeId, HoldId = HoldId, Reason = Reason,
        RefundedSoFar = RefundedSoFar, Owned = Owned, Leads = Leads, OwnedLeads = OwnedLeads, RefundedLeads = RefundedLeads,
    };
}

/// <summary>"This team owns this data of this subject", written with the charge that bought it.</summary>
internal sealed class OwnershipRow : ITableEntity
{
    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string SubjectId { get; set; } = string.Empty;
    public string DataType { get; set; } = string.Empty;
    public string LineId { get; set; } = string.Empty;
    public DateTimeOffset At { get; set; }

    /// <summary>What the purchase cost, when its line is a job line (which sums many): a refund of this subject's data
    /// refunds this much.</summary>
    public long? Amount { get; set; }
}

/// <summary>The states of a hold. An open hold past its expiry is expired without any write.</summary>
internal static class HoldStates
{
    public const string Open = "open";
    public const string Captured = "captured";
    public const string Voided = "voided";
}

/// <summary>A two-phase hold. <see cref="Amount"/> is what it reserved when placed; charges drawn from it add up in
/// <see cref="Drawn"/>; a capture's amount is <see cref="Captured"/>. What is left of it is
/// <see cref="Remaining"/>, and every charge line naming the hold adds up to <c>Drawn + Captured</c>.</summary>
internal sealed class HoldRow : ITableEntity
{
    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string HoldId { get; set; } = string.Empty;
    public string State { get; set; } = HoldStates.Open;
    public string CreditType { get; set; } = string.Empty;
    public long Amount { get; set; }
    public long Drawn { get; set; }
    public long Captured { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public string Feature { get; set; } = string.Empty;
    public string Action { get; set; } = string.Empty;
    public string UserId { get; set; } = string.Empty;
    public string? Description { get; set; }
    public string? Related { get; set; }

    /// <summary>The job lines of the charges drawn from this hold (JSON, see <see cref="RollUpLines"/>); null without any.
    /// They live on the hold because every such charge updates the hold under its ETag anyway: the hold serializes them.</summary>
    public string? RollUps
    {
        get => _rollUps is null ? _rollUpsJson : RollUpLines.Serialize(_rollUps);
        set => (_rollUpsJson, _rollUps) = (value, null);
    }

    private string? _rollUpsJson;
    private Dictionary<string, RollUpLine>? _rollUps;

    /// <summary>The job lines, parsed once per copy and written back when the row is.</summary>
    public Dictionary<string, RollUpLine> RollUpMap() => _rollUps ??= RollUpLines.Parse(_rollUpsJson);

    /// <summary>What an open hold still reserves: its amount minus the charges drawn from it.</summary>
    [IgnoreDataMember]
    public long Remaining => Amount - Drawn;

    /// <summary>A copy to plan with (every property is a value or a string).</summary>
    public HoldRow Copy()
    {
        var copy = (HoldRow)MemberwiseClone();
        copy._rollUps = _rollUps?.ToDictionary(p => p.Key, p => p.Value with { }, StringComparer.Ordinal);
        return copy;
    }
}
