namespace CreditFunctions.Triggers.LocalHost;

/// <summary>
/// Fires one timer function on its schedule, on the app's <see cref="TimeProvider"/> (tests move a manual clock).
/// With <see cref="TimerTrigger.UseMonitor"/> the status (last and next occurrence) is kept in
/// <see cref="LocalHostState"/>, so an occurrence missed while the app was stopped fires once, late, at start
/// (<c>IsPastDue</c>). A failed occurrence is logged and not retried, as in the host.
/// </summary>
internal sealed class TimerScheduler(
    FunctionDefinition function,
    CronSchedule schedule,
    LocalHostState state,
    LocalInvoker invoker,
    TimeProvider clock,
    ILogger logger)
{
    private readonly TimerTrigger _trigger = (TimerTrigger)function.Trigger;
    private DateTimeOffset? _next;

    /// <summary>The occurrence the scheduler waits for now; null until it has started waiting.</summary>
    public DateTimeOffset? NextOccurrence => _next;

    public string FunctionName => function.Name;

    public async Task RunAsync(CancellationToken stopping)
    {
        var status = _trigger.UseMonitor ? await state.GetTimerStatusAsync(function.Name, stopping).ConfigureAwait(false) : null;
        var now = clock.GetUtcNow();
        if (status is not null && status.Next <= now)
        {
            await FireAsync(status.Next, status, isPastDue: true, stopping).ConfigureAwait(false);
            status = await RecordAsync(status.Next, stopping).ConfigureAwait(false);
        }
        else if (_trigger.RunOnStartup)
        {
            await FireAsync(now, status, isPastDue: false, stopping).ConfigureAwait(false);
        }
        while (!stopping.IsCancellationRequested)
        {
            now = clock.GetUtcNow();
            var next = status is not null && status.Next > now ? status.Next : schedule.GetNextOccurrence(now);
            if (_trigger.UseMonitor && status?.Next != next)
            {
                status = new TimerStatus(status?.Last, next, now);
                await state.SetTimerStatusAsync(function.Name, status, stopping).ConfigureAwait(false);
            }
            _next = next;
            TriggerLog.TimerScheduled(logger, function.Name, next);
            // A timer may wake a little early on a real clock: wait again until the occurrence is due.
            while (clock.GetUtcNow() < next)
            {
                await Task.Delay(Max(next - clock.GetUtcNow(), TimeSpan.FromMilliseconds(1)), clock, stopping).ConfigureAwait(false);
            }
            await FireAsync(next, _trigger.UseMonitor ? status : null, isPastDue: false, stopping).ConfigureAwait(false);
            status = _trigger.UseMonitor ? await RecordAsync(next, stopping).ConfigureAwait(false) : null;
        }
    }

    private async Task<TimerStatus> RecordAsync(DateTimeOffset occurrence, CancellationToken stopping)
    {
        var now = clock.GetUtcNow();
        var status = new TimerStatus(occurrence, schedule.GetNextOccurrence(Max(now, occurrence)), now);
        await state.SetTimerStatusAsync(function.Name, status, stopping).ConfigureAwait(false);
        return status;
    }

    private async Task FireAsync(DateTimeOffset occurrence, TimerStatus? status, bool isPastDue, CancellationToken stopping)
    {
        try
        {
            // The invocation itself is not cancelled by stopping: a running occurrence completes (graceful drain).
            await invoker.InvokeAsync(function, InvocationEnvelope.ForTimer(function, status, isPastDue, clock.GetUtcNow()), CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FunctionInvocationFailedException or HttpRequestException)
        {
            TriggerLog.TimerFailed(logger, function.Name, occurrence, ex);
        }
        stopping.ThrowIfCancellationRequested();
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
