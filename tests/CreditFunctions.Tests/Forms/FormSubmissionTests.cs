using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CreditFunctions.Forms;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Tests.Providers;
using CreditFunctions.Tests.Waterfall;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Forms;

/// <summary>DOMAIN "Form enrichment" with charging rules 1, 2 and 9: a known contact is matched for free, a net-new one is
/// enriched and charged only when data is found, the same submission twice is processed once.</summary>
public sealed class FormSubmissionTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static readonly object s_fieldMap = new
    {
        email = "email", firstName = "firstName", lastName = "lastName", companyDomain = "company.domain", submissionId = "id",
    };

    private Person Known(int skip = 0) =>
        sandbox.Sample(knownBy: "leadmine", emailStatus: ("leadmine", EmailStatus.Valid)).Skip(skip).First().Person;

    private Person Nobody() =>
        sandbox.Sample(unknownBy: "leadmine").First(p => !p.Vendors["mailscout"].Known).Person;

    [Fact]
    public async Task A_net_new_contact_found_costs_one_form_enrichment_line_and_the_same_submission_twice_is_processed_once()
    {
        var deliveries = new ConcurrentQueue<(string Body, string? Signature)>();
        await using var receiver = await StartReceiverAsync(deliveries);
        await using var ctx = await StartAsync(azurite, sandbox, email: 10, settings: new Dictionary<string, string?> { [EgressGuard.AllowSetting] = receiver.Urls.First() });
        var (formId, secret) = await CreateFormAsync(ctx, webhookUrl: receiver.Urls.First() + "/hook");
        var person = Known();
        var body = Submission("sub-1", person);

        using var first = await SubmitAsync(ctx, formId, secret, body);
        using var again = await SubmitAsync(ctx, formId, secret, body);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        var outcome = await WaitForOutcomeAsync(ctx, formId);
        await WaitForAsync(() => !deliveries.IsEmpty);
        await Task.Delay(1000, Ct); // room for a second, wrong processing
        var submissions = await ListAsync(ctx, formId);
        Assert.Equal(1, submissions.GetArrayLength());
        Assert.Equal("enriched", outcome.GetProperty("status").GetString());
        Assert.Equal(1m, outcome.GetProperty("credits").GetDecimal());
        Assert.NotNull(outcome.GetProperty("contact").GetProperty("email").GetString());
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        var lines = (await ctx.Ledger.QueryUsageAsync(new UsageQuery(ctx.TeamId), Ct)).Lines.Where(l => l.Kind == "charge").ToList();
        var line = Assert.Single(lines);
        Assert.Equal(("form_enrichment", "enrich_new_contact", 1m), (line.Feature, line.Action, line.Credits.Value));
        var (delivered, signature) = Assert.Single(deliveries);
        Assert.Equal("enriched", JsonDocument.Parse(delivered).RootElement.GetProperty("status").GetString());
        var secrets = await ctx.App.Services.GetRequiredService<EnrichmentSettingsStore>()
            .GetOrCreateWebhookSecretsAsync(ctx.TeamId, () => throw new InvalidOperationException("no secret was made"), DateTimeOffset.UtcNow, Ct);
        Assert.True(WebhookSender.Verify(secrets!.Current, signature!, delivered, DateTimeOffset.UtcNow, WebhookSender.TimestampTolerance));
    }

    [Fact]
    public async Task Deliveries_of_one_submission_racing_each_other_charge_once_and_none_writes_its_outcome_over_the_winners()
    {
        // The queue function is off: the test is the queue, delivering the same message twice.
        await using var ctx = await StartAsync(azurite, sandbox, email: 10, settings: new Dictionary<string, string?> { ["AzureWebJobs.form-submission.Disabled"] = "true" });
        var (formId, secret) = await CreateFormAsync(ctx);
        using var accepted = await SubmitAsync(ctx, formId, secret, Submission("sub-race", Known()));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var message = new FormSubmissionMessage(formId, (await JsonAsync(accepted)).GetProperty("submissionId").GetString()!);
        var forms = ctx.App.Services.GetRequiredService<FormService>();
        // The first delivery stalls right after its claim, as a slow worker would, until a second delivery has enriched
        // and charged the contact; then it goes on, with the contact now known and its view of the row out of date.
        var secondDone = new TaskCompletionSource();
        var deliveries = 0;
        FormService.AfterClaimForTests = id => id == message.SubmissionId && Interlocked.Increment(ref deliveries) == 1 ? secondDone.Task : Task.CompletedTask;
        try
        {
            var slow = Task.Run(() => forms.ProcessAsync(message, Ct), Ct);
            await WaitForAsync(() => Volatile.Read(ref deliveries) == 1);
            await forms.ProcessAsync(message, Ct);
            secondDone.SetResult();
            await slow;
        }
        finally
        {
            FormService.AfterClaimForTests = null;
        }

        var outcome = Assert.Single((await ListAsync(ctx, formId)).EnumerateArray());
        Assert.Equal("enriched", outcome.GetProperty("status").GetString());
        Assert.Equal(1m, outcome.GetProperty("credits").GetDecimal());
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        var charges = (await ctx.Ledger.QueryUsageAsync(new UsageQuery(ctx.TeamId), Ct)).Lines.Where(l => l.Kind == "charge" && l.Credits.Value > 0).ToList();
        Assert.Single(charges);
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_submission_whose_webhook_keeps_failing_goes_to_the_poison_queue_with_its_outcome_kept_and_charged_once()
    {
        var inbox = new Uri(sandbox.Server.BaseAddress, "_webhooks/form-poison-" + Guid.NewGuid().ToString("N")[..8]);
        var queue = CreditFunctions.TestSupport.AzuriteFixture.NewName("forms");
        await using var ctx = await StartAsync(azurite, sandbox, email: 10, settings: new Dictionary<string, string?>
        {
            [EgressGuard.AllowSetting] = sandbox.Server.BaseAddress.GetLeftPart(UriPartial.Authority),
            ["CREDITFUNCTIONS_FORMS_QUEUE"] = queue,
            ["AzureFunctionsJobHost__extensions__queues__visibilityTimeout"] = "00:00:00.200",
            ["AzureFunctionsJobHost__extensions__queues__maxDequeueCount"] = "3",
        });
        using (var http = new HttpClient())
        {
            (await http.PutAsync(inbox + "?failNext=10", null, Ct)).EnsureSuccessStatusCode();
        }
        var (formId, secret) = await CreateFormAsync(ctx, webhookUrl: inbox.ToString());

        using var accepted = await SubmitAsync(ctx, formId, secret, Submission("sub-poison", Known(skip: 2)));

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var poison = new Azure.Storage.Queues.QueueClient(azurite.ConnectionString, queue + "-poison");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!(await poison.ExistsAsync(Ct)).Value || (await poison.PeekMessagesAsync(cancellationToken: Ct)).Value.Length == 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the submission never reached the poison queue");
            await Task.Delay(200, Ct);
        }
        // Nothing lost: the outcome was decided and charged on the first delivery; each redelivery only retried the webhook.
        var outcome = Assert.Single((await ListAsync(ctx, formId)).EnumerateArray());
        Assert.Equal("enriched", outcome.GetProperty("status").GetString());
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
        using var check = new HttpClient();
        Assert.Equal(3, JsonDocument.Parse(await check.GetStringAsync(inbox, Ct)).RootElement.GetProperty("deliveries").GetArrayLength());
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_known_contact_is_matched_at_no_cost_and_no_vendor_is_asked()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var person = Known(skip: 1);
        var revealed = await ctx.RevealAsync(person, "email");
        var email = revealed.GetProperty("email").GetProperty("value").GetString()!;
        var (formId, secret) = await CreateFormAsync(ctx);
        var callsBefore = ctx.Calls("leadmine") + ctx.Calls("mailscout");
        var balanceBefore = await ctx.AvailableAsync("email");

        using var response = await SubmitAsync(ctx, formId, secret, JsonSerializer.Serialize(new { id = "sub-known", email = email.ToUpperInvariant() }));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var outcome = await WaitForOutcomeAsync(ctx, formId);
        Assert.Equal("matched", outcome.GetProperty("status").GetString());
        Assert.Equal(revealed.GetProperty("personId").GetString(), outcome.GetProperty("contact").GetProperty("id").GetString());
        Assert.Equal(0m, outcome.GetProperty("credits").GetDecimal());
        Assert.Equal(balanceBefore, await ctx.AvailableAsync("email"));
        Assert.Equal(callsBefore, ctx.Calls("leadmine") + ctx.Calls("mailscout"));
    }

    [Fact]
    public async Task A_net_new_contact_no_provider_finds_costs_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var (formId, secret) = await CreateFormAsync(ctx);

        using var response = await SubmitAsync(ctx, formId, secret, Submission("sub-nobody", Nobody()));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var outcome = await WaitForOutcomeAsync(ctx, formId);
        Assert.Equal("not_found", outcome.GetProperty("status").GetString());
        Assert.Equal(10m, await ctx.AvailableAsync("email"));
    }

    [Fact]
    public async Task Insufficient_credits_keep_the_submission_not_enriched_and_charge_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 0);
        var (formId, secret) = await CreateFormAsync(ctx);
        var calls = ctx.Calls("leadmine");

        using var response = await SubmitAsync(ctx, formId, secret, Submission("sub-poor", Known(skip: 2)));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var outcome = await WaitForOutcomeAsync(ctx, formId);
        Assert.Equal(("not_enriched", "insufficient_credits"), (outcome.GetProperty("status").GetString(), outcome.GetProperty("reason").GetString()));
        Assert.Equal(0m, await ctx.AvailableAsync("email"));
        Assert.Equal(calls, ctx.Calls("leadmine"));
        Assert.DoesNotContain((await ctx.Ledger.QueryUsageAsync(new UsageQuery(ctx.TeamId), Ct)).Lines, l => l.Kind == "charge");
    }

    [Fact]
    public async Task A_bad_or_stale_signature_is_401_an_oversized_body_413_no_contact_400_and_none_of_them_is_stored()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var (formId, secret) = await CreateFormAsync(ctx);
        var body = Submission("sub-x", Known());

        using var unsigned = await SubmitAsync(ctx, formId, null, body);
        using var forged = await SubmitAsync(ctx, formId, "whsec_not_the_secret", body);
        using var stale = await SubmitAsync(ctx, formId, secret, body, at: DateTimeOffset.UtcNow.AddMinutes(-6));
        using var huge = await SubmitAsync(ctx, formId, secret, JsonSerializer.Serialize(new { email = "a@b.test", pad = new string('x', 70_000) }));
        using var noContact = await SubmitAsync(ctx, formId, secret, JsonSerializer.Serialize(new { id = "sub-y", firstName = "Ada" }));
        using var unknownForm = await SubmitAsync(ctx, "frm_000000000000000000000000", secret, body);

        Assert.Equal(HttpStatusCode.Unauthorized, unsigned.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, stale.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.True((await Problem.ReadAsync(noContact)).Errors.ContainsKey("email"));
        Assert.Equal(HttpStatusCode.NotFound, unknownForm.StatusCode);
        Assert.Equal(0, (await ListAsync(ctx, formId)).GetArrayLength());
    }

    [Fact]
    public async Task Another_teams_form_is_404_and_registering_needs_an_admin_and_valid_fields()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var (formId, _) = await CreateFormAsync(ctx);
        var (_, otherAdmin) = await ctx.App.NewTeamAsync("eve");
        var member = await ctx.App.NewKeyAsync(ctx.TeamId, "bob", "member");

        Assert.Equal(HttpStatusCode.NotFound, (await ctx.App.GetAsync($"/api/v1/forms/{formId}", otherAdmin.Key)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ctx.App.GetAsync($"/api/v1/forms/{formId}/submissions", otherAdmin.Key)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ctx.App.GetAsync($"/api/v1/forms/{formId}", ctx.Key)).StatusCode);
        using var byMember = await ctx.App.SendAsync(HttpMethod.Post, "/api/v1/forms", member.Key,
            JsonContent.Create(new { name = "x", source = "generic", fieldMap = s_fieldMap }));
        Assert.Equal(HttpStatusCode.Forbidden, byMember.StatusCode);
        using var bad = await ctx.PostAsync("/api/v1/forms", new { name = "x", source = "jotform", fieldMap = new { nickname = "n" }, webhookUrl = "http://10.0.0.1/x" });
        var problem = await Problem.ReadAsync(bad);
        Assert.True(problem.Errors.ContainsKey("source"));
        Assert.True(problem.Errors.ContainsKey("fieldMap.nickname"));
        Assert.True(problem.Errors.ContainsKey("webhookUrl"));
    }

    [Fact]
    public async Task A_typeform_submission_signed_the_typeform_way_is_read_through_its_answers()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var person = Known(skip: 3);
        using var created = await ctx.PostAsync("/api/v1/forms", new
        {
            name = "Demo request", source = "typeform",
            fieldMap = new
            {
                firstName = "form_response.answers[field.ref=first].text", lastName = "form_response.answers[field.ref=last].text",
                companyDomain = "form_response.hidden.domain",
            },
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var form = await JsonAsync(created);
        var (formId, secret) = (form.GetProperty("id").GetString()!, form.GetProperty("signingSecret").GetString()!);
        var body = JsonSerializer.Serialize(new
        {
            event_id = "01HX", event_type = "form_response",
            form_response = new
            {
                token = "tok-1", hidden = new { domain = person.CompanyDomain },
                answers = new object[]
                {
                    new { type = "text", text = person.FirstName, field = new { @ref = "first" } },
                    new { type = "text", text = person.LastName, field = new { @ref = "last" } },
                },
            },
        });
        var bytes = Encoding.UTF8.GetBytes(body);

        using var wrong = await PostRawAsync(ctx, formId, body, ("Typeform-Signature", FormSignatures.SignTypeform("whsec_wrong", bytes)));
        using var right = await PostRawAsync(ctx, formId, body, ("Typeform-Signature", FormSignatures.SignTypeform(secret, bytes)));

        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, right.StatusCode);
        var outcome = await WaitForOutcomeAsync(ctx, formId);
        Assert.Equal("enriched", outcome.GetProperty("status").GetString());
        Assert.Equal("tok-1", outcome.GetProperty("toolSubmissionId").GetString());
    }

    [Fact]
    public async Task A_hubspot_submission_signed_with_v3_is_accepted_and_replayed_it_is_processed_once()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 10);
        var (formId, secret) = await CreateFormAsync(ctx, source: "hubspot");
        var body = Submission(null, Known(skip: 4));
        var bytes = Encoding.UTF8.GetBytes(body);
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var uri = new Uri(ctx.App.Address, $"/api/forms/{formId}/submissions").ToString();
        var signature = FormSignatures.SignHubSpot(secret, "POST", uri, bytes, timestamp);
        var old = DateTimeOffset.UtcNow.AddMinutes(-6).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);

        using var first = await PostRawAsync(ctx, formId, body, ("X-HubSpot-Signature-v3", signature), ("X-HubSpot-Request-Timestamp", timestamp));
        using var replay = await PostRawAsync(ctx, formId, body, ("X-HubSpot-Signature-v3", signature), ("X-HubSpot-Request-Timestamp", timestamp));
        using var stale = await PostRawAsync(ctx, formId, body, ("X-HubSpot-Signature-v3", FormSignatures.SignHubSpot(secret, "POST", uri, bytes, old)),
            ("X-HubSpot-Request-Timestamp", old));

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, stale.StatusCode);
        var outcome = await WaitForOutcomeAsync(ctx, formId);
        Assert.Equal("enriched", outcome.GetProperty("status").GetString());
        Assert.Equal(1, (await ListAsync(ctx, formId)).GetArrayLength());
        Assert.Equal(9m, await ctx.AvailableAsync("email"));
    }

    private static string Submission(string? id, Person person) => JsonSerializer.Serialize(new
    {
        id, firstName = person.FirstName, lastName = person.LastName, company = new { domain = person.CompanyDomain },
    });

    private static async Task<(string FormId, string Secret)> CreateFormAsync(WaterfallTestContext ctx, string source = "generic", string? webhookUrl = null)
    {
        using var response = await ctx.PostAsync("/api/v1/forms", new { name = "Contact us", source, fieldMap = s_fieldMap, enrich = new { email = true }, webhookUrl });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var form = await JsonAsync(response);
        Assert.EndsWith($"/api/forms/{form.GetProperty("id").GetString()}/submissions", form.GetProperty("submissionUrl").GetString(), StringComparison.Ordinal);
        return (form.GetProperty("id").GetString()!, form.GetProperty("signingSecret").GetString()!);
    }

    private static Task<HttpResponseMessage> SubmitAsync(WaterfallTestContext ctx, string formId, string? secret, string body, DateTimeOffset? at = null) =>
        secret is null
            ? PostRawAsync(ctx, formId, body)
            : PostRawAsync(ctx, formId, body, (WebhookSender.SignatureHeader, WebhookSender.Sign(secret, at ?? DateTimeOffset.UtcNow, body)));

    private static Task<HttpResponseMessage> PostRawAsync(WaterfallTestContext ctx, string formId, string body, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/forms/{formId}/submissions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        return ctx.App.Client.SendAsync(request, Ct);
    }

    private static async Task<JsonElement> ListAsync(WaterfallTestContext ctx, string formId)
    {
        using var response = await ctx.App.GetAsync($"/api/v1/forms/{formId}/submissions", ctx.Key);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await JsonAsync(response)).GetProperty("submissions");
    }

    private static async Task<JsonElement> WaitForOutcomeAsync(WaterfallTestContext ctx, string formId)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var rows = await ListAsync(ctx, formId);
            if (rows.GetArrayLength() > 0 && rows[0].GetProperty("status").GetString() is not ("received" or "processing" or "enriching"))
            {
                return rows[0];
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "no outcome within 30 s");
            await Task.Delay(100, Ct);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var waited = 0; !condition(); waited += 100)
        {
            Assert.True(waited < 30_000, "nothing within 30 s");
            await Task.Delay(100, Ct);
        }
    }

    private static async Task<WebApplication> StartReceiverAsync(ConcurrentQueue<(string, string?)> deliveries)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var receiver = builder.Build();
        receiver.MapPost("/hook", async (HttpRequest request) =>
        {
            var body = await new StreamReader(request.Body).ReadToEndAsync();
            deliveries.Enqueue((body, request.Headers[WebhookSender.SignatureHeader].FirstOrDefault()));
            return Results.Ok();
        });
        await receiver.StartAsync(Ct);
        return receiver;
    }
}
