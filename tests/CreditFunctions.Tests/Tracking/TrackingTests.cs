using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Tests.Providers;
using CreditFunctions.Tests.Waterfall;
using CreditFunctions.TestSupport;
using CreditFunctions.Tracking;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Tracking;

/// <summary>Contact tracking (DOMAIN rule 7) and the daily job-change scan, through the API against Azurite and the sandbox's
/// job vendor over HTTP.</summary>
public sealed class TrackingTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static string Today => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    private async Task<WaterfallTestContext> StartAsync(decimal tracking = 10, decimal email = 10)
    {
        var ctx = await WaterfallTestContext.StartAsync(azurite, sandbox, email: email, phone: 0,
            settings: new Dictionary<string, string?> { [EgressGuard.AllowSetting] = sandbox.Server.BaseAddress.GetLeftPart(UriPartial.Authority) });
        await ctx.GrantAsync("tracking", tracking);
        return ctx;
    }

    private List<Person> Known(int count, int skip = 0)
    {
        var settings = sandbox.Vendors.Get(TrackingScanner.Provider)!;
        return [.. sandbox.People.People.Where(p => VendorKnowledge.Knows(TrackingScanner.Provider, settings, p)).Skip(skip).Take(count)];
    }

    private static object Contacts(IEnumerable<Person> people) => new { contacts = people.Select(p => new { person = SandboxVendors.Input(p) }) };

    private static async Task<(decimal Available, decimal Held)> TrackingBalanceAsync(WaterfallTestContext ctx)
    {
        var b = (await ctx.Ledger.GetBalancesAsync(ctx.TeamId, Ct)).Single(b => b.CreditType == "tracking");
        return (b.Available.Value, b.Held.Value);
    }

    private static async Task AssertVerifiedAsync(WaterfallTestContext ctx)
    {
        var report = await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct);
        Assert.True(report.Ok, string.Join("; ", report.Problems));
    }

    private static async Task<JsonElement> ScanAsync(WaterfallTestContext ctx)
    {
        using var started = await ctx.PostAsync("/api/v1/tracking/scans", new { });
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var response = await ctx.App.GetAsync($"/api/v1/tracking/scans/{Today}", ctx.Key);
            var state = await JsonAsync(response);
            if (state.GetProperty("status").GetString() is "completed" or "failed" or "terminated")
            {
                Assert.Equal("completed", state.GetProperty("status").GetString());
                return state.GetProperty("totals");
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"the scan did not finish: {state}");
            await Task.Delay(100, Ct);
        }
    }

    private static async Task<List<JsonElement>> EventsAsync(WaterfallTestContext ctx) =>
        [.. (await JsonAsync(await ctx.App.GetAsync("/api/v1/tracking/events", ctx.Key))).GetProperty("events").EnumerateArray()];

    private void MoveSandboxClockPastFirstChange(IEnumerable<Person> people) =>
        sandbox.Vendors.Clock.Fixed = people.Max(p => JobHistories.Of(sandbox.People, p)[1].Since).ToDateTime(new TimeOnly(12, 0), DateTimeKind.Utc);

    [Fact]
    public async Task Tracking_a_contact_holds_one_credit_tracking_it_again_holds_nothing_more_and_untracking_frees_it()
    {
        await using var ctx = await StartAsync();
        var person = Known(1)[0];

        var first = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([person])));
        Assert.Equal((1, 1), (first.GetProperty("tracked").GetInt32(), first.GetProperty("trackingCreditsHeld").GetInt32()));
        Assert.Equal((9m, 1m), await TrackingBalanceAsync(ctx));

        var again = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([person])));
        var contactId = first.GetProperty("contactIds")[0].GetString()!;
        var byId = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", new { contacts = new[] { new { contactId } } }));
        Assert.Equal((0, 1), (again.GetProperty("tracked").GetInt32(), again.GetProperty("alreadyTracked").GetInt32()));
        Assert.Equal(0, byId.GetProperty("tracked").GetInt32());
        Assert.Equal((9m, 1m), await TrackingBalanceAsync(ctx));

        var list = await JsonAsync(await ctx.App.GetAsync("/api/v1/tracking/contacts", ctx.Key));
        var listed = Assert.Single(list.GetProperty("contacts").EnumerateArray());
        Assert.Equal(contactId, listed.GetProperty("contactId").GetString());
        Assert.Equal(person.CompanyDomain, listed.GetProperty("companyDomain").GetString());
        Assert.Equal(1, list.GetProperty("trackingCreditsHeld").GetInt32());

        using var untracked = await ctx.App.SendAsync(HttpMethod.Delete, $"/api/v1/tracking/contacts/{contactId}", ctx.Key);
        Assert.Equal(HttpStatusCode.OK, untracked.StatusCode);
        Assert.Equal(1, (await JsonAsync(untracked)).GetProperty("untracked").GetInt32());
        Assert.Equal((10m, 0m), await TrackingBalanceAsync(ctx));
        using var twice = await ctx.App.SendAsync(HttpMethod.Delete, $"/api/v1/tracking/contacts/{contactId}", ctx.Key);
        Assert.Equal(HttpStatusCode.NotFound, twice.StatusCode);
        Assert.Equal((10m, 0m), await TrackingBalanceAsync(ctx));

        // Usage shows what happened, with counts: tracked 1, untracked 1, and nothing else.
        var lines = new List<UsageLine>();
        await foreach (var line in ctx.Ledger.StreamUsageAsync(new UsageQuery(ctx.TeamId) { Feature = "contact_tracking" }, Ct))
        {
            lines.Add(line);
        }
        Assert.Equal(["Untracked 1 contact", "Tracked 1 contact"], lines.Select(l => l.Description));
        Assert.All(lines, l => Assert.Equal(0m, l.Credits.Value));
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task Tracking_10000_contacts_with_9999_credits_is_402_naming_the_missing_credit_and_holds_nothing()
    {
        await using var ctx = await StartAsync(tracking: 9_999);
        var contacts = Enumerable.Range(0, 10_000).Select(i => new { person = new { linkedinUrl = $"https://www.linkedin.com/in/bulk-{i}" } }).ToArray();

        // A request of 10,000 takes longer than the test client's 30 s on a busy machine: a patient client.
        using var client = new HttpClient { BaseAddress = ctx.App.Address, Timeout = TimeSpan.FromMinutes(3) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", ctx.Key);
        var clock = Stopwatch.StartNew();
        using var refused = await client.PostAsJsonAsync("/api/v1/tracking/contacts", new { contacts }, Ct);
        TestContext.Current.SendDiagnosticMessage($"10,000 refused in {clock.Elapsed}");
        Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        var problem = await JsonAsync(refused);
        Assert.EndsWith("insufficient-credits", problem.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.Equal(1m, problem.GetProperty("missing").GetDecimal());
        Assert.Equal((9_999m, 0m), await TrackingBalanceAsync(ctx));
        var list = await JsonAsync(await ctx.App.GetAsync("/api/v1/tracking/contacts", ctx.Key));
        Assert.Empty(list.GetProperty("contacts").EnumerateArray());

        // With the missing credit the same request tracks all of them.
        await ctx.GrantAsync("tracking", 1);
        clock.Restart();
        using var trackedResponse = await client.PostAsJsonAsync("/api/v1/tracking/contacts", new { contacts }, Ct);
        TestContext.Current.SendDiagnosticMessage($"10,000 tracked in {clock.Elapsed}");
        var tracked = await JsonAsync(trackedResponse);
        Assert.True(trackedResponse.IsSuccessStatusCode, tracked.ToString());
        Assert.Equal(10_000, tracked.GetProperty("tracked").GetInt32());
        Assert.Equal((0m, 10_000m), await TrackingBalanceAsync(ctx));

        // Bulk untrack by filter frees every credit at once.
        var untracked = await JsonAsync(await client.PostAsJsonAsync("/api/v1/tracking/contacts/untrack", new { filter = new { all = true } }, Ct));
        Assert.Equal(10_000, untracked.GetProperty("untracked").GetInt32());
        Assert.Equal((10_000m, 0m), await TrackingBalanceAsync(ctx));
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task A_track_request_that_would_hold_more_than_its_max_credits_is_409_and_holds_nothing_while_already_tracked_ones_count_nothing()
    {
        await using var ctx = await StartAsync();
        var people = Known(3);
        await ctx.PostAsync("/api/v1/tracking/contacts", Contacts(people.Take(1)));

        using var over = await ctx.PostAsync("/api/v1/tracking/contacts", new
        {
            contacts = people.Select(p => new { person = SandboxVendors.Input(p) }), maxCredits = 1,
        });
        using var negative = await ctx.PostAsync("/api/v1/tracking/contacts", new { contacts = people.Select(p => new { person = SandboxVendors.Input(p) }), maxCredits = -1 });
        Assert.Equal(HttpStatusCode.Conflict, over.StatusCode);
        Assert.Equal(1m, (await JsonAsync(over)).GetProperty("over").GetDecimal());
        Assert.Equal(HttpStatusCode.BadRequest, negative.StatusCode);
        Assert.Equal((9m, 1m), await TrackingBalanceAsync(ctx));

        // Two new contacts within maxCredits 2: the one tracked already costs nothing.
        var within = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", new
        {
            contacts = people.Select(p => new { person = SandboxVendors.Input(p) }), maxCredits = 2,
        }));
        Assert.Equal((2, 1), (within.GetProperty("tracked").GetInt32(), within.GetProperty("alreadyTracked").GetInt32()));
        Assert.Equal((7m, 3m), await TrackingBalanceAsync(ctx));
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task Racing_track_requests_of_one_contact_hold_one_credit_and_the_same_key_answers_the_first_result()
    {
        await using var ctx = await StartAsync();
        var people = Known(3);

        var racing = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => ctx.PostAsync("/api/v1/tracking/contacts", Contacts([people[0]]))));
        foreach (var response in racing)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal((9m, 1m), await TrackingBalanceAsync(ctx));

        var first = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([people[1]]), "track-1"));
        var again = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([people[1]]), "track-1"));
        using var other = await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([people[2]]), "track-1");
        Assert.Equal(first.GetRawText(), again.GetRawText());
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        Assert.Equal((8m, 2m), await TrackingBalanceAsync(ctx));
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task A_track_request_that_died_after_its_hold_and_was_never_retried_is_finished_by_the_next_scan()
    {
        await using var ctx = await StartAsync();
        var people = Known(3);
        TrackingService.CrashAfterHoldForTests = team => team == ctx.TeamId;
        try
        {
            using var crashed = await ctx.PostAsync("/api/v1/tracking/contacts", Contacts(people), "dies-after-hold");
            Assert.Equal(HttpStatusCode.InternalServerError, crashed.StatusCode);
        }
        finally
        {
            TrackingService.CrashAfterHoldForTests = null;
        }
        var store = ctx.App.Services.GetRequiredService<TrackingStore>();
        async Task<List<TrackedContactRow>> RowsAsync()
        {
            var rows = new List<TrackedContactRow>();
            await foreach (var row in store.AllAsync(ctx.TeamId, null, Ct))
            {
                rows.Add(row);
            }
            return rows;
        }
        // Held, not tracked: three claims left pending by a request nobody retries.
        Assert.Equal((7m, 3m), await TrackingBalanceAsync(ctx));
        Assert.All(await RowsAsync(), r => Assert.Equal(TrackingStates.Pending, r.State));

        // Within the grace they are left to their request; once they are older, the next scan finishes it.
        await ctx.App.Services.GetRequiredService<TrackingService>().FinishClaimsAsync(ctx.TeamId, Ct);
        Assert.All(await RowsAsync(), r => Assert.Equal(TrackingStates.Pending, r.State));
        foreach (var row in await RowsAsync())
        {
            row.ClaimedAt -= TrackingService.ClaimGrace + TimeSpan.FromMinutes(1);
            await store.Table.UpdateEntityAsync(row, row.ETag, Azure.Data.Tables.TableUpdateMode.Merge, Ct);
        }
        await ScanAsync(ctx);

        Assert.All(await RowsAsync(), r => Assert.Equal(TrackingStates.Tracked, r.State));
        Assert.Equal((7m, 3m), await TrackingBalanceAsync(ctx));
        // The request retried after all answers tracked, and holds nothing more.
        var retried = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts(people), "dies-after-hold"));
        Assert.Equal(3, retried.GetProperty("tracked").GetInt32());
        Assert.Equal((7m, 3m), await TrackingBalanceAsync(ctx));
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task A_scan_past_a_job_change_records_one_event_and_one_charge_and_the_same_days_scan_again_charges_nothing()
    {
        await using var ctx = await StartAsync();
        var people = Known(3);
        using (var settings = await ctx.SendAsync(HttpMethod.Put, "/api/v1/tracking/settings",
            new { webhookUrl = new Uri(sandbox.Server.BaseAddress, "_webhooks/tracking").ToString() }))
        {
            Assert.Equal(HttpStatusCode.OK, settings.StatusCode);
        }
        await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts(people.Take(2))));
        // people[2] changes too, but is not tracked.
        MoveSandboxClockPastFirstChange(people);

        var totals = await ScanAsync(ctx);
        Assert.Equal((2, 2, 2), (totals.GetProperty("checked").GetInt32(), totals.GetProperty("changes").GetInt32(), totals.GetProperty("charged").GetInt32()));
        var events = await EventsAsync(ctx);
        Assert.Equal(2, events.Count);
        var jobs = JobHistories.Of(sandbox.People, people[0]);
        var e = events.Single(x => x.GetProperty("previous").GetProperty("companyDomain").GetString() == people[0].CompanyDomain);
        Assert.Equal("bought", e.GetProperty("status").GetString());
        Assert.Equal(jobs[1].CompanyDomain, e.GetProperty("new").GetProperty("companyDomain").GetString());
        Assert.Equal(jobs[1].Title, e.GetProperty("new").GetProperty("title").GetString());
        Assert.Equal(8m, await ctx.AvailableAsync("email"));
        var list = await JsonAsync(await ctx.App.GetAsync("/api/v1/tracking/contacts", ctx.Key));
        var row = list.GetProperty("contacts").EnumerateArray().Single(c => c.GetProperty("name").GetString() == people[0].FullName);
        Assert.Equal((jobs[1].CompanyDomain, jobs[1].Title), (row.GetProperty("companyDomain").GetString(), row.GetProperty("title").GetString()));
        Assert.Equal(JsonValueKind.String, row.GetProperty("lastChangeAt").ValueKind);

        using var again = await ctx.PostAsync("/api/v1/tracking/scans", new { });
        Assert.False((await JsonAsync(again)).GetProperty("started").GetBoolean());
        Assert.Equal(2, (await EventsAsync(ctx)).Count);
        Assert.Equal(8m, await ctx.AvailableAsync("email"));

        using var sandboxClient = new HttpClient { BaseAddress = sandbox.Server.BaseAddress };
        var inbox = await sandboxClient.GetFromJsonAsync<JsonElement>("_webhooks/tracking", Ct);
        var deliveries = inbox.GetProperty("deliveries").EnumerateArray().ToList();
        Assert.Equal(2, deliveries.Count);
        Assert.All(deliveries, d => Assert.StartsWith("t=", d.GetProperty("headers").GetProperty("X-CreditFunctions-Signature").GetString(), StringComparison.Ordinal));
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task A_failing_webhook_receiver_is_asked_again_until_it_takes_the_job_change()
    {
        await using var ctx = await StartAsync();
        var person = Known(1, skip: 5)[0];
        var box = "tracking-retry-" + Guid.NewGuid().ToString("N")[..8];
        using var sandboxClient = new HttpClient { BaseAddress = sandbox.Server.BaseAddress };
        (await sandboxClient.PutAsync($"_webhooks/{box}?failNext=2", null, Ct)).EnsureSuccessStatusCode();
        using (var settings = await ctx.SendAsync(HttpMethod.Put, "/api/v1/tracking/settings", new { webhookUrl = new Uri(sandbox.Server.BaseAddress, "_webhooks/" + box).ToString() }))
        {
            Assert.Equal(HttpStatusCode.OK, settings.StatusCode);
        }
        await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([person]));
        MoveSandboxClockPastFirstChange([person]);

        var totals = await ScanAsync(ctx);

        Assert.Equal(1, totals.GetProperty("charged").GetInt32());
        var deliveries = (await sandboxClient.GetFromJsonAsync<JsonElement>($"_webhooks/{box}", Ct)).GetProperty("deliveries").EnumerateArray().ToList();
        // Newest first: two refusals, then the delivery the receiver took, all of the same event.
        Assert.Equal([200, 500, 500], deliveries.Select(d => d.GetProperty("answered").GetInt32()));
        Assert.Single(deliveries.Select(d => d.GetProperty("body").GetString()).Distinct());
    }

    [Fact]
    public async Task A_job_change_the_team_already_owns_is_free()
    {
        await using var ctx = await StartAsync();
        var person = Known(1)[0];
        var tracked = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([person])));
        var contactId = tracked.GetProperty("contactIds")[0].GetString()!;
        var change = JobHistories.Of(sandbox.People, person)[1];
        var bought = await ctx.Ledger.ChargeAsync(new ChargeRequest(ctx.TeamId, "ada", "job_change", "update_contact", "bought-elsewhere")
        {
            SubjectId = TrackingScanner.JobChangeSubject(contactId, change.CompanyDomain, change.Title, change.Since.ToString("yyyy-MM-dd")),
        });
        Assert.Equal(LedgerStatus.Charged, bought.Status);
        MoveSandboxClockPastFirstChange([person]);

        var totals = await ScanAsync(ctx);

        Assert.Equal((1, 0, 1), (totals.GetProperty("changes").GetInt32(), totals.GetProperty("charged").GetInt32(), totals.GetProperty("alreadyOwned").GetInt32()));
        var e = Assert.Single(await EventsAsync(ctx));
        Assert.Equal(("bought", 0m), (e.GetProperty("status").GetString(), e.GetProperty("credits").GetDecimal()));
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task A_contact_untracked_while_the_scan_asks_the_vendor_is_not_charged()
    {
        await using var ctx = await StartAsync();
        var people = Known(2);
        var tracked = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts(people)));
        var ids = tracked.GetProperty("contactIds").EnumerateArray().Select(i => i.GetString()!).ToList();
        MoveSandboxClockPastFirstChange(people);
        sandbox.Configure(TrackingScanner.Provider, v => v with { Latency = new LatencySettings { FixedMilliseconds = 3000 } });

        using var started = await ctx.PostAsync("/api/v1/tracking/scans", new { });
        await WaitUntilAsync(() => sandbox.Stats(TrackingScanner.Provider).Total > 0);
        using var untracked = await ctx.App.SendAsync(HttpMethod.Delete, $"/api/v1/tracking/contacts/{ids[0]}", ctx.Key);
        Assert.Equal(HttpStatusCode.OK, untracked.StatusCode);
        var totals = await ScanAsync(ctx);

        Assert.Equal((2, 1, 1), (totals.GetProperty("changes").GetInt32(), totals.GetProperty("charged").GetInt32(), totals.GetProperty("untracked").GetInt32()));
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        Assert.Equal((9m, 1m), await TrackingBalanceAsync(ctx));
        var events = await EventsAsync(ctx);
        Assert.Equal("untracked", events.Single(e => e.GetProperty("contact").GetProperty("id").GetString() == ids[0]).GetProperty("status").GetString());
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task A_short_balance_records_the_change_as_not_bought_and_it_can_be_bought_later_once()
    {
        await using var ctx = await StartAsync(email: 0);
        var person = Known(1)[0];
        await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([person])));
        MoveSandboxClockPastFirstChange([person]);

        var totals = await ScanAsync(ctx);
        var e = Assert.Single(await EventsAsync(ctx));
        Assert.Equal((1, 0, 1), (totals.GetProperty("changes").GetInt32(), totals.GetProperty("charged").GetInt32(), totals.GetProperty("notBought").GetInt32()));
        Assert.Equal("not_bought", e.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("new").ValueKind);
        var id = e.GetProperty("id").GetString()!;
        using (var refused = await ctx.PostAsync($"/api/v1/tracking/events/{id}/buy", new { }))
        {
            Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        }

        await ctx.GrantAsync("email", 5);
        var bought = await JsonAsync(await ctx.PostAsync($"/api/v1/tracking/events/{id}/buy", new { }));
        var twice = await JsonAsync(await ctx.PostAsync($"/api/v1/tracking/events/{id}/buy", new { }));

        Assert.Equal("bought", bought.GetProperty("status").GetString());
        Assert.Equal(JobHistories.Of(sandbox.People, person)[1].CompanyDomain, bought.GetProperty("new").GetProperty("companyDomain").GetString());
        Assert.Equal(bought.GetRawText(), twice.GetRawText());
        Assert.Equal(4m, await ctx.AvailableAsync("email"));
        await AssertVerifiedAsync(ctx);
    }

    [Fact]
    public async Task Another_teams_contacts_and_events_are_404()
    {
        await using var ctx = await StartAsync();
        var person = Known(1)[0];
        var tracked = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts([person])));
        var contactId = tracked.GetProperty("contactIds")[0].GetString()!;
        MoveSandboxClockPastFirstChange([person]);
        await ScanAsync(ctx);
        var eventId = Assert.Single(await EventsAsync(ctx)).GetProperty("id").GetString()!;
        var (otherTeam, otherAdmin) = await ctx.App.NewTeamAsync("bob");

        using var untrack = await ctx.App.SendAsync(HttpMethod.Delete, $"/api/v1/tracking/contacts/{contactId}", otherAdmin.Key);
        using var track = await ctx.App.SendAsync(HttpMethod.Post, "/api/v1/tracking/contacts", otherAdmin.Key,
            JsonContent.Create(new { contacts = new[] { new { contactId } } }));
        using var buy = await ctx.App.SendAsync(HttpMethod.Post, $"/api/v1/tracking/events/{eventId}/buy", otherAdmin.Key, JsonContent.Create(new { }));
        var events = await JsonAsync(await ctx.App.GetAsync("/api/v1/tracking/events", otherAdmin.Key));
        var list = await JsonAsync(await ctx.App.GetAsync("/api/v1/tracking/contacts", otherAdmin.Key));

        Assert.Equal(HttpStatusCode.NotFound, untrack.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, track.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, buy.StatusCode);
        Assert.Empty(events.GetProperty("events").EnumerateArray());
        Assert.Empty(list.GetProperty("contacts").EnumerateArray());
        Assert.Equal((9m, 1m), await TrackingBalanceAsync(ctx));
        Assert.NotEqual(ctx.TeamId, otherTeam);
    }

    [Fact]
    public async Task A_csv_upload_tracks_its_rows_like_a_request_and_a_row_naming_no_one_is_400_with_nothing_held()
    {
        await using var ctx = await StartAsync();
        var people = Known(3);
        var csv = "First Name;Last Name;Website;LinkedIn\n" + string.Concat(people.Select(p => $"{p.FirstName};{p.LastName};{p.CompanyDomain};{p.LinkedInUrl}\n"));
        var bad = csv + "Ada;;;\n";

        using var refused = await ctx.App.SendAsync(HttpMethod.Post, "/api/v1/tracking/uploads", ctx.Key, new StringContent(bad, System.Text.Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.True((await Problem.ReadAsync(refused)).Errors.ContainsKey("rows[4]"));
        Assert.Equal((10m, 0m), await TrackingBalanceAsync(ctx));

        using var uploaded = await ctx.App.SendAsync(HttpMethod.Post, "/api/v1/tracking/uploads", ctx.Key, new StringContent(csv, System.Text.Encoding.UTF8, "text/csv"));
        var result = await JsonAsync(uploaded);
        Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        Assert.Equal(3, result.GetProperty("tracked").GetInt32());
        Assert.Equal((7m, 3m), await TrackingBalanceAsync(ctx));
        var again = await JsonAsync(await ctx.PostAsync("/api/v1/tracking/contacts", Contacts(people)));
        Assert.Equal(3, again.GetProperty("alreadyTracked").GetInt32());
        Assert.Equal((7m, 3m), await TrackingBalanceAsync(ctx));
    }

    [Fact]
    public async Task A_csv_file_uploaded_through_its_sas_like_a_csv_job_is_tracked_once_and_another_teams_upload_is_404()
    {
        await using var ctx = await StartAsync();
        var people = Known(2, skip: 7);
        var csv = "First Name,Last Name,Website,LinkedIn\n" + string.Concat(people.Select(p => $"{p.FirstName},{p.LastName},{p.CompanyDomain},{p.LinkedInUrl}\n"));
        using var created = await ctx.App.SendAsync(HttpMethod.Post, "/api/v1/tracking/uploads", ctx.Key, JsonContent.Create(new { }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var upload = await JsonAsync(created);
        var trackUrl = new Uri(upload.GetProperty("trackUrl").GetString()!).PathAndQuery;

        using var early = await ctx.App.SendAsync(HttpMethod.Post, trackUrl, ctx.Key);
        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        using (var http = new HttpClient())
        {
            using var put = new HttpRequestMessage(HttpMethod.Put, upload.GetProperty("upload").GetProperty("url").GetString()) { Content = new StringContent(csv) };
            put.Headers.Add("x-ms-blob-type", "BlockBlob");
            Assert.Equal(HttpStatusCode.Created, (await http.SendAsync(put, Ct)).StatusCode);
        }
        var (_, otherKey) = await ctx.App.NewTeamAsync("zoe");

        var tracked = await JsonAsync(await ctx.App.SendAsync(HttpMethod.Post, trackUrl, ctx.Key));
        var again = await JsonAsync(await ctx.App.SendAsync(HttpMethod.Post, trackUrl, ctx.Key));
        using var foreign = await ctx.App.SendAsync(HttpMethod.Post, trackUrl, otherKey.Key);

        Assert.Equal(2, tracked.GetProperty("tracked").GetInt32());
        Assert.Equal(tracked.GetRawText(), again.GetRawText());
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal((8m, 2m), await TrackingBalanceAsync(ctx));
        await AssertVerifiedAsync(ctx);
    }

    [Theory]
    [InlineData("{}", "contacts")]
    [InlineData("{\"contacts\":[]}", "contacts")]
    [InlineData("{\"contacts\":[{\"person\":{\"linkedinUrl\":\"https://www.linkedin.com/in/ok\"}},{}]}", "contacts[1]")]
    [InlineData("{\"contacts\":[{\"person\":{\"firstName\":\"Ada\"}}]}", "contacts[0].person")]
    [InlineData("{\"contacts\":[{\"contactId\":\"a\",\"person\":{\"email\":\"a@b.co\"}}]}", "contacts[0]")]
    [InlineData("{\"contacts\":[{\"contactId\":\"x\"}],\"extra\":1}", "extra")]
    public async Task Bad_input_is_400_naming_the_field_and_writes_nothing(string body, string field)
    {
        await using var ctx = await StartAsync();

        using var response = await ctx.App.SendAsync(HttpMethod.Post, "/api/v1/tracking/contacts", ctx.Key,
            new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await Problem.ReadAsync(response)).Errors.ContainsKey(field), await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal((10m, 0m), await TrackingBalanceAsync(ctx));
        using var badEvents = await ctx.App.GetAsync("/api/v1/tracking/events?from=yesterday", ctx.Key);
        Assert.True((await Problem.ReadAsync(badEvents)).Errors.ContainsKey("from"));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "timed out");
            await Task.Delay(20, Ct);
        }
    }
}
