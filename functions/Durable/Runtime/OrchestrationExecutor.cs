using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Durable.Runtime;

/// <summary>A command the orchestrator issued that a worker must carry out (send a work item, set a timer, start a child).</summary>
internal sealed record OutboundCommand(RecordKind Kind, int Step, string? Name, string? Input, DateTimeOffset? FireAt, string? ChildInstanceId, int Attempt, string? StepKey);

internal enum ExecutionState
{
    Running,
    Completed,
    Failed,
    ContinuedAsNew,
}

/// <summary>What a live message did to the orchestration.</summary>
internal enum ApplyResult
{
    /// <summary>Recorded in history and given to the orchestrator.</summary>
    Applied,

    /// <summary>Already recorded (a redelivery), or meant for an earlier run: ignored.</summary>
    Duplicate,

    /// <summary>A result for a step the orchestrator has not scheduled yet (its schedule is not committed): try later.</summary>
    Early,
}

/// <summary>
/// Runs one generation of one orchestration instance in memory. History records are fed in order: in replay mode
/// (<see cref="LoadHistory"/>) the orchestrator's calls are checked against the recorded ones and nothing new is
/// issued; in live mode (<see cref="Apply"/>) every message becomes a new history record and new calls become
/// <see cref="OutboundCommand"/>s. All orchestrator code runs on the calling thread, through a synchronization context
/// that the executor drains after each record, so a run is deterministic.
/// </summary>
internal sealed class OrchestrationExecutor
{
    private readonly ITaskOrchestrator _orchestrator;
    private readonly ILoggerFactory _loggers;
    private readonly OrchestrationSynchronizationContext _sync = new();
    private readonly Context _context;
    private readonly Dictionary<int, HistoryRecord> _recordedSchedules = [];
    private readonly Dictionary<int, PendingTask> _pending = [];
    private readonly HashSet<int> _resolvedSteps = [];
    private readonly HashSet<string> _seenMessageIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Queue<HistoryRecord>> _bufferedEvents = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, LinkedList<TaskCompletionSource<string?>>> _eventWaiters = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<HistoryRecord> _newRecords = [];
    private readonly List<OutboundCommand> _commands = [];
    private int _maxRecordedStep = -1;
    private int _nextStep;
    private int _guidCounter;
    private bool _episodeOpen;
    private Task<object?>? _run;
    private NonDeterministicOrchestrationException? _nonDeterminism;
    private string? _continueAsNewInput;
    private bool _continueAsNew;

    public OrchestrationExecutor(string instanceId, string name, int generation, string? input, ITaskOrchestrator orchestrator, ILoggerFactory loggers)
    {
        InstanceId = instanceId;
        Name = name;
        Generation = generation;
        Input = input;
        _orchestrator = orchestrator;
        _loggers = loggers;
        _context = new Context(this);
    }

    public string InstanceId { get; }

    public string Name { get; }

    public int Generation { get; }

    public string? Input { get; }

    public bool IsStarted => _run is not null;

    public bool IsReplaying { get; private set; }

    public DateTimeOffset Now { get; private set; }

    public ExecutionState State { get; private set; }

    public string? Output { get; private set; }

    public TaskFailureDetails? Failure { get; private set; }

    public string? ContinueAsNewInput => _continueAsNewInput;

    public string? CustomStatus { get; private set; }

    public bool CustomStatusChanged { get; set; }

    /// <summary>Sets the custom status last committed (after a replay, which may have set it again).</summary>
    public void RestoreCustomStatus(string? customStatus)
    {
        CustomStatus = customStatus;
        CustomStatusChanged = false;
    }

    /// <summary>Events received but not consumed, for carrying over into the next generation.</summary>
    public IEnumerable<HistoryRecord> UnconsumedEvents => _bufferedEvents.Values.SelectMany(q => q);

