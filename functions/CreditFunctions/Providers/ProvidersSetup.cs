using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CreditFunctions.Providers;

/// <summary>Registers the provider layer.</summary>
public static class ProvidersSetup
{
    /// <summary>
    /// Adds <see cref="ProviderCatalog"/> (from <c>CREDITFUNCTIONS_PROVIDERS_FILE</c> or the embedded providers.json,
    /// loaded and validated when first resolved: resolve it at start-up to fail fast), <see cref="ProviderStatistics"/>
    /// and <see cref="ProviderCaller"/>, all singletons. Settings: the base URL and key settings the definitions name
    /// (for the embedded ones <c>CREDITFUNCTIONS_SANDBOX_URL</c> and <c>CREDITFUNCTIONS_&lt;VENDOR&gt;_KEY</c>).
    /// </summary>
    public static IServiceCollection AddProviders(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(_ => ProviderCatalog.Load(configuration));
        services.AddSingleton<ProviderStatistics>();
        services.AddSingleton<ProviderCaller>();
        return services;
    }
}
