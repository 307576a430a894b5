using System.Globalization;

namespace SandboxProviders;

/// <summary>One call a vendor received.</summary>
/// <param name="Sequence">1 for the vendor's first call since start or the last reset, then 2, 3, …</param>
/// <param name="ReceivedAt">When the request arrived (before latency, failures and the answer).</param>
/// <param name="PersonId">The data set person the request identified, or null.</param>
/// <param name="Status">The HTTP status answered; null while the call is in flight; 499 when the caller gave up.</param>
public sealed record VendorCall(long Sequence, DateTimeOffset ReceivedAt, string? PersonId, int? Status);

/// <summary>What a vendor has received since start or the last reset.</summary>
/// <param name="Vendor">The vendor's name.</param>
/// <param name="Total">Calls received (counted on arrival, so a call the caller abandoned still counts).</param>
/// <param name="ByStatus">Finished calls by HTTP status (as text, e.g. <c>"429"</c>).</param>
/// <param name="ByPerson">Calls by the id of the person they identified.</param>
/// <param name="Calls">The most recent calls in arrival order (at most <see cref="VendorRegistry.RecentCallsMax"/>).</param>
public sealed record VendorStats(
    string Vendor,
    long Total,
    IReadOnlyDictionary<string, long> ByStatus,
    IReadOnlyDictionary<string, long> ByPerson,
    IReadOnlyList<VendorCall> Calls);

/// <summary>
/// The sandbox's vendors: their current settings and what each received. Thread-safe; settings can be replaced while
/// calls are in flight (a call keeps the settings it started with).
/// </summary>
public sealed class VendorRegistry
{
    /// <summary>How many recent calls each vendor keeps for <see cref="VendorStats.Calls"/>.</summary>
    public const int RecentCallsMax = 10_000;

    private readonly Lock _lock = new();
    private readonly IReadOnlyDictionary<string, VendorSettings> _initial;
    private readonly Dictionary<string, VendorState> _vendors = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    internal VendorRegistry(IReadOnlyDictionary<string, VendorSettings> initial, TimeProvider time)
    {
        _initial = initial;
        _time = time;
        Reset();
    }

    /// <summary>The vendors' names, sorted.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_lock)
            {
                return [.. _vendors.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The vendor's current settings, or null when there is no such vendor.</summary>
    public VendorSettings? Get(string name)
    {
        lock (_lock)
        {
            return _vendors.GetValueOrDefault(name)?.Settings;
        }
    }

    /// <summary>Replaces a vendor's settings (adds the vendor when new) and restarts its script. Its stats are kept.</summary>
    /// <exception cref="ArgumentException">The settings are invalid; the message says which knob and why.</exception>
    public void Set(string name, VendorSettings settings)
    {
        var errors = SandboxConfig.ValidateVendor(name, settings).ToList();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(settings));
        }
        lock (_lock)
        {
            if (_vendors.TryGetValue(name, out var state))
            {
                state.Replace(settings);
            }
            else
            {
                _vendors[name] = new VendorState(name, settings);
            }
        }
    }

    /// <summary>Changes a vendor's settings with <paramref name="change"/> (see <see cref="Set"/>).</summary>
    /// <exception cref="KeyNotFoundException">There is no such vendor.</exception>
    public VendorSettings Update(string name, Func<VendorSettings, VendorSettings> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var changed = change(Get(name) ?? throw new KeyNotFoundException($"No sandbox vendor '{name}'."));
        Set(name, changed);
        return changed;
    }

    /// <summary>What the vendor received, or null when there is no such vendor.</summary>
    public VendorStats? Stats(string name)
    {
        VendorState? state;
        lock (_lock)
        {
            state = _vendors.GetValueOrDefault(name);
        }
        return state?.Snapshot();
    }

    /// <summary>Forgets every vendor's calls (counts, per-person counts, recent calls, sequence numbers).</summary>
    public void ResetStats()
    {
        lock (_lock)
        {
            foreach (var state in _vendors.Values)
            {
                state.ResetStats();
            }
        }
    }

