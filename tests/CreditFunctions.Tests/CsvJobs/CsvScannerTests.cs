using System.Text;
using CreditFunctions.CsvJobs;

namespace CreditFunctions.Tests.CsvJobs;

/// <summary>The quote's one streaming pass: encodings, delimiters, quoting, limits, and chunk offsets that let a chunk
/// read its rows alone.</summary>
public sealed class CsvScannerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<CsvScan> ScanAsync(byte[] bytes, int chunkRows = 500) => CsvScanner.ScanAsync(new MemoryStream(bytes), bytes.Length, chunkRows, Ct);

    private static Task<CsvScan> ScanAsync(string text, int chunkRows = 500) => ScanAsync(Encoding.UTF8.GetBytes(text), chunkRows);

    private static async Task<string> LimitOfAsync(Func<Task> scan) => (await Assert.ThrowsAsync<CsvFileException>(scan)).Limit;

    [Fact]
    public async Task Rows_are_counted_with_quoted_delimiters_quotes_and_line_breaks_inside_cells()
    {
        var scan = await ScanAsync("name,notes\r\n\"Ada, Countess\",\"said \"\"hi\"\"\nthen left\"\r\nBob,plain\n\nCarol,last");

        Assert.Equal(3, scan.Rows);
        Assert.Equal(["name", "notes"], scan.Header);
        Assert.Equal(CsvEncoding.Utf8, scan.Encoding);
        Assert.Equal(',', scan.Delimiter);
    }

    [Theory]
    [InlineData(';')]
    [InlineData('\t')]
    [InlineData(',')]
    public async Task The_delimiter_is_the_one_the_header_uses(char delimiter)
    {
        var scan = await ScanAsync($"first{delimiter}last{delimiter}\"a,b;c\"\nAda{delimiter}Lovelace{delimiter}x\n");

        Assert.Equal(delimiter, scan.Delimiter);
        Assert.Equal(3, scan.Header.Count);
    }

    [Fact]
    public async Task Utf8_with_a_bom_and_utf16_with_a_bom_either_endianness_read_the_same()
    {
        const string text = "First Name,Last Name\r\nZoë,Åström\r\n李,小龙\r\n";
        var utf8Bom = await ScanAsync([.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(text)]);
        var le = await ScanAsync([.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(text)]);
        var be = await ScanAsync([.. Encoding.BigEndianUnicode.GetPreamble(), .. Encoding.BigEndianUnicode.GetBytes(text)]);

        Assert.Equal((CsvEncoding.Utf8Bom, 2), (utf8Bom.Encoding, utf8Bom.Rows));
        Assert.Equal((CsvEncoding.Utf16LE, 2), (le.Encoding, le.Rows));
        Assert.Equal((CsvEncoding.Utf16BE, 2), (be.Encoding, be.Rows));
        Assert.Equal(["First Name", "Last Name"], le.Header);
        Assert.Equal(["First Name", "Last Name"], be.Header);
        Assert.Equal(["First Name", "Last Name"], utf8Bom.Header);
    }

    [Fact]
    public async Task Any_other_encoding_is_a_clear_error()
    {
        var latin1 = Encoding.Latin1.GetBytes("name\nJosé\n");
        var utf16NoBom = Encoding.Unicode.GetBytes("name\nJose\n");
        byte[] utf32 = [0xFF, 0xFE, 0, 0, (byte)'a', 0, 0, 0];

        Assert.Equal("encoding", await LimitOfAsync(() => ScanAsync(latin1)));
        Assert.Equal("encoding", await LimitOfAsync(() => ScanAsync(utf16NoBom)));
        Assert.Equal("encoding", await LimitOfAsync(() => ScanAsync(utf32)));
    }

    [Fact]
    public async Task Ragged_rows_are_counted_not_fatal()
    {
        var scan = await ScanAsync("a,b,c\n1,2,3\n1,2\n1,2,3,4\n");

        Assert.Equal(3, scan.Rows);
        Assert.Equal(2, scan.RaggedRows);
    }

    [Fact]
    public async Task An_empty_file_or_a_header_alone_fails_the_quote()
    {
        Assert.Equal("empty", await LimitOfAsync(() => ScanAsync([])));
        Assert.Equal("empty", await LimitOfAsync(() => ScanAsync("\r\n\r\n")));
        Assert.Equal("empty", await LimitOfAsync(() => ScanAsync("first,last\r\n")));
    }

    [Fact]
    public async Task More_than_100_columns_fails_the_quote_naming_the_limit()
    {
        var header = string.Join(",", Enumerable.Range(0, 101).Select(i => "c" + i));

        Assert.Equal("columns", await LimitOfAsync(() => ScanAsync(header + "\n" + header)));
        Assert.Equal(100, (await ScanAsync(string.Join(",", Enumerable.Range(0, 100).Select(i => "c" + i)) + "\nx")).Header.Count);
    }

    [Fact]
    public async Task A_cell_over_4_KB_or_a_row_over_32_KB_fails_the_quote_naming_the_limit()
    {
        var bigCell = new string('x', 4097);
        var bigRow = string.Join(",", Enumerable.Range(0, 9).Select(_ => new string('y', 4000)));

        Assert.Equal("cellSize", await LimitOfAsync(() => ScanAsync("a,b\n1," + bigCell + "\n")));
        Assert.Equal("rowSize", await LimitOfAsync(() => ScanAsync("a\n" + bigRow + "\n")));
        Assert.Equal(1, (await ScanAsync("a,b\n1," + new string('x', 4096) + "\n")).Rows);
    }

    [Fact]
    public async Task An_unclosed_quote_fails_the_quote()
    {
        Assert.Equal("quotes", await LimitOfAsync(() => ScanAsync("a,b\n1,\"never closed\n2,3\n")));
    }

    [Fact]
    public async Task More_than_a_million_rows_or_512_MB_fails_the_quote_naming_the_limit()
    {
        var rows = new StringBuilder("n\n");
        for (var i = 0; i <= 1_000_000; i++)
        {
            rows.Append("1\n");
        }
        var bytes = Encoding.ASCII.GetBytes(rows.ToString());

        Assert.Equal("rows", await LimitOfAsync(() => ScanAsync(bytes)));
        Assert.Equal(1_000_000, (await ScanAsync(bytes[..^2])).Rows);
        Assert.Equal("fileSize", await LimitOfAsync(() => CsvScanner.ScanAsync(new MemoryStream(bytes), CsvLimits.FileBytesMax + 1, 500, Ct)));
    }

    [Theory]
    [InlineData("utf-8")]
    [InlineData("utf-16")]
    [InlineData("utf-16BE")]
    public async Task Chunk_offsets_let_each_chunk_read_exactly_its_rows(string encodingName)
    {
        var encoding = Encoding.GetEncoding(encodingName);
        var text = new StringBuilder("name;note\r\n");
        for (var i = 0; i < 2345; i++)
        {
            text.Append(i % 7 == 0 ? $"\"Zoë {i}\";\"two\nlines; \"\"q\"\"\"\r\n" : $"Łukasz {i};n\n");
        }
        byte[] bytes = [.. encoding.GetPreamble(), .. encoding.GetBytes(text.ToString())];

        var scan = await ScanAsync(bytes, chunkRows: 100);
        var rows = new List<CsvRow>();
        for (var c = 0; c < scan.ChunkOffsets.Count; c++)
        {
            var from = (int)scan.ChunkOffsets[c];
            var to = c + 1 < scan.ChunkOffsets.Count ? (int)scan.ChunkOffsets[c + 1] : bytes.Length;
            var chunk = CsvRows.ReadRange(CsvScan.TextEncoding(scan.Encoding).GetString(bytes, from, to - from), scan.Delimiter, c * 100);
            Assert.True(chunk.Count == 100 || c == scan.ChunkOffsets.Count - 1);
            rows.AddRange(chunk);
        }

        Assert.Equal(2345, scan.Rows);
        Assert.Equal(24, scan.ChunkOffsets.Count);
        Assert.Equal(Enumerable.Range(0, 2345), rows.Select(r => r.Number));
        Assert.Equal(Enumerable.Range(0, 2345).Select(i => i % 7 == 0 ? $"Zoë {i}" : $"Łukasz {i}"), rows.Select(r => r.Cells[0]));
        Assert.Equal("two\nlines; \"q\"", rows[0].Cells[1]);
    }

    [Theory]
    [InlineData("=1+2", "'=1+2")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0")]
    [InlineData("-2+3", "'-2+3")]
    [InlineData("-1.5", "-1.5")]
    [InlineData("+33612345678", "+33612345678")]
    [InlineData("Ada", "Ada")]
    public void Cells_a_spreadsheet_would_run_are_escaped_and_numbers_stay_numbers(string cell, string written)
    {
        Assert.Equal(written, CsvRows.EscapeFormula(cell));
    }
}
