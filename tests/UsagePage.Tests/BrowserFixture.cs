using CreditFunctions.TestSupport;
using Microsoft.Playwright;

namespace UsagePage.Tests;

/// <summary>
/// The seeded app and Debian's Chromium driven by Playwright, shared by one test class (its tests run one after
/// another; each gets a fresh browser context, so cookies never leak between tests). Playwright's own browser
/// download does not work on the build machines, so the system's Chromium is launched by path.
/// </summary>
public class BrowserFixture(AzuriteFixture azurite) : IAsyncLifetime
{
    /// <summary>Where Debian's chromium package puts the browser (.ci/run installs it when missing).</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    // Without the background-networking flags Chromium keeps dialling Google's hosts, which the closed network refuses.
    private static readonly string[] s_args =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
    ];

    private IPlaywright? _playwright;

    public UsageApp App { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        App = await UsageApp.StartAsync(azurite, TestContext.Current.CancellationToken);
        await SeedMoreAsync(App);
        _playwright = await Playwright.CreateAsync();
        // Playwright launches with a new empty profile (user data dir) of its own every time.
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath, Headless = true, Args = s_args, Timeout = 60_000,
        });
    }

    /// <summary>More data for a test class of its own.</summary>
    protected virtual Task SeedMoreAsync(UsageApp app) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        if (App is not null)
        {
            await App.DisposeAsync();
        }
        GC.SuppressFinalize(this);
    }
}
