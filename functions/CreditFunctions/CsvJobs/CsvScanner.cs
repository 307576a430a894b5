using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;

namespace CreditFunctions.CsvJobs;

/// <summary>The limits of one uploaded file. Beyond any of them the job fails at its quote, naming the limit.</summary>
public static class CsvLimits
{
    /// <summary>Most data rows in a file.</summary>
    public const int RowsMax = 1_000_000;

    /// <summary>Largest file.</summary>
    public const long FileBytesMax = 512L * 1024 * 1024;

    /// <summary>Most columns in a row (the header's included).</summary>
    public const int ColumnsMax = 100;

    /// <summary>Longest row, in bytes of the file.</summary>
    public const int RowBytesMax = 32 * 1024;

    /// <summary>Longest cell, in bytes of the file.</summary>
    public const int CellBytesMax = 4 * 1024;

    /// <summary>Largest file the API accepts as a request body (<c>PUT …/file</c>); larger ones go through the upload URL.</summary>
    public const int DirectUploadBytesMax = 10 * 1024 * 1024;
}

/// <summary>The text encodings a file may use.</summary>
public enum CsvEncoding
{
    /// <summary>UTF-8 without a byte-order mark.</summary>
    Utf8,

    /// <summary>UTF-8 with a byte-order mark.</summary>
    Utf8Bom,

    /// <summary>UTF-16 little-endian, with a byte-order mark.</summary>
    Utf16LE,

    /// <summary>UTF-16 big-endian, with a byte-order mark.</summary>
    Utf16BE,
}

/// <summary>The file could not be quoted: <see cref="Exception.Message"/> says why for the user (never any row's data),
/// and <see cref="Limit"/> names the limit or the rule that was broken.</summary>
public sealed class CsvFileException(string limit, string message) : Exception(message)
{
    /// <summary>The limit or rule (<c>rows</c>, <c>fileSize</c>, <c>columns</c>, <c>rowSize</c>, <c>cellSize</c>,
    /// <c>encoding</c>, <c>empty</c>, <c>header</c>, <c>mapping</c>, <c>quotes</c>).</summary>
    public string Limit { get; } = limit;
}

/// <summary>What one pass over a file found.</summary>
/// <param name="Encoding">The detected encoding.</param>
/// <param name="Delimiter">The detected delimiter: <c>,</c>, <c>;</c> or tab.</param>
/// <param name="Header">The header's column names, unescaped.</param>
/// <param name="Rows">Data rows (empty lines are not rows).</param>
/// <param name="RaggedRows">Data rows whose number of cells differs from the header's.</param>
/// <param name="ChunkOffsets">Byte offset in the file of data row 0, <c>chunkRows</c>, 2 × <c>chunkRows</c>, …</param>
/// <param name="Bytes">The file's length.</param>
public sealed record CsvScan(CsvEncoding Encoding, char Delimiter, IReadOnlyList<string> Header, int Rows, int RaggedRows,
    IReadOnlyList<long> ChunkOffsets, long Bytes)
{
    /// <summary>The .NET encoding that decodes a byte range of the file (a range that starts after any byte-order mark).</summary>
    public static Encoding TextEncoding(CsvEncoding encoding) => encoding switch
    {
        CsvEncoding.Utf16LE => new UnicodeEncoding(bigEndian: false, byteOrderMark: false, throwOnInvalidBytes: true),
        CsvEncoding.Utf16BE => new UnicodeEncoding(bigEndian: true, byteOrderMark: false, throwOnInvalidBytes: true),
        _ => new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true),
    };
}

/// <summary>
/// Reads a CSV file once, as a stream, holding one buffer (never the file or its rows): detects the encoding (UTF-8
/// with or without a byte-order mark, UTF-16 with one; anything else, invalid UTF-8 included, is refused) and the
/// delimiter (the one of <c>, ; tab</c> the header line uses most, outside quotes), reads the header, counts the data
/// rows and the ragged ones, enforces <see cref="CsvLimits"/>, and records where every chunk of rows starts, so chunks
/// can later read their rows alone with a ranged read. Quotes follow RFC 4180 as Sep reads them: a quote anywhere
/// toggles quoting, and inside quotes delimiters and line breaks are data. Empty lines are skipped.
/// </summary>
public static class CsvScanner
{
    private const int BufferBytes = 1 << 20;

