using System.Security.Cryptography;
using DevHost.Azurite;
using Xunit;

namespace CreditFunctions.TestSupport;

/// <summary>
/// One in-memory Azurite per test assembly (xunit runs each assembly in its own process), started on free ports
/// before the first test and stopped after the last. Tests isolate themselves with <see cref="NewName"/>.
/// Register with <c>[assembly: AssemblyFixture(typeof(AzuriteFixture))]</c>.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private static int s_counter;
    private AzuriteProcess? _azurite;

    /// <summary>The emulator's connection string.</summary>
    public string ConnectionString => (_azurite ?? throw NotStarted()).ConnectionString;

    /// <summary>
    /// A name no other test uses, valid for a table, a queue and a blob container alike: lower-case letters and
    /// digits, starting with a letter, at most 40 characters.
    /// </summary>
    public static string NewName(string prefix = "t")
    {
        var letters = new string(prefix.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(20).ToArray());
        if (letters.Length == 0 || !char.IsAsciiLetter(letters[0]))
        {
            letters = "t" + letters;
        }
        var n = Interlocked.Increment(ref s_counter);
        return $"{letters}{n}x{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
    }

    /// <inheritdoc />
    public async ValueTask InitializeAsync() =>
        _azurite = await AzuriteProcess.StartAsync(new AzuriteOptions());

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }

    private static InvalidOperationException NotStarted() => new("Azurite has not started.");
}
