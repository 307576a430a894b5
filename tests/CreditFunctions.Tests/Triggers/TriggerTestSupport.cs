using System.Collections.Concurrent;
using System.Diagnostics;
using CreditFunctions.Triggers;

namespace CreditFunctions.Tests.Triggers;

/// <summary>Records what test-only functions received; can make the first deliveries fail.</summary>
internal sealed class Recorder
{
    private int _calls;

    public ConcurrentQueue<TriggerContext> Received { get; } = new();

    /// <summary>Invocations that throw before one succeeds; <see cref="int.MaxValue"/> fails them all.</summary>
    public int FailFirst { get; set; }

    /// <summary>How long each invocation takes.</summary>
    public TimeSpan Delay { get; set; }

    public int Completed;

    public int Calls => Volatile.Read(ref _calls);

    public async Task HandleAsync(TriggerContext context, CancellationToken cancellationToken)
    {
        Received.Enqueue(context);
        var call = Interlocked.Increment(ref _calls);
        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay, CancellationToken.None);
        }
        if (call <= FailFirst)
        {
            throw new InvalidOperationException("The test function fails this delivery on purpose.");
        }
        Interlocked.Increment(ref Completed);
    }
}

/// <summary>A clock that moves only when told; its timers fire when it passes their due time.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private readonly object _gate = new();
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        List<ManualTimer> due;
        lock (_gate)
        {
            _now += by;
            due = _timers.Where(t => t.DueAt <= _now).ToList();
            foreach (var timer in due)
            {
                _timers.Remove(timer);
            }
        }
        foreach (var timer in due)
        {
            timer.Fire();
        }
    }

    private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset DueAt { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._gate)
            {
                clock._timers.Remove(this);
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    return true;
                }
                DueAt = clock._now + dueTime;
                if (dueTime > TimeSpan.Zero)
                {
                    clock._timers.Add(this);
                    return true;
                }
            }
            Fire();
            return true;
        }

        public void Fire() => ThreadPool.QueueUserWorkItem(_ => callback(state));

        public void Dispose()
        {
            lock (clock._gate)
            {
                clock._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

internal static class Eventually
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>Polls <paramref name="probe"/> every 50 ms until it holds; fails after <paramref name="timeout"/> (30 s by default).</summary>
    public static async Task HoldsAsync(Func<bool> probe, string what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (!probe())
        {
            if (clock.Elapsed > (timeout ?? Wait))
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public static async Task<T> ReturnsAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }
            if (clock.Elapsed > (timeout ?? Wait))
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
