using CreditFunctions.Auth;

namespace CreditFunctions.Hosting;

/// <summary>What a local run prints once it listens: where, the sandbox vendors, and the demo team's fresh keys
/// (printed, never logged: the keys exist nowhere else, and logs travel further than a terminal). Scripts read the
/// sandbox line and the <c>ada (admin): &lt;key&gt;</c> lines.</summary>
public static class LocalBanner
{
    /// <summary>Writes the banner of an app listening on <paramref name="baseAddress"/>.</summary>
    public static void Write(TextWriter console, IServiceProvider services, Uri baseAddress, Uri? sandbox)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(baseAddress);
        var url = baseAddress.ToString().TrimEnd('/');
        console.WriteLine($"CreditFunctions is listening on {url} (health: {url}/api/health)");
        if (sandbox is not null)
        {
            var root = sandbox.ToString().TrimEnd('/');
            console.WriteLine($"Sandbox vendors: {root} (demo people: {root}/_admin/people/sample?knownBy=leadmine&take=3, webhook inbox: {root}/_webhooks/demo)");
        }
        if (services.GetService<DemoSeed>() is { Keys.Count: > 0 } demo)
        {
            console.WriteLine($"Demo team '{DemoSeed.TeamId}', fresh keys for this run (earlier demo keys are revoked):");
            foreach (var key in demo.Keys)
            {
                console.WriteLine($"  {key.Record.UserId} ({key.Record.Role.ToName()}): {key.Key}");
            }
            console.WriteLine($"  try: curl -H \"Authorization: Bearer <key>\" {url}/api/v1/me");
        }
        console.Flush();
    }
}
