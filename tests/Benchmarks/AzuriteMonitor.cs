using System.Diagnostics;
using System.Globalization;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// Watches the benchmark's Azurite while a scenario runs, once a second: its CPU time and resident memory (from
/// <c>/proc</c>), this process's CPU time, the whole machine's busy share (other engineers' builds included), and how
/// long Azurite takes to answer a trivial request (a raw HTTP GET its queue service refuses with 403 at once, sent
/// outside the Azure SDK so no storage-request counter sees it). Azurite is one Node.js process on one event loop: a
/// probe that takes seconds means it is blocked (a stall), and CPU near 1,000 ms per second means it is the bottleneck.
/// </summary>
internal sealed class AzuriteMonitor : IAsyncDisposable
{
    private static readonly TimeSpan s_interval = TimeSpan.FromSeconds(1);
    private static readonly double s_ticksPerMs = 100 / 1000.0; // USER_HZ is 100 on Linux

    private readonly int? _pid;
    private readonly Uri _probe;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(10) };
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<Sample> _samples = [];
    private readonly Task _loop;

    private AzuriteMonitor(int? pid, Uri probe)
    {
        _pid = pid;
        _probe = probe;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>One second of the run.</summary>
    /// <param name="At">Seconds since the monitor started.</param>
    /// <param name="AzuriteCpuMs">Azurite's CPU time in that second (1,000 = one core fully busy).</param>
    /// <param name="SelfCpuMs">This process's CPU time in that second.</param>
    /// <param name="MachineBusy">Share of all cores busy in that second (0–1).</param>
    /// <param name="AzuriteRssMb">Azurite's resident memory.</param>
    /// <param name="ProbeMs">How long Azurite took to answer the probe (NaN when it did not answer).</param>
    internal sealed record Sample(double At, double AzuriteCpuMs, double SelfCpuMs, double MachineBusy, double AzuriteRssMb, double ProbeMs);

    /// <summary>What the monitor saw between two marks.</summary>
    internal sealed record Summary(double Seconds, double AzuriteCpuShare, double SelfCpuShare, double MachineBusy, double AzuriteRssMaxMb,
        double ProbeP50Ms, double ProbeMaxMs, double StalledSeconds)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"Azurite CPU {AzuriteCpuShare:P0} of a core, this process {SelfCpuShare:P0}, machine busy {MachineBusy:P0}, Azurite RSS max {AzuriteRssMaxMb:N0} MB, probe p50 {ProbeP50Ms:0.0} ms / max {ProbeMaxMs:N0} ms, stalled {StalledSeconds:0} s");
    }

    /// <summary>Starts watching the Azurite child of this process whose queue service listens on <paramref name="queuePort"/>.</summary>
    public static AzuriteMonitor Start(int queuePort)
    {
        var pid = FindChild("node");
        if (pid is null)
        {
            Console.WriteLine("(Azurite's process was not found under this one: its CPU and memory are not measured)");
        }
        return new AzuriteMonitor(pid, new Uri($"http://127.0.0.1:{queuePort.ToString(CultureInfo.InvariantCulture)}/devstoreaccount1?comp=list"));
    }

    /// <summary>Seconds since the monitor started, for <see cref="Between"/>.</summary>
    public double Now => _clock.Elapsed.TotalSeconds;

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>Every sample so far.</summary>
    public IReadOnlyList<Sample> Samples
    {
        get
        {
            lock (_lock)
            {
                return [.. _samples];
            }
        }
    }

    /// <summary>The samples taken between <paramref name="from"/> and <paramref name="to"/> (seconds from <see cref="Now"/>).</summary>
    public Summary Between(double from, double to)
    {
        var samples = Samples.Where(s => s.At > from && s.At <= to + 0.5).ToList();
        if (samples.Count == 0)
        {
            return new Summary(to - from, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0);
        }
        var probes = samples.Select(s => s.ProbeMs).Where(p => !double.IsNaN(p)).Order().ToList();
        return new Summary(to - from,
            samples.Sum(s => s.AzuriteCpuMs) / (samples.Count * 1000.0),
            samples.Sum(s => s.SelfCpuMs) / (samples.Count * 1000.0),
            samples.Average(s => s.MachineBusy),
            samples.Max(s => s.AzuriteRssMb),
            BenchmarkOutput.Percentile(probes, 50),
            probes.Count == 0 ? double.NaN : probes[^1],
            // A probe that took more than a second means Azurite's event loop was blocked about that long.
            samples.Where(s => double.IsNaN(s.ProbeMs) || s.ProbeMs > 1000).Sum(s => double.IsNaN(s.ProbeMs) ? 1 : s.ProbeMs / 1000));
    }

    /// <summary>CPU time used so far by Azurite and by this process (ms), for exact deltas around a measured part.</summary>
    public (double AzuriteMs, double SelfMs) CpuNow() => (AzuriteTicks() / s_ticksPerMs, SelfMs());

    /// <summary>Writes one line per second (for a scenario's timeline file).</summary>
    public string Timeline() => "seconds,azurite_cpu_ms,self_cpu_ms,machine_busy,azurite_rss_mb,probe_ms\n" + string.Join('\n', Samples.Select(s =>
        string.Create(CultureInfo.InvariantCulture, $"{s.At:0.0},{s.AzuriteCpuMs:0},{s.SelfCpuMs:0},{s.MachineBusy:0.00},{s.AzuriteRssMb:0},{s.ProbeMs:0.0}")));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
        _http.Dispose();
        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        var (azurite, self, machine) = (AzuriteTicks(), SelfMs(), MachineTicks());
        while (!_stop.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            var probe = double.NaN;
            try
            {
                using var response = await _http.GetAsync(_probe, _stop.Token);
                probe = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
            catch (HttpRequestException)
            {
            }
            var wait = s_interval - Stopwatch.GetElapsedTime(started);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _stop.Token);
            }
            var (azuriteNow, selfNow, machineNow) = (AzuriteTicks(), SelfMs(), MachineTicks());
            var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var scale = 1000 / elapsedMs; // per second
            var busy = machineNow.Total - machine.Total is > 0 and var total ? (double)(machineNow.Busy - machine.Busy) / total : double.NaN;
            lock (_lock)
            {
                _samples.Add(new Sample(Now, (azuriteNow - azurite) / s_ticksPerMs * scale, (selfNow - self) * scale, busy, AzuriteRssMb(), probe));
            }
            (azurite, self, machine) = (azuriteNow, selfNow, machineNow);
        }
    }

    private long AzuriteTicks()
    {
        if (_pid is not { } pid)
        {
            return 0;
        }
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields after the command: state(0) ppid(1) ... utime(11) stime(12).
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private double AzuriteRssMb()
    {
        if (_pid is not { } pid)
        {
            return double.NaN;
        }
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    private static double SelfMs()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime.TotalMilliseconds;
    }

    private static (long Busy, long Total) MachineTicks()
    {
        try
        {
            var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var idle = cpu[3] + (cpu.Length > 4 ? cpu[4] : 0); // idle + iowait
            var total = cpu.Take(8).Sum();
            return (total - idle, total);
        }
        catch (IOException)
        {
            return (0, 0);
        }
    }

    /// <summary>The pid of this process's child named <paramref name="name"/> (Azurite runs as <c>node</c>).</summary>
    private static int? FindChild(string name)
    {
        if (!Directory.Exists("/proc"))
        {
            return null;
        }
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(folder, "stat"));
                var close = stat.LastIndexOf(')');
                var comm = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..close];
                var parent = int.Parse(stat[(close + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
                if (parent == Environment.ProcessId && comm == name)
                {
                    return pid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
            }
        }
        return null;
    }
}
