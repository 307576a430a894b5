using CreditFunctions.Auth;
using CreditFunctions.AzureStorage.Emulator;
using CreditFunctions.Triggers;
using CreditFunctions.Triggers.LocalHost;

namespace CreditFunctions.Hosting;

/// <summary>What a local run prints once it listens: where, which storage, and the demo team's fresh keys.</summary>
internal static class StartupBanner
{
    public static void PrintBannerOnStart(this WebApplication app, AzuriteProcess? azurite, TextWriter console)
    {
        var settings = app.Services.GetRequiredService<AppSettings>();
        if (settings.IsUnderFunctionsHost)
        {
            return;
        }
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var url = app.Urls.FirstOrDefault() ?? $"http://127.0.0.1:{settings.LocalPort}";
            console.WriteLine($"CreditFunctions is listening on {url} (health: {url}/api/health)");
            console.WriteLine(azurite is null
                ? "Storage: using the Azurite already listening for the configured connection."
                : $"Storage: started Azurite with data in {settings.LocalStorageFolder}/: {azurite.Connection}");
            if (app.Configuration[Providers.ProviderCatalog.SandboxUrlSetting] is { Length: > 0 } sandbox)
            {
                var root = sandbox.TrimEnd('/');
                console.WriteLine($"Sandbox vendors: {root} (demo people: {root}/_admin/people/sample?knownBy=leadmine&take=3, webhook inbox: {root}/_webhooks/demo)");
            }
            var localHost = app.Services.GetRequiredService<LocalHostOptions>().Enabled;
            console.WriteLine(localHost
                ? "Local-host mode: this server delivers its queue, blob and timer triggers itself (host.json's queue rules)."
                : "Local-host mode is off: nothing delivers queue, blob or timer triggers.");
            foreach (var function in app.Services.GetRequiredService<FunctionsCatalog>().Functions)
            {
                console.WriteLine(function.Trigger switch
                {
                    HttpTrigger http => $"  {function.Name}: HTTP {url}/api/{http.Route}",
                    QueueTrigger queue => $"  {function.Name}: queue {queue.QueueName} -> POST {url}/{function.Name}",
                    BlobTrigger blob => $"  {function.Name}: blob {blob.Path} -> POST {url}/{function.Name}",
                    TimerTrigger timer => $"  {function.Name}: timer {timer.Schedule} (UTC) -> POST {url}/{function.Name}",
                    _ => $"  {function.Name}",
                });
            }
            if (app.Services.GetService<DemoSeed>() is { Keys.Count: > 0 } demo)
            {
                // Printed, never logged: the keys exist nowhere else, and logs travel further than a terminal.
                console.WriteLine($"Demo team '{DemoSeed.TeamId}', fresh keys for this run (earlier demo keys are revoked):");
                foreach (var key in demo.Keys)
                {
                    console.WriteLine($"  {key.Record.UserId} ({key.Record.Role.ToName()}): {key.Key}");
                }
                console.WriteLine($"  try: curl -H \"Authorization: Bearer <key>\" {url}/api/v1/me");
            }
            console.WriteLine("Press Ctrl+C to stop.");
            console.Flush();
        });
    }
}
