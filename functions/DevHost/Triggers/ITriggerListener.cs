namespace DevHost.Triggers;

/// <summary>Feeds one non-HTTP function. Stop stops taking new work and waits for invocations under way.</summary>
internal interface ITriggerListener : IDisposable
{
    string FunctionName { get; }

    Task StartAsync(CancellationToken cancellationToken);

    Task StopAsync(CancellationToken cancellationToken);
}
