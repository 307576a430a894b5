using CreditFunctions.Auth;
using CreditFunctions.AzureStorage.Emulator;

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
