using System.Net;
using System.Text;
using System.Text.Json;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using SandboxProviders;
using static CreditFunctions.Tests.CsvJobs.CsvTestContext;

namespace CreditFunctions.Tests.CsvJobs;

/// <summary>CSV jobs end to end: the API, the upload trigger, the orchestrations, the sandbox vendors and the ledger.</summary>
public sealed class CsvJobTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private IReadOnlyList<Person> People(int count, int skip = 0) => [.. sandbox.People.People.Skip(skip).Take(count)];

    [Fact]
    public async Task An_uploaded_file_is_quoted_at_rows_times_the_options_price_and_nothing_is_held()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var file = DirtyCsv.Generate(People(20), duplicates: 3, badRows: 2);

        var (_, job) = await ctx.QuotedAsync(file.Text, new { fileName = "q3-leads.csv", enrich = true, validate = true, phone = true });

        Assert.Equal("quoted", job.GetProperty("status").GetString());
        var quote = job.GetProperty("quote");
        Assert.Equal(file.Rows, quote.GetProperty("rows").GetInt32());
        Assert.Equal(1, quote.GetProperty("raggedRows").GetInt32());
        Assert.Equal(file.Rows * 1m, quote.GetProperty("maximumCredits").GetProperty("email").GetDecimal());
        Assert.Equal(file.Rows * 1m, quote.GetProperty("maximumCredits").GetProperty("phone").GetDecimal());
        Assert.Equal("First Name", quote.GetProperty("columns").GetProperty("firstName").GetString());
        Assert.Equal("LinkedIn URL", quote.GetProperty("columns").GetProperty("linkedInUrl").GetString());
        Assert.Equal(1000m, (await ctx.BalanceAsync("email")).Available.Value);
        Assert.Equal(0m, (await ctx.BalanceAsync("email")).Held.Value);
    }

    [Fact]
    public async Task A_job_charges_only_hits_once_per_lead_from_its_hold_and_releases_the_rest()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var file = DirtyCsv.Generate(People(60, skip: 100), duplicates: 10, badRows: 4);
        var (id, _) = await ctx.QuotedAsync(file.Text, new { fileName = "q3-leads.csv", enrich = true, validate = true });

        using var start = await ctx.StartJobAsync(id);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var done = await ctx.WaitForAsync(id, "completed", "failed");
        var results = await ctx.ResultsAsync(id);
        var lines = (await ctx.LinesAsync()).Where(l => l.Action == "csv_enrich_validate").ToList();
        var email = await ctx.BalanceAsync("email");

        Assert.Equal("completed", done.GetProperty("status").GetString());
        var header = results[0];
        Assert.Equal(["First Name", "Last Name", "Company", "Website", "LinkedIn URL", "Notes", .. CreditFunctions.CsvJobs.CsvJobProcessor.ResultColumns], header);
        var rows = results.Skip(1).ToList();
        Assert.Equal(file.Rows, rows.Count);
        var credits = rows.Sum(r => decimal.Parse(r[^2], System.Globalization.CultureInfo.InvariantCulture));
        var charged = lines.Sum(l => l.Credits.Value);
        var found = rows.Take(file.Leads).Count(r => r[6].Length > 0);
        Assert.All(rows.Where(r => r[6].Length > 0), r => Assert.Contains(r[7], new[] { "valid", "catch_all", "unknown" }));
        // Charge only hits, once per lead: the duplicates show their lead's data at 0 credits.
        Assert.InRange(found, 10, 60);
        Assert.Equal(found, lines.Sum(l => l.Leads));
        Assert.Equal(charged, credits);
        Assert.Equal(found * 1m, charged);
        Assert.All(rows.Skip(file.Leads).Take(10), r => Assert.Equal("0", r[^2]));
        Assert.All(rows.Skip(file.Leads).Take(10).Zip(rows.Take(10)), pair => Assert.Equal(pair.Second[6], pair.First[6]));
        Assert.Equal(4, rows.Count(r => r[^1].Length > 0));
        Assert.Equal(charged, done.GetProperty("credits").GetProperty("charged").GetProperty("email").GetDecimal());
        Assert.Equal(1000m - charged, email.Available.Value);
        Assert.Equal(0m, email.Held.Value);
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
        // Formulas are escaped, numbers stay numbers; non-ASCII and quoted line breaks survive.
        Assert.Contains(rows, r => r[5] == "'=HYPERLINK(\"http://evil.example\",\"click\")");
        Assert.Contains(rows, r => r[5] == "'@SUM(A1:A2)");
        Assert.Contains(rows, r => r[5] == "line one\nline two");
        Assert.Contains(rows, r => r[0] == "Łukasz");
        // Usage: the job is one line for its action (two if it ran past midnight UTC), naming the job and its counts, not a
        // line per lead.
        Assert.InRange(lines.Count, 1, 2);
        Assert.All(lines, l => Assert.Equal($"CSV email enrichment and validation — job q3-leads.csv: {l.Leads} leads, {l.Credits.Value:0.###} credits", l.Description));
        Assert.All(lines, l => Assert.Equal(("csv-job:" + id, 0), (l.RelatedRecord, l.OwnedLeads)));
        var usage = done.GetProperty("usage")[0];
        Assert.Equal(found, usage.GetProperty("leads").GetInt32());
        // Each lead the job bought is still owned on its own: revealing it through the API costs nothing.
        var bought = file.People[rows.Take(file.Leads).Select((r, i) => (r, i)).First(p => p.r[6].Length > 0).i];
        var reveal = await ctx.Inner.RevealAsync(bought, "email");
        Assert.Equal(("already_owned", 0m), (reveal.GetProperty("email").GetProperty("status").GetString(), reveal.GetProperty("email").GetProperty("credits").GetDecimal()));
        Assert.Equal(1000m - charged, (await ctx.BalanceAsync("email")).Available.Value);
    }

    [Fact]
    public async Task Start_with_too_few_credits_is_402_and_holds_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 5);
        var (id, _) = await ctx.QuotedAsync(DirtyCsv.Generate(People(10)).Text);

        using var start = await ctx.StartJobAsync(id);
        var problem = await Waterfall.WaterfallTestContext.JsonAsync(start);

        Assert.Equal(HttpStatusCode.PaymentRequired, start.StatusCode);
        Assert.Equal("email", problem.GetProperty("creditType").GetString());
        Assert.Equal(5m, (await ctx.BalanceAsync("email")).Available.Value);
        Assert.Equal(0m, (await ctx.BalanceAsync("email")).Held.Value);
        Assert.Equal("quoted", (await ctx.GetAsync(id)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Another_teams_job_is_not_found()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var (id, _) = await ctx.CreateAsync(new { enrich = true });
        var (_, otherKey) = await ctx.App.NewTeamAsync("eve");

        foreach (var (method, path) in new[] { (HttpMethod.Get, ""), (HttpMethod.Post, "/start"), (HttpMethod.Post, "/cancel"), (HttpMethod.Get, "/results"), (HttpMethod.Put, "/file") })
        {
            using var response = await ctx.App.SendAsync(method, $"/api/v1/csv-jobs/{id}{path}", otherKey.Key, new StringContent("a,b\n1,2"));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        using var list = await ctx.App.GetAsync("/api/v1/csv-jobs", otherKey.Key);
        Assert.Equal(0, (await Waterfall.WaterfallTestContext.JsonAsync(list)).GetProperty("jobs").GetArrayLength());
    }

    [Fact]
    public async Task Bad_create_input_is_a_400_naming_the_field_and_writes_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox);

        using var mapping = await ctx.Inner.PostAsync("/api/v1/csv-jobs", new { enrich = true, mapping = new { shoeSize = "Shoe" } });
        using var webhook = await ctx.Inner.PostAsync("/api/v1/csv-jobs", new { enrich = true, webhookUrl = "http://10.0.0.1/hook" });
        using var type = await ctx.Inner.PostAsync("/api/v1/csv-jobs", new { enrich = "yes" });
        using var list = await ctx.App.GetAsync("/api/v1/csv-jobs", ctx.Key);

        Assert.Equal(HttpStatusCode.BadRequest, mapping.StatusCode);
        Assert.True((await Waterfall.WaterfallTestContext.JsonAsync(mapping)).GetProperty("errors").TryGetProperty("mapping.shoeSize", out _));
        Assert.Equal(HttpStatusCode.BadRequest, webhook.StatusCode);
        Assert.True((await Waterfall.WaterfallTestContext.JsonAsync(webhook)).GetProperty("errors").TryGetProperty("webhookUrl", out _));
        Assert.Equal(HttpStatusCode.BadRequest, type.StatusCode);
        Assert.True((await Waterfall.WaterfallTestContext.JsonAsync(type)).GetProperty("errors").TryGetProperty("enrich", out _));
        Assert.Equal(0, (await Waterfall.WaterfallTestContext.JsonAsync(list)).GetProperty("jobs").GetArrayLength());
    }

    [Fact]
    public async Task A_mapping_naming_a_missing_column_fails_the_quote_naming_the_column()
    {
        await using var ctx = await StartAsync(azurite, sandbox);

        var (_, job) = await ctx.QuotedAsync(DirtyCsv.Generate(People(3)).Text, new { enrich = true, mapping = new { email = "Work Email" } });

        Assert.Equal("failed", job.GetProperty("status").GetString());
        Assert.Equal("mapping", job.GetProperty("errorLimit").GetString());
        Assert.Contains("'Work Email'", job.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_upload_url_writes_only_the_jobs_blob_and_its_upload_is_quoted()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var (id, url) = await ctx.CreateAsync(new { enrich = true });
        using var http = new HttpClient();

        using var put = new HttpRequestMessage(HttpMethod.Put, url) { Content = new StringContent(DirtyCsv.Generate(People(4)).Text, Encoding.UTF8, "text/csv") };
        put.Headers.Add("x-ms-blob-type", "BlockBlob");
        using var uploaded = await http.SendAsync(put, Ct);
        using var read = await http.GetAsync(url, Ct);
        var job = await ctx.WaitForAsync(id, "quoted", "failed");

        Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, read.StatusCode);
        Assert.Equal("quoted", job.GetProperty("status").GetString());
        Assert.Equal(4, job.GetProperty("quote").GetProperty("rows").GetInt32());
        Assert.Contains("se=", url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_new_file_before_start_replaces_the_first_and_after_start_is_refused()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var (id, first) = await ctx.QuotedAsync(DirtyCsv.Generate(People(3)).Text);

        using var again = await ctx.PutFileAsync(id, DirtyCsv.Generate(People(7)).Text);
        JsonElement second;
        do
        {
            second = await ctx.WaitForAsync(id, "quoted");
        }
        while (second.GetProperty("quote").GetProperty("rows").GetInt32() != 7);
        using var start = await ctx.StartJobAsync(id);
        using var late = await ctx.PutFileAsync(id, DirtyCsv.Generate(People(9)).Text);
        var done = await ctx.WaitForAsync(id, "completed", "failed");

        Assert.Equal(3, first.GetProperty("quote").GetProperty("rows").GetInt32());
        Assert.Equal(7, second.GetProperty("quote").GetProperty("rows").GetInt32());
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal(8, (await ctx.ResultsAsync(id)).Count);
    }

    [Fact]
    public async Task Cancel_before_start_holds_nothing_and_a_cancelled_run_releases_the_rest()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 5000);
        foreach (var vendor in new[] { "leadmine", "mailscout", "verifly" })
        {
            sandbox.Configure(vendor, v => v with { Latency = new LatencySettings { FixedMilliseconds = 150 } });
        }
        var (quotedOnly, _) = await ctx.QuotedAsync(DirtyCsv.Generate(People(3)).Text);
        using var cancelQuoted = await ctx.Inner.PostAsync($"/api/v1/csv-jobs/{quotedOnly}/cancel", new { });
        var (id, _) = await ctx.QuotedAsync(DirtyCsv.Generate(People(3000, skip: 200)).Text);

        using var start = await ctx.StartJobAsync(id);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        await Task.Delay(1500, Ct);
        using var cancel = await ctx.Inner.PostAsync($"/api/v1/csv-jobs/{id}/cancel", new { });
        var done = await ctx.WaitForAsync(id, "cancelled", "completed", "failed");
        var results = await ctx.ResultsAsync(id);
        var email = await ctx.BalanceAsync("email");
        var charged = (await ctx.LinesAsync()).Sum(l => l.Credits.Value);

        Assert.Equal("cancelled", (await ctx.GetAsync(quotedOnly)).GetProperty("status").GetString());
        Assert.Equal("cancelled", done.GetProperty("status").GetString());
        Assert.InRange(results.Count - 1, 1, 2999);
        Assert.Equal(done.GetProperty("progress").GetProperty("rowsDone").GetInt32(), results.Count - 1);
        Assert.Equal(0m, email.Held.Value);
        Assert.Equal(5000m - charged, email.Available.Value);
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }

    [Fact]
    public async Task A_utf16_file_with_a_bom_and_semicolons_runs_like_utf8()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var file = DirtyCsv.Generate(People(12, skip: 1200), duplicates: 2, badRows: 2, delimiter: ';');
        byte[] bytes = [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(file.Text)];
        var (id, _) = await ctx.CreateAsync(new { fileName = "utf16.csv", enrich = true });

        using var put = await ctx.PutFileAsync(id, bytes);
        var quoted = await ctx.WaitForAsync(id, "quoted", "failed");
        using var start = await ctx.StartJobAsync(id);
        await ctx.WaitForAsync(id, "completed", "failed");
        var results = await ctx.ResultsAsync(id);

        Assert.Equal("Utf16LE", quoted.GetProperty("quote").GetProperty("encoding").GetString());
        Assert.Equal(";", quoted.GetProperty("quote").GetProperty("delimiter").GetString());
        Assert.Equal(file.Rows, results.Count - 1);
        Assert.Contains(results, r => r[0] == "Łukasz");
        Assert.Contains(results, r => r[0] == "李" && r[^1].StartsWith("ragged row", StringComparison.Ordinal));
        Assert.Contains(results, r => r[0] == "Łukasz" && r[^1].StartsWith("missing fields", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_direct_upload_over_10_MB_is_413_and_writes_nothing()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var (id, _) = await ctx.CreateAsync(new { enrich = true });

        using var tooLarge = await ctx.PutFileAsync(id, new byte[CreditFunctions.CsvJobs.CsvLimits.DirectUploadBytesMax + 1]);
        await Task.Delay(1000, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.False(await ctx.Blobs.GetBlobContainerClient("csv-uploads").GetBlobClient($"{ctx.TeamId}/{id}.csv").ExistsAsync(Ct));
        Assert.Equal("uploading", (await ctx.GetAsync(id)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_job_whose_chunk_keeps_failing_ends_failed_keeps_the_other_rows_and_releases_its_hold()
    {
        await using var ctx = await StartAsync(azurite, sandbox);
        var (id, _) = await ctx.QuotedAsync(DirtyCsv.Generate(People(600, skip: 1300)).Text);
        CreditFunctions.CsvJobs.CsvJobProcessor.FailAfterChargesForTests = (job, chunk) => job == id && chunk == 1;
        try
        {
            using var start = await ctx.StartJobAsync(id);
            var done = await ctx.WaitForAsync(id, "failed", "completed");
            var results = await ctx.ResultsAsync(id);
            var email = await ctx.BalanceAsync("email");
            var charged = (await ctx.LinesAsync()).Sum(l => l.Credits.Value);

            Assert.Equal("failed", done.GetProperty("status").GetString());
            Assert.Contains("Chunk 1", done.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Equal(501, results.Count);
            Assert.Equal(0m, email.Held.Value);
            Assert.Equal(1000m - charged, email.Available.Value);
            Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
        }
        finally
        {
            CreditFunctions.CsvJobs.CsvJobProcessor.FailAfterChargesForTests = null;
        }
    }

    [Fact]
    public async Task A_run_terminated_through_the_orchestration_api_releases_its_hold_and_keeps_the_finished_chunks()
    {
        await using var ctx = await StartAsync(azurite, sandbox, email: 5000);
        foreach (var vendor in new[] { "leadmine", "mailscout", "verifly" })
        {
            sandbox.Configure(vendor, v => v with { Latency = new LatencySettings { FixedMilliseconds = 150 } });
        }
        var (id, _) = await ctx.QuotedAsync(DirtyCsv.Generate(People(3000, skip: 3300)).Text);

        using var start = await ctx.StartJobAsync(id);
        await Task.Delay(2500, Ct);
        using var terminate = await ctx.Inner.PostAsync($"/api/v1/orchestrations/instances/csvrun:{ctx.TeamId}:{id}/terminate", new { });
        var done = await ctx.WaitForAsync(id, "cancelled", "completed", "failed");
        await Task.Delay(1000, Ct);
        var email = await ctx.BalanceAsync("email");
        var charged = (await ctx.LinesAsync()).Sum(l => l.Credits.Value);

        Assert.Equal(HttpStatusCode.Accepted, terminate.StatusCode);
        Assert.Equal("cancelled", done.GetProperty("status").GetString());
        Assert.Equal(0m, email.Held.Value);
        Assert.Equal(5000m - charged, email.Available.Value);
        // Whole chunks only: the results hold the chunks that had staged their block, each once.
        var results = await ctx.ResultsAsync(id);
        Assert.Equal(0, (results.Count - 1) % 500);
        Assert.InRange(results.Count - 1, 0, 3000);
        Assert.True((await ctx.Ledger.VerifyAsync(ctx.TeamId, Ct)).Ok);
    }
}
