using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

/// <summary>The credit API end to end: the real app over HTTP on the test Azurite.</summary>
public sealed class LedgerApiTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<HttpResponseMessage> PostAsync(TestApp app, string path, string key, object? body, string? idempotencyKey = "auto")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = body is null ? null : JsonContent.Create(body),
        };
        request.Headers.Authorization = new("Bearer", key);
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey == "auto" ? Guid.NewGuid().ToString("N") : idempotencyKey);
        }
        return await app.Client.SendAsync(request, Ct);
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;

    private static async Task<decimal> AvailableAsync(TestApp app, string key, string creditType)
    {
        var balances = await JsonAsync(await app.GetAsync("/api/v1/credits/balances", key));
        return balances.GetProperty("balances").EnumerateArray().Single(b => b.GetProperty("creditType").GetString() == creditType).GetProperty("available").GetDecimal();
    }

    private static async Task<(TestApp App, string Admin, string Member)> StartAsync(AzuriteFixture azurite, decimal email = 10)
    {
        var (app, _, admin, member, _) = await StartWithOperatorAsync(azurite, email);
        return (app, admin, member);
    }

    private static async Task<(TestApp App, string Team, string Admin, string Member, string Operator)> StartWithOperatorAsync(AzuriteFixture azurite, decimal email = 10)
    {
        var app = await TestApp.StartAsync(azurite);
        var (team, admin) = await app.NewTeamAsync();
        var member = await app.NewKeyAsync(team, "bob", "member");
        var operatorKey = await app.NewOperatorAsync();
        var grant = await PostAsync(app, "/api/v1/credits/grants", operatorKey, new { teamId = team, creditType = "ai_research", amount = email, kind = "top_up" });
        Assert.True(grant.StatusCode == HttpStatusCode.Created, await grant.Content.ReadAsStringAsync(Ct));
        var emailGrant = await PostAsync(app, "/api/v1/credits/grants", operatorKey, new { teamId = team, creditType = "email", amount = 10, kind = "top_up" });
        Assert.Equal(HttpStatusCode.Created, emailGrant.StatusCode);
        return (app, team, admin.Key, member.Key, operatorKey);
    }

    [Fact]
    public async Task Grants_and_refunds_are_platform_actions_a_team_admin_gets_403_and_an_operator_key_names_the_team()
    {
        var (app, team, admin, _, operatorKey) = await StartWithOperatorAsync(azurite);
        await using var _ = app;
        var charge = await JsonAsync(await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "ai_research", action = "person_research", subjectId = "p1" }));
        var chargeId = charge.GetProperty("lineId").GetString();

        var adminGrant = await PostAsync(app, "/api/v1/credits/grants", admin, new { teamId = team, creditType = "ai_research", amount = 1000, kind = "top_up" });
        var adminRefund = await PostAsync(app, "/api/v1/credits/refunds", admin, new { teamId = team, chargeId, reason = "mine" });
        Assert.Equal(HttpStatusCode.Forbidden, adminGrant.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, adminRefund.StatusCode);
        Assert.Equal(9m, await AvailableAsync(app, admin, "ai_research"));

        var refund = await PostAsync(app, "/api/v1/credits/refunds", operatorKey, new { teamId = team, chargeId, reason = "Email bounced" });
        Assert.Equal(HttpStatusCode.Created, refund.StatusCode);
        Assert.Equal(10m, await AvailableAsync(app, admin, "ai_research"));
        var lines = await JsonAsync(await app.GetAsync("/api/v1/credits/usage?includeRefunds=true", admin));
        Assert.Contains(lines.GetProperty("lines").EnumerateArray(), l => l.GetProperty("user").GetString() == "operator.billing");
    }

    [Fact]
    public async Task An_operator_key_reaches_nothing_else_of_a_teams_data()
    {
        var (app, _, _, _, operatorKey) = await StartWithOperatorAsync(azurite);
        await using var running = app;

        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync("/api/v1/credits/balances", operatorKey)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync("/api/v1/credits/usage", operatorKey)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(app, "/api/v1/credits/charges", operatorKey, new { feature = "ai_research", action = "person_research", subjectId = "p" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync("/api/v1/teams/platform/keys", operatorKey)).StatusCode);
    }

    [Fact]
    public async Task A_grant_naming_no_team_or_an_unknown_team_is_400_naming_teamId_and_writes_nothing()
    {
        var (app, _, admin, _, operatorKey) = await StartWithOperatorAsync(azurite);
        await using var running = app;

        foreach (var teamId in new string?[] { null, "no-such-team", "platform", "Bad Team!" })
        {
            var response = await PostAsync(app, "/api/v1/credits/grants", operatorKey, new { teamId, creditType = "ai_research", amount = 5, kind = "top_up" });
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.True((await JsonAsync(response)).GetProperty("errors").TryGetProperty("teamId", out _));
        }
        Assert.Equal(10m, await AvailableAsync(app, admin, "ai_research"));
    }

    [Fact]
    public async Task A_charge_answers_201_and_the_same_request_again_answers_the_first_result_without_charging()
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;
        var body = new { feature = "ai_research", action = "person_research", subjectId = "person-1", description = "Ada Lovelace" };

        var first = await PostAsync(app, "/api/v1/credits/charges", admin, body, "charge-1");
        var again = await PostAsync(app, "/api/v1/credits/charges", admin, body, "charge-1");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var (a, b) = (await JsonAsync(first), await JsonAsync(again));
        Assert.Equal("charged", a.GetProperty("status").GetString());
        Assert.Equal(1m, a.GetProperty("amount").GetDecimal());
        Assert.Equal(a.GetProperty("lineId").GetString(), b.GetProperty("lineId").GetString());
        Assert.True(b.GetProperty("replayed").GetBoolean());
        Assert.Equal(9m, await AvailableAsync(app, admin, "ai_research"));
    }

    [Fact]
    public async Task The_same_key_with_other_parameters_is_409_and_moves_nothing()
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;
        await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "ai_research", action = "person_research", subjectId = "p1" }, "k");
        var other = await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "ai_research", action = "person_research", subjectId = "p2" }, "k");

        var problem = await Problem.ReadAsync(other);
        Assert.Equal(HttpStatusCode.Conflict, problem.Status);
        Assert.EndsWith("/idempotency-key-reused", problem.Type, StringComparison.Ordinal);
        Assert.Equal(9m, await AvailableAsync(app, admin, "ai_research"));
    }

    [Fact]
    public async Task Insufficient_credits_is_402_with_the_shortfall_and_nothing_is_charged()
    {
        var (app, admin, _) = await StartAsync(azurite, email: 0.5m);
        await using var _ = app;

        var response = await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "ai_research", action = "person_research", subjectId = "p1" });

        var problem = await Problem.ReadAsync(response);
        Assert.Equal(HttpStatusCode.PaymentRequired, problem.Status);
        Assert.EndsWith("/insufficient-credits", problem.Type, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(0.5m, json.RootElement.GetProperty("shortfall").GetDecimal());
        Assert.Equal(0.5m, await AvailableAsync(app, admin, "ai_research"));
    }

    [Theory]
    [InlineData("""{"feature":"ai_research","action":"nope","subjectId":"p"}""", "action")]
    [InlineData("""{"feature":"email","action":"email_reveal","subjectId":"p"}""", "action")]
    [InlineData("""{"feature":"ai_research","action":"person_research","subjectId":"p","unknown":1}""", "unknown")]
    [InlineData("""{"feature":"ai_research","action":"person_research","subjectId":7}""", "subjectId")]
    [InlineData("""{"feature":"ai_research","action":"person_research","subjectId":"p","holdId":"not-a-hold"}""", "holdId")]
    [InlineData("""{not json""", "body")]
    public async Task Bad_input_is_400_naming_the_field_and_nothing_is_written(string body, string field)
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/credits/charges") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", admin);
        request.Headers.Add("Idempotency-Key", "k1");

        var problem = await Problem.ReadAsync(await app.Client.SendAsync(request, Ct));

        Assert.Equal(HttpStatusCode.BadRequest, problem.Status);
        Assert.True(problem.Errors.ContainsKey(field), $"expected an error for '{field}', got {string.Join(", ", problem.Errors.Keys)}");
        Assert.Equal(10m, await AvailableAsync(app, admin, "ai_research"));
    }

    [Theory]
    [InlineData("email", "email_reveal")]
    [InlineData("waterfall_enrichment", "api_waterfall_email")]
    [InlineData("enrichment", "csv_enrich")]
    [InlineData("phone_number", "phone_reveal")]
    [InlineData("job_change", "update_contact")]
    public async Task The_generic_charge_route_cannot_buy_data_it_is_400_naming_action_and_nothing_is_charged_or_owned(string feature, string action)
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;

        var problem = await Problem.ReadAsync(await PostAsync(app, "/api/v1/credits/charges", admin, new { feature, action, subjectId = "p1" }));

        Assert.Equal(HttpStatusCode.BadRequest, problem.Status);
        Assert.True(problem.Errors.ContainsKey("action"));
        Assert.Equal(10m, await AvailableAsync(app, admin, "email"));
        Assert.Empty((await JsonAsync(await app.GetAsync("/api/v1/credits/usage", admin))).GetProperty("lines").EnumerateArray());
    }

    [Fact]
    public async Task A_hold_is_controlled_by_its_creator_or_an_admin_and_members_list_only_their_own()
    {
        var (app, team, admin, bob, _) = await StartWithOperatorAsync(azurite);
        await using var running = app;
        var eve = (await app.NewKeyAsync(team, "eve", "member")).Key;
        var expiresAt = DateTimeOffset.UtcNow.AddHours(1);
        var bobs = (await JsonAsync(await PostAsync(app, "/api/v1/credits/holds", bob, new { feature = "enrichment", action = "csv_validate", amount = 2, expiresAt })))
            .GetProperty("holdId").GetString();
        var admins = (await JsonAsync(await PostAsync(app, "/api/v1/credits/holds", admin, new { feature = "enrichment", action = "csv_validate", amount = 1, expiresAt })))
            .GetProperty("holdId").GetString();

        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(app, $"/api/v1/credits/holds/{bobs}/void", eve, null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(app, $"/api/v1/credits/holds/{bobs}/capture", eve, new { amount = 1 })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(app, $"/api/v1/credits/holds/{admins}/void", bob, null)).StatusCode);
        Assert.Equal(7m, await AvailableAsync(app, admin, "email"));
        string?[] Ids(System.Text.Json.JsonElement list) => [.. list.GetProperty("holds").EnumerateArray().Select(h => h.GetProperty("holdId").GetString())];
        Assert.Equal(bobs, Assert.Single(Ids(await JsonAsync(await app.GetAsync("/api/v1/credits/holds", bob)))));
        Assert.Empty(Ids(await JsonAsync(await app.GetAsync("/api/v1/credits/holds", eve))));
        Assert.Equal(2, Ids(await JsonAsync(await app.GetAsync("/api/v1/credits/holds", admin))).Length);

        Assert.Equal(HttpStatusCode.Created, (await PostAsync(app, $"/api/v1/credits/holds/{bobs}/void", admin, null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(app, $"/api/v1/credits/holds/{admins}/capture", admin, new { amount = 1 })).StatusCode);
        Assert.Empty(Ids(await JsonAsync(await app.GetAsync("/api/v1/credits/holds", admin))));
        Assert.Equal(9m, await AvailableAsync(app, admin, "email"));
    }

    [Fact]
    public async Task An_unknown_route_is_the_documented_not_found_problem_and_known_routes_are_not_shadowed()
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;

        var unknown = await Problem.ReadAsync(await app.GetAsync("/api/v1/no/such/thing", admin));
        var wrongMethod = await Problem.ReadAsync(await app.SendAsync(HttpMethod.Delete, "/api/v1/credits/balances", admin));

        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.EndsWith("/not-found", unknown.Type, StringComparison.Ordinal);
        Assert.EndsWith("/not-found", wrongMethod.Type, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await app.GetAsync("/api/v1/credits/balances", admin)).StatusCode);
    }

    [Fact]
    public async Task A_write_without_an_idempotency_key_is_400_naming_the_header()
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;
        var problem = await Problem.ReadAsync(await PostAsync(app, "/api/v1/credits/charges", admin,
            new { feature = "ai_research", action = "person_research", subjectId = "p1" }, idempotencyKey: null));
        Assert.True(problem.Errors.ContainsKey("Idempotency-Key"));
    }

    [Fact]
    public async Task A_member_cannot_grant_refund_or_verify()
    {
        var (app, _, member) = await StartAsync(azurite);
        await using var _ = app;
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(app, "/api/v1/credits/grants", member, new { creditType = "ai_research", amount = 5, kind = "top_up" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(app, "/api/v1/credits/refunds", member, new { chargeId = "x", reason = "r" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync("/api/v1/credits/verify", member)).StatusCode);
    }

    [Fact]
    public async Task A_member_sees_only_their_own_usage_and_an_admin_sees_everyones()
    {
        var (app, admin, member) = await StartAsync(azurite);
        await using var _ = app;
        await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "ai_research", action = "person_research", subjectId = "p1" });
        await PostAsync(app, "/api/v1/credits/charges", member, new { feature = "ai_research", action = "person_research", subjectId = "p2" });

        var mine = await JsonAsync(await app.GetAsync("/api/v1/credits/usage", member));
        var all = await JsonAsync(await app.GetAsync("/api/v1/credits/usage", admin));

        Assert.Equal(["bob"], mine.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("user").GetString()));
        Assert.Equal(["ada", "bob"], all.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("user").GetString()!).Order());
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync("/api/v1/credits/usage?user=ada", member)).StatusCode);
        var filters = await JsonAsync(await app.GetAsync("/api/v1/credits/usage/filters", member));
        Assert.Equal(["bob"], filters.GetProperty("users").EnumerateArray().Select(u => u.GetString()));
    }

    [Fact]
    public async Task Another_teams_charge_cannot_be_refunded_it_is_not_found()
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;
        var charge = await JsonAsync(await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "ai_research", action = "person_research", subjectId = "p1" }));
        var (_, otherAdmin) = await app.NewTeamAsync("eve");

        var response = await PostAsync(app, "/api/v1/credits/refunds", otherAdmin.Key, new { chargeId = charge.GetProperty("lineId").GetString(), reason = "steal" });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(9m, await AvailableAsync(app, admin, "ai_research"));
    }

    [Fact]
    public async Task Refunds_show_in_usage_only_when_asked_and_verify_stays_clean()
    {
        var (app, team, admin, _, operatorKey) = await StartWithOperatorAsync(azurite);
        await using var _ = app;
        var charge = await JsonAsync(await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "ai_research", action = "person_research", subjectId = "p1" }));
        var refund = await PostAsync(app, "/api/v1/credits/refunds", operatorKey, new { teamId = team, chargeId = charge.GetProperty("lineId").GetString(), reason = "Email bounced" });
        Assert.Equal(HttpStatusCode.Created, refund.StatusCode);

        var hidden = await JsonAsync(await app.GetAsync("/api/v1/credits/usage", admin));
        var shown = await JsonAsync(await app.GetAsync("/api/v1/credits/usage?includeRefunds=true", admin));
        var verify = await JsonAsync(await app.GetAsync("/api/v1/credits/verify", admin));

        Assert.Single(hidden.GetProperty("lines").EnumerateArray());
        Assert.Equal([-1m, 1m], shown.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("credits").GetDecimal()));
        Assert.True(verify.GetProperty("ok").GetBoolean());
        Assert.Equal(10m, await AvailableAsync(app, admin, "ai_research"));
    }

    [Fact]
    public async Task The_usage_csv_neutralises_formulas_and_keeps_credits_numeric()
    {
        var (app, team, admin, _, operatorKey) = await StartWithOperatorAsync(azurite);
        await using var _ = app;
        var charge = await JsonAsync(await PostAsync(app, "/api/v1/credits/charges", admin,
            new { feature = "ai_research", action = "person_research", subjectId = "p1", description = "=HYPERLINK(\"http://evil\",\"x\")", relatedRecord = "@SUM(1)" }));
        await PostAsync(app, "/api/v1/credits/refunds", operatorKey, new { teamId = team, chargeId = charge.GetProperty("lineId").GetString(), reason = "wrong" });

        var response = await app.GetAsync("/api/v1/credits/usage.csv?includeRefunds=true", admin);
        var csv = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        var rows = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("date,feature,action,description,credits", rows[0], StringComparison.Ordinal);
        Assert.Equal(3, rows.Length);
        Assert.Contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\"", rows[1], StringComparison.Ordinal);
        Assert.Contains(",\"'@SUM(1)\",", rows[1], StringComparison.Ordinal);
        Assert.Contains(",-1,ai_research,", rows[1], StringComparison.Ordinal);
        Assert.Contains(",1,ai_research,", rows[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Holds_are_placed_captured_and_voided_over_http()
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;
        var expiresAt = DateTimeOffset.UtcNow.AddHours(1);
        var hold = await JsonAsync(await PostAsync(app, "/api/v1/credits/holds", admin, new { feature = "enrichment", action = "csv_enrich", amount = 4, expiresAt }));
        var other = await JsonAsync(await PostAsync(app, "/api/v1/credits/holds", admin, new { feature = "enrichment", action = "csv_enrich", amount = 2, expiresAt }));
        Assert.Equal(4m, await AvailableAsync(app, admin, "email"));

        var capture = await PostAsync(app, $"/api/v1/credits/holds/{hold.GetProperty("holdId").GetString()}/capture", admin, new { amount = 1.5 });
        var voided = await PostAsync(app, $"/api/v1/credits/holds/{other.GetProperty("holdId").GetString()}/void", admin, null);
        var twice = await PostAsync(app, $"/api/v1/credits/holds/{other.GetProperty("holdId").GetString()}/void", admin, null);

        Assert.Equal(2.5m, (await JsonAsync(capture)).GetProperty("released").GetDecimal());
        Assert.Equal(HttpStatusCode.Created, voided.StatusCode);
        Assert.EndsWith("/hold-already-voided", (await Problem.ReadAsync(twice)).Type, StringComparison.Ordinal);
        Assert.Equal(8.5m, await AvailableAsync(app, admin, "email"));
    }

    [Fact]
    public async Task Charges_are_drawn_from_a_hold_over_http_and_never_beyond_it()
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;
        var hold = (await JsonAsync(await PostAsync(app, "/api/v1/credits/holds", admin,
            new { feature = "enrichment", action = "csv_validate", amount = 1, expiresAt = DateTimeOffset.UtcNow.AddHours(1) })))
            .GetProperty("holdId").GetString();
        object Hit(string person, string feature = "enrichment", string action = "csv_validate") => new { feature, action, subjectId = person, holdId = hold };

        var first = await PostAsync(app, "/api/v1/credits/charges", admin, Hit("p1"), "job:p1");
        var replay = await PostAsync(app, "/api/v1/credits/charges", admin, Hit("p1"), "job:p1");
        await PostAsync(app, "/api/v1/credits/charges", admin, Hit("p2"));
        var exhausted = await PostAsync(app, "/api/v1/credits/charges", admin, Hit("p3"));
        var mismatch = await PostAsync(app, "/api/v1/credits/charges", admin, Hit("p3", "ai_research", "person_research"));
        var voided = await PostAsync(app, $"/api/v1/credits/holds/{hold}/void", admin, null);
        var afterVoid = await PostAsync(app, "/api/v1/credits/charges", admin, Hit("p4"));

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var charge = await JsonAsync(first);
        Assert.Equal(("charged", 0.5m, hold, 0.5m), (charge.GetProperty("status").GetString(), charge.GetProperty("amount").GetDecimal(),
            charge.GetProperty("holdId").GetString(), charge.GetProperty("holdRemaining").GetDecimal()));
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        var exhaustedProblem = await Problem.ReadAsync(exhausted);
        Assert.Equal(HttpStatusCode.Conflict, exhaustedProblem.Status);
        Assert.EndsWith("/hold-exhausted", exhaustedProblem.Type, StringComparison.Ordinal);
        var mismatchProblem = await Problem.ReadAsync(mismatch);
        Assert.Equal(HttpStatusCode.BadRequest, mismatchProblem.Status);
        Assert.True(mismatchProblem.Errors.ContainsKey("holdId"));
        Assert.Equal(0m, (await JsonAsync(voided)).GetProperty("released").GetDecimal());
        Assert.EndsWith("/hold-already-voided", (await Problem.ReadAsync(afterVoid)).Type, StringComparison.Ordinal);
        Assert.Equal(9m, await AvailableAsync(app, admin, "email"));
        var usage = await JsonAsync(await app.GetAsync("/api/v1/credits/usage", admin));
        Assert.All(usage.GetProperty("lines").EnumerateArray(), l => Assert.Equal(hold, l.GetProperty("holdId").GetString()));
        Assert.Equal(2, usage.GetProperty("lines").GetArrayLength());
        Assert.True((await JsonAsync(await app.GetAsync("/api/v1/credits/verify", admin))).GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task The_usage_summary_and_filters_show_what_was_used()
    {
        var (app, admin, _) = await StartAsync(azurite);
        await using var _ = app;
        await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "ai_research", action = "person_research", subjectId = "p1" });
        await PostAsync(app, "/api/v1/credits/charges", admin, new { feature = "enrichment", action = "csv_validate", subjectId = "p1" });

        var summary = await JsonAsync(await app.GetAsync("/api/v1/credits/usage/summary?interval=day", admin));
        var filters = await JsonAsync(await app.GetAsync("/api/v1/credits/usage/filters", admin));

        Assert.Equal(["ai_research", "enrichment"], summary.GetProperty("series").EnumerateArray().Select(s => s.GetProperty("feature").GetString()));
        Assert.Equal(["ai_research", "enrichment"], filters.GetProperty("features").EnumerateArray().Select(f => f.GetProperty("id").GetString()!).Order());
        Assert.Equal(HttpStatusCode.BadRequest, (await app.GetAsync("/api/v1/credits/usage/summary?interval=week", admin)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await app.GetAsync("/api/v1/credits/usage?from=yesterday", admin)).StatusCode);
    }

    [Fact]
    public async Task A_local_start_gives_the_demo_team_a_monthly_allocation_once()
    {
        var console = new StringWriter();
        var ledgerTable = AzuriteFixture.NewName("ledger");
        await using (var first = await TestApp.StartAsync(azurite, seedDemoTeam: true, console: console, ledgerTable: ledgerTable))
        {
        }
        console = new StringWriter();
        await using var app = await TestApp.StartAsync(azurite, seedDemoTeam: true, console: console, ledgerTable: ledgerTable);
        var ada = console.ToString().Split('\n').Single(l => l.Contains("ada (admin):", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1].Trim();

        Assert.Equal(100m, await AvailableAsync(app, ada, "email"));
        Assert.Equal(100m, await AvailableAsync(app, ada, "phone"));
    }
}
