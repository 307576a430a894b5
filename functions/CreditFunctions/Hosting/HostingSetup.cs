using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Triggers;
using CreditFunctions.Triggers.LocalHost;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CreditFunctions.Hosting;

/// <summary>Registers the storage clients and local-host mode.</summary>
internal static class HostingSetup
{
    /// <summary>The app's <see cref="StorageAccount"/> (<c>AzureWebJobsStorage</c>) and a Table, Queue and Blob
    /// service client on it, shared by every feature.</summary>
    public static IServiceCollection AddStorageClients(this IServiceCollection services, StorageAccount account)
    {
        services.AddSingleton(account);
        services.AddSingleton(account.CreateTableServiceClient());
        services.AddSingleton(account.CreateQueueServiceClient());
        services.AddSingleton(account.CreateBlobServiceClient());
        services.AddSingleton(account.CreateTables());
        services.AddSingleton(account.CreateQueues());
        services.AddSingleton(account.CreateBlobs());
        return services;
    }

    /// <summary>Local-host mode (<see cref="LocalFunctionsHost"/>) when <see cref="LocalHostOptions.Enabled"/>; always the
    /// options and the <see cref="FunctionsCatalog"/>. Register after every function is declared.</summary>
    public static IServiceCollection AddLocalHost(this IServiceCollection services, IConfiguration configuration, AppSettings settings)
    {
        var options = LocalHostOptions.From(configuration, settings);
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new FunctionsCatalog(sp.GetServices<FunctionDefinition>()));
        if (options.Enabled)
        {
            services.AddSingleton<LocalFunctionsHost>();
            services.AddHostedService(sp => sp.GetRequiredService<LocalFunctionsHost>());
        }
        return services;
    }
}
