using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Durable;
using CreditFunctions.Triggers;

namespace CreditFunctions.Hosting;

/// <summary>
/// The app's task hub, client and worker, and the <c>durable-work</c> queue function that feeds the worker under the
/// Functions host. Outside the host (a local run, tests) the worker's own in-process pump drains the work queue
/// instead: it is woken in-process whenever the app sends work, where polling through local-host mode would add a
/// polling delay to every orchestration step; local-host mode therefore leaves <c>durable-work</c> alone.
/// </summary>
public static class DurableHosting
{
    /// <summary>The setting naming the task hub (lower-case letters and digits); <c>creditfunctions</c> by default.</summary>
    public const string HubSetting = "CREDITFUNCTIONS_DURABLE_HUB";

    /// <summary>The hub's name when <see cref="HubSetting"/> is not set.</summary>
    public const string DefaultHub = "creditfunctions";

    /// <summary>The queue-triggered function that runs orchestration and activity work items.</summary>
    public const string WorkFunctionName = "durable-work";

    /// <summary>Settings the app needs to resolve its triggers, lowest precedence.</summary>
    public static IReadOnlyDictionary<string, string?> DefaultSettings(bool underFunctionsHost) => new Dictionary<string, string?>
    {
        [HubSetting] = DefaultHub,
        [$"AzureWebJobs.{WorkFunctionName}.Disabled"] = underFunctionsHost ? null : "true",
    };

    /// <summary>Adds the hub (on the app's storage clients), its client, a worker running what <paramref name="register"/>
    /// registers, and the <c>durable-work</c> function.</summary>
    public static IServiceCollection AddDurableRuntime(this IServiceCollection services, IConfiguration configuration, AppSettings settings,
        Action<DurableTaskRegistry> register)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(register);
        var hub = configuration[HubSetting] is { Length: > 0 } name ? name : DefaultHub;
        if (!hub.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)))
        {
            throw new InvalidOperationException($"{HubSetting} must be lower-case letters and digits (it names tables, queues and containers).");
        }
        var registry = new DurableTaskRegistry();
        register(registry);
        services.AddSingleton(sp => new DurableTaskHub(new DurableTaskHubOptions { HubName = hub },
            sp.GetRequiredService<TableServiceClient>(), sp.GetRequiredService<QueueServiceClient>(), sp.GetRequiredService<BlobServiceClient>()));
        services.AddSingleton(sp => sp.GetRequiredService<DurableTaskHub>().CreateClient());
        services.AddSingleton(sp => new DurableWorker(sp.GetRequiredService<DurableTaskHub>(), registry, sp, sp.GetRequiredService<ILoggerFactory>()));
        services.AddQueueFunction(WorkFunctionName, new QueueTrigger($"%{HubSetting}%-work"), (trigger, sp, ct) =>
            sp.GetRequiredService<DurableWorker>().HandleMessageAsync(BinaryData.FromString(trigger.MessageText), trigger.DequeueCount, ct));
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
