using System.Net.Http.Json;
using System.Text.Json;

namespace SandboxProviders.Tests;

/// <summary>
/// One sandbox per test class on a free port of 127.0.0.1, with the shipped vendors made quiet (no latency, no
/// failures: each test adds the faults it tests). Tests of a class run one after another; each starts with
/// <see cref="ResetAsync"/>.
/// </summary>
public sealed class SandboxFixture : IAsyncLifetime
{
    private SandboxServer? _server;

    public SandboxServer Server => _server ?? throw new InvalidOperationException("not started");

    public HttpClient Client { get; private set; } = null!;

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await SandboxServer.StartAsync(new SandboxOptions { Config = SandboxConfig.Default.Quiet() });
        Client = new HttpClient { BaseAddress = _server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Back to the quiet vendors with no calls recorded, through the admin endpoint.</summary>
    public async Task ResetAsync() => (await Client.PostAsync("_admin/reset", null, Ct)).EnsureSuccessStatusCode();

    /// <summary>Replaces a vendor's settings through the admin endpoint.</summary>
    public async Task PutVendorAsync(string name, VendorSettings settings) =>
        (await Client.PutAsJsonAsync($"_admin/vendors/{name}", settings, SandboxJson.Options, Ct)).EnsureSuccessStatusCode();

    public async Task<VendorStats> StatsAsync(string vendor) =>
        (await Client.GetFromJsonAsync<VendorStats>($"_admin/vendors/{vendor}/stats", SandboxJson.Options, Ct))!;

    /// <summary>People matching a sample query (e.g. <c>knownBy=leadmine&amp;unknownBy=mailscout</c>).</summary>
    public async Task<IReadOnlyList<PersonView>> SampleAsync(string query, int take = 5)
    {
        var json = await Client.GetFromJsonAsync<JsonElement>($"_admin/people/sample?{query}&take={take}", Ct);
        return json.GetProperty("people").Deserialize<List<PersonView>>(SandboxJson.Options)!;
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
