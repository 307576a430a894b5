using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace DevHost.Configuration;

/// <summary>
/// Builds the configuration the way the Functions host layers it, lowest first: host.json (under
/// <c>AzureFunctionsJobHost</c>), <c>local.settings.json</c> <c>Values</c> (repository root, then content root),
/// environment variables, then <see cref="DevHostOptions.Settings"/>. So
/// <c>AzureFunctionsJobHost__extensions__queues__batchSize</c> overrides host.json.
/// </summary>
internal static partial class DevHostConfiguration
{
    public const string JobHostSection = "AzureFunctionsJobHost";

    public static IConfigurationRoot Build(DevHostOptions options, string? hostJsonPath, IEnumerable<string> localSettingsFolders)
    {
        var builder = new ConfigurationBuilder();
        if (hostJsonPath is not null && File.Exists(hostJsonPath))
        {
            var hostJson = new ConfigurationBuilder().AddJsonFile(hostJsonPath, optional: false).Build();
            builder.AddInMemoryCollection(hostJson.AsEnumerable()
                .Where(pair => pair.Value is not null)
                .Select(pair => KeyValuePair.Create($"{JobHostSection}:{pair.Key}", pair.Value)));
        }
        foreach (var folder in localSettingsFolders.Distinct(StringComparer.Ordinal))
        {
            var path = Path.Combine(folder, "local.settings.json");
            if (File.Exists(path))
            {
                builder.AddInMemoryCollection(ReadLocalSettings(path));
            }
        }
        builder.AddEnvironmentVariables();
        if (options.Settings is not null)
        {
            builder.AddInMemoryCollection(options.Settings.Select(pair => KeyValuePair.Create(Normalize(pair.Key), pair.Value)));
        }
        return builder.Build();
    }

    /// <summary>Replaces every <c>%Name%</c> with the setting <c>Name</c>, as the host does in binding expressions.</summary>
    /// <exception cref="InvalidOperationException">A named setting is missing.</exception>
    public static string Resolve(IConfiguration configuration, string value, string functionName) =>
        SettingReference().Replace(value, match =>
        {
            var name = match.Groups["name"].Value;
            return configuration[Normalize(name)]
                ?? throw new InvalidOperationException($"Function '{functionName}' refers to the setting '%{name}%', which is not set.");
        });

    /// <summary>True when <c>AzureWebJobs.&lt;function&gt;.Disabled</c> is set to true (or 1).</summary>
    public static bool IsDisabled(IConfiguration configuration, string functionName, out string setting)
    {
        setting = $"AzureWebJobs.{functionName}.Disabled";
        var value = configuration[setting] ?? configuration[$"AzureWebJobs:{functionName}:Disabled"];
        return value is not null && (value == "1" || bool.TryParse(value, out var disabled) && disabled);
    }

    public static string Normalize(string key) => key.Replace("__", ":", StringComparison.Ordinal);

    public static TimeSpan GetTimeSpan(IConfiguration section, string key, TimeSpan defaultValue) =>
        section[key] is { Length: > 0 } text ? TimeSpan.Parse(text, CultureInfo.InvariantCulture) : defaultValue;

    public static int GetInt(IConfiguration section, string key, int defaultValue) =>
        section[key] is { Length: > 0 } text ? int.Parse(text, CultureInfo.InvariantCulture) : defaultValue;

    public static bool GetBool(IConfiguration section, string key, bool defaultValue) =>
        section[key] is { Length: > 0 } text ? bool.Parse(text) : defaultValue;

    private static List<KeyValuePair<string, string?>> ReadLocalSettings(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        if (!document.RootElement.TryGetProperty("Values", out var values) || values.ValueKind != JsonValueKind.Object)
        {
            return [];
        }
        return values.EnumerateObject()
            .Select(p => KeyValuePair.Create(Normalize(p.Name), p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText()))
            .ToList();
    }

    [GeneratedRegex("%(?<name>[^%]+)%")]
    private static partial Regex SettingReference();
}
