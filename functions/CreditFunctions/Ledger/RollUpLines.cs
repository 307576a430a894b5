using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CreditFunctions.Ledger;

/// <summary>
/// One job line: the charges of one action drawn from one hold by one user on one UTC day, shown in history as a
/// single line ("CSV email enrichment — job q3.csv: 8,231 leads, 4,115.5 credits") instead of one per lead.
/// </summary>
/// <remarks>
/// Each lead still has its own idempotency record and ownership record (pointing at this line and saying what the lead
/// cost), so the same lead is never charged again anywhere, and a lead's purchase can be refunded on its own. The
/// line's state lives on its hold (<see cref="HoldRow.RollUps"/>), which every draw updates under its ETag; the
/// <c>L|</c> row and its <c>U|</c> copy are written from that state in the same transaction.
/// </remarks>
internal sealed record RollUpLine
{
    [JsonPropertyName("id")] public string LineId { get; set; } = string.Empty;
    [JsonPropertyName("at")] public DateTimeOffset At { get; set; }
    [JsonPropertyName("u")] public string UserId { get; set; } = string.Empty;
    [JsonPropertyName("f")] public string Feature { get; set; } = string.Empty;
    [JsonPropertyName("a")] public string Action { get; set; } = string.Empty;
    [JsonPropertyName("t")] public string? DataType { get; set; }
    [JsonPropertyName("d")] public string? Description { get; set; }
    [JsonPropertyName("r")] public string? Related { get; set; }
    [JsonPropertyName("n")] public int Leads { get; set; }
    [JsonPropertyName("o")] public int OwnedLeads { get; set; }
    [JsonPropertyName("c")] public long Amount { get; set; }
    [JsonPropertyName("rn")] public int RefundedLeads { get; set; }
    [JsonPropertyName("rc")] public long Refunded { get; set; }
}

/// <summary>Keys, (de)serialization and the history rows of <see cref="RollUpLine"/>s.</summary>
internal static class RollUpLines
{
    /// <summary>The key of a job line on its hold: action, user and day.</summary>
    public static string Key(string action, string userId, DateTimeOffset at) =>
        action + "|" + userId + "|" + DateOnly.FromDateTime(at.UtcDateTime).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>The committer's row-budget keys of what a draw into a job line may add once per commit: the hold and the
    /// line's two rows (the day is the commit's, so one line per action and user).</summary>
    public static IEnumerable<string> SharedRows(string holdId, string action, string userId)
    {
        yield return LedgerKeys.Hold(holdId);
        yield return "R|" + holdId + "|" + action + "|" + userId;
        yield return "R|" + holdId + "|" + action + "|" + userId + "|U";
    }

    public static Dictionary<string, RollUpLine> Parse(string? json) =>
        json is { Length: > 0 }
            ? new Dictionary<string, RollUpLine>(JsonSerializer.Deserialize<Dictionary<string, RollUpLine>>(json)!, StringComparer.Ordinal)
            : new Dictionary<string, RollUpLine>(StringComparer.Ordinal);

    public static string? Serialize(Dictionary<string, RollUpLine> lines) => lines.Count == 0 ? null : JsonSerializer.Serialize(lines);

    /// <summary>Writes the history line of <paramref name="line"/> into <paramref name="row"/> (its <c>L|</c> row or
    /// its <c>U|</c> copy; the keys are the caller's).</summary>
    public static void Project(LineRow row, HoldRow hold, RollUpLine line)
    {
        row.LineId = line.LineId;
        row.Kind = LineKinds.Charge;
        row.At = line.At;
        row.UserId = line.UserId;
        row.CreditType = hold.CreditType;
        row.Amount = line.Amount;
        row.Feature = line.Feature;
        row.Action = line.Action;
        row.DataType = line.DataType;
        row.Description = Describe(line);
        row.Related = line.Related ?? hold.Related;
        row.HoldId = hold.HoldId;
        row.RefundedSoFar = line.Refunded;
        row.Leads = line.Leads;
        row.OwnedLeads = line.OwnedLeads;
        row.RefundedLeads = line.RefundedLeads;
    }

    /// <summary>"CSV email enrichment — job q3.csv: 8,231 leads, 4,115.5 credits; 120 already owned, free".</summary>
    public static string Describe(RollUpLine line)
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"{line.Description ?? line.Action}: {line.Leads:N0} {(line.Leads == 1 ? "lead" : "leads")}, {CreditsText(line.Amount)}");
        if (line.OwnedLeads > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $"; {line.OwnedLeads:N0} already owned, free");
        }
        if (line.RefundedLeads > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $"; {line.RefundedLeads:N0} refunded");
        }
        else if (line.Refunded > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $"; {CreditsText(line.Refunded)} refunded");
        }
        return text;
    }

    private static string CreditsText(long thousandths) =>
        string.Create(CultureInfo.InvariantCulture, $"{thousandths / 1000m:#,##0.###} {(thousandths == 1000 ? "credit" : "credits")}");
}
