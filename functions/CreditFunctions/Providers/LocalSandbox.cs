namespace CreditFunctions.Providers;

/// <summary>
/// The local run's hook for the sandbox vendors (not wired into start-up yet). In <c>CreditFunctionsApp.BuildAsync</c>:
/// <code>
/// var sandbox = await builder.Configuration.StartSandboxWhenNeededAsync(appSettings.IsUnderFunctionsHost, cancellationToken);
/// builder.Services.AddSandboxLifetime(sandbox);
/// builder.Services.AddProviders(builder.Configuration);
/// </code>
/// </summary>
public static class LocalSandbox
{
    /// <summary>
    /// For a local run without <see cref="ProviderCatalog.SandboxUrlSetting"/>: starts the sandbox vendors as a child
    /// process and adds its URL and default keys to <paramref name="configuration"/> (settings already present win).
    /// Returns the process, to stop with the app, or null when nothing was started (under the Functions host, or the
    /// URL is already configured).
    /// </summary>
    /// <exception cref="InvalidOperationException">The sandbox could not be started (see <see cref="SandboxProcess.StartAsync"/>).</exception>
    public static async Task<SandboxProcess?> StartSandboxWhenNeededAsync(this ConfigurationManager configuration, bool isUnderFunctionsHost,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (isUnderFunctionsHost || configuration[ProviderCatalog.SandboxUrlSetting] is { Length: > 0 })
        {
            return null;
        }
        var sandbox = await SandboxProcess.StartAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        configuration.AddInMemoryCollection(sandbox.AppSettings.Where(s => configuration[s.Key] is null or ""));
        return sandbox;
    }

    /// <summary>Stops <paramref name="sandbox"/> (when the run started one) after the server has stopped.</summary>
    public static IServiceCollection AddSandboxLifetime(this IServiceCollection services, SandboxProcess? sandbox) =>
        sandbox is null ? services : services.AddHostedService(_ => new StopWhenHostStops(sandbox));

    private sealed class StopWhenHostStops(SandboxProcess sandbox) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken cancellationToken) => await sandbox.DisposeAsync().ConfigureAwait(false);
    }
}
