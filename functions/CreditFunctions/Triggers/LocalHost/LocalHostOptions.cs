using System.Globalization;
using CreditFunctions.Hosting;

namespace CreditFunctions.Triggers.LocalHost;

/// <summary>
/// How local-host mode delivers triggers. The queue rules come from <c>host.json</c>'s <c>extensions.queues</c>, as
/// the Functions host reads them, and can be overridden the host's way with app settings named
/// <c>AzureFunctionsJobHost__extensions__queues__{setting}</c>; the rest from the <c>CREDITFUNCTIONS_LOCALHOST*</c> settings.
/// </summary>
public sealed record LocalHostOptions
{
    /// <summary>The setting that turns local-host mode on or off (<see cref="Enabled"/>).</summary>
    public const string EnabledSetting = "CREDITFUNCTIONS_LOCALHOST";

    /// <summary>The setting for <see cref="TableName"/>.</summary>
    public const string TableSetting = "CREDITFUNCTIONS_LOCALHOST_TABLE";

    /// <summary>The setting for <see cref="BlobQueueName"/>.</summary>
    public const string BlobQueueSetting = "CREDITFUNCTIONS_LOCALHOST_BLOB_QUEUE";

    /// <summary>The setting for <see cref="BlobScanInterval"/>, in seconds (fractions allowed).</summary>
    public const string BlobScanSecondsSetting = "CREDITFUNCTIONS_LOCALHOST_BLOB_SCAN_SECONDS";

    /// <summary>The configuration section that holds <c>host.json</c>, as the host's override settings name it.</summary>
    public const string HostJsonSection = "AzureFunctionsJobHost";

    /// <summary>Whether the server delivers queue, blob and timer triggers itself: on by default when no Functions host
    /// started the process (<c>FUNCTIONS_CUSTOMHANDLER_PORT</c> unset), and always off under the host.</summary>
    public bool Enabled { get; init; }

    /// <summary>The table of blob receipts and timer schedule status; default <c>localhost</c>.</summary>
    public string TableName { get; init; } = "localhost";

    /// <summary>The queue that carries new blobs to their functions (with <c>-poison</c> beside it); default
    /// <c>localhost-blobtrigger</c>.</summary>
    public string BlobQueueName { get; init; } = "localhost-blobtrigger";

    /// <summary>How often each blob trigger's container is listed; default 2 seconds.</summary>
    public TimeSpan BlobScanInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Messages received per call (host.json <c>batchSize</c>); default 16.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Receive more when fewer are running than this (host.json <c>newBatchThreshold</c>); default 8. At most
    /// <see cref="BatchSize"/> + <see cref="NewBatchThreshold"/> messages of one queue are handled at once.</summary>
    public int NewBatchThreshold { get; init; } = 8;

    /// <summary>Deliveries before a message moves to the poison queue (host.json <c>maxDequeueCount</c>); default 5.</summary>
    public int MaxDequeueCount { get; init; } = 5;

    /// <summary>How long a failed message waits before its next delivery (host.json <c>visibilityTimeout</c>); default 0.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.Zero;

    /// <summary>The longest wait between polls of an empty queue (host.json <c>maxPollingInterval</c>); default 2 seconds.</summary>
    public TimeSpan MaxPollingInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Reads the options.</summary>
    /// <exception cref="InvalidOperationException">A setting has a value that cannot work; the message names it.</exception>
    public static LocalHostOptions From(IConfiguration configuration, AppSettings settings)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(settings);
        var defaults = new LocalHostOptions();
        var queues = configuration.GetSection($"{HostJsonSection}:extensions:queues");
        return defaults with
        {
            // Never under the Functions host, whatever the setting says (Core Tools copy local.settings.json into the
            // environment): the host delivers there, and two deliverers would race for every message.
            Enabled = !settings.IsUnderFunctionsHost && (configuration[EnabledSetting] is not { Length: > 0 } enabled
                || (bool.TryParse(enabled, out var on) ? on : throw new InvalidOperationException($"{EnabledSetting} must be true or false."))),
            TableName = configuration[TableSetting] is { Length: > 0 } table ? table : defaults.TableName,
            BlobQueueName = configuration[BlobQueueSetting] is { Length: > 0 } queue ? queue : defaults.BlobQueueName,
            BlobScanInterval = configuration[BlobScanSecondsSetting] is { Length: > 0 } scan
                ? (double.TryParse(scan, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
                    ? TimeSpan.FromSeconds(s)
                    : throw new InvalidOperationException($"{BlobScanSecondsSetting} must be a positive number of seconds."))
                : defaults.BlobScanInterval,
            BatchSize = Int(queues, "batchSize", defaults.BatchSize, 1, 32),
            NewBatchThreshold = Int(queues, "newBatchThreshold", defaults.NewBatchThreshold, 0, 1000),
            MaxDequeueCount = Int(queues, "maxDequeueCount", defaults.MaxDequeueCount, 1, 1000),
            RetryDelay = Span(queues, "visibilityTimeout", defaults.RetryDelay),
            MaxPollingInterval = Span(queues, "maxPollingInterval", defaults.MaxPollingInterval),
        };
    }

    /// <summary>Adds <c>host.json</c> (from the app's folder, else the repository root) below every other
    /// configuration source, under <see cref="HostJsonSection"/>.</summary>
    public static void AddHostJson(IConfigurationBuilder configuration, string? repositoryRoot)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var path = new[] { AppContext.BaseDirectory, repositoryRoot }
            .Where(d => d is not null)
            .Select(d => Path.Combine(d!, "host.json"))
            .FirstOrDefault(File.Exists);
        if (path is null)
        {
            return;
        }
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        Flatten(json.RootElement, HostJsonSection, values);
        configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = values });
    }

    private static void Flatten(System.Text.Json.JsonElement element, string path, Dictionary<string, string?> values)
    {
        switch (element.ValueKind)
        {
            case System.Text.Json.JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Flatten(property.Value, $"{path}:{property.Name}", values);
                }
                break;
            case System.Text.Json.JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    Flatten(item, $"{path}:{i++}", values);
                }
                break;
            case System.Text.Json.JsonValueKind.String:
                values[path] = element.GetString();
                break;
            default:
                values[path] = element.GetRawText();
                break;
        }
    }

    private static int Int(IConfigurationSection section, string name, int fallback, int min, int max)
    {
        if (section[name] is not { Length: > 0 } text)
        {
            return fallback;
        }
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new InvalidOperationException($"host.json extensions.queues.{name} must be a whole number from {min} to {max}.");
    }

    private static TimeSpan Span(IConfigurationSection section, string name, TimeSpan fallback)
    {
        if (section[name] is not { Length: > 0 } text)
        {
            return fallback;
        }
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= TimeSpan.Zero
            ? value
            : throw new InvalidOperationException($"host.json extensions.queues.{name} must be a time span such as 00:00:30.");
    }
}