    /// <summary>Replays committed history; the orchestrator's calls must match the recorded ones.</summary>
    public void LoadHistory(IReadOnlyList<HistoryRecord> records)
    {
        // Schedules first: the code that issues them runs when an earlier record of the same batch is applied.
        foreach (var record in records)
        {
            if (record.Kind is RecordKind.ActivityScheduled or RecordKind.TimerCreated or RecordKind.SubOrchestrationScheduled)
            {
                _recordedSchedules[record.Step] = record;
                _maxRecordedStep = Math.Max(_maxRecordedStep, record.Step);
            }
        }
        IsReplaying = true;
        try
        {
            foreach (var record in records)
            {
                if (record.Kind is not (RecordKind.ActivityScheduled or RecordKind.TimerCreated or RecordKind.SubOrchestrationScheduled))
                {
                    ApplyRecord(record);
                }
            }
        }
        finally
        {
            IsReplaying = false;
        }
        // A replay may have issued calls that history lacks only if the code changed; they go out as new calls.
        _commands.RemoveAll(c => c.Step <= _maxRecordedStep);
    }

    /// <summary>Starts a live step at <paramref name="now"/>; its records are stamped with that time.</summary>
    public void BeginEpisode(DateTimeOffset now)
    {
        Now = now;
        _episodeOpen = false;
    }

    /// <summary>Starts the orchestrator (live).</summary>
    public void Start()
    {
        if (_run is not null)
        {
            return;
        }
        Append(new HistoryRecord { Kind = RecordKind.Started, Time = Now });
        StartOrchestrator();
        Drain();
    }

    /// <summary>Records a live message and gives it to the orchestrator.</summary>
    public ApplyResult Apply(WorkMessage message)
    {
        if (State != ExecutionState.Running)
        {
            return ApplyResult.Duplicate;
        }
        HistoryRecord record;
        switch (message.Kind)
        {
            case MessageKind.TaskCompleted or MessageKind.TaskFailed or MessageKind.TimerFired:
                if (message.Generation != Generation || _resolvedSteps.Contains(message.Step))
                {
                    return ApplyResult.Duplicate;
                }
                if (message.Step >= _nextStep && message.Step > _maxRecordedStep)
                {
                    return ApplyResult.Early;
                }
                record = new HistoryRecord
                {
                    Kind = message.Kind switch
                    {
                        MessageKind.TaskCompleted => RecordKind.TaskCompleted,
                        MessageKind.TaskFailed => RecordKind.TaskFailed,
                        _ => RecordKind.TimerFired,
                    },
                    Step = message.Step,
                    Payload = message.Payload,
                    PayloadBlob = message.PayloadBlob,
                    Failure = message.Failure,
                };
                break;
            case MessageKind.Event:
                if (message.MessageId is not null && _seenMessageIds.Contains(message.MessageId))
                {
                    return ApplyResult.Duplicate;
                }
                record = new HistoryRecord { Kind = RecordKind.EventRaised, Name = message.Name, Payload = message.Payload, PayloadBlob = message.PayloadBlob, MessageId = message.MessageId };
                break;
            default:
                return ApplyResult.Duplicate;
        }
        Append(record);
        ApplyRecord(record);
        return ApplyResult.Applied;
    }

    /// <summary>Records a suspension or resumption (status only; the orchestrator does not see it).</summary>
    public void RecordStatusChange(RecordKind kind) => Append(new HistoryRecord { Kind = kind });

    public List<HistoryRecord> TakeNewRecords()
    {
        var records = _newRecords.ToList();
        _newRecords.Clear();
        return records;
    }

    public List<OutboundCommand> TakeCommands()
    {
        var commands = _commands.ToList();
        _commands.Clear();
        return commands;
    }

    private void Append(HistoryRecord record)
    {
        if (!_episodeOpen)
        {
            _newRecords.Add(new HistoryRecord { Kind = RecordKind.Episode, Time = Now });
            _episodeOpen = true;
        }
        _newRecords.Add(record);
    }

