namespace CreditFunctions.Usage;

/// <summary>Wires the usage page into the app.</summary>
public static class UsageSetup
{
    /// <summary>Registers the page's embedded assets.</summary>
    public static IServiceCollection AddUsagePage(this IServiceCollection services)
    {
        services.AddSingleton<UsagePageAssets>();
        return services;
    }
}
