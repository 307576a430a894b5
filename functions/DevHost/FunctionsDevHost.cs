using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using DevHost.Azurite;
using DevHost.Configuration;
using DevHost.Discovery;
using DevHost.Durable;
using DevHost.Http;
using DevHost.Invocation;
using DevHost.Triggers;
using Azure.Storage.Blobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Converters;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DevHost;

/// <summary>
/// Runs an isolated-worker Functions app without the Functions host: HTTP on Kestrel, queue, blob and timer
/// triggers on Azure Storage, Durable Functions on the Durable Task Framework's Azure Storage provider. Functions
/// that use a binding feature outside the declared set are refused at start-up (<see cref="UnsupportedFunctionException"/>).
/// </summary>
/// <remarks>
/// Start order: configuration, discovery and validation, Azurite (when needed), the app's container, the task
/// hub, the app's hosted services and Kestrel, the Durable worker, the trigger listeners, then
/// <see cref="DevHostOptions.OnStarted"/>. Stop order: stop taking work (listeners and Kestrel) and let invocations
/// under way finish, the app's hosted services, the Durable worker, then Azurite last.
/// </remarks>
public sealed partial class FunctionsDevHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DurableBackend? _durable;
    private readonly IReadOnlyList<ITriggerListener> _listeners;
    private readonly AzuriteProcess? _azurite;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _stopGate = new(1, 1);
    private bool _stopped;

    private FunctionsDevHost(WebApplication app, DurableBackend? durable, DurableTaskClient client, IReadOnlyList<ITriggerListener> listeners,
        AzuriteProcess? azurite, ILoggerFactory loggerFactory, Uri baseAddress, IReadOnlyList<DevHostFunction> functions, string storage)
    {
        _app = app;
        _durable = durable;
        DurableClient = client;
        _listeners = listeners;
        _azurite = azurite;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("DevHost");
        BaseAddress = baseAddress;
        Functions = functions;
        StorageConnectionString = storage;
    }

    /// <summary>The HTTP address, <c>http://127.0.0.1:{port}/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The app's container (its registrations, plus the dev host's <see cref="DurableTaskClient"/>).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The Durable client over the task hub (also what <c>[DurableClient]</c> parameters receive).</summary>
    public DurableTaskClient DurableClient { get; }

    /// <summary>The functions this host runs (after the filter and <c>AzureWebJobs.&lt;name&gt;.Disabled</c>).</summary>
    public IReadOnlyList<DevHostFunction> Functions { get; }

    /// <summary>The effective storage connection string (e.g. the started Azurite's, with explicit endpoints).</summary>
    public string StorageConnectionString { get; }

    /// <summary>Starts the host; returns when HTTP listens and all triggers run.</summary>
    /// <exception cref="UnsupportedFunctionException">A function uses a binding feature the dev host does not support.</exception>
    public static async Task<FunctionsDevHost> StartAsync(DevHostOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var appFolder = Path.GetDirectoryName(options.AppAssembly.Location) ?? AppContext.BaseDirectory;
        var repositoryRoot = AzuriteProcess.FindRepositoryRoot();
        var hostJson = options.HostJsonPath
            ?? (File.Exists(Path.Combine(appFolder, "host.json")) ? Path.Combine(appFolder, "host.json")
                : repositoryRoot is not null ? Path.Combine(repositoryRoot, "host.json") : null);
        var configuration = DevHostConfiguration.Build(options, hostJson, new[] { repositoryRoot, appFolder }.OfType<string>());
        var loggerFactory = CreateLoggerFactory(configuration);
        var logger = loggerFactory.CreateLogger("DevHost");
        AzuriteProcess? azurite = null;
        try
        {
            // Discovery and validation first: a refused function starts nothing.
            var functions = new List<FunctionDescriptor>();
            foreach (var function in await FunctionCatalog.LoadAsync(options.AppAssembly, cancellationToken).ConfigureAwait(false))
            {
                if (options.FunctionFilter is { } filter && !filter(function.Name))
                {
                    continue;
                }
                if (DevHostConfiguration.IsDisabled(configuration, function.Name, out var setting))
                {
                    Log.FunctionDisabled(logger, function.Name, setting);
                    continue;
                }
                FunctionValidator.Validate(function);
                functions.Add(function);
            }
            var queueSettings = QueueSettings.Read(configuration);
            var durableSettings = DurableSettings.Read(configuration);
            var resolved = functions.ToDictionary(f => f, f => ResolveTarget(configuration, f));

            var (storage, started) = await ResolveStorageAsync(configuration, options, repositoryRoot, logger, cancellationToken).ConfigureAwait(false);
            azurite = started;
            var effective = new ConfigurationBuilder()
                .AddConfiguration(configuration)
                .AddInMemoryCollection([KeyValuePair.Create<string, string?>(StorageConnections.DefaultName, storage)])
                .Build();
            var connections = new StorageConnections(effective, storage);

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                ApplicationName = options.AppAssembly.GetName().Name,
                ContentRootPath = appFolder,
                EnvironmentName = effective["AZURE_FUNCTIONS_ENVIRONMENT"] ?? Environments.Development,
                Args = [],
            });
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddConfiguration(effective);
            builder.Logging.ClearProviders();
            builder.Services.Replace(ServiceDescriptor.Singleton(loggerFactory));
            // The dev host handles Ctrl+C/SIGTERM itself (WaitForShutdownAsync), to stop in its own order.
            builder.Services.Replace(ServiceDescriptor.Singleton<IHostLifetime, ManualLifetime>());
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port));
            builder.Services.AddRouting();
            builder.Services.AddMvcCore();
            SharedJson.AddDefaults(builder.Services);
            var clientHolder = new ClientHolder();
            builder.Services.AddSingleton(_ => clientHolder.Client ?? throw new InvalidOperationException("The Durable client is not ready yet."));
            builder.Services.AddSingleton<DurableTaskClient>(sp => sp.GetRequiredService<DevHostDurableTaskClient>());
            options.ConfigureAppServices?.Invoke(effective, builder.Services);
            SharedJson.AddHttpCopies(builder.Services);
            options.ConfigureTestServices?.Invoke(builder.Services);

            var app = builder.Build();
            var json = app.Services.GetRequiredService<IOptions<JsonSerializerOptions>>().Value;
            FunctionInvoker? invoker = null;
            FunctionInvoker Invoker() => invoker ?? throw new InvalidOperationException("The dev host is not started yet.");
            var durableConnection = connections.Resolve(durableSettings.ConnectionName, "durableTask");
            var durable = new DurableBackend(durableSettings, durableConnection, functions, Invoker, new JsonDataConverter(json), loggerFactory);
            clientHolder.Client = durable.Client;
            invoker = new FunctionInvoker(app.Services, durable.Client, loggerFactory.CreateLogger<FunctionInvoker>());

            var routePrefix = effective[$"{DevHostConfiguration.JobHostSection}:extensions:http:routePrefix"] ?? "api";
            app.UseRouting();
            foreach (var function in functions.Where(f => Is(f, FunctionValidator.HttpTrigger)))
            {
                HttpTriggerEndpoints.Map(app, function, routePrefix, Invoker);
                if (function.Trigger.GetString("authLevel") is { } level && !level.Equals("Anonymous", StringComparison.OrdinalIgnoreCase))
                {
                    Log.KeysNotChecked(logger, function.Name, level);
                }
            }

            var usesDurable = functions.Any(f => Is(f, FunctionValidator.OrchestrationTrigger) || Is(f, FunctionValidator.ActivityTrigger)
                || f.Bindings.Any(b => b.Type.Equals(FunctionValidator.DurableClient, StringComparison.OrdinalIgnoreCase)));
            if (usesDurable)
            {
                await durable.CreateIfNotExistsAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            var hostState = new HostStateStore(new BlobServiceClient(storage), HostId(effective, options));
            var listeners = CreateListeners(functions, resolved, effective, connections, queueSettings, hostState, invoker, json, app.Services, loggerFactory);

            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var baseAddress = new Uri(address.TrimEnd('/') + "/");
            if (functions.Any(f => Is(f, FunctionValidator.OrchestrationTrigger) || Is(f, FunctionValidator.ActivityTrigger)))
            {
                await durable.StartWorkerAsync().ConfigureAwait(false);
            }
            if (listeners.Count > 0)
            {
                await hostState.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
            }
            foreach (var listener in listeners)
            {
                await listener.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            var described = functions.Select(f => Describe(f, resolved[f], routePrefix, baseAddress)).ToList();
            var host = new FunctionsDevHost(app, durable, durable.Client, listeners, azurite, loggerFactory, baseAddress, described, storage);
            Log.Started(logger, described.Count, baseAddress);
            if (options.OnStarted is { } onStarted)
            {
                try
                {
                    await onStarted(host, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    await host.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            return host;
        }
        catch
        {
            if (azurite is not null)
            {
                await azurite.DisposeAsync().ConfigureAwait(false);
            }
            loggerFactory.Dispose();
            throw;
        }
    }

    /// <summary>Stops in order: stop taking work and finish invocations under way (queue, blob and timer listeners
    /// and HTTP together), the app's hosted services, the Durable worker, then a started Azurite. Idempotent.</summary>
    /// <param name="cancellationToken">Cancelling it cuts the drain short: invocations under way see their
    /// cancellation token cancelled.</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _stopGate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (_stopped)
            {
                return;
            }
            _stopped = true;
            Log.Stopping(_logger);
            await Task.WhenAll(
                Task.WhenAll(_listeners.Select(l => l.StopAsync(cancellationToken))),
                _app.StopAsync(cancellationToken)).ConfigureAwait(false);
            foreach (var listener in _listeners)
            {
                listener.Dispose();
            }
            if (_durable is not null)
            {
                await _durable.StopWorkerAsync().ConfigureAwait(false);
                _durable.Dispose();
            }
            await _app.DisposeAsync().ConfigureAwait(false);
            if (_azurite is not null)
            {
                await _azurite.DisposeAsync().ConfigureAwait(false);
            }
            Log.Stopped(_logger);
            _loggerFactory.Dispose();
        }
        finally
        {
            _stopGate.Release();
        }
    }

    /// <summary>Completes on Ctrl+C, SIGTERM or SIGQUIT (the process is kept alive for <see cref="StopAsync"/>), or
    /// when the app asks to stop through <see cref="IHostApplicationLifetime.StopApplication"/>.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken = default)
    {
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            signalled.TrySetResult();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal);
        var lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        using var stopping = lifetime.ApplicationStopping.Register(() => signalled.TrySetResult());
        await signalled.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopGate.Dispose();
    }

    private static bool Is(FunctionDescriptor function, string triggerType) =>
        function.Trigger.Type.Equals(triggerType, StringComparison.OrdinalIgnoreCase);

    private static string ResolveTarget(IConfiguration configuration, FunctionDescriptor function)
    {
        var trigger = function.Trigger;
        string Resolve(string property) => DevHostConfiguration.Resolve(configuration,
            trigger.GetString(property) ?? throw new UnsupportedFunctionException(function.Name, $"its trigger has no '{property}'"), function.Name);
        switch (trigger.Type)
        {
            case var t when t.Equals(FunctionValidator.QueueTrigger, StringComparison.OrdinalIgnoreCase):
                var queue = Resolve("queueName");
                return QueueName().IsMatch(queue) ? queue
                    : throw new UnsupportedFunctionException(function.Name, $"its queue name '{queue}' is not a valid queue name (3-63 lower-case letters, digits, dashes)");
            case var t when t.Equals(FunctionValidator.BlobTrigger, StringComparison.OrdinalIgnoreCase):
                return Resolve("path");
            case var t when t.Equals(FunctionValidator.TimerTrigger, StringComparison.OrdinalIgnoreCase):
                var schedule = Resolve("schedule");
                return TimerTriggerListener.TryParse(schedule) is not null ? schedule
                    : throw new UnsupportedFunctionException(function.Name, $"its schedule '{schedule}' is not an NCRONTAB expression (TimeSpan schedules are not supported)");
            default:
                return string.Empty;
        }
    }

    private static List<ITriggerListener> CreateListeners(List<FunctionDescriptor> functions, Dictionary<FunctionDescriptor, string> resolved,
        IConfiguration configuration, StorageConnections connections, QueueSettings queueSettings, HostStateStore hostState,
        FunctionInvoker invoker, JsonSerializerOptions json, IServiceProvider services, ILoggerFactory loggerFactory)
    {
        var listeners = new List<ITriggerListener>();
        var logger = loggerFactory.CreateLogger("DevHost.Triggers");
        var clock = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var scanInterval = DevHostConfiguration.GetTimeSpan(configuration, "DevHost:BlobScanInterval", TimeSpan.FromSeconds(2));
        foreach (var function in functions)
        {
            var connection = function.Trigger.GetString("connection");
            if (Is(function, FunctionValidator.QueueTrigger))
            {
                listeners.Add(new QueueTriggerListener(function, resolved[function], connections.Resolve(connection, function.Name), queueSettings, invoker, json, logger));
            }
            else if (Is(function, FunctionValidator.BlobTrigger))
            {
                listeners.Add(new BlobTriggerListener(function, resolved[function], connections.Resolve(connection, function.Name), hostState, invoker,
                    queueSettings.MaxDequeueCount, scanInterval, queueSettings.Base64, logger));
            }
            else if (Is(function, FunctionValidator.TimerTrigger))
            {
                listeners.Add(new TimerTriggerListener(function, TimerTriggerListener.TryParse(resolved[function])!, hostState, invoker, clock, logger));
            }
        }
        return listeners;
    }

    private static DevHostFunction Describe(FunctionDescriptor function, string target, string routePrefix, Uri baseAddress)
    {
        if (Is(function, FunctionValidator.HttpTrigger))
        {
            var route = HttpTriggerEndpoints.RouteOf(function, routePrefix);
            var methods = HttpTriggerEndpoints.MethodsOf(function);
            return new DevHostFunction(function.Name, function.Trigger.Type, $"{(methods.Count == 0 ? "ANY" : string.Join(",", methods))} {route}",
                new Uri(baseAddress, route));
        }
        return new DevHostFunction(function.Name, function.Trigger.Type, target, null);
    }

    private static string HostId(IConfiguration configuration, DevHostOptions options)
    {
        var configured = configuration["AzureFunctionsWebHost:hostid"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        var name = new string((options.AppAssembly.GetName().Name ?? "app").ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).ToArray());
        return name.Length > 32 ? name[..32] : name;
    }

    private static async Task<(string Storage, AzuriteProcess? Started)> ResolveStorageAsync(
        IConfiguration configuration, DevHostOptions options, string? repositoryRoot, ILogger logger, CancellationToken cancellationToken)
    {
        var setting = configuration[StorageConnections.DefaultName];
        if (!string.IsNullOrWhiteSpace(setting) && !setting.Trim().Equals("UseDevelopmentStorage=true", StringComparison.OrdinalIgnoreCase))
        {
            return (setting, null);
        }
        int[] ports = [10000, 10001, 10002];
        var listening = new List<bool>();
        foreach (var port in ports)
        {
            listening.Add(await AzuriteProcess.IsListeningAsync(port, cancellationToken).ConfigureAwait(false));
        }
        var storage = AzuriteProcess.ConnectionStringFor(ports[0], ports[1], ports[2]);
        if (listening.All(l => l))
        {
            return (storage, null);
        }
        if (listening.Any(l => l))
        {
            throw new InvalidOperationException(
                "AzureWebJobsStorage is UseDevelopmentStorage=true, but only some of the ports 10000-10002 are in use: stop what holds them, or start Azurite on all three.");
        }
        var folder = options.LocalStorageFolder ?? Path.Combine(repositoryRoot ?? Directory.GetCurrentDirectory(), ".azurite");
        Log.StartingAzurite(logger, folder);
        var azurite = await AzuriteProcess.StartAsync(new AzuriteOptions
        {
            RepositoryRoot = repositoryRoot,
            InMemory = false,
            DataFolder = folder,
            BlobPort = ports[0],
            QueuePort = ports[1],
            TablePort = ports[2],
        }, cancellationToken).ConfigureAwait(false);
        return (azurite.ConnectionString, azurite);
    }

    private static ILoggerFactory CreateLoggerFactory(IConfiguration configuration) =>
        LoggerFactory.Create(logging =>
        {
            logging.SetMinimumLevel(LogLevel.Information);
            logging.AddFilter("Microsoft", LogLevel.Warning);
            logging.AddFilter("DurableTask", LogLevel.Warning);
            logging.AddFilter("Azure", LogLevel.Warning);
            logging.AddFilter("DevHost.Invocation.FunctionInvoker", LogLevel.Information);
            logging.AddConfiguration(configuration.GetSection($"{DevHostConfiguration.JobHostSection}:logging"));
            logging.AddConfiguration(configuration.GetSection("Logging"));
            logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss.fff ";
            });
        });

    [GeneratedRegex("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")]
    private static partial Regex QueueName();

    private sealed class ClientHolder
    {
        public DevHostDurableTaskClient? Client { get; set; }
    }

    private sealed class ManualLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
