using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace SandboxProviders;

/// <summary>How to start the sandbox. Defaults: a free port on 127.0.0.1, the shipped <c>vendors.json</c>, no logging.</summary>
public sealed record SandboxOptions
{
    /// <summary>The port on 127.0.0.1; 0 lets the OS pick a free one (read it from <see cref="SandboxServer.BaseAddress"/>).</summary>
    public int Port { get; init; }

    /// <summary>The configuration; null: <see cref="SandboxConfig.Default"/>.</summary>
    public SandboxConfig? Config { get; init; }

    /// <summary>Overrides the configuration's data set seed.</summary>
    public int? Seed { get; init; }

    /// <summary>Overrides the configuration's data set size.</summary>
    public int? People { get; init; }

    /// <summary>Configures the server's logging (none by default); the command line logs warnings to standard error.</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }
}

/// <summary>
/// A running sandbox: the stand-in vendors and their admin endpoints on 127.0.0.1. Start it in-process with
/// <see cref="StartAsync"/> (tests) or as its own process with <c>dotnet SandboxProviders.dll --port 0</c>. Disposing
/// stops it.
/// </summary>
public sealed class SandboxServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SandboxServer(WebApplication app, Uri baseAddress, PeopleDataSet people, VendorRegistry vendors)
    {
        _app = app;
        BaseAddress = baseAddress;
        People = people;
        Vendors = vendors;
    }

    /// <summary>The server's address, e.g. <c>http://127.0.0.1:54321/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The data set the vendors answer from.</summary>
    public PeopleDataSet People { get; }

    /// <summary>The vendors' settings and statistics (the same state the admin endpoints change).</summary>
    public VendorRegistry Vendors { get; }

    /// <summary>Starts the sandbox and returns once it listens.</summary>
    /// <exception cref="FormatException">The configuration is invalid.</exception>
    public static async Task<SandboxServer> StartAsync(SandboxOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SandboxOptions();
        var config = options.Config ?? SandboxConfig.Default;
        var errors = config.Validate().ToList();
        if (errors.Count > 0)
        {
            throw new FormatException($"Sandbox configuration is invalid: {string.Join("; ", errors)}.");
        }
        var people = PeopleDataSet.Get(options.Seed ?? config.Seed, options.People ?? config.People);
        var vendors = new VendorRegistry(config.Vendors, TimeProvider.System);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(SandboxServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        options.ConfigureLogging?.Invoke(builder.Logging);
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port));
        var app = builder.Build();
        app.MapAdmin(people, vendors);
        app.MapVendors(people, vendors);
        app.MapWebhookInbox();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new SandboxServer(app, new Uri(address.TrimEnd('/') + "/"), people, vendors);
    }

    /// <summary>Completes when the server is asked to stop (Ctrl+C, SIGTERM) or <paramref name="cancellationToken"/> is cancelled.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
