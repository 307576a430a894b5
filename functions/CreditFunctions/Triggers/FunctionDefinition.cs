using System.Text.RegularExpressions;

namespace CreditFunctions.Triggers;

/// <summary>
/// What starts a function: <see cref="HttpTrigger"/>, <see cref="QueueTrigger"/>, <see cref="BlobTrigger"/> or
/// <see cref="TimerTrigger"/>. Each becomes the trigger binding of the function's <c>function.json</c>; string
/// settings may be a binding expression <c>%SETTING_NAME%</c>, resolved from the app settings where the function runs
/// (by the Functions host in Azure, by local-host mode locally), never at publish.
/// </summary>
public abstract record FunctionTrigger
{
    /// <summary>The app setting that holds the storage connection of the storage triggers: the host's own storage.</summary>
    public const string DefaultConnection = "AzureWebJobsStorage";

    private protected FunctionTrigger()
    {
    }

    /// <summary>The trigger binding's name: its key in an invocation's <c>Data</c>.</summary>
    public abstract string BindingName { get; }

    /// <summary>The binding's <c>type</c> in <c>function.json</c>.</summary>
    public abstract string BindingType { get; }
}

/// <summary>An HTTP trigger whose requests the Functions host forwards to the server as they are
/// (<c>enableForwardingHttpRequest</c>): the function needs no handler, the server's routes answer.</summary>
public sealed record HttpTrigger : FunctionTrigger
{
    /// <summary>The route below the host's <c>api/</c> prefix; default <c>{*path}</c>, every path.</summary>
    public string Route { get; init; } = "{*path}";

    /// <summary>The methods the host accepts; default all of them.</summary>
    public IReadOnlyList<string> Methods { get; init; } = ["get", "post", "put", "patch", "delete", "head", "options"];

    /// <summary>The host's key check; default <c>anonymous</c> (the server authenticates API keys itself).</summary>
    public string AuthLevel { get; init; } = "anonymous";

    /// <inheritdoc />
    public override string BindingName => "req";

    /// <inheritdoc />
    public override string BindingType => "httpTrigger";
}

/// <summary>A queue trigger: each message of <see cref="QueueName"/> (base64-encoded, as the host expects) is one
/// invocation. Delivery is at least once: a failed invocation is retried after the host's <c>visibilityTimeout</c>,
/// and after <c>maxDequeueCount</c> (5) deliveries the message moves to <c>&lt;queue&gt;-poison</c>.</summary>
/// <param name="QueueName">The queue: a name, or <c>%SETTING%</c> to read it from an app setting.</param>
public sealed record QueueTrigger(string QueueName) : FunctionTrigger
{
    /// <summary>The app setting (prefix) of the storage connection; default <c>AzureWebJobsStorage</c>.</summary>
    public string Connection { get; init; } = DefaultConnection;

    /// <inheritdoc />
    public override string BindingName => "message";

    /// <inheritdoc />
    public override string BindingType => "queueTrigger";
}

/// <summary>A blob trigger: each new or changed blob whose path matches <see cref="Path"/> is one invocation, once per
/// version (ETag) of the blob, at least once (a failed invocation is retried, up to 5 deliveries).</summary>
/// <param name="Path"><c>container/pattern</c>, e.g. <c>csv-uploads/{name}</c>; <c>{x}</c> captures part of the blob
/// name, passed to the handler as a path parameter.</param>
public sealed record BlobTrigger(string Path) : FunctionTrigger
{
    /// <summary>The app setting (prefix) of the storage connection; default <c>AzureWebJobsStorage</c>.</summary>
    public string Connection { get; init; } = DefaultConnection;

    /// <inheritdoc />
    public override string BindingName => "blob";

    /// <inheritdoc />
    public override string BindingType => "blobTrigger";
}

/// <summary>A timer trigger on an NCRONTAB six-field schedule in UTC (<see cref="CronSchedule"/>). A timer is not
/// retried when it fails; with <see cref="UseMonitor"/> an occurrence missed while the app was down fires once, late
/// (<see cref="TimerTriggerContext.IsPastDue"/>), when it starts again.</summary>
/// <param name="Schedule">The schedule, e.g. <c>0 5 0 * * *</c> (every day at 00:05:00 UTC), or <c>%SETTING%</c>.</param>
public sealed record TimerTrigger(string Schedule) : FunctionTrigger
{
    /// <summary>Also fire when the app starts; default false (the host advises against it in production).</summary>
    public bool RunOnStartup { get; init; }

    /// <summary>Record the schedule's status in storage so missed occurrences are caught up; default true.</summary>
    public bool UseMonitor { get; init; } = true;

    /// <inheritdoc />
    public override string BindingName => "timer";

    /// <inheritdoc />
    public override string BindingType => "timerTrigger";
}

/// <summary>Runs one invocation of a non-HTTP function. Throwing fails the invocation (the host answers non-2xx and
/// retries where its trigger retries).</summary>
internal delegate Task FunctionHandler(IServiceProvider services, TriggerContext trigger, CancellationToken cancellationToken);

/// <summary>
/// One function of the app: its name, its trigger and the handler that runs an invocation. Created by the
/// <c>Add…Function</c> methods of <see cref="FunctionRegistration"/>; the app's list of them is the
/// <see cref="FunctionsCatalog"/>.
/// </summary>
public sealed partial class FunctionDefinition
{
    internal FunctionDefinition(string name, FunctionTrigger trigger, FunctionHandler? handler)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        if (name is null || !NamePattern().IsMatch(name))
        {
            throw new ArgumentException(
                $"'{name}' is not a function name: 1-127 letters, digits, '-' and '_', starting with a letter.", nameof(name));
        }
        if (handler is null != trigger is HttpTrigger)
        {
            throw new ArgumentException("An HTTP function is forwarded and takes no handler; every other function needs one.", nameof(handler));
        }
        FunctionBindingValidation.Validate(name, trigger);
        Name = name;
        Trigger = trigger;
        Handler = handler;
    }

    /// <summary>The function's name: its folder in the publish output and its route <c>POST /{name}</c> on the server.</summary>
    public string Name { get; }

    /// <summary>What starts it.</summary>
    public FunctionTrigger Trigger { get; }

    internal FunctionHandler? Handler { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Trigger.BindingType})";

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]{0,126}$")]
    private static partial Regex NamePattern();
}
