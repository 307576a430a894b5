using System.Net;
using System.Net.Sockets;
using System.Text;
using CreditFunctions.TestSupport;
using CreditFunctions.Triggers;
using CreditFunctions.Triggers.LocalHost;
using Microsoft.Extensions.DependencyInjection;

namespace CreditFunctions.Tests.Hosting;

public sealed class FunctionsHostModeTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Under_the_Functions_host_the_server_listens_on_the_hosts_port_and_leaves_delivery_to_the_host()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var delivered = 0;

        await using var app = await TestApp.StartAsync(azurite, settings: new Dictionary<string, string?>
        {
            ["FUNCTIONS_CUSTOMHANDLER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // As Core Tools would pass it on from local.settings.json: it must not turn local-host mode on under the host.
            ["CREDITFUNCTIONS_LOCALHOST"] = "true",
        }, configureServices: s => s.AddQueueFunction("work", new QueueTrigger("work"), (_, _, _) =>
        {
            Interlocked.Increment(ref delivered);
            return Task.CompletedTask;
        }));

        Assert.Equal(new Uri($"http://127.0.0.1:{port}/"), app.Address);
        Assert.Null(app.Services.GetService<LocalFunctionsHost>());
        using var response = await app.Client.PostAsync("/work",
            new StringContent("""{"Data":{"message":"from the host"},"Metadata":{"DequeueCount":1}}""", Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, delivered);
    }
}