    private void ApplyRecord(HistoryRecord record)
    {
        if (State != ExecutionState.Running)
        {
            return;
        }
        switch (record.Kind)
        {
            case RecordKind.Started:
                Now = record.Time ?? Now;
                StartOrchestrator();
                break;
            case RecordKind.Episode:
                Now = record.Time ?? Now;
                break;
            case RecordKind.TaskCompleted or RecordKind.TimerFired:
                _resolvedSteps.Add(record.Step);
                if (_pending.Remove(record.Step, out var done))
                {
                    done.Completion.TrySetResult(record.Payload);
                }
                break;
            case RecordKind.TaskFailed:
                _resolvedSteps.Add(record.Step);
                if (_pending.Remove(record.Step, out var failed))
                {
                    failed.Completion.TrySetException(new TaskFailedException(failed.Name, record.Step,
                        record.Failure ?? new TaskFailureDetails("Unknown", "The task failed without details.")));
                }
                break;
            case RecordKind.EventRaised:
                if (record.MessageId is not null)
                {
                    _seenMessageIds.Add(record.MessageId);
                }
                DeliverEvent(record);
                break;
        }
        Drain();
    }

    private void DeliverEvent(HistoryRecord record)
    {
        var name = record.Name ?? string.Empty;
        if (_eventWaiters.TryGetValue(name, out var waiters) && waiters.First is { } first)
        {
            waiters.RemoveFirst();
            first.Value.TrySetResult(record.Payload);
            return;
        }
        if (!_bufferedEvents.TryGetValue(name, out var queue))
        {
            _bufferedEvents[name] = queue = new Queue<HistoryRecord>();
        }
        queue.Enqueue(record);
    }

