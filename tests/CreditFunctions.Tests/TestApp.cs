using System.Net.Http.Headers;
using CreditFunctions.Auth;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.TestSupport;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace CreditFunctions.Tests;

/// <summary>
/// The real app, built by <see cref="CreditFunctionsApp.BuildAsync(string[], CreditFunctionsAppOptions, CancellationToken)"/>,
/// listening on a free port of 127.0.0.1, on the test Azurite with tables of its own. Local-host mode is off unless
/// <c>settings</c> turn it on (<c>CREDITFUNCTIONS_LOCALHOST=true</c>).
/// </summary>
internal sealed class TestApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestApp(WebApplication app, Uri address, string tableName)
    {
        _app = app;
        Address = address;
        TableName = tableName;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri Address { get; }
    public string TableName { get; }
    public HttpClient Client { get; }
    public IServiceProvider Services => _app.Services;
    public TeamStore Teams => Services.GetRequiredService<TeamStore>();
    public ApiKeyStore Keys => Services.GetRequiredService<ApiKeyStore>();
    public TableClient Table => Services.GetRequiredService<TableServiceClient>().GetTableClient(TableName);

    public static async Task<TestApp> StartAsync(AzuriteFixture azurite, bool seedDemoTeam = false, TextWriter? console = null,
        string? tableName = null, string? ledgerTable = null, IReadOnlyDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null)
    {
        tableName ??= AzuriteFixture.NewName("teams");
        var all = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = azurite.ConnectionString,
            [AuthOptions.TableSetting] = tableName,
            ["CREDITFUNCTIONS_LEDGER_TABLE"] = ledgerTable ?? AzuriteFixture.NewName("ledger"),
            [AuthOptions.DemoSeedSetting] = seedDemoTeam ? "true" : "false",
            ["CREDITFUNCTIONS_LOCAL_PORT"] = "0",
            ["CREDITFUNCTIONS_LOCALHOST"] = "false",
            ["Logging:Console:LogLevel:Default"] = "None",
            ["CREDITFUNCTIONS_DURABLE_HUB"] = AzuriteFixture.NewName("hub"),
            ["CREDITFUNCTIONS_ENRICHMENT_TABLE"] = AzuriteFixture.NewName("enrich"),
            ["CREDITFUNCTIONS_SECRETS_KEY"] = Convert.ToBase64String(new byte[32]),
            // Tests that need vendors pass the URL of a sandbox they started; the others never call one.
            ["CREDITFUNCTIONS_SANDBOX_URL"] = "http://127.0.0.1:9",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }
        var app = await CreditFunctionsApp.BuildAsync([], new CreditFunctionsAppOptions
        {
            Settings = all,
            Console = console ?? TextWriter.Null,
            ConfigureServices = configureServices,
        }, TestContext.Current.CancellationToken);
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new TestApp(app, new Uri(address), tableName);
    }

    /// <summary>A new team (unique id) with an admin key for <paramref name="admin"/>.</summary>
    public async Task<(string TeamId, IssuedApiKey AdminKey)> NewTeamAsync(string admin = "ada")
    {
        var teamId = AzuriteFixture.NewName("team");
        var created = await Teams.CreateAsync(teamId, admin, "test", TestContext.Current.CancellationToken);
        Assert.Equal(CreateTeamStatus.Created, created.Status);
        return (teamId, created.AdminKey!);
    }

    public async Task<IssuedApiKey> NewKeyAsync(string teamId, string user, string role)
    {
        var created = await Keys.CreateAsync(teamId, user, role, "test", TestContext.Current.CancellationToken);
        Assert.Equal(CreateKeyStatus.Created, created.Status);
        return created.Key!;
    }

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? key, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return Client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    public Task<HttpResponseMessage> GetAsync(string path, string? key) => SendAsync(HttpMethod.Get, path, key);

    /// <summary>Stops the app as Ctrl+C does: local-host mode drains what is under way.</summary>
    public Task StopAsync() => _app.StopAsync(CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
