using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Tests.Providers;
using CreditFunctions.Tests.Waterfall;
using CreditFunctions.TestSupport;
using CreditFunctions.Tracking;
using Microsoft.Extensions.Logging.Abstractions;
using SandboxProviders;

namespace CreditFunctions.Tests.Tracking;

/// <summary>Two local runs on one task hub; the one running a scan is killed (SIGKILL) mid-scan: the other finishes it,
/// every change is charged once and the ledger verifies.</summary>
public sealed class TrackingCrashRecoveryTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_worker_killed_mid_scan_leaves_the_scan_to_finish_after_restart_and_each_change_is_charged_once()
    {
        sandbox.Reset();
        var settings = CrashRecovery.Settings(azurite, sandbox);
        var (ledger, team, admin) = await CrashRecovery.TeamAsync(azurite, settings, ("tracking", 2000), ("email", 2000));

        var vendor = sandbox.Vendors.Get(TrackingScanner.Provider)!;
        var people = sandbox.People.People.Where(p => VendorKnowledge.Knows(TrackingScanner.Provider, vendor, p)).Take(1500).ToList();
        var clockAt = new DateOnly(2027, 7, 1);
        sandbox.Vendors.Clock.Fixed = clockAt.ToDateTime(new TimeOnly(12, 0), DateTimeKind.Utc);
        var expected = people.Count(p => JobHistories.Of(sandbox.People, p)[1].Since <= clockAt);
        // Slow enough that the kill lands inside the scan, whose chunks each make 5 bulk requests.
        sandbox.Configure(TrackingScanner.Provider, v => v with { Latency = new LatencySettings { FixedMilliseconds = 700 } });

        await using var first = await LocalRun.StartAsync(settings);
        using var firstClient = first.Client(admin);
        firstClient.Timeout = TimeSpan.FromMinutes(2);
        using (var tracked = await firstClient.PostAsJsonAsync("/api/v1/tracking/contacts",
            new { contacts = people.Select(p => new { person = SandboxVendors.Input(p) }) }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, tracked.StatusCode);
        }
        using (var started = await firstClient.PostAsJsonAsync("/api/v1/tracking/scans", new { }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        }
        await CrashRecovery.WaitUntilAsync(async () => (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email").Spent.Value > 0,
            "no charge before the kill", seconds: 120);
        first.Kill();
        var chargedAtKill = (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email").Spent.Value;

        await using var second = await LocalRun.StartAsync(settings);
        using var client = second.Client(admin);
        var day = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var state = await CrashRecovery.WaitForStatusAsync(client, $"/api/v1/tracking/scans/{day}", ["completed", "failed", "terminated"], seconds: 180);

        var lines = await CrashRecovery.LinesAsync(ledger, new UsageQuery(team) { Feature = "job_change" });
        var events = (await client.GetFromJsonAsync<JsonElement>("/api/v1/tracking/events", Ct)).GetProperty("events").EnumerateArray().ToList();
        var email = (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email");
        var trackingBalance = (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "tracking");

        Assert.True(chargedAtKill < expected, "the scan had charged every change before the kill");
        Assert.Equal("completed", state.GetProperty("status").GetString());
        Assert.Equal(expected, events.Count);
        Assert.All(events, e => Assert.Equal("bought", e.GetProperty("status").GetString()));
        Assert.Equal(expected, lines.Count(l => l.Credits.Value > 0));
        Assert.Equal(expected, lines.Select(l => l.SubjectId).Distinct().Count());
        Assert.Equal(2000m - expected, email.Balance.Value);
        Assert.Equal(people.Count, trackingBalance.Held.Value);
        var report = await ledger.VerifyAsync(team, Ct);
        Assert.True(report.Ok, string.Join("; ", report.Problems));
    }
}
