using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace DevHost;

/// <summary>What the dev host runs and how. Only <see cref="AppAssembly"/> is required.</summary>
public sealed record DevHostOptions
{
    /// <summary>The isolated-worker Functions app; its SDK-generated function metadata lists the functions.</summary>
    public required Assembly AppAssembly { get; init; }

    /// <summary>What the app's <c>Program.cs</c> registers (its <c>AddXxx</c> calls). The app's <c>Program</c> itself
    /// is not run, so worker middleware and <c>ConfigureFunctionsWorkerDefaults</c> options do not apply.</summary>
    public Action<IConfiguration, IServiceCollection>? ConfigureAppServices { get; init; }

    /// <summary>Settings that win over every other source (environment, <c>local.settings.json</c>, host.json).
    /// Keys use <c>:</c> or <c>__</c> as the separator.</summary>
    public IReadOnlyDictionary<string, string?>? Settings { get; init; }

    /// <summary>host.json to read. Default: host.json beside the app assembly, else at the repository root.</summary>
    public string? HostJsonPath { get; init; }

    /// <summary>The HTTP port on 127.0.0.1; 7071 by default, 0 for a free port (see <see cref="FunctionsDevHost.BaseAddress"/>).</summary>
    public int Port { get; init; } = 7071;

    /// <summary>Where an Azurite started by the dev host keeps its data. Default: <c>.azurite</c> at the repository root.</summary>
    public string? LocalStorageFolder { get; init; }

    /// <summary>Where the banner and the function list are written (by <see cref="DevHostCommand"/>); null writes nothing.</summary>
    public TextWriter? Console { get; init; }

    /// <summary>Runs only the functions whose name it accepts (tests). Functions it rejects are neither validated nor run.</summary>
    public Func<string, bool>? FunctionFilter { get; init; }

    /// <summary>Runs after the app's registrations (tests replace <see cref="TimeProvider"/> and the like).</summary>
    public Action<IServiceCollection>? ConfigureTestServices { get; init; }

    /// <summary>Called once the host is fully started (HTTP listening, triggers and the Durable worker running), e.g.
    /// to print the app's own banner lines. An exception fails the start.</summary>
    public Func<FunctionsDevHost, CancellationToken, Task>? OnStarted { get; init; }
}
