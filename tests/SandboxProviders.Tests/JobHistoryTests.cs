using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace SandboxProviders.Tests;

/// <summary>The job-history vendor: bulk look-ups of up to 100 people answered as of the sandbox clock, so moving the
/// clock past a person's change date shows the new job; the same latency and failure knobs as the other vendors.</summary>
public sealed class JobHistoryTests(SandboxFixture sandbox) : IClassFixture<SandboxFixture>, IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => await sandbox.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private Task<HttpResponseMessage> BulkAsync(IEnumerable<object> people, string? key = "sandbox-jobpulse-key")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "jobpulse/v1/jobs/bulk") { Content = JsonContent.Create(new { people }) };
        if (key is not null)
        {
            request.Headers.Add("X-Jobpulse-Key", key);
        }
        return sandbox.Client.SendAsync(request, Ct);
    }

    private Person KnownPerson(int skip = 0)
    {
        var settings = sandbox.Server.Vendors.Get("jobpulse")!;
        return sandbox.Server.People.People.Where(p => VendorKnowledge.Knows("jobpulse", settings, p)).Skip(skip).First();
    }

    private async Task<JsonElement> FirstResultAsync(Person person)
    {
        using var response = await BulkAsync([new { @ref = "c1", linkedin_url = person.LinkedInUrl }]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("results")[0].Clone();
    }

    [Fact]
    public async Task Moving_the_clock_past_a_change_date_shows_the_new_job()
    {
        var person = KnownPerson();
        var jobs = JobHistories.Of(sandbox.Server.People, person);
        Assert.Equal(person.CompanyDomain, jobs[0].CompanyDomain);
        Assert.NotEqual(person.CompanyDomain, jobs[1].CompanyDomain);

        var before = await FirstResultAsync(person);
        (await sandbox.Client.PutAsJsonAsync("_admin/clock", new { now = jobs[1].Since.ToDateTime(new TimeOnly(12, 0)) }, Ct)).EnsureSuccessStatusCode();
        var after = await FirstResultAsync(person);

        Assert.Equal("ok", before.GetProperty("status").GetString());
        Assert.Equal("c1", before.GetProperty("ref").GetString());
        Assert.Equal(person.CompanyDomain, before.GetProperty("company").GetProperty("domain").GetString());
        Assert.Equal(person.JobTitle, before.GetProperty("title").GetString());
        Assert.Equal(jobs[1].CompanyDomain, after.GetProperty("company").GetProperty("domain").GetString());
        Assert.Equal(jobs[1].Title, after.GetProperty("title").GetString());
        Assert.Equal(jobs[1].Since.ToString("yyyy-MM-dd"), after.GetProperty("since").GetString());
    }

    [Fact]
    public async Task A_bulk_request_answers_each_person_in_order_and_refuses_more_than_100()
    {
        var settings = sandbox.Server.Vendors.Get("jobpulse")!;
        var unknown = sandbox.Server.People.People.First(p => !VendorKnowledge.Knows("jobpulse", settings, p));
        var known = KnownPerson();

        using var response = await BulkAsync([
            new { @ref = "a", linkedin_url = known.LinkedInUrl },
            new { @ref = "b", linkedin_url = unknown.LinkedInUrl },
            new { @ref = "c", linkedin_url = "https://www.linkedin.com/in/nobody-here" },
        ]);
        using var tooMany = await BulkAsync(Enumerable.Range(0, 101).Select(i => (object)new { @ref = i.ToString(), email = "x@y.z" }));
        using var empty = await BulkAsync([]);
        using var noKey = await BulkAsync([new { @ref = "a", linkedin_url = known.LinkedInUrl }], key: null);

        var results = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("results");
        Assert.Equal(["ok", "no_match", "no_match"], results.EnumerateArray().Select(r => r.GetProperty("status").GetString()));
        Assert.Equal(["a", "b", "c"], results.EnumerateArray().Select(r => r.GetProperty("ref").GetString()));
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
    }

    [Fact]
    public async Task Latency_and_failures_are_tunable_like_the_other_vendors()
    {
        var settings = sandbox.Server.Vendors.Get("jobpulse")!;
        var person = KnownPerson();
        await sandbox.PutVendorAsync("jobpulse", settings with { Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = 150 } });
        var clock = Stopwatch.StartNew();
        await FirstResultAsync(person);
        Assert.True(clock.ElapsedMilliseconds >= 140, $"answered in {clock.ElapsedMilliseconds} ms");

        await sandbox.PutVendorAsync("jobpulse", settings with { Failures = new FailureSettings { ServerErrorRate = 1 } });
        using var failing = await BulkAsync([new { @ref = "a", linkedin_url = person.LinkedInUrl }]);
        Assert.Equal(HttpStatusCode.InternalServerError, failing.StatusCode);
    }
}
