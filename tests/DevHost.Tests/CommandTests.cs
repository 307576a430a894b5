namespace DevHost.Tests;

public sealed class CommandTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Unknown_argument_exits_with_code_2_without_starting()
    {
        using var console = new StringWriter();
        var options = TestHosts.Options(TestHosts.Settings(azurite.ConnectionString), "Hello") with { Console = console };

        Assert.Equal(2, await DevHostCommand.RunAsync(["--bogus"], options));
    }

    [Fact]
    public async Task On_started_runs_after_the_host_listens_and_the_banner_lists_the_functions()
    {
        Uri? seen = null;
        using var console = new StringWriter();
        var options = TestHosts.Options(TestHosts.Settings(azurite.ConnectionString), "Hello", "ProcessWork") with
        {
            OnStarted = async (host, cancellationToken) =>
            {
                using var http = new HttpClient { BaseAddress = host.BaseAddress };
                await http.GetStringAsync(new Uri("api/hello/x", UriKind.Relative), cancellationToken);
                seen = host.BaseAddress;
            },
        };

        await using var host = await FunctionsDevHost.StartAsync(options, TestContext.Current.CancellationToken);
        await DevHostCommand.WriteBannerAsync(console, host);

        Assert.Equal(host.BaseAddress, seen);
        var banner = console.ToString();
        Assert.Contains($"Hello: httpTrigger GET {host.BaseAddress}api/hello/{{name}}", banner, StringComparison.Ordinal);
        Assert.Contains("ProcessWork: queueTrigger work-", banner, StringComparison.Ordinal);
        Assert.DoesNotContain("AccountKey", banner, StringComparison.Ordinal);
    }
}