    /// <summary>Back to the start: the initial vendors and settings, no calls recorded.</summary>
    public void Reset()
    {
        Clock.Fixed = null;
        lock (_lock)
        {
            _vendors.Clear();
            foreach (var (name, settings) in _initial)
            {
                _vendors[name] = new VendorState(name, settings);
            }
        }
    }

    /// <summary>The contacts a CRM-shaped vendor holds (what it was sent, by external id), oldest first; null for no such vendor.</summary>
    public IReadOnlyList<System.Text.Json.Nodes.JsonObject>? CrmContacts(string name) =>
        Find(name) is { } state ? [.. state.CrmContacts.Values.OrderBy(c => (long)c["id"]!)] : null;

    internal VendorState? Find(string name)
    {
        lock (_lock)
        {
            return _vendors.GetValueOrDefault(name);
        }
    }

    internal DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>The sandbox clock job histories are answered by (real time until set).</summary>
    public SandboxClock Clock => _clock ??= new SandboxClock(_time);

    private SandboxClock? _clock;

    internal sealed class VendorState(string name, VendorSettings settings)
    {
        private readonly Lock _lock = new();
        private readonly Dictionary<string, long> _byStatus = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _byPerson = new(StringComparer.Ordinal);
        private readonly Queue<CallRecord> _recent = new();
        private Queue<ScriptedResponse> _script = new(settings.Script);
        private long _total;

        public string Name { get; } = name;

        public VendorSettings Settings { get; private set; } = settings;

        /// <summary>What a CRM-shaped vendor holds, by external id.</summary>
        public System.Collections.Concurrent.ConcurrentDictionary<string, System.Text.Json.Nodes.JsonObject> CrmContacts { get; } = new(StringComparer.Ordinal);

        /// <summary>The CRM's ids, in the order contacts were first received.</summary>
        public long NextCrmId;

        public void Replace(VendorSettings settings)
        {
            lock (_lock)
            {
                Settings = settings;
                _script = new Queue<ScriptedResponse>(settings.Script);
            }
        }

        /// <summary>Counts the call on arrival and hands out its settings, sequence number and scripted answer.</summary>
        public CallRecord Begin(DateTimeOffset receivedAt, string? personId)
        {
            lock (_lock)
            {
                _total++;
                var record = new CallRecord(_total, receivedAt, personId, Settings, _script.TryDequeue(out var scripted) ? scripted : null);
                if (personId is not null)
                {
                    _byPerson[personId] = _byPerson.GetValueOrDefault(personId) + 1;
                }
                _recent.Enqueue(record);
                if (_recent.Count > RecentCallsMax)
                {
                    _recent.Dequeue();
                }
                return record;
            }
        }

        public void Complete(CallRecord record, int status)
        {
            lock (_lock)
            {
                if (record.Status is not null)
                {
                    return;
                }
                record.Status = status;
                var key = status.ToString(CultureInfo.InvariantCulture);
                _byStatus[key] = _byStatus.GetValueOrDefault(key) + 1;
            }
        }

        public VendorStats Snapshot()
        {
            lock (_lock)
            {
                return new VendorStats(Name, _total, new Dictionary<string, long>(_byStatus), new Dictionary<string, long>(_byPerson),
                    [.. _recent.Select(r => new VendorCall(r.Sequence, r.ReceivedAt, r.PersonId, r.Status))]);
            }
        }

        public void ResetStats()
        {
            lock (_lock)
            {
                _total = 0;
                _byStatus.Clear();
                _byPerson.Clear();
                _recent.Clear();
            }
        }
    }

    internal sealed class CallRecord(long sequence, DateTimeOffset receivedAt, string? personId, VendorSettings settings, ScriptedResponse? scripted)
    {
        public long Sequence { get; } = sequence;
        public DateTimeOffset ReceivedAt { get; } = receivedAt;
        public string? PersonId { get; } = personId;
        public VendorSettings Settings { get; } = settings;
        public ScriptedResponse? Scripted { get; } = scripted;
        public int? Status { get; set; }
    }
}
