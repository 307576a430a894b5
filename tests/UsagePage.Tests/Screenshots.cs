using Microsoft.Playwright;

namespace UsagePage.Tests;

/// <summary>Each browser test's PNG, saved under <c>TestResults/UsagePage/</c> at the repository root and attached to
/// the test's result.</summary>
internal static class Screenshots
{
    public static async Task SaveAsync(IPage page, string name)
    {
        var folder = Path.Combine(RepositoryRoot(), "TestResults", "UsagePage");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name + ".png");
        var bytes = await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = false });
        TestContext.Current.AddAttachment(name + ".png", bytes, "image/png");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CreditFunctions.sln")))
            {
                return dir.FullName;
            }
        }
        return AppContext.BaseDirectory;
    }
}
