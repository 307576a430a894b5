using System.Globalization;

namespace SandboxProviders;

/// <summary>
/// <c>dotnet SandboxProviders.dll [--port N] [--config FILE] [--seed N] [--people N] [--exit-with-parent]</c>: serves
/// the sandbox vendors until Ctrl+C. The first line on standard output is
/// <c>SandboxProviders listening on http://127.0.0.1:PORT</c>. The configuration file may also come from the
/// <c>SANDBOX_PROVIDERS_CONFIG</c> environment variable. With <c>--exit-with-parent</c> the server also stops when its
/// standard input closes, i.e. when the process that started it (and holds the other end) goes away.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var options = new SandboxOptions
        {
            ConfigureLogging = logging => logging.AddSimpleConsole().AddFilter(level => level >= LogLevel.Warning)
                .Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace),
        };
        var exitWithParent = false;
        var configPath = Environment.GetEnvironmentVariable("SANDBOX_PROVIDERS_CONFIG");
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Number() => int.Parse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture);
                switch (args[i])
                {
                    case "--port": options = options with { Port = Number() }; break;
                    case "--config": configPath = Value(); break;
                    case "--seed": options = options with { Seed = Number() }; break;
                    case "--people": options = options with { People = Number() }; break;
                    case "--exit-with-parent": exitWithParent = true; break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
            if (!string.IsNullOrEmpty(configPath))
            {
                options = options with { Config = SandboxConfig.Load(configPath) };
            }
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or IOException)
        {
            await Console.Error.WriteLineAsync($"SandboxProviders: {ex.Message}");
            await Console.Error.WriteLineAsync("usage: SandboxProviders [--port N] [--config FILE] [--seed N] [--people N] [--exit-with-parent]");
            return 2;
        }

        await using var server = await SandboxServer.StartAsync(options);
        Console.Out.WriteLine($"SandboxProviders listening on {server.BaseAddress.GetLeftPart(UriPartial.Authority)}");
        Console.Out.Flush();
        var stop = new List<Task> { server.WaitForShutdownAsync() };
        if (exitWithParent)
        {
            // The parent holds our standard input open; when it dies the pipe closes and the read ends.
            stop.Add(Task.Run(async () =>
            {
                using var input = Console.OpenStandardInput();
                var buffer = new byte[256];
                while (await input.ReadAsync(buffer) > 0)
                {
                }
            }));
        }
        await Task.WhenAny(stop);
        return 0;
    }
}
