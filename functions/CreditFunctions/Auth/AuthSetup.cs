using Azure.Data.Tables;
using CreditFunctions.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CreditFunctions.Auth;

/// <summary>Wires teams, API keys and authentication into the app.</summary>
public static class AuthSetup
{
    /// <summary>
    /// Registers the stores on the auth table (<see cref="AuthOptions"/>, read from <paramref name="configuration"/>),
    /// the <see cref="ApiKeyAuthenticator"/>, the Bearer API key scheme as the default scheme, authorization, and on
    /// a local run the <see cref="DemoSeed"/>. Needs a <see cref="TableServiceClient"/> registration.
    /// </summary>
    public static IServiceCollection AddAuth(this IServiceCollection services, IConfiguration configuration, AppSettings settings)
    {
        var options = AuthOptions.From(configuration, settings);
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new TeamStore(Table(sp, options), sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<TeamStore>>()));
        services.AddSingleton(sp => new ApiKeyStore(Table(sp, options), sp.GetRequiredService<TimeProvider>(), sp.GetService<ILogger<ApiKeyStore>>()));
        services.AddSingleton(sp => new ApiKeyAuthenticator(sp.GetRequiredService<ApiKeyStore>(), options, sp.GetRequiredService<TimeProvider>()));
        // The core services only: AddAuthentication would also register Data Protection, which API keys do not use
        // and which writes a key ring to the user profile at start-up.
        services.AddAuthenticationCore(o =>
        {
            o.AddScheme<ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, displayName: null);
            o.DefaultScheme = ApiKeyAuthenticationHandler.SchemeName;
        });
        services.AddWebEncoders();
        services.AddAuthorization();
        if (options.SeedDemoTeam)
        {
            services.AddSingleton<DemoSeed>();
            services.AddHostedService(sp => sp.GetRequiredService<DemoSeed>());
        }
        return services;
    }

    /// <summary>
    /// The <c>/api/v1</c> route group: every route in it requires a valid API key (401 problem+json otherwise) and
    /// can take a <see cref="CallerContext"/> parameter. Routes outside it, such as <c>/api/health</c>, stay anonymous.
    /// </summary>
    public static RouteGroupBuilder MapApiV1(this IEndpointRouteBuilder app) => app.MapGroup("/api/v1").RequireAuthorization();

    private static TableClient Table(IServiceProvider services, AuthOptions options) =>
        services.GetRequiredService<TableServiceClient>().GetTableClient(options.TableName);
}
