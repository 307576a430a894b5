using System.Diagnostics;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Durable.TestWorker;
using CreditFunctions.TestSupport;
using static CreditFunctions.Durable.Tests.DurableTestHost;

namespace CreditFunctions.Durable.Tests;

/// <summary>Several worker processes on one hub share the work, and a process killed mid-work loses none of it.</summary>
public sealed class MultiProcessTests(AzuriteFixture azurite)
{
    private const int Activities = 300;
    private static readonly TimeSpan s_killPointTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan s_completionTimeout = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Two_worker_processes_share_a_fan_out_and_a_killed_one_loses_nothing()
    {
        // Four work items at a time per process (a fan-out of 300 goes ten calls to a work item) and 50-100 ms per
        // call: the fan-out runs for a few seconds, long enough to kill a worker in the middle of it.
        var options = FastOptions(AzuriteFixture.NewName("mp")) with { MaxConcurrentWorkItems = 4 };
        var hub = DurableTaskHub.FromConnectionString(azurite.ConnectionString, options);
        await hub.CreateIfNotExistsAsync(Ct);
        var effects = new TableServiceClient(azurite.ConnectionString).GetTableClient(AzuriteFixture.NewName("effects"));
        await effects.CreateIfNotExistsAsync(Ct);
        await using var first = await WorkerProcess.StartAsync(azurite.ConnectionString, options, effects.Name, Ct);
        await using var second = await WorkerProcess.StartAsync(azurite.ConnectionString, options, effects.Name, Ct);
        var client = hub.CreateClient();

        var id = await client.ScheduleNewOrchestrationInstanceAsync(TestWorkerContract.FanOutOrchestrator, Activities, cancellationToken: Ct);
        var victim = await WaitForKillPointAsync(hub, effects, id, [first, second]);
        victim.Kill();
        var survivor = victim == first ? second : first;
        var result = await WaitForCompletionAsync(client, id, survivor);

        var effectRows = await ReadRowsAsync(effects, TestWorkerContract.EffectPartition);
        var attemptRows = await ReadRowsAsync(effects, TestWorkerContract.AttemptPartition);
        var expectedEffects = Enumerable.Range(0, Activities).ToDictionary(step => TestWorkerContract.EffectRowKey($"{id}#0.{step}"), step => step + 1L);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, result.RuntimeStatus);
        Assert.Equal(Activities * (Activities + 1L) / 2, result.ReadOutputAs<long>());
        // Exactly one effect per call, each with its call's value: none lost with the killed process, none applied twice.
        Assert.Equal(expectedEffects.OrderBy(e => e.Key, StringComparer.Ordinal),
            effectRows.Select(r => KeyValuePair.Create(r.RowKey, (long)r["Value"]!)).OrderBy(e => e.Key, StringComparer.Ordinal));
        // At least once: the killed worker's activities in flight ran again elsewhere.
        Assert.All(attemptRows, a => Assert.Contains(TestWorkerContract.EffectRowKey((string)a["StepKey"]!), expectedEffects.Keys));
        Assert.True(attemptRows.Count > Activities, $"{attemptRows.Count} attempts for {Activities} calls: no activity ran twice, so the kill interrupted nothing");
        var effectPids = effectRows.Select(r => (int)r["Pid"]!).ToHashSet();
        Assert.Contains(victim.Pid, effectPids);
        Assert.Contains(survivor.Pid, effectPids);
        Assert.False(survivor.HasExited, $"the surviving worker exited: {survivor.Errors}");
    }

    /// <summary>
    /// Waits until both workers have applied effects and the worker holding the orchestration's lease has an activity
    /// in flight (an attempt without its effect yet), and returns that worker: killing it leaves the instance with a
    /// lease that must expire, uncommitted results in its memory and received work items that must come back.
    /// </summary>
    private static async Task<WorkerProcess> WaitForKillPointAsync(DurableTaskHub hub, TableClient effects, string instanceId, WorkerProcess[] workers)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var meta = await hub.Store.GetInstanceAsync(instanceId, Ct);
            var owner = workers.SingleOrDefault(w => w.WorkerId == meta?.LeaseOwner);
            var effectRows = await ReadRowsAsync(effects, TestWorkerContract.EffectPartition);
            Assert.True(effectRows.Count < Activities * 3 / 4,
                $"the fan-out reached {effectRows.Count} of {Activities} effects before both workers and the lease holder's work in flight were seen");
            if (owner is not null && workers.All(w => effectRows.Any(r => (int)r["Pid"]! == w.Pid)))
            {
                var applied = effectRows.Select(r => r.RowKey).ToHashSet(StringComparer.Ordinal);
                var attempts = await ReadRowsAsync(effects, TestWorkerContract.AttemptPartition);
                if (attempts.Any(a => (int)a["Pid"]! == owner.Pid && !applied.Contains(TestWorkerContract.EffectRowKey((string)a["StepKey"]!))))
                {
                    return owner;
                }
            }
            if (clock.Elapsed > s_killPointTimeout)
            {
                Assert.Fail($"No kill point within {s_killPointTimeout.TotalSeconds} s: lease {meta?.LeaseOwner}, {effectRows.Count} effects." +
                    $"{Environment.NewLine}{workers[0].Errors}{workers[1].Errors}");
            }
            await Task.Delay(20, Ct);
        }
    }

    private static async Task<OrchestrationMetadata> WaitForCompletionAsync(DurableTaskClient client, string instanceId, WorkerProcess survivor)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(s_completionTimeout);
        try
        {
            return await client.WaitForInstanceCompletionAsync(instanceId, true, timeout.Token);
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            var state = await client.GetInstanceAsync(instanceId, false, Ct);
            Assert.Fail($"The instance did not finish within {s_completionTimeout.TotalSeconds} s after the kill; it is {state?.RuntimeStatus}." +
                $"{Environment.NewLine}Survivor's log:{Environment.NewLine}{survivor.Errors}");
            throw;
        }
    }

    private static Task<List<TableEntity>> ReadRowsAsync(TableClient table, string partition) =>
        table.QueryAsync<TableEntity>(TableQueryFilter.Create($"PartitionKey eq {partition}"), cancellationToken: Ct).ToListAsync(Ct).AsTask();
}
