using System.Net;
using Microsoft.Extensions.DependencyInjection;
using System.Text.Json;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

[Collection(nameof(WaterfallTests))]
public sealed class WaterfallTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private Person Person(string? knownBy = null, string? unknownBy = null, EmailStatus? status = null, int skip = 0) =>
        sandbox.Sample(knownBy, unknownBy, status is { } s && knownBy is not null ? (knownBy, s) : null).Skip(skip).First().Person;

    [Fact]
    public async Task Providers_are_asked_in_order_and_the_waterfall_stops_at_the_first_hit()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var first = Person(knownBy: "leadmine", status: EmailStatus.Valid);
        var second = sandbox.Sample(knownBy: "mailscout", unknownBy: "leadmine").First().Person;

        var a = await ctx.RevealAsync(first, "email");
        var b = await ctx.RevealAsync(second, "email");

        Assert.Equal("leadmine", a.GetProperty("email").GetProperty("provider").GetString());
        Assert.Equal(0, ctx.CallsFor("mailscout", first));
        Assert.Equal("mailscout", b.GetProperty("email").GetProperty("provider").GetString());
        Assert.Equal(["leadmine", "mailscout"], b.GetProperty("email").GetProperty("tried").EnumerateArray().Select(t => t.GetProperty("provider").GetString()));
        Assert.Equal(1, ctx.CallsFor("leadmine", second));
    }

    [Fact]
    public async Task A_hit_costs_one_credit_and_a_miss_everywhere_costs_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 5);
        var known = Person(knownBy: "leadmine", status: EmailStatus.Valid);
        var nobody = sandbox.Sample(unknownBy: "leadmine").First(p => !p.Vendors["mailscout"].Known).Person;

        var hit = await ctx.RevealAsync(known, "email");
        var afterHit = await ctx.AvailableAsync("email");
        var miss = await ctx.RevealAsync(nobody, "email");

        Assert.Equal("found", hit.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal(1m, hit.GetProperty("email").GetProperty("credits").GetDecimal());
        Assert.Equal(4m, afterHit);
        Assert.Equal("not_found", miss.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal(2, miss.GetProperty("email").GetProperty("tried").GetArrayLength());
        Assert.Equal(4m, await ctx.AvailableAsync("email"));
    }

    [Fact]
    public async Task A_reveal_reads_the_persons_stored_contact_once()
    {
        var reads = new PointReadCounter(ContactStore.RowPrefix);
        await using var ctx = await StartAsync(azurite, sandbox, configureServices: services =>
        {
            var options = new Azure.Data.Tables.TableClientOptions();
            options.AddPolicy(reads, Azure.Core.HttpPipelinePosition.PerRetry);
            services.AddSingleton(new Azure.Data.Tables.TableServiceClient(azurite.ConnectionString, options));
        });

        var revealed = await ctx.RevealAsync(Person(knownBy: "leadmine", status: EmailStatus.Valid), "email");

        Assert.Equal("found", revealed.GetProperty("email").GetProperty("status").GetString());
        // Read once to check the balance (owned data needs none) and used again by the waterfall: not read twice.
        Assert.Equal(1, reads.Count);
    }


    [Fact]
    public async Task The_same_reveal_twice_charges_once_and_the_second_calls_no_provider()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 5);
        var person = Person(knownBy: "leadmine", status: EmailStatus.Valid);

        var first = await ctx.RevealAsync(person, "email");
        var callsAfterFirst = ctx.Calls("leadmine") + ctx.Calls("mailscout") + ctx.Calls("verifly");
        var second = await ctx.RevealAsync(person, "email");

        Assert.Equal("found", first.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal("already_owned", second.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal(first.GetProperty("email").GetProperty("value").GetString(), second.GetProperty("email").GetProperty("value").GetString());
        Assert.Equal(0m, second.GetProperty("email").GetProperty("credits").GetDecimal());
        Assert.Equal(callsAfterFirst, ctx.Calls("leadmine") + ctx.Calls("mailscout") + ctx.Calls("verifly"));
        Assert.Equal(4m, await ctx.AvailableAsync("email"));
        var lines = await ctx.Ledger.QueryUsageAsync(new CreditFunctions.Ledger.UsageQuery(ctx.TeamId), Ct);
        Assert.Equal(2, lines.Lines.Count(l => l.Action == "email_reveal"));
    }

    [Fact]
    public async Task A_phone_not_found_costs_no_phone_credit_while_the_email_is_charged()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 5, phone: 5);
        var person = sandbox.Sample(knownBy: "leadmine", unknownBy: "dialbase").First(p => p.Vendors["leadmine"].EmailStatus == EmailStatus.Valid).Person;

        var result = await ctx.RevealAsync(person, "email", "phone");

        Assert.Equal("found", result.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal("not_found", result.GetProperty("phone").GetProperty("status").GetString());
        Assert.Equal(4m, await ctx.AvailableAsync("email"));
        Assert.Equal(5m, await ctx.AvailableAsync("phone"));
    }

    [Fact]
    public async Task An_invalid_email_counts_as_a_miss_and_the_waterfall_goes_on()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var person = sandbox.Sample(knownBy: "leadmine", emailStatus: ("leadmine", EmailStatus.Invalid)).First(p => p.Vendors["mailscout"].Known && p.Vendors["mailscout"].EmailStatus == EmailStatus.Valid).Person;

        var result = await ctx.RevealAsync(person, "email");

        var email = result.GetProperty("email");
        Assert.Equal("mailscout", email.GetProperty("provider").GetString());
        Assert.Equal("invalid", email.GetProperty("tried")[0].GetProperty("outcome").GetString());
        Assert.Equal(99m, await ctx.AvailableAsync("email"));
    }

    [Fact]
    public async Task A_catch_all_email_is_accepted_and_labelled()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var person = Person(knownBy: "leadmine", status: EmailStatus.CatchAll);

        var result = await ctx.RevealAsync(person, "email");

        Assert.Equal("found", result.GetProperty("email").GetProperty("status").GetString());
        Assert.Equal("catch_all", result.GetProperty("email").GetProperty("verification").GetString());
    }

    [Fact]
    public async Task Insufficient_credits_answer_402_before_any_provider_is_called()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 0, phone: 0);
        var person = Person(knownBy: "leadmine", status: EmailStatus.Valid);

        var reveal = await ctx.PostAsync("/api/v1/people/reveal", new { person = SandboxVendors.Input(person), data = new[] { "email" } });
        var bulk = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people = new[] { SandboxVendors.Input(person) }, data = new[] { "email" } });

        Assert.Equal(HttpStatusCode.PaymentRequired, reveal.StatusCode);
        Assert.Equal(HttpStatusCode.PaymentRequired, bulk.StatusCode);
        Assert.Equal("email", (await JsonAsync(reveal)).GetProperty("creditType").GetString());
        Assert.Equal(0, ctx.Calls("leadmine") + ctx.Calls("mailscout") + ctx.Calls("verifly"));
        Assert.Empty((await ctx.Ledger.QueryUsageAsync(new CreditFunctions.Ledger.UsageQuery(ctx.TeamId), Ct)).Lines);
    }

    [Fact]
    public async Task A_provider_answering_429_is_retried_after_Retry_After_and_its_hit_is_used()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var person = Person(knownBy: "leadmine", status: EmailStatus.Valid);
        sandbox.Configure("leadmine", v => v with { Script = [ScriptedResponse.RateLimited] });

        var result = await ctx.RevealAsync(person, "email");

        Assert.Equal("leadmine", result.GetProperty("email").GetProperty("provider").GetString());
        var calls = sandbox.Stats("leadmine").Calls.Where(c => c.PersonId == person.Id).ToList();
        Assert.Equal([429, 200], calls.Select(c => c.Status ?? 0));
        Assert.True(calls[1].ReceivedAt - calls[0].ReceivedAt >= TimeSpan.FromSeconds(0.9), "the retry did not wait for Retry-After");
    }

    [Fact]
    public async Task A_dead_provider_is_skipped_by_its_breaker_and_the_next_one_finds_the_data()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        sandbox.Configure("leadmine", v => v with { Outage = true });
        var people = sandbox.Sample(knownBy: "mailscout").Where(p => p.Vendors["mailscout"].EmailStatus == EmailStatus.Valid).Take(30).Select(p => SandboxVendors.Input(p.Person)).ToArray();

        var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } });
        var state = await ctx.WaitForRunAsync(started.Headers.Location!.ToString());

        var results = state.GetProperty("people").EnumerateArray().Select(p => p.GetProperty("email")).ToList();
        Assert.All(results, r => Assert.Equal("mailscout", r.GetProperty("provider").GetString()));
        Assert.Contains(results, r => r.GetProperty("tried")[0].GetProperty("detail").GetString() == "CircuitOpen");
        Assert.True(ctx.Calls("leadmine") < 30 * 3, "every person still called the dead provider");
    }

    [Fact]
    public async Task A_chunk_that_fails_after_charging_is_retried_and_charges_once()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 5);
        var person = Person(knownBy: "leadmine", status: EmailStatus.Valid, skip: 3);
        var personId = WaterfallPerson.IdFor(SandboxVendors.Input(person));
        var failures = 0;
        WaterfallEngine.FailAfterChargeForTests = id => id == personId && Interlocked.Increment(ref failures) == 1;
        try
        {
            using var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people = new[] { SandboxVendors.Input(person) }, data = new[] { "email" } });
            Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
            var run = await ctx.WaitForRunAsync(started.Headers.Location!.ToString());

            Assert.True(failures >= 1, "the injected failure after the charge never fired");
            Assert.Equal("found", run.GetProperty("people")[0].GetProperty("email").GetProperty("status").GetString());
            Assert.Equal(4m, await ctx.AvailableAsync("email"));
            var lines = await ctx.Ledger.QueryUsageAsync(new CreditFunctions.Ledger.UsageQuery(ctx.TeamId), Ct);
            Assert.Single(lines.Lines, l => l.Action == "api_waterfall_email");
        }
        finally
        {
            WaterfallEngine.FailAfterChargeForTests = null;
        }
    }

    [Fact]
    public async Task The_same_bulk_request_started_twice_runs_once()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var people = sandbox.Sample(knownBy: "leadmine").Where(p => p.Vendors["leadmine"].EmailStatus == EmailStatus.Valid).Take(3).Select(p => SandboxVendors.Input(p.Person)).ToArray();

        var first = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } }, "webhook-delivery-7");
        var second = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } }, "webhook-delivery-7");
        await ctx.WaitForRunAsync(first.Headers.Location!.ToString());

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal(7m, await ctx.AvailableAsync("email"));
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task Another_teams_run_is_not_found()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var people = new[] { SandboxVendors.Input(Person(knownBy: "leadmine")) };
        var started = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people, data = new[] { "email" } });
        var (_, otherAdmin) = await ctx.App.NewTeamAsync("eve");

        var peek = await ctx.App.GetAsync(started.Headers.Location!.ToString(), otherAdmin.Key);
        var body = await JsonAsync(started);
        var terminate = await ctx.App.SendAsync(HttpMethod.Post, body.GetProperty("terminatePostUri").GetString()!.Replace("?reason={text}", "", StringComparison.Ordinal), otherAdmin.Key);

        Assert.Equal(HttpStatusCode.NotFound, peek.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, terminate.StatusCode);
    }

    [Fact]
    public async Task Bad_input_names_the_field_and_starts_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox);

        var noData = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people = new[] { new { firstName = "Ada" } }, data = new[] { "fax" } });
        var tooMany = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people = Enumerable.Range(0, 1001).Select(_ => new { linkedInUrl = "https://www.linkedin.com/in/x" }), data = new[] { "email" } });
        var badHook = await ctx.PostAsync("/api/v1/enrichment/waterfall", new { people = new[] { new { linkedInUrl = "https://www.linkedin.com/in/x" } }, data = new[] { "email" }, webhookUrl = "ftp://x" });

        var errors = (await JsonAsync(noData)).GetProperty("errors");
        Assert.True(errors.TryGetProperty("data", out _));
        Assert.True(errors.TryGetProperty("people[0]", out _));
        Assert.True((await JsonAsync(tooMany)).GetProperty("errors").TryGetProperty("people", out _));
        Assert.True((await JsonAsync(badHook)).GetProperty("errors").TryGetProperty("webhookUrl", out _));
        Assert.Equal(0, ctx.Calls("leadmine") + ctx.Calls("mailscout"));
    }
}
