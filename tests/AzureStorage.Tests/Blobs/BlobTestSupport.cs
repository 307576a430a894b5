using System.Buffers;
using System.Security.Cryptography;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests.Blobs;

internal static class BlobTestSupport
{
    public static async Task<BlobContainerClient> NewContainerAsync(AzuriteFixture azurite, string prefix = "blobs")
    {
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(AzuriteFixture.NewName(prefix));
        await container.CreateIfNotExistsAsync(TestContext.Current.CancellationToken);
        return container;
    }

    public static byte[] Bytes(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}

/// <summary>
/// A forward-only stream of deterministic pseudo-random bytes (xorshift64*) that hashes what it hands out. It cannot
/// seek and does not tell its length, and it returns at most 64 KiB per read, like a network stream.
/// </summary>
internal sealed class PseudoRandomStream(long length, ulong seed) : Stream
{
    private const int MaxChunk = 64 * 1024;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private ulong _state = seed == 0 ? 0x9E3779B97F4A7C15UL : seed;
    private long _produced;

    public long Produced => _produced;

    public byte[] Sha256() => _hash.GetCurrentHash();

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(Span<byte> buffer)
    {
        var count = (int)Math.Min(Math.Min(buffer.Length, MaxChunk), length - _produced);
        var span = buffer[..count];
        for (var i = 0; i < count; i += 8)
        {
            _state ^= _state >> 12;
            _state ^= _state << 25;
            _state ^= _state >> 27;
            var value = _state * 0x2545F4914F6CDD1DUL;
            var chunk = span[i..];
            for (var b = 0; b < 8 && b < chunk.Length; b++)
            {
                chunk[b] = (byte)(value >> (8 * b));
            }
        }
        _hash.AppendData(span);
        _produced += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>An array pool over the shared one that measures the bytes rented and not yet returned, and their peak.</summary>
internal sealed class TrackingArrayPool : ArrayPool<byte>
{
    private long _outstanding;
    private long _peak;
    private int _rentals;

    public long Outstanding => Interlocked.Read(ref _outstanding);

    public long Peak => Interlocked.Read(ref _peak);

    public int Rentals => Volatile.Read(ref _rentals);

    public override byte[] Rent(int minimumLength)
    {
        var array = Shared.Rent(minimumLength);
        Interlocked.Increment(ref _rentals);
        var now = Interlocked.Add(ref _outstanding, array.Length);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
        {
        }
        return array;
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        Interlocked.Add(ref _outstanding, -array.Length);
        Shared.Return(array, clearArray);
    }
}
