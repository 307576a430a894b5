using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace CreditFunctions.Providers;

/// <summary>How to start the sandbox vendors as a child process. Defaults: the build's SandboxProviders.dll, a free
/// port, its shipped vendors.json, 60 s to start.</summary>
public sealed record SandboxProcessOptions
{
    /// <summary>The sandbox's SandboxProviders.dll; null: <see cref="SandboxProcess.FindAssembly"/>.</summary>
    public string? AssemblyPath { get; init; }

    /// <summary>A vendors.json to use instead of the shipped one.</summary>
    public string? ConfigPath { get; init; }

    /// <summary>Port on 127.0.0.1; 0: a free one.</summary>
    public int Port { get; init; }

    /// <summary>How long to wait for the sandbox to listen.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// The sandbox vendors running as a child process (<c>dotnet SandboxProviders.dll --port 0 --exit-with-parent</c>),
/// for a local run of the app, which must reach them over HTTP like real vendors and never load their assembly. The
/// child exits when this object is disposed, and also when this process dies: it holds the child's standard input,
/// whose end the child watches (the same pattern as Azurite's tools/exit-with-parent.cjs).
/// </summary>
public sealed partial class SandboxProcess : IAsyncDisposable
{
    private readonly Process _process;
    private bool _disposed;

    private SandboxProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        ProcessId = process.Id;
    }

    /// <summary>
    /// The sandbox's default API keys by the settings the embedded providers.json reads them from. They are the
    /// sandbox's well-known test keys (its vendors.json), not secrets; a test checks the two files agree.
    /// </summary>
    public static IReadOnlyDictionary<string, string> DefaultKeySettings { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["CREDITFUNCTIONS_LEADMINE_KEY"] = "sandbox-leadmine-key",
        ["CREDITFUNCTIONS_MAILSCOUT_KEY"] = "sandbox-mailscout-key",
        ["CREDITFUNCTIONS_DIALBASE_KEY"] = "sandbox-dialbase-key",
        ["CREDITFUNCTIONS_VERIFLY_KEY"] = "sandbox-verifly-key",
        ["CREDITFUNCTIONS_SAGEWISE_KEY"] = "sandbox-sagewise-key",
        ["CREDITFUNCTIONS_IPSCOPE_KEY"] = "sandbox-ipscope-key",
        ["CREDITFUNCTIONS_CRM_KEY"] = "sandbox-pipewell-key",
        ["CREDITFUNCTIONS_JOBPULSE_KEY"] = "sandbox-jobpulse-key",
    };

    /// <summary>Where the sandbox listens, e.g. <c>http://127.0.0.1:54321/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The settings that point the embedded provider definitions at this sandbox: its URL
    /// (<see cref="ProviderCatalog.SandboxUrlSetting"/>) and <see cref="DefaultKeySettings"/>.</summary>
    public IReadOnlyDictionary<string, string?> AppSettings =>
        DefaultKeySettings.Select(k => KeyValuePair.Create(k.Key, (string?)k.Value))
            .Append(KeyValuePair.Create(ProviderCatalog.SandboxUrlSetting, (string?)BaseAddress.GetLeftPart(UriPartial.Authority)))
            .ToDictionary(StringComparer.Ordinal);

    /// <summary>The child's process id.</summary>
    public int ProcessId { get; }

    /// <summary>True once the child has exited (always after <see cref="DisposeAsync"/>, which waits for it).</summary>
    public bool HasExited => _disposed || _process.HasExited;

    /// <summary>Starts the sandbox and returns once it listens.</summary>
    /// <exception cref="InvalidOperationException">The dll or <c>dotnet</c> cannot be found, or the sandbox did not
    /// start in time; the message says what to do and includes its output.</exception>
    public static async Task<SandboxProcess> StartAsync(SandboxProcessOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SandboxProcessOptions();
        var dll = options.AssemblyPath ?? FindAssembly()
            ?? throw new InvalidOperationException(
                "Cannot find SandboxProviders.dll under functions/SandboxProviders/bin: build the app first (dotnet build), or pass its path.");
        var start = new ProcessStartInfo(FindDotnet())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        foreach (var arg in new[] { dll, "--port", options.Port.ToString(CultureInfo.InvariantCulture), "--exit-with-parent" })
        {
            start.ArgumentList.Add(arg);
        }
        if (options.ConfigPath is not null)
        {
            start.ArgumentList.Add("--config");
            start.ArgumentList.Add(options.ConfigPath);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        var output = new StringBuilder();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (output)
            {
                if (output.Length < 8_000)
                {
                    output.AppendLine(line);
                }
            }
            if (ListeningLine().Match(line) is { Success: true } match)
            {
                listening.TrySetResult(new Uri(match.Groups["url"].Value.TrimEnd('/') + "/"));
            }
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("The sandbox exited during start-up."));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var address = await listening.Task.WaitAsync(options.StartTimeout, cancellationToken).ConfigureAwait(false);
            return new SandboxProcess(process, address);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or OperationCanceledException)
        {
            Kill(process);
            process.Dispose();
            string log;
            lock (output)
            {
                log = output.ToString();
            }
            throw new InvalidOperationException($"The sandbox did not start ({ex.Message}). Its output:{Environment.NewLine}{log}", ex);
        }
    }

    /// <summary>
    /// The SandboxProviders.dll built with this app: under the repository's <c>functions/SandboxProviders/bin</c>, the
    /// app's own build configuration first, then the most recently built one. Null when there is none.
    /// </summary>
    public static string? FindAssembly()
    {
        var root = Hosting.RepositoryRoot.Find();
        if (root is null)
        {
            return null;
        }
        var bin = Path.Combine(root, "functions", "SandboxProviders", "bin");
        var framework = "net" + Environment.Version.ToString(2);
        var configuration = typeof(SandboxProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var preferred = Path.Combine(bin, configuration, framework, "SandboxProviders.dll");
        if (File.Exists(preferred))
        {
            return preferred;
        }
        return Directory.Exists(bin)
            ? Directory.EnumerateFiles(bin, "SandboxProviders.dll", SearchOption.AllDirectories)
                .Where(f => Path.GetFileName(Path.GetDirectoryName(f)) == framework)
                .OrderByDescending(File.GetLastWriteTimeUtc)
                .FirstOrDefault()
            : null;
    }

    /// <summary>Closes the child's standard input, as the death of this process would (tests use it).</summary>
    internal void CloseInput() => _process.StandardInput.Close();

    /// <summary>Completes when the child has exited.</summary>
    internal Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        Kill(_process);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _process.Dispose();
        _disposed = true;
    }

    private static string FindDotnet()
    {
        // dotnet run / dotnet test set DOTNET_HOST_PATH; a process started as "dotnet app.dll" is dotnet itself.
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }
        var names = OperatingSystem.IsWindows() ? new[] { "dotnet.exe" } : ["dotnet"];
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in names)
            {
                var path = Path.Combine(dir, name);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }
        throw new InvalidOperationException("Cannot find the dotnet host: put it on the PATH or set DOTNET_HOST_PATH.");
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    [GeneratedRegex(@"^SandboxProviders listening on (?<url>http://\S+)")]
    private static partial Regex ListeningLine();
}
