using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using CreditFunctions.Auth;
using CreditFunctions.CsvJobs;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using SandboxProviders;

namespace CreditFunctions.Tests.CsvJobs;

/// <summary>Two local runs on one task hub; the one holding the job's work is killed (SIGKILL) in the middle of a CSV job.</summary>
public sealed class CsvCrashRecoveryTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_worker_killed_mid_job_loses_no_row_charges_each_found_lead_once_and_leaves_no_hold()
    {
        sandbox.Reset();
        foreach (var vendor in new[] { "leadmine", "mailscout", "verifly" })
        {
            sandbox.Configure(vendor, v => v with { Latency = new LatencySettings { FixedMilliseconds = 250 } });
        }
        var settings = CrashRecovery.Settings(azurite, sandbox);
        var (ledger, team, admin) = await CrashRecovery.TeamAsync(azurite, settings, ("email", 5000));
        const int rows = 1500;
        var text = new StringBuilder("first_name,last_name,company,domain,linkedin,row\r\n");
        foreach (var (p, i) in sandbox.People.People.Take(rows).Select((p, i) => (p, i)))
        {
            text.Append($"{p.FirstName},{p.LastName},\"{p.CompanyName}\",{p.CompanyDomain},{p.LinkedInUrl},row-{i}\r\n");
        }

        await using var first = await LocalRun.StartAsync(settings);
        await using var second = await LocalRun.StartAsync(settings);
        using var client = second.Client(admin);
        using var created = await first.Client(admin).PostAsJsonAsync("/api/v1/csv-jobs", new { fileName = "crash.csv", enrich = true, validate = true, autoStart = true }, Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString()!;
        using var put = await first.Client(admin).PutAsync($"/api/v1/csv-jobs/{id}/file", new StringContent(text.ToString()), Ct);
        Assert.Equal(HttpStatusCode.Accepted, put.StatusCode);
        await CrashRecovery.WaitUntilAsync(async () => (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email").Spent.Value > 0,
            "no charge before the kill", seconds: 90);
        first.Kill();
        var atKill = await client.GetFromJsonAsync<JsonElement>($"/api/v1/csv-jobs/{id}", Ct);

        var job = await CrashRecovery.WaitForStatusAsync(client, $"/api/v1/csv-jobs/{id}", ["completed", "failed", "cancelled"], seconds: 180);
        using var resultsUrl = await client.GetAsync($"/api/v1/csv-jobs/{id}/results?download=true", Ct);
        var results = CsvRows.ReadRange((await resultsUrl.Content.ReadAsStringAsync(Ct)).TrimStart('\uFEFF'), ',', 0).Skip(1).Select(r => r.Cells).ToList();
        var charges = (await CrashRecovery.LinesAsync(ledger, new UsageQuery(team))).Where(l => l.Action == "csv_enrich_validate" && l.Credits.Value > 0).ToList();
        var balance = (await ledger.GetBalancesAsync(team, Ct)).Single(b => b.CreditType == "email");
        var found = results.Count(r => r[6].Length > 0);

        Assert.True(atKill.GetProperty("progress").GetProperty("rowsDone").GetInt32() < rows, "the job had finished before the kill");
        Assert.Equal("completed", job.GetProperty("status").GetString());
        Assert.Equal(Enumerable.Range(0, rows).Select(i => $"row-{i}"), results.Select(r => r[5]));
        Assert.InRange(found, rows / 4, rows);
        // Every found lead charged exactly once: the job line counts each charge it took, and holds exactly the found ones.
        Assert.Equal(found, charges.Sum(l => l.Leads));
        Assert.Equal(found * 1m, charges.Sum(l => l.Credits.Value));
        Assert.Equal(5000m - found, balance.Balance.Value);
        Assert.Equal(0m, balance.Held.Value);
        Assert.True((await ledger.VerifyAsync(team, Ct)).Ok);
    }
}
