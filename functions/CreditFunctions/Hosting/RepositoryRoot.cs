namespace CreditFunctions.Hosting;

/// <summary>The repository a local run works in: the nearest folder above the app (or the current directory) that
/// holds the solution and the pinned <c>package.json</c>. Null when the app runs outside the repository (in Azure).</summary>
public static class RepositoryRoot
{
    /// <summary>The repository's root folder, or null.</summary>
    public static string? Find()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "package.json")) && File.Exists(Path.Combine(dir.FullName, "CreditFunctions.sln")))
                {
                    return dir.FullName;
                }
            }
        }
        return null;
    }
}
