using System.Text;
using SandboxProviders;

namespace CreditFunctions.Tests.CsvJobs;

/// <summary>
/// Realistic dirty lead files over the sandbox's people: headers as exports spell them, names in mixed case with stray
/// spaces, the same lead twice (spelled differently), rows missing what identifies a lead, cells a spreadsheet would
/// run as formulas, non-ASCII names, quoted cells with delimiters, quotes and line breaks.
/// </summary>
internal static class DirtyCsv
{
    public const string Header = "First Name,Last Name,Company,Website,LinkedIn URL,Notes";

    /// <summary>What a generated file holds.</summary>
    public sealed record File(string Text, int Rows, int Leads, int BadRows, IReadOnlyList<Person> People);

    public static File Generate(IReadOnlyList<Person> people, int duplicates = 0, int badRows = 0, char delimiter = ',', int seed = 7)
    {
        var random = new Random(seed);
        var text = new StringBuilder(Header.Replace(',', delimiter)).Append("\r\n");
        var rows = 0;
        string Q(string cell) => cell.IndexOfAny([delimiter, '"', '\r', '\n']) >= 0 ? "\"" + cell.Replace("\"", "\"\"") + "\"" : cell;
        void Row(params string[] cells)
        {
            text.Append(string.Join(delimiter, cells.Select(Q))).Append(random.Next(3) == 0 ? "\n" : "\r\n");
            rows++;
        }
        string Mixed(string name, int i) => (i % 3) switch { 0 => name.ToUpperInvariant(), 1 => "  " + name.ToLowerInvariant() + " ", _ => name };
        string[] notes = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1 call back", "@SUM(A1:A2)", "-2+3", "met at booth, \"hot\" lead", "line one\nline two", "Zoë & José", ""];
        for (var i = 0; i < people.Count; i++)
        {
            var p = people[i];
            Row(Mixed(p.FirstName, i), Mixed(p.LastName, i + 1), p.CompanyName, "https://www." + p.CompanyDomain + "/", p.LinkedInUrl, notes[i % notes.Length]);
        }
        for (var i = 0; i < duplicates; i++)
        {
            // The same lead again, spelled otherwise: its LinkedIn URL (the identity) with different case and spacing elsewhere.
            var p = people[i % people.Count];
            Row(p.FirstName.ToLowerInvariant(), " " + p.LastName.ToUpperInvariant(), p.CompanyName, p.CompanyDomain, p.LinkedInUrl, "duplicate");
        }
        for (var i = 0; i < badRows; i++)
        {
            if (i % 2 == 0)
            {
                Row("Łukasz", "Żółć", "", "", "", "no company, no profile");
            }
            else
            {
                // Ragged: one cell short.
                text.Append(string.Join(delimiter, "李", "小龙", "Acme")).Append("\r\n");
                rows++;
            }
        }
        return new File(text.ToString(), rows, people.Count, badRows, people);
    }
}
