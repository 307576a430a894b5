using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using SandboxProviders;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>Two local runs on one task hub; one is killed (SIGKILL) in the middle of a bulk run (see <see cref="CrashRecovery"/>).</summary>
public sealed class CrashRecoveryTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_worker_killed_mid_bulk_run_loses_nothing_every_hit_is_charged_once_and_no_hold_is_left()
    {
        sandbox.Reset();
        foreach (var vendor in new[] { "leadmine", "mailscout", "verifly" })
        {
            sandbox.Configure(vendor, v => v with { Latency = new LatencySettings { FixedMilliseconds = 600 } });
        }
        var settings = CrashRecovery.Settings(azurite, sandbox);
        var (ledger, team, admin) = await CrashRecovery.TeamAsync(azurite, settings, ("email", 1000));

        await using var first = await LocalRun.StartAsync(settings);
        await using var second = await LocalRun.StartAsync(settings);
        using var client = second.Client(admin);
        var people = sandbox.People.People.Take(400).Select(SandboxVendors.Input).ToArray();

        using var started = await first.Client(admin).PostAsJsonAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var runId = (await started.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString()!;
        await CrashRecovery.WaitUntilAsync(async () => (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email").Spent.Value > 0,
            "no charge before the kill", seconds: 60);
        first.Kill();
        var atKill = await client.GetFromJsonAsync<JsonElement>($"/api/v1/enrichment/waterfall/{runId}", Ct);

        var state = await CrashRecovery.WaitForStatusAsync(client, $"/api/v1/enrichment/waterfall/{runId}", ["completed", "failed", "terminated"], seconds: 120);
        var found = state.GetProperty("people").EnumerateArray().Count(p => p.GetProperty("email").GetProperty("status").GetString() == "found");
        var charges = (await CrashRecovery.LinesAsync(ledger, new UsageQuery(team))).Where(l => l.Action == "api_waterfall_email" && l.Credits.Value > 0).ToList();
        var balance = (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email");

        // A run killed before its first chunk reported has no progress yet: nothing done.
        var doneAtKill = atKill.TryGetProperty("progress", out var progress) && progress.ValueKind == JsonValueKind.Object ? progress.GetProperty("done").GetInt32() : 0;
        Assert.True(doneAtKill < 400, "the run had finished before the kill");
        Assert.Equal("completed", state.GetProperty("status").GetString());
        Assert.Equal(400, state.GetProperty("progress").GetProperty("done").GetInt32());
        Assert.InRange(found, 200, 400);
        Assert.Equal(found, charges.Count);
        Assert.Equal(found, charges.Select(l => l.Description).Distinct().Count());
        Assert.Equal(1000m - found, balance.Balance.Value);
        Assert.Equal(0m, balance.Held.Value);
        Assert.True((await ledger.VerifyAsync(team, Ct)).Ok);
    }
}
