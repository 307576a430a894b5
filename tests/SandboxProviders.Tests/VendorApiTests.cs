using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace SandboxProviders.Tests;

/// <summary>The vendors' APIs over real HTTP: shapes, keys, failure knobs, stats and the admin endpoints.</summary>
public sealed class VendorApiTests(SandboxFixture sandbox) : IClassFixture<SandboxFixture>, IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private HttpClient Client => sandbox.Client;

    public async ValueTask InitializeAsync() => await sandbox.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static HttpRequestMessage Leadmine(Person person, string? key = "sandbox-leadmine-key")
    {
        var request = new HttpRequestMessage(HttpMethod.Get,
            $"leadmine/v1/email?first_name={Uri.EscapeDataString(person.FirstName)}&last_name={Uri.EscapeDataString(person.LastName)}&domain={person.CompanyDomain}");
        if (key is not null)
        {
            request.Headers.Add("X-Api-Key", key);
        }
        return request;
    }

    private static HttpRequestMessage Mailscout(object body) => new(HttpMethod.Post, "mailscout/api/find")
    {
        Content = JsonContent.Create(body),
        Headers = { { "Authorization", "Bearer sandbox-mailscout-key" } },
    };

    private static HttpRequestMessage Verifly(string email) => new(HttpMethod.Post, "verifly/verify")
    {
        Content = JsonContent.Create(new { email }),
        Headers = { { "X-Api-Key", "sandbox-verifly-key" } },
    };

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;

    private async Task<Person> KnownByAsync(string vendor, string? extra = null) =>
        (await sandbox.SampleAsync($"knownBy={vendor}{extra}", take: 1))[0].Person;

    [Fact]
    public async Task Leadmine_answers_the_email_and_confidence_of_a_person_it_knows()
    {
        var view = (await sandbox.SampleAsync("knownBy=leadmine", take: 1))[0];

        using var response = await Client.SendAsync(Leadmine(view.Person), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var data = (await JsonAsync(response)).GetProperty("data");
        Assert.Equal(view.Vendors["leadmine"].Email, data.GetProperty("email").GetString());
        Assert.InRange(data.GetProperty("confidence").GetInt32(), 40, 100);
    }

    [Fact]
    public async Task Leadmine_answers_data_null_for_a_person_it_does_not_know()
    {
        var person = (await sandbox.SampleAsync("unknownBy=leadmine", take: 1))[0].Person;

        using var response = await Client.SendAsync(Leadmine(person), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(JsonValueKind.Null, (await JsonAsync(response)).GetProperty("data").ValueKind);
    }

    [Fact]
    public async Task Mailscout_finds_by_linkedin_url_and_answers_404_when_it_does_not_know()
    {
        var known = (await sandbox.SampleAsync("knownBy=mailscout", take: 1))[0];
        var unknown = (await sandbox.SampleAsync("unknownBy=mailscout", take: 1))[0].Person;

        using var found = await Client.SendAsync(Mailscout(new { person = new { linkedin_url = known.Person.LinkedInUrl } }), Ct);
        using var missing = await Client.SendAsync(Mailscout(new
        {
            person = new { first_name = unknown.FirstName, last_name = unknown.LastName },
            company = new { domain = unknown.CompanyDomain },
        }), Ct);

        Assert.Equal(HttpStatusCode.OK, found.StatusCode);
        var body = await JsonAsync(found);
        Assert.Equal("found", body.GetProperty("result").GetString());
        Assert.Equal(known.Vendors["mailscout"].Email, body.GetProperty("person").GetProperty("work_email").GetString());
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("not_found", (await JsonAsync(missing)).GetProperty("result").GetString());
    }

    [Fact]
    public async Task Dialbase_answers_mobile_and_job_of_a_person_it_knows_and_no_match_otherwise()
    {
        var known = await KnownByAsync("dialbase");
        var unknown = (await sandbox.SampleAsync("unknownBy=dialbase", take: 1))[0].Person;
        async Task<JsonElement> GetAsync(string path, Person person)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, $"dialbase/v2/{path}?linkedin_url={Uri.EscapeDataString(person.LinkedInUrl)}");
            request.Headers.Add("X-Dialbase-Key", "sandbox-dialbase-key");
            using var response = await Client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await JsonAsync(response);
        }

        var mobile = await GetAsync("mobile", known);
        var job = await GetAsync("job", known);
        var none = await GetAsync("mobile", unknown);

        Assert.Equal(known.MobilePhone, mobile.GetProperty("phones")[0].GetProperty("number").GetString());
        Assert.Equal(known.JobTitle, job.GetProperty("position").GetProperty("title").GetString());
        Assert.Equal(known.CompanyName, job.GetProperty("position").GetProperty("company").GetProperty("name").GetString());
        Assert.Equal("no_match", none.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("valid", "deliverable")]
    [InlineData("catch_all", "accept_all")]
    [InlineData("invalid", "undeliverable")]
    [InlineData("unknown", "unknown")]
    public async Task Verifly_answers_each_status_as_the_data_set_says(string status, string answer)
    {
        var view = (await sandbox.SampleAsync($"emailStatus=leadmine:{status}", take: 1))[0];

        using var response = await Client.SendAsync(Verifly(view.Vendors["leadmine"].Email!), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(answer, (await JsonAsync(response)).GetProperty("result").GetString());
    }

    [Fact]
    public async Task Call_without_the_right_api_key_is_refused_with_401()
    {
        var person = await KnownByAsync("leadmine");

        using var none = await Client.SendAsync(Leadmine(person, key: null), Ct);
        using var wrong = await Client.SendAsync(Leadmine(person, key: "someone-elses-key"), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
    }

    [Fact]
    public async Task Forced_outage_answers_503()
    {
        await sandbox.PutVendorAsync("leadmine", sandbox.Server.Vendors.Get("leadmine")! with { Outage = true });

        using var response = await Client.SendAsync(Leadmine(await KnownByAsync("leadmine")), Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task Rate_limited_call_answers_429_with_Retry_After()
    {
        await sandbox.PutVendorAsync("leadmine", sandbox.Server.Vendors.Get("leadmine")! with
        {
            Failures = new FailureSettings { RateLimitedRate = 1, RetryAfterSeconds = 3 },
        });

        using var response = await Client.SendAsync(Leadmine(await KnownByAsync("leadmine")), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Failure_mix_is_honoured_over_many_calls()
    {
        await sandbox.PutVendorAsync("leadmine", sandbox.Server.Vendors.Get("leadmine")! with
        {
            Failures = new FailureSettings { RateLimitedRate = 0.2, ServerErrorRate = 0.3 },
        });
        var person = await KnownByAsync("leadmine");

        for (var i = 0; i < 300; i++)
        {
            using var response = await Client.SendAsync(Leadmine(person), Ct);
        }

        var stats = await sandbox.StatsAsync("leadmine");
        Assert.Equal(300, stats.Total);
        Assert.InRange(stats.ByStatus["429"], 40, 80);
        Assert.InRange(stats.ByStatus["500"], 65, 115);
        Assert.Equal(300, stats.ByStatus.Values.Sum());
    }

    [Fact]
    public async Task Hanging_call_answers_504_only_after_its_hang_time()
    {
        await sandbox.PutVendorAsync("leadmine", sandbox.Server.Vendors.Get("leadmine")! with
        {
            Failures = new FailureSettings { HangRate = 1, HangMilliseconds = 400 },
        });
        var person = await KnownByAsync("leadmine");
        var clock = Stopwatch.StartNew();

        using var response = await Client.SendAsync(Leadmine(person), Ct);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(350), $"answered after {clock.Elapsed}");
    }

    [Fact]
    public async Task Caller_giving_up_on_a_hanging_call_is_recorded_as_499()
    {
        await sandbox.PutVendorAsync("leadmine", sandbox.Server.Vendors.Get("leadmine")! with
        {
            Failures = new FailureSettings { HangRate = 1, HangMilliseconds = 60_000 },
        });
        using var impatient = new HttpClient { BaseAddress = sandbox.Server.BaseAddress, Timeout = TimeSpan.FromMilliseconds(300) };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient.SendAsync(Leadmine(sandbox.Server.People.People[0]), Ct));

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await sandbox.StatsAsync("leadmine")).ByStatus.GetValueOrDefault("499") == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, Ct);
        }
        Assert.Equal(1, (await sandbox.StatsAsync("leadmine")).ByStatus["499"]);
    }

    [Fact]
    public async Task Scripted_answers_come_first_in_order_then_the_usual_behaviour()
    {
        await sandbox.PutVendorAsync("leadmine", sandbox.Server.Vendors.Get("leadmine")! with
        {
            Script = [ScriptedResponse.ServerError, ScriptedResponse.RateLimited],
        });
        var person = await KnownByAsync("leadmine");
        var statuses = new List<HttpStatusCode>();

        for (var i = 0; i < 3; i++)
        {
            using var response = await Client.SendAsync(Leadmine(person), Ct);
            statuses.Add(response.StatusCode);
        }

        Assert.Equal([HttpStatusCode.InternalServerError, HttpStatusCode.TooManyRequests, HttpStatusCode.OK], statuses);
    }

    [Fact]
    public async Task Latency_delays_the_answer()
    {
        await sandbox.PutVendorAsync("leadmine", sandbox.Server.Vendors.Get("leadmine")! with
        {
            Latency = new LatencySettings { Distribution = LatencyDistribution.Fixed, FixedMilliseconds = 300 },
        });
        var person = await KnownByAsync("leadmine");
        var clock = Stopwatch.StartNew();

        using var response = await Client.SendAsync(Leadmine(person), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(250), $"answered after {clock.Elapsed}");
    }

    [Fact]
    public void Latency_distributions_stay_within_their_bounds()
    {
        var uniform = new LatencySettings { Distribution = LatencyDistribution.Uniform, MinMilliseconds = 10, MaxMilliseconds = 20 };
        var normal = new LatencySettings { Distribution = LatencyDistribution.Normal, MeanMilliseconds = 100, StdDevMilliseconds = 10 };
        var draws = Enumerable.Range(0, 2000).Select(i => (StableHash.Unit("t", i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            StableHash.Unit("u", i.ToString(System.Globalization.CultureInfo.InvariantCulture)))).ToList();

        Assert.All(draws, d => Assert.InRange(uniform.Sample(d.Item1, d.Item2).TotalMilliseconds, 10, 20));
        var normals = draws.Select(d => normal.Sample(d.Item1, d.Item2).TotalMilliseconds).ToList();
        Assert.InRange(normals.Average(), 98, 102);
        Assert.All(normals, n => Assert.True(n >= 0));
    }

    [Fact]
    public async Task Admin_put_changes_a_vendor_while_it_runs()
    {
        var person = await KnownByAsync("leadmine");

        using (var response = await Client.PutAsJsonAsync("_admin/vendors/leadmine",
            sandbox.Server.Vendors.Get("leadmine")! with { HitRate = 0 }, SandboxJson.Options, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using var answer = await Client.SendAsync(Leadmine(person), Ct);
        var settings = await Client.GetFromJsonAsync<VendorSettings>("_admin/vendors/leadmine", SandboxJson.Options, Ct);

        Assert.Equal(JsonValueKind.Null, (await JsonAsync(answer)).GetProperty("data").ValueKind);
        Assert.Equal(0, settings!.HitRate);
    }

    [Fact]
    public async Task Admin_put_can_add_a_vendor_of_a_known_shape()
    {
        await sandbox.PutVendorAsync("leadmine-eu", new VendorSettings { Shape = VendorShape.Leadmine, HitRate = 1 });
        var person = sandbox.Server.People.People[3];

        using var response = await Client.GetAsync(
            $"leadmine-eu/v1/email?first_name={Uri.EscapeDataString(person.FirstName)}&last_name={Uri.EscapeDataString(person.LastName)}&domain={person.CompanyDomain}", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(JsonValueKind.String, (await JsonAsync(response)).GetProperty("data").GetProperty("email").ValueKind);
    }

    [Theory]
    [InlineData("""{ "shape": "leadmine", "hitRate": 2 }""", "hitRate must be between 0 and 1")]
    [InlineData("""{ "shape": "leadmine", "hitrate2": 0.5 }""", "hitrate2")]
    [InlineData("""{ "hitRate": 0.5 }""", "shape")]
    public async Task Admin_put_refuses_invalid_settings_saying_why(string json, string expected)
    {
        using var response = await Client.PutAsync("_admin/vendors/leadmine", new StringContent(json, System.Text.Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, (await JsonAsync(response)).GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(0.55, sandbox.Server.Vendors.Get("leadmine")!.HitRate);
    }

    [Fact]
    public async Task Stats_count_calls_by_status_and_person_until_reset()
    {
        var people = (await sandbox.SampleAsync("knownBy=leadmine", take: 2)).Select(v => v.Person).ToList();
        foreach (var person in new[] { people[0], people[0], people[0], people[1] })
        {
            using var response = await Client.SendAsync(Leadmine(person), Ct);
        }
        using (var refused = await Client.SendAsync(Leadmine(people[1], key: null), Ct))
        {
        }

        var stats = await sandbox.StatsAsync("leadmine");
        (await Client.DeleteAsync("_admin/stats", Ct)).EnsureSuccessStatusCode();
        var after = await sandbox.StatsAsync("leadmine");

        Assert.Equal(5, stats.Total);
        Assert.Equal(4, stats.ByStatus["200"]);
        Assert.Equal(1, stats.ByStatus["401"]);
        Assert.Equal(3, stats.ByPerson[people[0].Id]);
        Assert.Equal(2, stats.ByPerson[people[1].Id]);
        Assert.Equal([1L, 2, 3, 4, 5], stats.Calls.Select(c => c.Sequence));
        Assert.Equal(0, (await sandbox.StatsAsync("mailscout")).Total);
        Assert.Equal(0, after.Total);
        Assert.Empty(after.Calls);
    }

    [Fact]
    public async Task Sample_picks_people_one_vendor_knows_and_another_does_not()
    {
        var sample = await sandbox.SampleAsync("knownBy=leadmine&unknownBy=mailscout", take: 5);

        Assert.Equal(5, sample.Count);
        foreach (var view in sample)
        {
            using var leadmine = await Client.SendAsync(Leadmine(view.Person), Ct);
            using var mailscout = await Client.SendAsync(Mailscout(new { person = new { linkedin_url = view.Person.LinkedInUrl } }), Ct);
            Assert.Equal(JsonValueKind.Object, (await JsonAsync(leadmine)).GetProperty("data").ValueKind);
            Assert.Equal(HttpStatusCode.NotFound, mailscout.StatusCode);
        }
        Assert.Equal(sample.Select(v => v.Person.Id), (await sandbox.SampleAsync("knownBy=leadmine&unknownBy=mailscout", take: 5)).Select(v => v.Person.Id));
    }

    [Fact]
    public async Task People_endpoint_pages_through_the_data_set_and_finds_one_by_id()
    {
        var page = await Client.GetFromJsonAsync<JsonElement>("_admin/people?skip=10&take=3", Ct);
        var one = await Client.GetFromJsonAsync<JsonElement>("_admin/people/sbx-000011", Ct);
        using var missing = await Client.GetAsync("_admin/people/nobody", Ct);

        Assert.Equal(20_000, page.GetProperty("total").GetInt32());
        var people = page.GetProperty("people");
        Assert.Equal(3, people.GetArrayLength());
        Assert.Equal("sbx-000011", people[0].GetProperty("person").GetProperty("id").GetString());
        Assert.Equal(people[0].GetProperty("person").GetProperty("workEmail").GetString(), one.GetProperty("person").GetProperty("workEmail").GetString());
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Unknown_vendor_or_route_answers_404_and_malformed_request_400()
    {
        using var vendor = await Client.GetAsync("nosuchvendor/v1/email", Ct);
        using var route = await Client.GetAsync("leadmine/v9/email", Ct);
        using var malformed = await Client.GetAsync("leadmine/v1/email?first_name=Ada", Ct);

        Assert.Equal(HttpStatusCode.NotFound, vendor.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, route.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
    }
}
