using Azure.Data.Tables;
using CreditFunctions.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CreditFunctions.Auth;

/// <summary>Wires teams, API keys and authentication into the app.</summary>
public static class AuthSetup
{
    /// <summary>
    /// Registers the stores on the auth table (<see cref="AuthOptions"/>, read from <paramref name="configuration"/>),
    /// the <see cref="ApiKeyAuthenticator"/> (which <see cref="Api.ApiGate"/> uses), and on a local run the
    /// <see cref="DemoSeed"/>. Needs a <see cref="TableServiceClient"/> registration.
    /// </summary>
    public static IServiceCollection AddAuth(this IServiceCollection services, IConfiguration configuration, AppSettings settings)
    {
        var options = AuthOptions.From(configuration, settings);
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new TeamStore(Table(sp, options), sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<TeamStore>>()));
        services.AddSingleton(sp => new ApiKeyStore(Table(sp, options), sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<ApiKeyStore>>()));
        services.AddSingleton(sp => new SessionStore(Table(sp, options), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new ApiKeyAuthenticator(sp.GetRequiredService<ApiKeyStore>(), options, sp.GetRequiredService<TimeProvider>()));
        if (options.SeedDemoTeam)
        {
            services.AddSingleton<DemoSeed>();
            services.AddHostedService(sp => sp.GetRequiredService<DemoSeed>());
        }
        return services;
    }

    private static TableClient Table(IServiceProvider services, AuthOptions options) =>
        services.GetRequiredService<TableServiceClient>().GetTableClient(options.TableName);
}
