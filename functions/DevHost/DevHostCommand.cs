using System.Globalization;

namespace DevHost;

/// <summary>The body of a dev-host executable's <c>Main</c>.</summary>
public static class DevHostCommand
{
    /// <summary>
    /// Parses <c>--port N</c> (overrides <see cref="DevHostOptions.Port"/>), starts the host, prints the function
    /// list to <see cref="DevHostOptions.Console"/> (standard output when null), waits for Ctrl+C or SIGTERM and
    /// stops. Returns 0 after a clean stop, 2 for bad arguments, 1 when the host could not start (the reason on
    /// standard error).
    /// </summary>
    public static async Task<int> RunAsync(string[] args, DevHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(options);
        var console = options.Console ?? System.Console.Out;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--port" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535:
                    options = options with { Port = port };
                    i++;
                    break;
                case "--help" or "-h":
                    await console.WriteLineAsync("Options: --port <port> (default 7071, 0 for a free port)").ConfigureAwait(false);
                    return 0;
                default:
                    await System.Console.Error.WriteLineAsync($"Unknown or incomplete argument '{args[i]}'. Options: --port <port>").ConfigureAwait(false);
                    return 2;
            }
        }
        FunctionsDevHost host;
        try
        {
            host = await FunctionsDevHost.StartAsync(options with { Console = console }).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
            await System.Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 1;
        }
        await using (host.ConfigureAwait(false))
        {
            await WriteBannerAsync(console, host).ConfigureAwait(false);
            await host.WaitForShutdownAsync().ConfigureAwait(false);
            await console.WriteLineAsync("Stopping: finishing invocations under way...").ConfigureAwait(false);
            await host.StopAsync().ConfigureAwait(false);
        }
        return 0;
    }

    /// <summary>Writes the function list the way Core Tools does.</summary>
    public static async Task WriteBannerAsync(TextWriter console, FunctionsDevHost host)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(host);
        await console.WriteLineAsync($"Dev host listening on {host.BaseAddress} (storage: {DescribeStorage(host.StorageConnectionString)})").ConfigureAwait(false);
        await console.WriteLineAsync("Functions:").ConfigureAwait(false);
        foreach (var function in host.Functions.OrderBy(f => f.TriggerType, StringComparer.Ordinal).ThenBy(f => f.Name, StringComparer.Ordinal))
        {
            var what = function.Url is { } url ? $"{function.Target.Split(' ')[0]} {url}" : function.Target;
            await console.WriteLineAsync($"  {function.Name}: {function.TriggerType} {what}".TrimEnd()).ConfigureAwait(false);
        }
        await console.WriteLineAsync("Press Ctrl+C to stop.").ConfigureAwait(false);
    }

    // Only the endpoints: the key stays out of the console.
    private static string DescribeStorage(string connectionString) =>
        string.Join(", ", connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Where(part => part.StartsWith("BlobEndpoint=", StringComparison.OrdinalIgnoreCase) || part.StartsWith("AccountName=", StringComparison.OrdinalIgnoreCase)));
}
