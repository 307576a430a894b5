using CreditFunctions.AzureStorage.Tables;
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
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient(AzuriteFixture.NewName("enrich"));
        await table.CreateIfNotExistsAsync(Ct);
        var settings = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => (string?)k.Value);
        settings[ProviderCatalog.SandboxUrlSetting] = "http://127.0.0.1:9";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var catalog = ProviderCatalog.Load(configuration);
        var here = new EnrichmentSettingsStore(table, catalog, null, configuration);
        var elsewhere = new EnrichmentSettingsStore(table, catalog, null, configuration); // another server on the same table
        var minute = TimeSpan.FromMinutes(1);

        await here.SaveAsync("team", new EnrichmentSettings { EmailProviders = ["leadmine"] }, Ct);
        Assert.Equal(["leadmine"], (await here.GetRecentAsync("team", minute, Ct)).EmailProviders);

        await elsewhere.SaveAsync("team", new EnrichmentSettings { EmailProviders = ["mailscout"] }, Ct);
        Assert.Equal(["leadmine"], (await here.GetRecentAsync("team", minute, Ct)).EmailProviders);
        Assert.Equal(["mailscout"], (await here.GetRecentAsync("team", TimeSpan.Zero, Ct)).EmailProviders);
        Assert.Equal(["mailscout"], (await here.GetAsync("team", Ct)).EmailProviders);

        await here.SaveAsync("team", new EnrichmentSettings { EmailProviders = ["leadmine", "mailscout"] }, Ct);
        Assert.Equal(["leadmine", "mailscout"], (await here.GetRecentAsync("team", minute, Ct)).EmailProviders);
        Assert.Equal(catalog.WithCapability(ProviderCapabilities.Email).Select(p => p.Name), (await here.GetRecentAsync("other", minute, Ct)).EmailProviders);
    }
}
