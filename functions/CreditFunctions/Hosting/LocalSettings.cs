using System.Text.Json;

namespace CreditFunctions.Hosting;

/// <summary>
/// Reads the <c>Values</c> of the repository's <c>local.settings.json</c> (the Functions tools' file) into
/// configuration for a local run, below environment variables, which still win.
/// </summary>
internal static class LocalSettings
{
    public static void AddLocalSettings(this ConfigurationManager configuration, string? repositoryRoot)
    {
        var path = repositoryRoot is null ? null : Path.Combine(repositoryRoot, "local.settings.json");
        if (path is null || !File.Exists(path))
        {
            return;
        }
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        if (!json.RootElement.TryGetProperty("Values", out var values))
        {
            return;
        }
        var settings = values.EnumerateObject()
            .Where(p => p.Value.ValueKind == JsonValueKind.String && Environment.GetEnvironmentVariable(p.Name) is null)
            .Select(p => new KeyValuePair<string, string?>(p.Name, p.Value.GetString()));
        configuration.AddInMemoryCollection(settings);
    }
}