    /// <summary>Scans <paramref name="file"/> (positioned at its start) of <paramref name="length"/> bytes.</summary>
    /// <exception cref="CsvFileException">The file breaks a limit or a rule.</exception>
    public static async Task<CsvScan> ScanAsync(Stream file, long length, int chunkRows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
        if (length > CsvLimits.FileBytesMax)
        {
            throw new CsvFileException("fileSize", $"The file is {length:N0} bytes; at most {CsvLimits.FileBytesMax:N0} bytes (512 MB) are allowed.");
        }
        if (length == 0)
        {
            throw new CsvFileException("empty", "The file is empty.");
        }
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes + 8);
        try
        {
            var read = await FillAsync(file, buffer.AsMemory(0, BufferBytes), cancellationToken).ConfigureAwait(false);
            var (encoding, bom) = DetectEncoding(buffer.AsSpan(0, read));
            var state = new ScanState(chunkRows, bom, encoding is CsvEncoding.Utf16LE or CsvEncoding.Utf16BE ? 2 : 1);
            var carry = 0;
            var first = true;
            while (read > 0 || carry > 0)
            {
                var available = carry + read;
                var span = buffer.AsSpan(0, available);
                var start = first ? bom : 0;
                var isLast = read == 0;
                if (state.UnitBytes == 1)
                {
                    var usable = isLast ? available : Utf8Boundary(span);
                    if (!System.Text.Unicode.Utf8.IsValid(span[start..usable]))
                    {
                        throw new CsvFileException("encoding", "The file is not valid UTF-8: save it as UTF-8 (with or without BOM) or UTF-16 with BOM.");
                    }
                    if (first)
                    {
                        state.Delimiter = (byte)DetectDelimiter<byte>(span[start..usable], (byte)'"', (byte)',', (byte)';', (byte)'\t', (byte)'\r', (byte)'\n');
                        state.ByteSpecials = SearchValues.Create([(byte)'"', state.Delimiter, (byte)'\r', (byte)'\n']);
                    }
                    Scan(span[start..usable], ref state, state.ByteSpecials!, (byte)'"', state.Delimiter, (byte)'\r', (byte)'\n');
                    carry = available - usable;
                    span[usable..].CopyTo(buffer);
                }
                else
                {
                    if (isLast && (available - start) % 2 == 1)
                    {
                        throw new CsvFileException("encoding", "The file is not valid UTF-16: it has an odd number of bytes.");
                    }
                    var usable = start + ((available - start) / 2 * 2);
                    var units = MemoryMarshal.Cast<byte, char>(buffer.AsSpan(start, usable - start));
                    if (encoding == CsvEncoding.Utf16BE)
                    {
                        var raw = MemoryMarshal.Cast<char, ushort>(units);
                        System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(raw, raw);
                    }
                    if (first)
                    {
                        state.Delimiter = (byte)DetectDelimiter<char>(units, '"', ',', ';', '\t', '\r', '\n');
                        state.CharSpecials = SearchValues.Create(['"', (char)state.Delimiter, '\r', '\n']);
                    }
                    Scan(units, ref state, state.CharSpecials!, '"', (char)state.Delimiter, '\r', '\n');
                    carry = available - usable;
                    buffer.AsSpan(usable, carry).CopyTo(buffer);
                }
                first = false;
                if (isLast)
                {
                    break;
                }
                read = await FillAsync(file, buffer.AsMemory(carry, BufferBytes), cancellationToken).ConfigureAwait(false);
            }
            state.Finish();
            if (state.HeaderUnits is null)
            {
                throw new CsvFileException("empty", "The file holds no header row.");
            }
            if (state.Rows == 0)
            {
                throw new CsvFileException("empty", "The file has a header but no data rows.");
            }
            var header = ParseHeader(state, encoding);
            return new CsvScan(encoding, (char)state.Delimiter, header, state.Rows, state.Ragged, state.Offsets, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The encoding and the length of its byte-order mark.</summary>
    private static (CsvEncoding Encoding, int Bom) DetectEncoding(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE, 0x00, 0x00]) || head.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0xFE, 0xFF]))
        {
            throw new CsvFileException("encoding", "UTF-32 files are not supported: save the file as UTF-8 or UTF-16 with BOM.");
        }
        if (head.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            return (CsvEncoding.Utf8Bom, 3);
        }
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]))
        {
            return (CsvEncoding.Utf16LE, 2);
        }
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            return (CsvEncoding.Utf16BE, 2);
        }
        // UTF-16 without a BOM shows as zero bytes between ASCII letters: refuse it clearly rather than as bad UTF-8.
        if (head.Length >= 2 && head[..Math.Min(head.Length, 256)].Contains((byte)0))
        {
            throw new CsvFileException("encoding", "The file looks like UTF-16 without a byte-order mark: save it as UTF-8, or UTF-16 with BOM.");
        }
        return (CsvEncoding.Utf8, 0);
    }

    /// <summary>Where the last complete UTF-8 sequence of <paramref name="span"/> ends (a sequence cut by the buffer
    /// waits for the next read).</summary>
    private static int Utf8Boundary(ReadOnlySpan<byte> span)
    {
        var i = span.Length - 1;
        var back = 0;
        while (i > 0 && back < 3 && (span[i] & 0xC0) == 0x80)
        {
            i--;
            back++;
        }
        if (i < 0)
        {
            return span.Length;
        }
        var lead = span[i];
        var needed = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        return i + needed > span.Length ? i : span.Length;
    }

    private static T DetectDelimiter<T>(ReadOnlySpan<T> units, T quote, T comma, T semicolon, T tab, T cr, T lf) where T : unmanaged, IEquatable<T>
    {
        int commas = 0, semicolons = 0, tabs = 0;
        var quoted = false;
        foreach (var u in units)
        {
            if (u.Equals(quote))
            {
                quoted = !quoted;
            }
            else if (!quoted)
            {
                if (u.Equals(cr) || u.Equals(lf))
                {
                    if (commas + semicolons + tabs > 0)
                    {
                        break;
                    }
                    continue;
                }
                commas += u.Equals(comma) ? 1 : 0;
                semicolons += u.Equals(semicolon) ? 1 : 0;
                tabs += u.Equals(tab) ? 1 : 0;
            }
        }
        return semicolons > commas && semicolons >= tabs ? semicolon : tabs > commas && tabs > semicolons ? tab : comma;
    }

    /// <summary>The state machine over one buffer of code units (bytes of UTF-8, chars of UTF-16).</summary>
    private static void Scan<T>(ReadOnlySpan<T> units, ref ScanState s, SearchValues<T> specials, T quote, T delimiter, T cr, T lf)
        where T : unmanaged, IEquatable<T>
    {
        var i = 0;
        while (i < units.Length)
        {
            var rest = units[i..];
            var next = s.Quoted ? rest.IndexOf(quote) : rest.IndexOfAny(specials);
            if (next < 0)
            {
                s.Advance(rest.Length, units, i);
                return;
            }
            s.Advance(next, units, i);
            i += next;
            var u = units[i];
            if (u.Equals(quote))
            {
                s.Quoted = !s.Quoted;
                s.Advance(1, units, i);
            }
            else if (u.Equals(delimiter))
            {
                s.EndCell();
                s.Advance(1, units, i, check: false);
                s.CellStart = s.Position;
            }
            else
            {
                // CR or LF: the end of a row (an empty row between CR and LF is no row).
                s.EndRow();
                s.Position++;
                s.RowStart = s.Position;
                s.CellStart = s.Position;
            }
            i++;
        }
    }

    private static IReadOnlyList<string> ParseHeader(ScanState s, CsvEncoding encoding)
    {
        var bytes = s.HeaderUnits!;
        var text = s.UnitBytes == 1 ? Encoding.UTF8.GetString(bytes) : new string(MemoryMarshal.Cast<byte, char>(bytes));
        _ = encoding;
        var names = CsvRows.SplitLine(text, (char)s.Delimiter);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i].Trim().Length == 0)
            {
                throw new CsvFileException("header", $"Column {i + 1} of the header has no name.");
            }
            if (!seen.Add(names[i].Trim()))
            {
                throw new CsvFileException("header", $"The header names column '{Shorten(names[i])}' twice.");
            }
        }
        return names;
    }

    internal static string Shorten(string value) => value.Length <= 64 ? value : value[..64] + "…";

    private static async Task<int> FillAsync(Stream stream, Memory<byte> buffer, CancellationToken ct)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer[total..], ct).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total;
    }

    /// <summary>Positions are counted in code units from the first one after the byte-order mark.</summary>
    private struct ScanState(int chunkRows, int bom, int unitBytes)
    {
        public readonly int UnitBytes = unitBytes;
        public byte Delimiter;
        public SearchValues<byte>? ByteSpecials;
        public SearchValues<char>? CharSpecials;
        public bool Quoted;
        public long Position;
        public long RowStart;
        public long CellStart;
        public int Cells;
        public int Rows;
        public int Ragged;
        public int HeaderCells = -1;
        public byte[]? HeaderUnits;
        public List<long> Offsets = [];
        private List<byte>? _header = [];

        /// <summary>Moves over <paramref name="count"/> units, keeping the header's units while in the first row.</summary>
        public void Advance<T>(int count, ReadOnlySpan<T> units, int at, bool check = true) where T : unmanaged
        {
            if (_header is not null && count > 0)
            {
                _header.AddRange(MemoryMarshal.AsBytes(units.Slice(at, count)));
                if (_header.Count > CsvLimits.RowBytesMax)
                {
                    throw new CsvFileException("rowSize", $"The header row is longer than {CsvLimits.RowBytesMax:N0} bytes.");
                }
            }
            Position += count;
            if (!check)
            {
                return;
            }
            if ((Position - CellStart) * UnitBytes > CsvLimits.CellBytesMax)
            {
                throw new CsvFileException("cellSize", $"A cell of row {Rows + 1} is longer than {CsvLimits.CellBytesMax:N0} bytes (4 KB).");
            }
            if ((Position - RowStart) * UnitBytes > CsvLimits.RowBytesMax)
            {
                throw new CsvFileException("rowSize", $"Row {Rows + 1} is longer than {CsvLimits.RowBytesMax:N0} bytes (32 KB).");
            }
        }

        public void EndCell()
        {
            Cells++;
            if (Cells >= CsvLimits.ColumnsMax)
            {
                throw new CsvFileException("columns", $"Row {Rows + (HeaderCells < 0 ? 0 : 1)} has more than {CsvLimits.ColumnsMax} columns.");
            }
        }

        public void EndRow()
        {
            if (Position == RowStart)
            {
                return;
            }
            var cells = Cells + 1;
            Cells = 0;
            if (HeaderCells < 0)
            {
                HeaderCells = cells;
                HeaderUnits = [.. _header!];
                _header = null;
                return;
            }
            if (Rows % chunkRows == 0)
            {
                Offsets.Add(bom + RowStart * UnitBytes);
            }
            Rows++;
            Ragged += cells == HeaderCells ? 0 : 1;
            if (Rows > CsvLimits.RowsMax)
            {
                throw new CsvFileException("rows", $"The file has more than {CsvLimits.RowsMax:N0} data rows.");
            }
        }

        public void Finish()
        {
            if (Quoted)
            {
                throw new CsvFileException("quotes", $"Row {Rows + 1} opens a quoted cell that the file never closes.");
            }
            EndRow();
        }
    }
}
