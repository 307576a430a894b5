using System.Globalization;
using System.Text;
using nietras.SeparatedValues;

namespace CreditFunctions.CsvJobs;

/// <summary>One data row of a file: its number (0-based, data rows only) and its cells, unescaped.</summary>
public sealed record CsvRow(int Number, string[] Cells);

/// <summary>Reading rows with Sep (the faster reader, measured: see the README's CSV benchmark) and writing result
/// cells safely.</summary>
public static class CsvRows
{
    /// <summary>The cells of one line of text (a header), unescaped.</summary>
    public static IReadOnlyList<string> SplitLine(string line, char delimiter)
    {
        using var reader = Reader(delimiter).FromText(line);
        if (!reader.MoveNext())
        {
            return [];
        }
        var row = reader.Current;
        var cells = new string[row.ColCount];
        for (var i = 0; i < cells.Length; i++)
        {
            cells[i] = row[i].ToString();
        }
        return cells;
    }

    /// <summary>The rows of a row-aligned range of a file's text, numbered from <paramref name="firstNumber"/>; empty lines
    /// are skipped as the scanner skips them.</summary>
    public static List<CsvRow> ReadRange(string text, char delimiter, int firstNumber)
    {
        ArgumentNullException.ThrowIfNull(text);
        var rows = new List<CsvRow>();
        using var reader = Reader(delimiter).FromText(text);
        foreach (var row in reader)
        {
            if (row.Span.Length == 0)
            {
                continue;
            }
            var cells = new string[row.ColCount];
            for (var i = 0; i < cells.Length; i++)
            {
                cells[i] = row[i].ToString();
            }
            rows.Add(new CsvRow(firstNumber + rows.Count, cells));
        }
        return rows;
    }

    /// <summary>Counts the rows of a stream with Sep and nothing else (the benchmark's baseline).</summary>
    public static int CountRows(TextReader text, char delimiter)
    {
        using var reader = Reader(delimiter).From(text);
        var count = 0;
        foreach (var row in reader)
        {
            count += row.Span.Length == 0 ? 0 : 1;
        }
        return count;
    }

    private static SepReaderOptions Reader(char delimiter) =>
        Sep.New(delimiter).Reader(o => o with { HasHeader = false, Unescape = true, DisableColCountCheck = true, CultureInfo = CultureInfo.InvariantCulture });

    /// <summary>
    /// Appends <paramref name="cells"/> as one CSV line: a cell with the delimiter, a quote or a line break is quoted
    /// (quotes doubled), and a text cell a spreadsheet would run as a formula (starting with <c>= + - @</c>, tab or CR)
    /// gets a leading <c>'</c>; a cell that is a plain number stays a number.
    /// </summary>
    public static void AppendLine(StringBuilder line, IEnumerable<string?> cells, char delimiter)
    {
        ArgumentNullException.ThrowIfNull(line);
        ArgumentNullException.ThrowIfNull(cells);
        var first = true;
        foreach (var raw in cells)
        {
            if (!first)
            {
                line.Append(delimiter);
            }
            first = false;
            var cell = EscapeFormula(raw ?? string.Empty);
            if (cell.AsSpan().IndexOfAny(['"', delimiter, '\r', '\n']) >= 0)
            {
                line.Append('"').Append(cell.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            }
            else
            {
                line.Append(cell);
            }
        }
        line.Append("\r\n");
    }

    /// <summary>The cell as a spreadsheet may show it without running it.</summary>
    public static string EscapeFormula(string cell)
    {
        ArgumentNullException.ThrowIfNull(cell);
        if (cell.Length == 0 || cell[0] is not ('=' or '+' or '-' or '@' or '\t' or '\r'))
        {
            return cell;
        }
        return decimal.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ? cell : "'" + cell;
    }
}