    private void StartOrchestrator()
    {
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(_sync);
        try
        {
            object? input;
            try
            {
                input = DurableJson.Deserialize(Input, _orchestrator.InputType);
            }
            catch (System.Text.Json.JsonException ex)
            {
                _run = Task.FromException<object?>(new ArgumentException($"The input of orchestration '{InstanceId}' is not a valid {_orchestrator.InputType.Name}: {ex.Message}", ex));
                return;
            }
            try
            {
                _run = _orchestrator.RunAsync(_context, input);
            }
            catch (Exception ex)
            {
                _run = Task.FromException<object?>(ex);
            }
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }

    private void Drain()
    {
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(_sync);
        try
        {
            _sync.RunPending();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
        CheckCompletion();
    }

    private void CheckCompletion()
    {
        if (State != ExecutionState.Running || _run is null)
        {
            return;
        }
        if (_nonDeterminism is not null)
        {
            State = ExecutionState.Failed;
            Failure = TaskFailureDetails.FromException(_nonDeterminism);
            return;
        }
        if (!_run.IsCompleted)
        {
            return;
        }
        if (_run.IsFaulted)
        {
            State = ExecutionState.Failed;
            Failure = TaskFailureDetails.FromException(_run.Exception!.InnerException ?? _run.Exception);
        }
        else if (_run.IsCanceled)
        {
            State = ExecutionState.Failed;
            Failure = new TaskFailureDetails(typeof(TaskCanceledException).FullName!, "The orchestrator's task was cancelled.");
        }
        else if (_continueAsNew)
        {
            State = ExecutionState.ContinuedAsNew;
        }
        else
        {
            State = ExecutionState.Completed;
            Output = DurableJson.Serialize(_run.Result);
        }
    }

    private Task<string?> Schedule(RecordKind kind, string? name, string? input, DateTimeOffset? fireAt, string? childInstanceId, int attempt, int firstStep, out int step)
    {
        step = _nextStep++;
        var completion = new TaskCompletionSource<string?>();
        if (step <= _maxRecordedStep)
        {
            var recorded = _recordedSchedules.GetValueOrDefault(step);
            var attempted = new HistoryRecord { Kind = kind, Name = name };
            if (recorded is null || recorded.Kind != kind || !string.Equals(recorded.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                _nonDeterminism ??= new NonDeterministicOrchestrationException(InstanceId, step, recorded?.Describe() ?? "nothing", attempted.Describe());
                completion.SetException(_nonDeterminism);
                return completion.Task;
            }
        }
        else
        {
            var keyStep = firstStep < 0 ? step : firstStep;
            var stepKey = $"{InstanceId}#{Generation}.{keyStep}";
            Append(new HistoryRecord { Kind = kind, Step = step, Name = name, Time = fireAt, ChildInstanceId = childInstanceId });
            _commands.Add(new OutboundCommand(kind, step, name, input, fireAt, childInstanceId, attempt, stepKey));
        }
        if (_resolvedSteps.Contains(step))
        {
            // Replaying a step whose result was applied before the schedule was seen cannot happen: results are
            // only accepted for scheduled steps.
            throw new InvalidOperationException($"Step {step} of '{InstanceId}' resolved before it was scheduled.");
        }
        _pending[step] = new PendingTask(name ?? kind.ToString(), completion);
        return completion.Task;
    }

    private sealed record PendingTask(string Name, TaskCompletionSource<string?> Completion);

    private sealed class Context(OrchestrationExecutor executor) : TaskOrchestrationContext
    {
        public override string InstanceId => executor.InstanceId;

        public override string Name => executor.Name;

        public override bool IsReplaying => executor.IsReplaying;

        public override DateTime CurrentUtcDateTime => executor.Now.UtcDateTime;

        public override async Task<T> CallActivityAsync<T>(string name, object? input = null, RetryPolicy? retry = null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(name);
            var inputJson = DurableJson.Serialize(input);
            var firstStep = -1;
            for (var attempt = 1; ; attempt++)
            {
                var task = executor.Schedule(RecordKind.ActivityScheduled, name, inputJson, null, null, attempt, firstStep, out var step);
                firstStep = firstStep < 0 ? step : firstStep;
                try
                {
                    return DurableJson.Deserialize<T>(await task)!;
                }
                catch (TaskFailedException failure) when (retry is not null && attempt < retry.MaxNumberOfAttempts && retry.Handle(failure.FailureDetails))
                {
                    await CreateTimer(CurrentUtcDateTime + retry.DelayBefore(attempt + 1), CancellationToken.None);
                }
            }
        }

        public override async Task<T> CallSubOrchestratorAsync<T>(string name, object? input = null, string? instanceId = null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(name);
            var step = executor._nextStep;
            var childId = instanceId ?? $"{executor.InstanceId}:{step}";
            InstanceIds.Validate(childId, nameof(instanceId));
            var task = executor.Schedule(RecordKind.SubOrchestrationScheduled, name, DurableJson.Serialize(input), null, childId, 1, -1, out _);
            return DurableJson.Deserialize<T>(await task)!;
        }

        public override Task CreateTimer(DateTime fireAt, CancellationToken cancellationToken)
        {
            var at = new DateTimeOffset(DateTime.SpecifyKind(fireAt, DateTimeKind.Utc));
            var task = executor.Schedule(RecordKind.TimerCreated, null, null, at, null, 1, -1, out var step);
            if (cancellationToken.CanBeCanceled)
            {
                cancellationToken.Register(() =>
                {
                    if (executor._pending.Remove(step, out var pending))
                    {
                        pending.Completion.TrySetCanceled(cancellationToken);
                    }
                });
            }
            return task;
        }

        public override Task<T> WaitForExternalEvent<T>(string name, TimeSpan? timeout = null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(name);
            if (executor._bufferedEvents.TryGetValue(name, out var buffered) && buffered.TryDequeue(out var record))
            {
                return Task.FromResult(DurableJson.Deserialize<T>(record.Payload)!);
            }
            var completion = new TaskCompletionSource<string?>();
            if (!executor._eventWaiters.TryGetValue(name, out var waiters))
            {
                executor._eventWaiters[name] = waiters = new LinkedList<TaskCompletionSource<string?>>();
            }
            var node = waiters.AddLast(completion);
            return timeout is null ? ReadAsync(completion.Task) : WaitWithTimeoutAsync(name, timeout.Value, node);

            static async Task<T> ReadAsync(Task<string?> payload) => DurableJson.Deserialize<T>(await payload)!;

            async Task<T> WaitWithTimeoutAsync(string eventName, TimeSpan limit, LinkedListNode<TaskCompletionSource<string?>> waiter)
            {
                using var cancel = new CancellationTokenSource();
                var timer = CreateTimer(CurrentUtcDateTime + limit, cancel.Token);
                var winner = await Task.WhenAny(waiter.Value.Task, timer);
                if (winner == waiter.Value.Task)
                {
                    cancel.Cancel();
                    return DurableJson.Deserialize<T>(await waiter.Value.Task)!;
                }
                waiter.List?.Remove(waiter);
                throw new TimeoutException($"No '{eventName}' event arrived within {limit}.");
            }
        }

        public override void SetCustomStatus(object? customStatus)
        {
            executor.CustomStatus = DurableJson.Serialize(customStatus);
            executor.CustomStatusChanged = true;
        }

        public override void ContinueAsNew(object? newInput)
        {
            executor._continueAsNew = true;
            executor._continueAsNewInput = DurableJson.Serialize(newInput);
        }

        public override Guid NewGuid()
        {
            var seed = Encoding.UTF8.GetBytes($"{executor.InstanceId}/{executor.Generation}/{executor._guidCounter++}");
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(seed, hash);
            var bytes = hash[..16].ToArray();
            bytes[7] = (byte)((bytes[7] & 0x0F) | 0x50);
            bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
            return new Guid(bytes);
        }

        public override ILogger CreateReplaySafeLogger(string categoryName) => new ReplaySafeLogger(executor, executor._loggers.CreateLogger(categoryName));
    }

    private sealed class ReplaySafeLogger(OrchestrationExecutor executor, ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => !executor.IsReplaying && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!executor.IsReplaying)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}

/// <summary>Runs the orchestrator's continuations on the executor's thread, in the order they were posted.</summary>
internal sealed class OrchestrationSynchronizationContext : SynchronizationContext
{
    private readonly Queue<(SendOrPostCallback Callback, object? State)> _work = new();
    private readonly object _gate = new();

    public override void Post(SendOrPostCallback d, object? state)
    {
        lock (_gate)
        {
            _work.Enqueue((d, state));
        }
    }

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("Orchestrator code cannot block on another context.");

    public override SynchronizationContext CreateCopy() => this;

    public void RunPending()
    {
        while (true)
        {
            (SendOrPostCallback Callback, object? State) item;
            lock (_gate)
            {
                if (!_work.TryDequeue(out item))
                {
                    return;
                }
            }
            item.Callback(item.State);
        }
    }
}

/// <summary>The rules for instance ids: 1–200 characters of letters, digits and <c>-_.:@</c>, so an id is safe as a
/// table key, a blob name prefix and a URL segment.</summary>
public static class InstanceIds
{
    /// <summary>Throws when <paramref name="instanceId"/> breaks the rules.</summary>
    /// <exception cref="ArgumentException">Names the rule broken.</exception>
    public static void Validate(string instanceId, string paramName)
    {
        if (!IsValid(instanceId))
        {
            throw new ArgumentException("An instance id is 1 to 200 characters of letters, digits and - _ . : @.", paramName);
        }
    }

    /// <summary>Whether <paramref name="instanceId"/> follows the rules.</summary>
    public static bool IsValid(string? instanceId) =>
        instanceId is { Length: >= 1 and <= 200 } && instanceId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '@');
}
