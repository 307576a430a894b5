namespace UsagePage.Tests;

/// <summary>The app's clock, set by the test: the seed writes lines on past days, the expiry test moves past a
/// session's end. Like a real clock it never reads the same instant twice (each read moves it on by a tick).</summary>
public sealed class TestClock(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _gate = new();
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            _now = _now.AddTicks(1);
            return _now;
        }
    }

    public void Set(DateTimeOffset now)
    {
        lock (_gate)
        {
            _now = now;
        }
    }

    public void Advance(TimeSpan by)
    {
        lock (_gate)
        {
            _now += by;
        }
    }
}
