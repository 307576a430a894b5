using DevHost.Azurite;

[assembly: AssemblyFixture(typeof(DevHost.Tests.AzuriteFixture))]

namespace DevHost.Tests;

/// <summary>One in-memory Azurite on free ports for the whole test assembly.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteProcess? _azurite;

    /// <summary>Set once the assembly fixture has started; class fixtures read it.</summary>
    public static AzuriteFixture? Current { get; private set; }

    public string ConnectionString => _azurite?.ConnectionString ?? throw new InvalidOperationException("Azurite is not started.");

    public async ValueTask InitializeAsync()
    {
        _azurite = await AzuriteProcess.StartAsync(new AzuriteOptions { InMemory = true });
        Current = this;
    }

    public async ValueTask DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}
