using System.Net;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Prospects;
using CreditFunctions.Tests.Providers;
using CreditFunctions.Tests.Waterfall;
using CreditFunctions.TestSupport;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Prospects;

/// <summary>DOMAIN rules 2, 3 and 6: adding a lead to a list, enrolling it in a sequence or exporting it to the CRM costs
/// 1 email credit unless its email is owned, and combined in one action they cost 1; a list exports raw for free, or
/// enriched at 1 email credit per lead not owned and 1 phone credit per number found.</summary>
public sealed class ProspectActionTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private IEnumerable<Person> Findable() =>
        sandbox.Sample(knownBy: "leadmine", emailStatus: ("leadmine", EmailStatus.Valid)).Select(p => p.Person);

    private Person Nobody() => sandbox.Sample(unknownBy: "leadmine").First(p => !p.Vendors["mailscout"].Known).Person;

    [Fact]
    public async Task Adding_a_lead_to_a_list_costs_one_credit_and_exporting_it_to_the_crm_afterwards_costs_nothing_more()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var person = Findable().First();
        var list = await CreateAsync(ctx, "/api/v1/lists", "Q4 event");

        var added = await JsonAsync(await ctx.PostAsync($"/api/v1/lists/{list}/members", new { people = new[] { SandboxVendors.Input(person) } }));
        var exported = await JsonAsync(await ctx.PostAsync("/api/v1/crm/exports", new { people = new[] { SandboxVendors.Input(person) } }));

        var lead = added.GetProperty("leads")[0];
        Assert.Equal(("enriched", 1m, "added"), (lead.GetProperty("status").GetString(), lead.GetProperty("credits").GetDecimal(),
            lead.GetProperty("actions")[0].GetProperty("status").GetString()));
        Assert.Equal(("owned", 0m, "exported"), (exported.GetProperty("leads")[0].GetProperty("status").GetString(), exported.GetProperty("credits").GetDecimal(),
            exported.GetProperty("leads")[0].GetProperty("actions")[0].GetProperty("status").GetString()));
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        var charge = Assert.Single(await ChargesAsync(ctx), l => l.Credits.Value > 0);
        Assert.Equal(("prospecting", "add_to_list"), (charge.Feature, charge.Action));
        Assert.Contains("Q4 event", charge.Description, StringComparison.Ordinal);
        var received = Assert.Single(sandbox.Server.Vendors.CrmContacts(CrmOptions.SandboxCrm)!);
        Assert.Equal(lead.GetProperty("email").GetString(), received["email"]!.GetValue<string>());
        Assert.Equal(lead.GetProperty("contactId").GetString(), received["externalId"]!.GetValue<string>());
        var members = await JsonAsync(await ctx.App.GetAsync($"/api/v1/lists/{list}/members", ctx.Key));
        Assert.Equal(lead.GetProperty("contactId").GetString(), Assert.Single(members.GetProperty("members").EnumerateArray()).GetProperty("contactId").GetString());
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_list_a_crm_export_and_a_sequence_combined_in_one_action_cost_one_credit_per_lead()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var people = Findable().Take(2).Select(SandboxVendors.Input).ToArray();
        var list = await CreateAsync(ctx, "/api/v1/lists", "Champions");
        var sequence = await CreateAsync(ctx, "/api/v1/sequences", "Welcome");

        var result = await JsonAsync(await ctx.PostAsync("/api/v1/prospects/actions", new
        {
            people,
            actions = new object[] { new { type = "add_to_list", listId = list }, new { type = "export_to_crm" }, new { type = "add_to_sequence", sequenceId = sequence } },
        }));

        Assert.Equal(2m, result.GetProperty("credits").GetDecimal());
        Assert.Equal(8m, await ctx.AvailableAsync("email"));
        Assert.All(result.GetProperty("leads").EnumerateArray(), lead =>
            Assert.Equal(["added", "exported", "enrolled"], lead.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("status").GetString())));
        var charges = (await ChargesAsync(ctx)).Where(l => l.Credits.Value > 0).ToList();
        Assert.Equal(2, charges.Count);
        Assert.All(charges, c =>
        {
            Assert.Equal(("prospecting", "add_to_list"), (c.Feature, c.Action));
            Assert.Contains("Champions", c.Description, StringComparison.Ordinal);
            Assert.Contains("exported to CRM", c.Description, StringComparison.Ordinal);
            Assert.Contains("Welcome", c.Description, StringComparison.Ordinal);
        });
        Assert.Equal(2, sandbox.Server.Vendors.CrmContacts(CrmOptions.SandboxCrm)!.Count);
        var enrolled = await JsonAsync(await ctx.App.GetAsync($"/api/v1/sequences/{sequence}/enrollments", ctx.Key));
        Assert.Equal(2, enrolled.GetProperty("members").GetArrayLength());
    }

    [Fact]
    public async Task A_lead_revealed_earlier_costs_nothing_in_any_action_and_no_vendor_is_asked()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var person = Findable().First();
        await ctx.RevealAsync(person, "email");
        var list = await CreateAsync(ctx, "/api/v1/lists", "Known");
        var sequence = await CreateAsync(ctx, "/api/v1/sequences", "Nurture");
        var callsBefore = ctx.Calls("leadmine") + ctx.Calls("mailscout");

        var combined = await JsonAsync(await ctx.PostAsync("/api/v1/prospects/actions", new
        {
            people = new[] { SandboxVendors.Input(person) },
            actions = new object[] { new { type = "add_to_list", listId = list }, new { type = "export_to_crm" } },
        }));
        var enrolled = await JsonAsync(await ctx.PostAsync($"/api/v1/sequences/{sequence}/enrollments", new { people = new[] { SandboxVendors.Input(person) } }));

        Assert.Equal((0m, "owned"), (combined.GetProperty("credits").GetDecimal(), combined.GetProperty("leads")[0].GetProperty("status").GetString()));
        Assert.Equal((0m, "enrolled"), (enrolled.GetProperty("credits").GetDecimal(), enrolled.GetProperty("leads")[0].GetProperty("actions")[0].GetProperty("status").GetString()));
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        Assert.Equal(callsBefore, ctx.Calls("leadmine") + ctx.Calls("mailscout"));
    }

    [Fact]
    public async Task A_lead_whose_email_is_not_found_costs_nothing_is_listed_but_not_enrolled_and_an_unknown_contact_id_is_left_alone()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var list = await CreateAsync(ctx, "/api/v1/lists", "Maybe");
        var sequence = await CreateAsync(ctx, "/api/v1/sequences", "Cold");

        var result = await JsonAsync(await ctx.PostAsync("/api/v1/prospects/actions", new
        {
            people = new[] { SandboxVendors.Input(Nobody()) },
            contactIds = new[] { "p_" + new string('a', 24) },
            actions = new object[] { new { type = "add_to_list", listId = list }, new { type = "add_to_sequence", sequenceId = sequence } },
        }));

        var (missing, unknown) = (result.GetProperty("leads")[0], result.GetProperty("leads")[1]);
        Assert.Equal(("not_found", 0m), (missing.GetProperty("status").GetString(), missing.GetProperty("credits").GetDecimal()));
        Assert.Equal(["added", "skipped_no_email"], missing.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("status").GetString()));
        Assert.Equal(("unknown_contact", 0), (unknown.GetProperty("status").GetString(), unknown.GetProperty("actions").GetArrayLength()));
        Assert.Equal(10m, await ctx.AvailableAsync("email"));
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task Dry_runs_answer_the_cost_per_lead_and_charge_write_and_ask_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var owned = Findable().First();
        await ctx.RevealAsync(owned, "email");
        var list = await CreateAsync(ctx, "/api/v1/lists", "Dry");
        // On the list with its email owned, its number not: an enriched export with phone could cost 1 phone credit.
        await ctx.PostAsync($"/api/v1/lists/{list}/members", new { people = new[] { SandboxVendors.Input(owned) } });
        var callsBefore = ctx.Calls("leadmine") + ctx.Calls("mailscout") + ctx.Calls("dialbase");
        var linesBefore = (await ChargesAsync(ctx)).Count;

        var quote = await JsonAsync(await ctx.PostAsync("/api/v1/prospects/actions", new
        {
            people = new[] { SandboxVendors.Input(owned), SandboxVendors.Input(Findable().Skip(1).First()) },
            actions = new object[] { new { type = "add_to_list", listId = list }, new { type = "export_to_crm" } },
            dryRun = true,
        }));
        var exportQuote = await JsonAsync(await ctx.PostAsync($"/api/v1/lists/{list}/exports", new { enrich = true, phone = true, dryRun = true }));

        Assert.True(quote.GetProperty("dryRun").GetBoolean());
        Assert.Equal(1m, quote.GetProperty("credits").GetDecimal());
        Assert.Equal(["owned", "would_enrich"], quote.GetProperty("leads").EnumerateArray().Select(l => l.GetProperty("status").GetString()));
        Assert.Equal((1, 1m, true), (exportQuote.GetProperty("rows").GetInt32(), exportQuote.GetProperty("atMost").GetDecimal(),
            exportQuote.GetProperty("dryRun").GetBoolean()));
        Assert.Equal(JsonValueKind.Null, exportQuote.GetProperty("downloadUrl").ValueKind);
        Assert.Equal(callsBefore, ctx.Calls("leadmine") + ctx.Calls("mailscout") + ctx.Calls("dialbase"));
        Assert.Equal(linesBefore, (await ChargesAsync(ctx)).Count);
        Assert.Equal(1, (await JsonAsync(await ctx.App.GetAsync($"/api/v1/lists/{list}", ctx.Key))).GetProperty("members").GetInt32());
        Assert.Empty(sandbox.Server.Vendors.CrmContacts(CrmOptions.SandboxCrm)!);
    }

    [Fact]
    public async Task A_short_balance_is_402_before_any_vendor_and_nothing_is_added_or_held()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 1);
        var list = await CreateAsync(ctx, "/api/v1/lists", "Too many");

        using var refused = await ctx.PostAsync($"/api/v1/lists/{list}/members", new { people = Findable().Take(2).Select(SandboxVendors.Input).ToArray() });

        Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        var problem = await JsonAsync(refused);
        Assert.Equal((2m, 1m), (problem.GetProperty("needed").GetDecimal(), problem.GetProperty("available").GetDecimal()));
        Assert.Equal(0, ctx.Calls("leadmine") + ctx.Calls("mailscout"));
        Assert.Equal(0, (await JsonAsync(await ctx.App.GetAsync($"/api/v1/lists/{list}", ctx.Key))).GetProperty("members").GetInt32());
        var balance = (await ctx.Ledger.GetBalancesAsync(ctx.TeamId, Ct)).Single(b => b.CreditType == "email");
        Assert.Equal((1m, 0m), (balance.Available.Value, balance.Held.Value));
    }

    [Fact]
    public async Task A_raw_export_is_free_and_escapes_formulas_and_an_enriched_export_charges_email_per_lead_not_owned_and_phone_per_number_found()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10, phone: 10);
        var owned = Findable().First();
        await ctx.RevealAsync(owned, "email");
        var dialbase = sandbox.Sample(knownBy: "dialbase").Select(p => p.Person.Id).ToHashSet();
        var fresh = Findable().Skip(1).First(p => dialbase.Contains(p.Id));
        var list = await CreateAsync(ctx, "/api/v1/lists", "Export me");
        // The email vendors are down while the leads are added: the fresh lead joins the list without an email (and
        // costs nothing), so the export is what buys it.
        foreach (var vendor in new[] { "leadmine", "mailscout" })
        {
            sandbox.Configure(vendor, v => v with { Outage = true });
        }
        var formula = new { firstName = "=HYPERLINK(\"http://x\")", lastName = "Evil", companyDomain = "nowhere.example" };
        var added = await JsonAsync(await ctx.PostAsync($"/api/v1/lists/{list}/members",
            new { people = new object[] { SandboxVendors.Input(owned), SandboxVendors.Input(fresh), formula } }));
        foreach (var vendor in new[] { "leadmine", "mailscout" })
        {
            sandbox.Configure(vendor, v => v with { Outage = false });
        }
        Assert.Equal(["owned", "not_found", "not_found"], added.GetProperty("leads").EnumerateArray().Select(l => l.GetProperty("status").GetString()));
        Assert.Equal((9m, 10m), (await ctx.AvailableAsync("email"), await ctx.AvailableAsync("phone")));

        var raw = await JsonAsync(await ctx.PostAsync($"/api/v1/lists/{list}/exports", new { enrich = false }));
        var rawCsv = await DownloadAsync(raw);

        Assert.Equal(3, raw.GetProperty("rows").GetInt32());
        Assert.Equal((9m, 10m), (await ctx.AvailableAsync("email"), await ctx.AvailableAsync("phone")));
        Assert.Contains("'=HYPERLINK", rawCsv, StringComparison.Ordinal);
        Assert.DoesNotContain(",=HYPERLINK", rawCsv, StringComparison.Ordinal);
        Assert.Contains(await ChargesAsync(ctx), l => (l.Feature, l.Action, l.Credits.Value) == ("exports", "raw_export", 0m));

        var enriched = await JsonAsync(await ctx.PostAsync($"/api/v1/lists/{list}/exports", new { enrich = true, phone = true }));
        var enrichedCsv = await DownloadAsync(enriched);

        var phones = new[] { owned, fresh }.Count(p => dialbase.Contains(p.Id));
        Assert.Equal((1m, (decimal)phones), (enriched.GetProperty("emailCredits").GetDecimal(), enriched.GetProperty("phoneCredits").GetDecimal()));
        Assert.Equal((8m, 10m - phones), (await ctx.AvailableAsync("email"), await ctx.AvailableAsync("phone")));
        var charges = (await ChargesAsync(ctx)).Where(l => l.Credits.Value > 0 && l.Feature == "exports").ToList();
        Assert.Equal(1 + phones, charges.Count);
        Assert.All(charges, c => Assert.Contains("Export me", c.Description, StringComparison.Ordinal));
        var rows = enrichedCsv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, rows.Length);
        Assert.Contains(rows, r => r.StartsWith(added.GetProperty("leads")[1].GetProperty("contactId").GetString()!, StringComparison.Ordinal) && r.Contains('@'));
        Assert.All((await ctx.Ledger.GetBalancesAsync(ctx.TeamId, Ct)), b => Assert.Equal(0m, b.Held.Value));
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task An_enriched_export_above_max_credits_is_refused_before_anything_and_another_teams_list_is_404()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var list = await CreateAsync(ctx, "/api/v1/lists", "Capped");
        await ctx.PostAsync($"/api/v1/lists/{list}/members", new { people = new object[] { SandboxVendors.Input(Nobody()) } });
        var (_, otherKey) = await ctx.App.NewTeamAsync("zoe");

        using var over = await ctx.PostAsync($"/api/v1/lists/{list}/exports", new { enrich = true, maxCredits = 0 });
        using var foreign = await ctx.App.SendAsync(HttpMethod.Post, $"/api/v1/lists/{list}/members", otherKey.Key,
            System.Net.Http.Json.JsonContent.Create(new { people = new[] { SandboxVendors.Input(Nobody()) } }));
        using var foreignRead = await ctx.App.GetAsync($"/api/v1/lists/{list}/members", otherKey.Key);

        Assert.Equal(HttpStatusCode.Conflict, over.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, foreignRead.StatusCode);
        // The other team's add wrote nothing to the list.
        Assert.Equal(1, (await JsonAsync(await ctx.App.GetAsync($"/api/v1/lists/{list}", ctx.Key))).GetProperty("members").GetInt32());
    }

    [Fact]
    public async Task Bad_input_is_400_naming_the_field_and_nothing_is_written()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var list = await CreateAsync(ctx, "/api/v1/lists", "Strict");

        var cases = new (string Path, object Body, string Field)[]
        {
            ("/api/v1/prospects/actions", new { people = new[] { SandboxVendors.Input(Nobody()) }, actions = new[] { new { type = "add_to_crm" } } }, "actions[0].type"),
            ("/api/v1/prospects/actions", new { people = new[] { SandboxVendors.Input(Nobody()) }, actions = new[] { new { type = "add_to_list" } } }, "actions[0].listId"),
            ("/api/v1/prospects/actions", new { people = new[] { SandboxVendors.Input(Nobody()) } }, "actions"),
            ($"/api/v1/lists/{list}/members", new { people = new[] { new { firstName = "Ada" } } }, "people[0]"),
            ($"/api/v1/lists/{list}/members", new { contactIds = new[] { "nope" } }, "contactIds[0]"),
            ($"/api/v1/lists/{list}/members", new { }, "people"),
            ($"/api/v1/lists/{list}/exports", new { enrich = false, phone = true }, "phone"),
            ("/api/v1/lists", new { name = "" }, "name"),
            ("/api/v1/saved-searches", new { name = "Hot leads" }, "query"),
        };
        foreach (var (path, body, field) in cases)
        {
            using var response = await ctx.PostAsync(path, body);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path} {JsonSerializer.Serialize(body)}: {(int)response.StatusCode}");
            Assert.True((await JsonAsync(response)).GetProperty("errors").TryGetProperty(field, out _), $"{path}: no error for {field}");
        }
        var saved = await JsonAsync(await ctx.PostAsync("/api/v1/saved-searches", new { name = "Hot leads", query = new { title = "CTO", country = "DE" } }));
        Assert.Equal("CTO", saved.GetProperty("query").GetProperty("title").GetString());
        Assert.Equal(0, (await JsonAsync(await ctx.App.GetAsync($"/api/v1/lists/{list}", ctx.Key))).GetProperty("members").GetInt32());
        Assert.Empty(await ChargesAsync(ctx));
    }

    private static async Task<string> CreateAsync(WaterfallTestContext ctx, string path, string name)
    {
        using var response = await ctx.PostAsync(path, new { name });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await JsonAsync(response)).GetProperty("id").GetString()!;
    }

    private static async Task<string> DownloadAsync(JsonElement export)
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(export.GetProperty("downloadUrl").GetString(), Ct);
    }

    private static async Task<List<UsageLine>> ChargesAsync(WaterfallTestContext ctx)
    {
        var lines = new List<UsageLine>();
        await foreach (var line in ctx.Ledger.StreamUsageAsync(new UsageQuery(ctx.TeamId) { From = DateTimeOffset.UtcNow.AddDays(-1), To = DateTimeOffset.UtcNow.AddMinutes(1) }, Ct))
        {
            lines.Add(line);
        }
        return lines;
    }
}
