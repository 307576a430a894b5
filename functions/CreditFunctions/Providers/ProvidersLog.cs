namespace CreditFunctions.Providers;

/// <summary>The feature's log events (ids 3300–3399). Provider names, capabilities, statuses and counts only: never a
/// person's data, a request URL (its query holds personal data), an answer body or a key.</summary>
internal static partial class ProvidersLog
{
    [LoggerMessage(EventId = 3301, Level = LogLevel.Warning, Message = "Provider {Provider} {Capability} call failed with {ErrorKind} after {Attempts} attempts")]
    public static partial void CallFailed(ILogger logger, string provider, string capability, ProviderErrorKind errorKind, int attempts);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Debug, Message = "Provider {Provider} retry {Retry} in {DelayMilliseconds} ms after status {Status} {Exception}")]
    public static partial void Retrying(ILogger logger, string provider, int retry, long delayMilliseconds, int status, string? exception);

    [LoggerMessage(EventId = 3303, Level = LogLevel.Warning, Message = "Provider {Provider} circuit opened for {BreakSeconds} s")]
    public static partial void CircuitOpened(ILogger logger, string provider, double breakSeconds);

    [LoggerMessage(EventId = 3304, Level = LogLevel.Information, Message = "Provider {Provider} circuit closed")]
    public static partial void CircuitClosed(ILogger logger, string provider);
}
