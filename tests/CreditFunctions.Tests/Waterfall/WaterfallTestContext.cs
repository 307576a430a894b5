using Microsoft.Extensions.DependencyInjection;
using System.Net.Http.Json;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using SandboxProviders;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>The app on Azurite with the sandbox vendors over HTTP, one team with credits and an admin key.</summary>
internal sealed class WaterfallTestContext : IAsyncDisposable
{
    private WaterfallTestContext(TestApp app, SandboxVendors sandbox, string teamId, string key)
    {
        App = app;
        Sandbox = sandbox;
        TeamId = teamId;
        Key = key;
    }

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public TestApp App { get; }

    public SandboxVendors Sandbox { get; }

    public string TeamId { get; }

    public string Key { get; }

    public LedgerService Ledger => App.Services.GetRequiredService<LedgerService>();

    public static async Task<WaterfallTestContext> StartAsync(AzuriteFixture azurite, SandboxVendors sandbox, decimal email = 100, decimal phone = 100,
        IReadOnlyDictionary<string, string?>? settings = null, Action<IServiceCollection>? configureServices = null)
    {
        sandbox.Reset();
        var all = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => (string?)k.Value);
        all[ProviderCatalog.SandboxUrlSetting] = sandbox.Server.BaseAddress.ToString();
        foreach (var (name, value) in settings ?? new Dictionary<string, string?>())
        {
            all[name] = value;
        }
        var app = await TestApp.StartAsync(azurite, settings: all, configureServices: configureServices);
        var (team, admin) = await app.NewTeamAsync();
        var context = new WaterfallTestContext(app, sandbox, team, admin.Key);
        await context.GrantAsync("email", email);
        await context.GrantAsync("phone", phone);
        return context;
    }

    public async Task GrantAsync(string creditType, decimal amount)
    {
        if (amount > 0)
        {
            var result = await Ledger.GrantAsync(new GrantRequest(TeamId, "ada", creditType, Credits.FromDecimal(amount), GrantKind.TopUp, Guid.NewGuid().ToString("N")));
            Assert.Equal(LedgerStatus.Granted, result.Status);
        }
    }

    public async Task<decimal> AvailableAsync(string creditType) =>
        (await Ledger.GetBalancesAsync(TeamId, Ct)).Single(b => b.CreditType == creditType).Available.Value;

    public async Task<HttpResponseMessage> PostAsync(string path, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", Key);
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        return await App.Client.SendAsync(request, Ct);
    }

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object body) =>
        App.SendAsync(method, path, Key, JsonContent.Create(body));

    public async Task<JsonElement> RevealAsync(Person person, params string[] data)
    {
        var response = await PostAsync("/api/v1/people/reveal", new { person = SandboxVendors.Input(person), data });
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return await JsonAsync(response);
    }

    public async Task<JsonElement> WaitForRunAsync(string statusUrl)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var state = await JsonAsync(await App.GetAsync(statusUrl, Key));
            if (state.GetProperty("status").GetString() is "completed" or "failed" or "terminated")
            {
                return state;
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"the run did not finish: {state}");
            await Task.Delay(100, Ct);
        }
    }

    public long Calls(string vendor) => Sandbox.Stats(vendor).Total;

    public long CallsFor(string vendor, Person person) => Sandbox.Stats(vendor).ByPerson.GetValueOrDefault(person.Id);

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone();

    public ValueTask DisposeAsync() => App.DisposeAsync();
}
