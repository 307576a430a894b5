using System.Globalization;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;

namespace CreditFunctions.Ledger;

/// <summary>
/// Day summaries: per team and UTC day, and per user and day, what each action charged and refunded, written in the
/// same entity-group transaction as the lines they count (under their ETags, like wallets), so the usage graph reads
/// at most one row per day instead of every line.
/// <list type="bullet">
/// <item><c>D|t|{yyyy-MM-dd}</c> the team's day; <c>D|u|{user}|{yyyy-MM-dd}</c> a user's day (the user of the line,
/// as for the <c>U|</c> copies).</item>
/// <item><c>D|from</c> the instant from which every charge and refund line is summarized: written by the first commit
/// that summarizes. Lines dated before it (written before summaries existed, or stamped earlier by a server whose clock
/// runs behind) are not in any summary; readers add them up from the lines themselves.</item>
/// </list>
/// </summary>
internal static class DaySummaryKeys
{
    public const string Marker = "D|from";
    public const string TeamPrefix = "D|t|";
    public const string UserPrefix = "D|u|";

    public static string Team(DateOnly day) => TeamPrefix + Day(day);

    public static string User(string userId, DateOnly day) => UserPrefix + userId + "|" + Day(day);

    public static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public static DateOnly DayOf(string rowKey) => DateOnly.ParseExact(rowKey[^10..], "yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>True for the lines a summary counts: charges and refunds of a catalog action.</summary>
    public static bool Counts(LineRow line) => line.Kind is LineKinds.Charge or LineKinds.Refund && line.Feature is not null && line.Action is not null;
}

/// <summary>One day's totals per <c>feature|action</c>: charged and refunded, in thousandths.</summary>
internal sealed class DayTotals
{
    private readonly SortedDictionary<string, long[]> _byAction;

    private DayTotals(SortedDictionary<string, long[]> byAction) => _byAction = byAction;

    public static DayTotals Empty() => new(new SortedDictionary<string, long[]>(StringComparer.Ordinal));

    public IEnumerable<(string Feature, string Action, long Charged, long Refunded)> Items =>
        _byAction.Select(p => (p.Key[..p.Key.IndexOf('|', StringComparison.Ordinal)], p.Key[(p.Key.IndexOf('|', StringComparison.Ordinal) + 1)..], p.Value[0], p.Value[1]));

    public bool IsZero => _byAction.Values.All(v => v[0] == 0 && v[1] == 0);

    public void Add(LineRow line)
    {
        var key = line.Feature + "|" + line.Action;
        var v = _byAction.TryGetValue(key, out var existing) ? existing : _byAction[key] = new long[2];
        v[line.Kind == LineKinds.Refund ? 1 : 0] += line.Amount;
    }

    public DayTotals Clone() => new(new SortedDictionary<string, long[]>(_byAction.ToDictionary(p => p.Key, p => (long[])p.Value.Clone()), StringComparer.Ordinal));

    public string Serialize() => JsonSerializer.Serialize(_byAction);

    public static DayTotals Parse(string? json) =>
        new(json is { Length: > 0 }
            ? new SortedDictionary<string, long[]>(JsonSerializer.Deserialize<Dictionary<string, long[]>>(json)!, StringComparer.Ordinal)
            : new SortedDictionary<string, long[]>(StringComparer.Ordinal));

    public bool SameAs(DayTotals other) =>
        _byAction.Where(p => p.Value[0] != 0 || p.Value[1] != 0).Select(p => (p.Key, p.Value[0], p.Value[1]))
            .SequenceEqual(other._byAction.Where(p => p.Value[0] != 0 || p.Value[1] != 0).Select(p => (p.Key, p.Value[0], p.Value[1])));
}

/// <summary>A day summary row.</summary>
internal sealed class DaySummaryRow : ITableEntity
{
    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = string.Empty;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    /// <summary>JSON: <c>{"feature|action": [charged, refunded]}</c> in thousandths.</summary>
    public string Totals { get; set; } = "{}";
}

/// <summary>The <c>D|from</c> row: summaries count every line dated at or after <see cref="From"/>.</summary>
internal sealed class SummaryMarkerRow : ITableEntity
{
    public string PartitionKey { get; set; } = string.Empty;
    public string RowKey { get; set; } = DaySummaryKeys.Marker;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public DateTimeOffset From { get; set; }
}

/// <summary>A day summary as a committer knows it: its totals and the ETag to update it under (default: not written yet).</summary>
internal sealed record DaySummaryState(string RowKey, DayTotals Totals, ETag ETag)
{
    public bool Exists => ETag != default;
}

/// <summary>
/// What a team's committer knows of its day summaries and its marker, read on first use and kept with what its own
/// commits wrote. Another process's commit makes a kept ETag stale: that commit fails on the row, which is forgotten
/// and read again (like a wallet).
/// </summary>
internal sealed class DaySummaryCache
{
    private const int EntriesMax = 10_000;
    private readonly Dictionary<string, DaySummaryState> _days = new(StringComparer.Ordinal);

    /// <summary>True once the marker was read (or written) by this committer.</summary>
    public bool MarkerKnown { get; private set; }

    /// <summary>The marker's instant; null when the team has none yet (known only when <see cref="MarkerKnown"/>).</summary>
    public DateTimeOffset? From { get; private set; }

    public bool TryGet(string rowKey, out DaySummaryState state) => _days.TryGetValue(rowKey, out state!);

    public void Loaded(DaySummaryState state)
    {
        lock (_days)
        {
            LoadedUnlocked(state);
        }
    }

    private void LoadedUnlocked(DaySummaryState state)
    {
        if (_days.Count >= EntriesMax)
        {
            _days.Clear();
        }
        _days[state.RowKey] = state;
    }

    public void MarkerLoaded(DateTimeOffset? from)
    {
        lock (_days)
        {
            (MarkerKnown, From) = (true, from);
        }
    }

    public void Forget(string rowKey)
    {
        if (rowKey == DaySummaryKeys.Marker)
        {
            (MarkerKnown, From) = (false, null);
        }
        _days.Remove(rowKey);
    }

    public void Clear()
    {
        _days.Clear();
        (MarkerKnown, From) = (false, null);
    }
}
