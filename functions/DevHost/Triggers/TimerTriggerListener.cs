using Azure;
using DevHost.Discovery;
using DevHost.Invocation;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using NCrontab;

namespace DevHost.Triggers;

/// <summary>
/// Fires a timer function on its NCRONTAB schedule (6 fields with seconds, or 5), in UTC, on the app's
/// <see cref="TimeProvider"/>. <c>runOnStartup</c> fires once at start. With <c>useMonitor</c> the schedule status
/// is kept in storage, so an occurrence missed while stopped fires once at start with <c>IsPastDue</c>, and a
/// restart does not fire an occurrence already run. A failed occurrence is logged and not retried, as in the host.
/// </summary>
internal sealed class TimerTriggerListener(
    FunctionDescriptor function,
    CrontabSchedule schedule,
    HostStateStore store,
    FunctionInvoker invoker,
    TimeProvider clock,
    ILogger logger) : ITriggerListener
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly bool _useMonitor = function.Trigger.GetBool("useMonitor");
    private readonly bool _runOnStartup = function.Trigger.GetBool("runOnStartup");
    private readonly string _functionId = function.Metadata.EntryPoint ?? function.Name;
    private Task? _loop;

    public string FunctionName => function.Name;

    /// <summary>Parses an NCRONTAB expression with seconds (6 fields) or without (5 fields).</summary>
    public static CrontabSchedule? TryParse(string expression) =>
        CrontabSchedule.TryParse(expression, new CrontabSchedule.ParseOptions { IncludingSeconds = true })
        ?? CrontabSchedule.TryParse(expression, new CrontabSchedule.ParseOptions { IncludingSeconds = false });

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public void Dispose() => _stopping.Dispose();

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            var status = _useMonitor ? await store.GetTimerStatusAsync(_functionId, stopping).ConfigureAwait(false) : null;
            var now = clock.GetUtcNow().UtcDateTime;
            if (status is not null && status.Next <= now)
            {
                Log.TimerPastDue(logger, function.Name, status.Next);
                await FireAsync(status, isPastDue: true).ConfigureAwait(false);
                status = await RecordAsync(status.Next, stopping).ConfigureAwait(false);
            }
            else if (_runOnStartup)
            {
                await FireAsync(status, isPastDue: false).ConfigureAwait(false);
            }
            while (!stopping.IsCancellationRequested)
            {
                now = clock.GetUtcNow().UtcDateTime;
                var next = status is not null && status.Next > now ? status.Next : schedule.GetNextOccurrence(now);
                if (_useMonitor && status?.Next != next)
                {
                    status = new TimerStatus(status?.Last ?? default, next, now);
                    await store.SetTimerStatusAsync(_functionId, status, stopping).ConfigureAwait(false);
                }
                Log.TimerScheduled(logger, function.Name, new DateTimeOffset(next, TimeSpan.Zero));
                // A timer may wake a little early: wait again until the occurrence is due.
                while (clock.GetUtcNow().UtcDateTime < next)
                {
                    var wait = next - clock.GetUtcNow().UtcDateTime;
                    await Task.Delay(wait > TimeSpan.FromMilliseconds(1) ? wait : TimeSpan.FromMilliseconds(1), clock, stopping).ConfigureAwait(false);
                }
                await FireAsync(status ?? new TimerStatus(default, next, now), isPastDue: false).ConfigureAwait(false);
                status = _useMonitor ? await RecordAsync(next, stopping).ConfigureAwait(false) : null;
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped.
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or IOException)
        {
            Log.ListenerStorageError(logger, function.Name, ex);
        }
    }

    private async Task<TimerStatus> RecordAsync(DateTime occurrence, CancellationToken stopping)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var status = new TimerStatus(occurrence, schedule.GetNextOccurrence(now > occurrence ? now : occurrence), now);
        await store.SetTimerStatusAsync(_functionId, status, stopping).ConfigureAwait(false);
        return status;
    }

    private async Task FireAsync(TimerStatus? status, bool isPastDue)
    {
        var info = new TimerInfo
        {
            IsPastDue = isPastDue,
            ScheduleStatus = status is null ? null : new ScheduleStatus { Last = status.Last, Next = status.Next, LastUpdated = status.LastUpdated },
        };
        try
        {
            // Not cancelled by a stop: an occurrence under way completes (graceful drain).
            await invoker.InvokeAsync(function, new InvocationInput(_ => info, new Dictionary<string, object?>()), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Logged by the invoker; the host does not retry a failed occurrence.
        }
    }
}
