using System.Net.Sockets;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests;

public sealed class AzuriteFixtureTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Azurite_listens_on_loopback_for_all_three_services()
    {
        foreach (var endpoint in new[] { azurite.Connection.BlobEndpoint, azurite.Connection.QueueEndpoint, azurite.Connection.TableEndpoint })
        {
            Assert.Equal("127.0.0.1", endpoint.Host);
            using var client = new TcpClient();
            await client.ConnectAsync(endpoint.Host, endpoint.Port, TestContext.Current.CancellationToken);
            Assert.True(client.Connected);
        }
    }

    [Fact]
    public void Unique_names_are_valid_for_tables_queues_and_containers_and_never_repeat()
    {
        var names = Enumerable.Range(0, 1000).Select(_ => AzuriteFixture.NewName("Ledger-Test")).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.All(names, n => Assert.Matches("^[a-z][a-z0-9]{2,39}$", n));
    }
}
