using System.Net.Sockets;
using CreditFunctions.AzureStorage;
using CreditFunctions.AzureStorage.Emulator;

namespace CreditFunctions.Hosting;

/// <summary>
/// Local-host mode's storage: when the app is configured for development storage and nothing listens on Azurite's
/// ports, starts Azurite from the repository's npm package, persisting under <see cref="AppSettings.LocalStorageFolder"/>.
/// </summary>
internal static class LocalStorage
{
    public static async Task<AzuriteProcess?> EnsureRunningAsync(AppSettings settings, CancellationToken cancellationToken)
    {
        if (settings.IsUnderFunctionsHost || settings.StorageConnectionString?.Contains("UseDevelopmentStorage=true", StringComparison.OrdinalIgnoreCase) != true)
        {
            return null;
        }
        var connection = StorageConnectionString.Parse(settings.StorageConnectionString);
        var endpoints = new[] { connection.BlobEndpoint, connection.QueueEndpoint, connection.TableEndpoint };
        var listening = await Task.WhenAll(endpoints.Select(e => IsListeningAsync(e, cancellationToken)));
        if (listening.All(l => l))
        {
            return null;
        }
        if (listening.Any(l => l))
        {
            throw new InvalidOperationException(
                "Some of Azurite's ports (10000-10002) are in use but not all: stop whatever holds them or point AzureWebJobsStorage elsewhere.");
        }
        var root = AzuriteProcess.FindRepositoryRoot()
            ?? throw new InvalidOperationException("Run the app from the repository so it can start Azurite from its package.json.");
        return await AzuriteProcess.StartAsync(new AzuriteOptions
        {
            RepositoryRoot = root,
            InMemory = false,
            DataFolder = Path.Combine(root, settings.LocalStorageFolder),
            BlobPort = connection.BlobEndpoint.Port,
            QueuePort = connection.QueueEndpoint.Port,
            TablePort = connection.TableEndpoint.Port,
        }, cancellationToken);
    }

    /// <summary>
    /// Points <c>AzureWebJobsStorage</c> at the Azurite this run started, or at the development storage when no
    /// storage is configured at all (outside the Functions host), so that <see cref="StorageAccount.From"/> finds it.
    /// </summary>
    public static void UseStartedStorage(this IConfigurationBuilder configuration, AppSettings settings, AzuriteProcess? azurite)
    {
        if (azurite is not null)
        {
            configuration.AddInMemoryCollection([new("AzureWebJobsStorage", azurite.ConnectionString)]);
        }
        else if (!settings.IsUnderFunctionsHost && settings.StorageConnectionString is { } connection)
        {
            configuration.AddInMemoryCollection([new("AzureWebJobsStorage", connection)]);
        }
    }

    /// <summary>Stops <paramref name="azurite"/> (when this run started one) after the server has stopped.</summary>
    public static IServiceCollection AddLocalStorageLifetime(this IServiceCollection services, AzuriteProcess? azurite) =>
        azurite is null ? services : services.AddHostedService(_ => new StopWhenHostStops(azurite));

    private static async Task<bool> IsListeningAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(endpoint.Host, endpoint.Port, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    // Registered before the other hosted services, so it stops after them: they may still use storage while stopping.
    private sealed class StopWhenHostStops(AzuriteProcess azurite) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken cancellationToken) => await azurite.DisposeAsync();
    }
}
