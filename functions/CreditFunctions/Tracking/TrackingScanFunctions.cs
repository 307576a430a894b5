using System.Globalization;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace CreditFunctions.Tracking;

/// <summary>A scan generation's state, carried across <c>ContinueAsNew</c>: rows up to <paramref name="AfterRowKey"/> are done.</summary>
public sealed record ScanState(string TeamId, string Day, string? AfterRowKey, ScanTotals Totals, int Generation);

/// <summary>Input of a chunk activity.</summary>
public sealed record ScanChunkInput(string TeamId, string Day, string? AfterRowKey);

/// <summary>Where tracking keeps its rows and when it scans: <c>CREDITFUNCTIONS_TRACKING_TABLE</c>,
/// <c>CREDITFUNCTIONS_TRACKING_SCAN_SCHEDULE</c>.</summary>
public sealed record TrackingOptions
{
    /// <summary>The setting naming the table.</summary>
    public const string TableSetting = "CREDITFUNCTIONS_TRACKING_TABLE";

    /// <summary>The setting holding the scan's NCRONTAB schedule (the timer reads it as <c>%CREDITFUNCTIONS_TRACKING_SCAN_SCHEDULE%</c>).</summary>
    public const string ScheduleSetting = "CREDITFUNCTIONS_TRACKING_SCAN_SCHEDULE";

    /// <summary>Daily at 03:00:00 UTC.</summary>
    public const string DefaultSchedule = "0 0 3 * * *";

    /// <summary>The table's name; default <c>tracking</c>.</summary>
    public string TableName { get; init; } = "tracking";

    /// <summary>From configuration.</summary>
    public static TrackingOptions From(IConfiguration configuration) => new()
    {
        TableName = configuration[TableSetting] is { Length: > 0 } table ? table : "tracking",
    };
}

/// <summary>Starts scans: one orchestration per team and UTC day, its instance id <c>tracking-scan:{team}:{day}</c>, so
/// starting the same day's scan again starts nothing new.</summary>
public sealed class TrackingScans(TrackingStore store, TimeProvider clock)
{
    /// <summary>The instance id of a team's scan of a day.</summary>
    public static string InstanceId(string teamId, string day) => $"tracking-scan:{teamId}:{day}";

    /// <summary>Starts today's scan of the team unless it exists (running or done); returns its id and whether it started now.</summary>
    public async Task<(string InstanceId, bool Started)> StartAsync(DurableTaskClient durable, string teamId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(durable);
        var day = clock.GetUtcNow().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var id = InstanceId(teamId, day);
        if (await durable.GetInstanceAsync(id, cancellation: ct).ConfigureAwait(false) is not null)
        {
            return (id, false);
        }
        // Two starts racing past the check schedule the same instance id: one scan (its chunks are idempotent anyway).
        await durable.ScheduleNewOrchestrationInstanceAsync(TrackingScanFunctions.Orchestrator, new ScanState(teamId, day, null, ScanTotals.Zero, 0),
            new StartOrchestrationOptions { InstanceId = id }, ct).ConfigureAwait(false);
        return (id, true);
    }

    /// <summary>Starts today's scan of every team that tracks; returns how many started now.</summary>
    public async Task<int> StartAllAsync(DurableTaskClient durable, CancellationToken ct)
    {
        var started = 0;
        foreach (var team in await store.TeamsAsync(ct).ConfigureAwait(false))
        {
            if ((await StartAsync(durable, team, ct).ConfigureAwait(false)).Started)
            {
                started++;
            }
        }
        return started;
    }
}

/// <summary>
/// The scan as Durable Functions: the <c>tracking-scan</c> timer starts each team's scan of the day; the orchestrator
/// pages through the team's tracked contacts one chunk activity at a time (<see cref="TrackingScanner.ChunkSize"/>
/// contacts each, its vendor calls concurrent inside it), <see cref="ChunksPerGeneration"/> chunks per generation, then
/// <c>ContinueAsNew</c>: the history stays a few hundred events however many contacts a team tracks.
/// </summary>
public sealed class TrackingScanFunctions(TrackingScanner scanner, TrackingScans scans)
{
    /// <summary>The timer function's name.</summary>
    public const string TimerName = "tracking-scan";

    /// <summary>The orchestrator's name.</summary>
    public const string Orchestrator = "TrackingScan";

    /// <summary>Chunks per orchestration generation.</summary>
    public const int ChunksPerGeneration = 20;

    private static readonly TaskOptions s_retry = TaskOptions.FromRetryPolicy(new RetryPolicy(6, TimeSpan.FromSeconds(1), backoffCoefficient: 2,
        maxRetryInterval: TimeSpan.FromSeconds(30)));

    /// <summary>Starts the day's scans on the schedule of <c>CREDITFUNCTIONS_TRACKING_SCAN_SCHEDULE</c>.</summary>
    [Function(TimerName)]
    public Task RunOnScheduleAsync([TimerTrigger("%" + TrackingOptions.ScheduleSetting + "%")] TimerInfo timer, [DurableClient] DurableTaskClient durable,
        CancellationToken cancellationToken) => scans.StartAllAsync(durable, cancellationToken);

    /// <summary>The scan orchestrator: replay code, all I/O in activities.</summary>
    [Function(Orchestrator)]
    public static async Task<ScanTotals> RunAsync([OrchestrationTrigger] TaskOrchestrationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var state = context.GetInput<ScanState>() ?? throw new InvalidOperationException("A scan needs its input.");
        if (state.Generation == 0)
        {
            await context.CallActivityAsync(nameof(ScanPrepareActivityAsync), new ScanChunkInput(state.TeamId, state.Day, null), s_retry);
        }
        var after = state.AfterRowKey;
        var totals = state.Totals;
        for (var chunk = 0; chunk < ChunksPerGeneration; chunk++)
        {
            var page = await context.CallActivityAsync<ScanPage>(nameof(ScanChunkActivityAsync), new ScanChunkInput(state.TeamId, state.Day, after), s_retry);
            totals = totals.Add(page.Totals);
            after = page.LastRowKey;
            context.SetCustomStatus(totals);
            if (page.Done)
            {
                return totals;
            }
        }
        context.ContinueAsNew(state with { AfterRowKey = after, Totals = totals, Generation = state.Generation + 1 });
        return totals;
    }

    /// <summary>Finishes untracks a crash interrupted, before the first chunk.</summary>
    [Function(nameof(ScanPrepareActivityAsync))]
    public Task ScanPrepareActivityAsync([ActivityTrigger] ScanChunkInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return scanner.PrepareAsync(input.TeamId, cancellationToken);
    }

    /// <summary>One chunk of contacts.</summary>
    [Function(nameof(ScanChunkActivityAsync))]
    public Task<ScanPage> ScanChunkActivityAsync([ActivityTrigger] ScanChunkInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        return scanner.ScanChunkAsync(input.TeamId, input.Day, input.AfterRowKey, cancellationToken);
    }
}

/// <summary>Registers contact tracking.</summary>
public static class TrackingSetup
{
    /// <summary>Adds the tracking store, service, scanner and scans.</summary>
    public static IServiceCollection AddTracking(this IServiceCollection services, IConfiguration configuration)
    {
        var options = TrackingOptions.From(configuration);
        services.AddSingleton(options);
        services.AddSingleton(sp => new TrackingStore(sp.GetRequiredService<Azure.Data.Tables.TableServiceClient>().GetTableClient(options.TableName)));
        services.AddSingleton<TrackingService>();
        services.AddSingleton<TrackingScanner>();
        services.AddSingleton<TrackingScans>();
        return services;
    }
}
