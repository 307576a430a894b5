using System.Net.Http.Headers;
using Azure.Data.Tables;
using CreditFunctions.Auth;
using CreditFunctions.TestSupport;
using DevHost;
using Microsoft.Extensions.DependencyInjection;

namespace CreditFunctions.Tests;

/// <summary>
/// The real app, run by the dev host exactly as a local run does (functions discovered from the SDK's generated
/// metadata, HTTP on a free port of 127.0.0.1, Durable Functions on the task hub of its own), on the test Azurite
/// with tables, queues and a task hub no other test uses. Timers are off unless a test asks for them.
/// </summary>
internal sealed class TestApp : IAsyncDisposable
{
    private readonly FunctionsDevHost _host;

    private TestApp(FunctionsDevHost host, string tableName)
    {
        _host = host;
        Address = host.BaseAddress;
        TableName = tableName;
        Client = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri Address { get; }
    public string TableName { get; }
    public HttpClient Client { get; }
    public FunctionsDevHost Host => _host;
    public IServiceProvider Services => _host.Services;
    public TeamStore Teams => Services.GetRequiredService<TeamStore>();
    public ApiKeyStore Keys => Services.GetRequiredService<ApiKeyStore>();
    public TableClient Table => Services.GetRequiredService<TableServiceClient>().GetTableClient(TableName);

    public static async Task<TestApp> StartAsync(AzuriteFixture azurite, bool seedDemoTeam = false, TextWriter? console = null,
        string? tableName = null, string? ledgerTable = null, IReadOnlyDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null)
    {
        tableName ??= AzuriteFixture.NewName("teams");
        var all = IsolatedAppSettings.For(azurite);
        all[AuthOptions.TableSetting] = tableName;
        all["CREDITFUNCTIONS_LEDGER_TABLE"] = ledgerTable ?? all["CREDITFUNCTIONS_LEDGER_TABLE"];
        all[AuthOptions.DemoSeedSetting] = seedDemoTeam ? "true" : "false";
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }
        var host = await FunctionsDevHost.StartAsync(new DevHostOptions
        {
            AppAssembly = typeof(CreditFunctionsApp).Assembly,
            ConfigureAppServices = (configuration, services) => services.AddCreditFunctions(configuration),
            ConfigureTestServices = configureServices,
            Settings = all,
            Port = 0,
            Console = console ?? TextWriter.Null,
        }, TestContext.Current.CancellationToken);
        if (console is not null)
        {
            CreditFunctions.Hosting.LocalBanner.Write(console, host.Services, host.BaseAddress, sandbox: null);
        }
        return new TestApp(host, tableName);
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

    /// <summary>A new operator key (the platform's: grants and refunds for any team).</summary>
    public async Task<string> NewOperatorAsync(string name = "billing")
    {
        var created = await Keys.CreateOperatorAsync(name, "test", TestContext.Current.CancellationToken);
        Assert.Equal(CreateKeyStatus.Created, created.Status);
        return created.Key!.Key;
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

    /// <summary>Stops the app as Ctrl+C does: invocations under way finish.</summary>
    public Task StopAsync() => _host.StopAsync(CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _host.DisposeAsync();
    }
}
