using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using CreditFunctions.Platform;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;
using static CreditFunctions.Tests.CsvJobs.CsvTestContext;

namespace CreditFunctions.Tests.CsvJobs;

/// <summary>The charging rules as a CSV job applies them (DOMAIN rules 2, 5, 8, 9).</summary>
public sealed class CsvChargingRulesTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static decimal Credits(string[] row) => decimal.Parse(row[^2], CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_lead_the_team_already_owns_costs_nothing_and_calls_no_vendor()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var owned = sandbox.Sample(knownBy: "leadmine", emailStatus: ("leadmine", EmailStatus.Valid)).First().Person;
        var revealed = await ctx.Inner.RevealAsync(owned, "email");
        Assert.Equal("found", revealed.GetProperty("email").GetProperty("status").GetString());
        var callsBefore = ctx.Inner.CallsFor("leadmine", owned) + ctx.Inner.CallsFor("mailscout", owned);
        var file = DirtyCsv.Generate([owned, .. sandbox.People.People.Skip(400).Take(5)]);

        var (id, _) = await ctx.QuotedAsync(file.Text, new { fileName = "owned.csv", enrich = true, validate = true });
        using var start = await ctx.StartJobAsync(id);
        await ctx.WaitForAsync(id, "completed");
        var row = (await ctx.ResultsAsync(id))[1];

        Assert.Equal(revealed.GetProperty("email").GetProperty("value").GetString(), row[6]);
        Assert.Equal(0m, Credits(row));
        Assert.Equal(callsBefore, ctx.Inner.CallsFor("leadmine", owned) + ctx.Inner.CallsFor("mailscout", owned));
    }

    [Fact]
    public async Task Validation_only_charges_half_a_credit_per_verdict_once_per_lead()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var people = sandbox.People.People.Skip(500).Take(30).ToList();
        var text = new StringBuilder("Full Name;E-Mail;Company\n");
        foreach (var p in people.Concat(people.Take(5)))
        {
            text.Append($"{p.FullName};{p.WorkEmail};{p.CompanyName}\n");
        }

        var (id, quoted) = await ctx.QuotedAsync(text.ToString(), new { fileName = "validate.csv", validate = true });
        using var start = await ctx.StartJobAsync(id);
        var done = await ctx.WaitForAsync(id, "completed");
        var rows = (await ctx.ResultsAsync(id)).Skip(1).ToList();
        var lines = (await ctx.LinesAsync()).Where(l => l.Action == "csv_validate").ToList();
        var verdicts = rows.Take(30).Count(r => r[4] is "valid" or "invalid" or "catch_all");

        Assert.Equal(17.5m, quoted.GetProperty("quote").GetProperty("maximumCredits").GetProperty("email").GetDecimal());
        Assert.InRange(verdicts, 1, 30);
        Assert.Equal(verdicts, lines.Sum(l => l.Leads));
        Assert.InRange(lines.Count, 1, 2);
        Assert.Equal(verdicts * 0.5m, lines.Sum(l => l.Credits.Value));
        Assert.Equal(verdicts * 0.5m, rows.Sum(Credits));
        Assert.All(rows.Skip(30), r => Assert.Equal(0m, Credits(r)));
        Assert.Equal(1000m - verdicts * 0.5m, (await ctx.BalanceAsync("email")).Available.Value);
        Assert.Equal(0m, (await ctx.BalanceAsync("email")).Held.Value);
        Assert.Equal(verdicts * 0.5m, done.GetProperty("credits").GetProperty("charged").GetProperty("email").GetDecimal());
    }

    [Fact]
    public async Task Phone_enrichment_charges_one_phone_credit_per_number_found_and_nothing_for_a_miss()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var file = DirtyCsv.Generate([.. sandbox.People.People.Skip(700).Take(40)]);

        var (id, quoted) = await ctx.QuotedAsync(file.Text, new { fileName = "phones.csv", phone = true });
        using var start = await ctx.StartJobAsync(id);
        await ctx.WaitForAsync(id, "completed");
        var rows = (await ctx.ResultsAsync(id)).Skip(1).ToList();
        var found = rows.Count(r => r[8].Length > 0);
        var phone = await ctx.BalanceAsync("phone");

        Assert.Equal(40m, quoted.GetProperty("quote").GetProperty("maximumCredits").GetProperty("phone").GetDecimal());
        Assert.Equal(0m, quoted.GetProperty("quote").GetProperty("maximumCredits").GetProperty("email").GetDecimal());
        Assert.InRange(found, 1, 39);
        Assert.Equal(found * 1m, rows.Sum(Credits));
        Assert.Equal(1000m - found, phone.Available.Value);
        Assert.Equal(0m, phone.Held.Value);
        Assert.Equal(1000m, (await ctx.BalanceAsync("email")).Available.Value);
    }

    [Fact]
    public async Task Auto_start_runs_a_quote_within_max_credits_and_leaves_one_above_it_quoted()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var small = DirtyCsv.Generate([.. sandbox.People.People.Skip(800).Take(4)]);
        var large = DirtyCsv.Generate([.. sandbox.People.People.Skip(900).Take(20)]);

        var (within, _) = await ctx.QuotedAsync(small.Text, new { enrich = true, maxCredits = 2, autoStart = true });
        var (above, _) = await ctx.QuotedAsync(large.Text, new { enrich = true, maxCredits = 2, autoStart = true });
        var ran = await ctx.WaitForAsync(within, "completed");
        var waiting = await ctx.GetAsync(above);
        using var manual = await ctx.StartJobAsync(above);

        Assert.Equal("completed", ran.GetProperty("status").GetString());
        Assert.Equal("quoted", waiting.GetProperty("status").GetString());
        Assert.Contains("maxCredits", waiting.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, manual.StatusCode);
        Assert.Equal(0m, (await ctx.BalanceAsync("email")).Held.Value);
    }

    [Fact]
    public async Task The_end_of_a_job_is_posted_to_its_webhook_signed()
    {
        var deliveries = new ConcurrentQueue<(string Body, string? Signature)>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var receiver = builder.Build();
        receiver.MapPost("/hook", async (HttpRequest request) =>
        {
            deliveries.Enqueue((await new StreamReader(request.Body).ReadToEndAsync(), request.Headers[WebhookSender.SignatureHeader].FirstOrDefault()));
            return Results.Ok();
        });
        await receiver.StartAsync(Ct);
        await using var ctx = await StartAsync(azurite, sandbox, settings: new Dictionary<string, string?> { [EgressGuard.AllowSetting] = receiver.Urls.First() });

        var (id, _) = await ctx.QuotedAsync(DirtyCsv.Generate([.. sandbox.People.People.Skip(950).Take(5)]).Text,
            new { enrich = true, autoStart = true, webhookUrl = receiver.Urls.First() + "/hook" });
        var done = await ctx.WaitForAsync(id, "completed");
        while (done.GetProperty("webhook").ValueKind == System.Text.Json.JsonValueKind.Null)
        {
            await Task.Delay(100, Ct);
            done = await ctx.GetAsync(id);
        }
        var secrets = await ctx.App.Services.GetRequiredService<EnrichmentSettingsStore>()
            .GetOrCreateWebhookSecretsAsync(ctx.TeamId, () => throw new InvalidOperationException("no secret"), DateTimeOffset.UtcNow, Ct);

        Assert.Equal("delivered", done.GetProperty("webhook").GetString());
        var (body, signature) = Assert.Single(deliveries);
        Assert.Contains("\"type\":\"csv_job.completed\"", body, StringComparison.Ordinal);
        Assert.Contains(id, body, StringComparison.Ordinal);
        Assert.True(WebhookSender.Verify(secrets!.Current, signature!, body, DateTimeOffset.UtcNow, WebhookSender.TimestampTolerance));
    }
}
