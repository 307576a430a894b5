using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace DevHost.Azurite;

/// <summary>
/// A running Azurite (Blob, Queue and Table emulator) started from the repository's pinned npm package. The emulator
/// exits when this object is disposed and also when the starting process dies (<c>tools/exit-with-parent.cjs</c>).
/// </summary>
public sealed partial class AzuriteProcess : IAsyncDisposable
{
    /// <summary>The emulator's well-known account name.</summary>
    public const string AccountName = "devstoreaccount1";

    /// <summary>The emulator's well-known, public account key.</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly Process _process;

    private AzuriteProcess(Process process, int blobPort, int queuePort, int tablePort)
    {
        _process = process;
        BlobPort = blobPort;
        QueuePort = queuePort;
        TablePort = tablePort;
        ConnectionString = ConnectionStringFor(blobPort, queuePort, tablePort);
    }

    /// <summary>A connection string for this emulator: explicit endpoints with the well-known development key.</summary>
    public string ConnectionString { get; }

    /// <summary>The port the Blob service listens on.</summary>
    public int BlobPort { get; }

    /// <summary>The port the Queue service listens on.</summary>
    public int QueuePort { get; }

    /// <summary>The port the Table service listens on.</summary>
    public int TablePort { get; }

    /// <summary>The connection string of an emulator listening on 127.0.0.1 on the given ports.</summary>
    public static string ConnectionStringFor(int blobPort, int queuePort, int tablePort) =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{blobPort}/{AccountName};" +
        $"QueueEndpoint=http://127.0.0.1:{queuePort}/{AccountName};" +
        $"TableEndpoint=http://127.0.0.1:{tablePort}/{AccountName};";

    /// <summary>True when something accepts TCP connections on 127.0.0.1 at <paramref name="port"/>.</summary>
    public static async Task<bool> IsListeningAsync(int port, CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            await client.ConnectAsync("127.0.0.1", port, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Starts Azurite and waits until Blob, Queue and Table listen. Runs <c>npm ci</c> first when the package is not
    /// installed yet.
    /// </summary>
    /// <exception cref="InvalidOperationException">Node.js or npm is missing, the repository cannot be found, or
    /// Azurite did not start in time; the message says what to do.</exception>
    public static async Task<AzuriteProcess> StartAsync(AzuriteOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new AzuriteOptions();
        var root = options.RepositoryRoot ?? FindRepositoryRoot()
            ?? throw new InvalidOperationException(
                "Cannot find the repository's package.json (with the azurite package) above the application folder or the current directory.");
        var azuriteMain = Path.Combine(root, "node_modules", "azurite", "dist", "src", "azurite.js");
        if (!File.Exists(azuriteMain))
        {
            await InstallPackagesAsync(root, cancellationToken).ConfigureAwait(false);
        }

        var start = new ProcessStartInfo(FindExecutable("node") ?? throw NodeMissing())
        {
            WorkingDirectory = root,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--require");
        start.ArgumentList.Add(Path.Combine(root, "tools", "exit-with-parent.cjs"));
        start.ArgumentList.Add(azuriteMain);
        AddArguments(start.ArgumentList, options);

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start node.");
        var ports = new Dictionary<string, int>(StringComparer.Ordinal);
        var output = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (ports)
            {
                if (output.Length < 8_000)
                {
                    output.AppendLine(line);
                }
                var match = ListeningLine().Match(line);
                if (match.Success)
                {
                    ports[match.Groups["service"].Value] = int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture);
                    if (ports.Count == 3)
                    {
                        ready.TrySetResult();
                    }
                }
            }
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("Azurite exited during start-up."));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await ready.Task.WaitAsync(options.StartTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or OperationCanceledException)
        {
            Kill(process);
            string log;
            lock (ports)
            {
                log = output.ToString();
            }
            process.Dispose();
            throw new InvalidOperationException($"Azurite did not start ({ex.Message}). Its output:{Environment.NewLine}{log}", ex);
        }
        return new AzuriteProcess(process, ports["Blob"], ports["Queue"], ports["Table"]);
    }

    /// <summary>Finds the nearest folder at or above the app folder (then the current directory) whose package.json
    /// names azurite.</summary>
    public static string? FindRepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var packageJson = Path.Combine(dir.FullName, "package.json");
                if (File.Exists(packageJson) && File.ReadAllText(packageJson).Contains("\"azurite\"", StringComparison.Ordinal))
                {
                    return dir.FullName;
                }
            }
        }
        return null;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Kill(_process);
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Killed; the OS reaps it.
        }
        _process.Dispose();
    }

    private static void AddArguments(System.Collections.ObjectModel.Collection<string> args, AzuriteOptions options)
    {
        foreach (var (name, port) in new[] { ("blob", options.BlobPort), ("queue", options.QueuePort), ("table", options.TablePort) })
        {
            args.Add($"--{name}Host");
            args.Add("127.0.0.1");
            args.Add($"--{name}Port");
            args.Add(port.ToString(CultureInfo.InvariantCulture));
        }
        args.Add("--disableProductStyleUrl");
        args.Add("--disableTelemetry");
        args.Add("--skipApiVersionCheck");
        args.Add("--loose");
        args.Add("--silent");
        if (options.InMemory)
        {
            args.Add("--inMemoryPersistence");
        }
        else
        {
            var folder = options.DataFolder ?? throw new ArgumentException("DataFolder is required when InMemory is false.", nameof(options));
            Directory.CreateDirectory(folder);
            args.Add("--location");
            args.Add(folder);
        }
    }

    private static async Task InstallPackagesAsync(string root, CancellationToken cancellationToken)
    {
        var npm = FindExecutable("npm") ?? throw NodeMissing();
        var install = new ProcessStartInfo(npm, ["ci", "--no-audit", "--no-fund"])
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(install) ?? throw new InvalidOperationException("Could not start npm.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"'npm ci' failed in {root} with exit code {process.ExitCode}:{Environment.NewLine}{await stderr.ConfigureAwait(false)}{await stdout.ConfigureAwait(false)}");
        }
    }

    private static InvalidOperationException NodeMissing() => new(
        "Azurite needs Node.js 20 or later with npm on the PATH. Install Node.js 20 LTS (e.g. 'apt-get install nodejs npm' / " +
        "'brew install node@20'), then run the command again.");

    private static string? FindExecutable(string name)
    {
        var names = OperatingSystem.IsWindows() ? new[] { name + ".exe", name + ".cmd" } : [name];
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var candidate in names)
            {
                var path = Path.Combine(dir, candidate);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }
        return null;
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

    [GeneratedRegex(@"Azurite (?<service>Blob|Queue|Table) service is successfully listening at http://[^:\s]+:(?<port>\d+)")]
    private static partial Regex ListeningLine();
}
