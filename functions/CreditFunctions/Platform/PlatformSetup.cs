namespace CreditFunctions.Platform;

/// <summary>Registers what every feature shares at the edges: the <see cref="EgressGuard"/> for customer-given URLs
/// and the cached <see cref="HealthProbe"/>.</summary>
public static class PlatformSetup
{
    /// <summary>Adds the egress guard (configured by <see cref="EgressGuard.AllowSetting"/>, read now so that a bad
    /// entry fails at start-up) and the health probe.</summary>
    public static IServiceCollection AddPlatform(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(EgressGuard.From(configuration));
        services.AddSingleton<HealthProbe>();
        return services;
    }
}
