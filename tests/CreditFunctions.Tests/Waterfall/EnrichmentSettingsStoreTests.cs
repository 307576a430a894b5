using Azure.Data.Tables;
using CreditFunctions.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using Microsoft.Extensions.Configuration;

namespace CreditFunctions.Tests.Waterfall;

public sealed class EnrichmentSettingsStoreTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Provider_steps_reuse_recent_settings_a_save_here_applies_at_once_and_one_elsewhere_within_the_max_age()
    {
        var (here, elsewhere, catalog) = await TwoServersAsync(); // two servers on the same table
        var minute = TimeSpan.FromMinutes(1);

        await here.UpdateAsync("team", s => s with { EmailProviders = ["leadmine"] }, Ct);
        Assert.Equal(["leadmine"], (await here.GetRecentAsync("team", minute, Ct)).EmailProviders);

        await elsewhere.UpdateAsync("team", s => s with { EmailProviders = ["mailscout"] }, Ct);
        Assert.Equal(["leadmine"], (await here.GetRecentAsync("team", minute, Ct)).EmailProviders);
        Assert.Equal(["mailscout"], (await here.GetRecentAsync("team", TimeSpan.Zero, Ct)).EmailProviders);
        Assert.Equal(["mailscout"], (await here.GetAsync("team", Ct)).EmailProviders);

        await here.UpdateAsync("team", s => s with { EmailProviders = ["leadmine", "mailscout"] }, Ct);
        Assert.Equal(["leadmine", "mailscout"], (await here.GetRecentAsync("team", minute, Ct)).EmailProviders);
        Assert.Equal(catalog.WithCapability(ProviderCapabilities.Email).Select(p => p.Name), (await here.GetRecentAsync("other", minute, Ct)).EmailProviders);
    }

    [Fact]
    public async Task Two_admins_changing_different_settings_at_once_both_keep_their_change()
    {
        var (first, second, _) = await TwoServersAsync();
        var stores = new[] { first, second };

        await Task.WhenAll(
            Enumerable.Range(0, 10).Select(i => stores[i % 2].UpdateAsync("team", s => s with
            {
                Keys = new Dictionary<string, StoredKey>(s.Keys) { [$"provider{i}"] = new StoredKey(null, $"SETTING_{i}", "(setting)") },
            }, Ct)));

        var saved = await stores[0].GetAsync("team", Ct);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"provider{i}").Order(), saved.Keys.Keys.Order());
    }

    private async Task<(EnrichmentSettingsStore, EnrichmentSettingsStore, ProviderCatalog)> TwoServersAsync()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient(AzuriteFixture.NewName("enrich"));
        await table.CreateIfNotExistsAsync(Ct);
        var settings = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => (string?)k.Value);
        settings[ProviderCatalog.SandboxUrlSetting] = "http://127.0.0.1:9";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var catalog = ProviderCatalog.Load(configuration);
        return (new EnrichmentSettingsStore(table, catalog, null, configuration), new EnrichmentSettingsStore(table, catalog, null, configuration), catalog);
    }
}
