using CreditFunctions.Durable;

namespace CreditFunctions.Hosting;

/// <summary>
/// The app's task hub, client and worker. Under the Functions host the <c>durable-work</c> queue trigger feeds the
/// worker; in a local run (and in tests) the worker's in-process pump drains the hub's work queue.
/// </summary>
public static class DurableHosting
{
    /// <summary>The setting naming the task hub; <c>creditfunctions</c> by default.</summary>
    public const string HubSetting = "CREDITFUNCTIONS_DURABLE_HUB";

    /// <summary>Adds the hub (on <paramref name="storageConnectionString"/>), its client and a worker running what
    /// <paramref name="register"/> registers.</summary>
    public static IServiceCollection AddDurableRuntime(this IServiceCollection services, IConfiguration configuration, AppSettings settings,
        string storageConnectionString, Action<DurableTaskRegistry> register)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(register);
        var options = new DurableTaskHubOptions { HubName = configuration[HubSetting] is { Length: > 0 } hub ? hub : "creditfunctions" };
        var registry = new DurableTaskRegistry();
        register(registry);
        services.AddSingleton(_ => DurableTaskHub.FromConnectionString(storageConnectionString, options));
        services.AddSingleton(sp => sp.GetRequiredService<DurableTaskHub>().CreateClient());
        services.AddSingleton(sp => new DurableWorker(sp.GetRequiredService<DurableTaskHub>(), registry, sp, sp.GetRequiredService<ILoggerFactory>()));
        if (!settings.IsUnderFunctionsHost)
        {
            services.AddHostedService<LocalDurablePump>();
        }
        return services;
    }

    /// <summary>Creates the hub's storage when missing.</summary>
    public static Task InitializeDurableAsync(this IServiceProvider services, CancellationToken cancellationToken) =>
        services.GetRequiredService<DurableTaskHub>().CreateIfNotExistsAsync(cancellationToken);

    private sealed class LocalDurablePump(DurableWorker worker) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => worker.StartAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => worker.StopAsync(cancellationToken);
    }
}
