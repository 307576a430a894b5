using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;
using CreditFunctions.Triggers;
using Microsoft.Extensions.DependencyInjection;

namespace CreditFunctions.Tests.Triggers;

/// <summary>The custom-handler contract: the envelopes the Functions host POSTs, byte for byte as its documentation and
/// real payloads show them, and the answers it expects.</summary>
public sealed class ContractTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly Recorder _queue = new();
    private readonly Recorder _blob = new();
    private readonly Recorder _timer = new();
    private readonly Recorder _failing = new() { FailFirst = int.MaxValue };
    private readonly string _failingName = AzuriteFixture.NewName("failing");
    private TestApp _app = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _app = await TestApp.StartAsync(azurite,
        settings: new Dictionary<string, string?> { ["TEST_QUEUE"] = "contract-queue" },
        configureServices: services => services
            .AddQueueFunction("test-queue", new QueueTrigger("%TEST_QUEUE%"), (t, _, ct) => _queue.HandleAsync(t, ct))
            .AddBlobFunction("test-blob", new BlobTrigger("uploads/{name}"), (t, _, ct) => _blob.HandleAsync(t, ct))
            .AddTimerFunction("test-timer", new TimerTrigger("0 */5 * * * *"), (t, _, ct) => _timer.HandleAsync(t, ct))
            .AddQueueFunction(_failingName, new QueueTrigger("failing"), (t, _, ct) => _failing.HandleAsync(t, ct)));

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task A_queue_message_arrives_with_its_text_and_the_hosts_metadata_and_gets_the_documented_answer()
    {
        using var response = await PostAsync("test-queue", """
            {
              "Data": {
                "message": "{ message: \"Message sent\" }"
              },
              "Metadata": {
                "DequeueCount": 1,
                "ExpirationTime": "2019-10-16T17:58:31+00:00",
                "Id": "800ae4b3-bdd2-4c08-badd-f08e5a34b865",
                "InsertionTime": "2019-10-09T17:58:31+00:00",
                "NextVisibleTime": "2019-10-09T18:08:32+00:00",
                "PopReceipt": "AgAAAAMAAAAAAAAAAgtnj8x+1QE=",
                "sys": {
                  "MethodName": "test-queue",
                  "UtcNow": "2019-10-09T17:58:32.2205399Z",
                  "RandGuid": "24ad4c06-24ad-4e5b-8294-3da9714877e9"
                }
              }
            }
            """, invocationId: "83a33220-a921-460a-bec0-b3f043dcf1ff");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(JsonValueKind.Object, answer.RootElement.GetProperty("Outputs").ValueKind);
        Assert.Equal(0, answer.RootElement.GetProperty("Logs").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, answer.RootElement.GetProperty("ReturnValue").ValueKind);
        var context = Assert.IsType<QueueTriggerContext>(Assert.Single(_queue.Received));
        Assert.Equal("{ message: \"Message sent\" }", context.MessageText);
        Assert.Equal("contract-queue", context.QueueName);
        Assert.Equal("800ae4b3-bdd2-4c08-badd-f08e5a34b865", context.MessageId);
        Assert.Equal(1, context.DequeueCount);
        Assert.Equal(DateTimeOffset.Parse("2019-10-09T17:58:31+00:00", System.Globalization.CultureInfo.InvariantCulture), context.InsertionTime);
        Assert.Equal(DateTimeOffset.Parse("2019-10-09T18:08:32+00:00", System.Globalization.CultureInfo.InvariantCulture), context.NextVisibleTime);
        Assert.Equal(DateTimeOffset.Parse("2019-10-16T17:58:31+00:00", System.Globalization.CultureInfo.InvariantCulture), context.ExpirationTime);
        Assert.Equal("83a33220-a921-460a-bec0-b3f043dcf1ff", context.InvocationId);
        Assert.Equal("test-queue", context.FunctionName);
        Assert.NotNull(context.HostUtcNow);
    }

    [Fact]
    public async Task A_queue_message_the_host_passes_as_JSON_arrives_as_its_JSON_text_and_numbers_may_be_strings()
    {
        using var response = await PostAsync("test-queue", """
            {"Data":{"message":{"orchestration":"o-1","step":3}},"Metadata":{"DequeueCount":"4","Id":"m-2"}}
            """);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var context = Assert.IsType<QueueTriggerContext>(Assert.Single(_queue.Received));
        Assert.Equal("""{"orchestration":"o-1","step":3}""", context.MessageText);
        Assert.Equal(4, context.DequeueCount);
    }

    [Fact]
    public async Task A_blob_arrives_with_its_content_path_captures_and_properties()
    {
        var content = "email,phone\nada@example.com,\n"u8.ToArray();
        using var response = await PostAsync("test-blob", $$"""
            {
              "Data": { "blob": "{{Convert.ToBase64String(content)}}" },
              "Metadata": {
                "BlobTrigger": "uploads/team-1/leads.csv",
                "Uri": "https://account.blob.core.windows.net/uploads/team-1/leads.csv",
                "Properties": { "ContentLength": {{content.Length}}, "ContentType": "text/csv", "LastModified": "2026-11-21T10:00:00+00:00" },
                "Metadata": { "uploadedBy": "ada" },
                "name": "team-1/leads.csv",
                "sys": { "MethodName": "test-blob", "UtcNow": "2026-11-21T10:00:01.5Z", "RandGuid": "35e6e68c-5583-436c-a277-5aec2b416ba8" }
              }
            }
            """);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var context = Assert.IsType<BlobTriggerContext>(Assert.Single(_blob.Received));
        Assert.Equal(content, context.Content.ToArray());
        Assert.Equal("uploads", context.ContainerName);
        Assert.Equal("team-1/leads.csv", context.BlobName);
        Assert.Equal("team-1/leads.csv", context.PathParameters["name"]);
        Assert.Equal(new Uri("https://account.blob.core.windows.net/uploads/team-1/leads.csv"), context.Uri);
        Assert.Equal(content.Length, context.ContentLength);
        Assert.Equal("text/csv", context.ContentType);
        Assert.Equal("ada", context.BlobMetadata["uploadedBy"]);
    }

    [Fact]
    public async Task A_monitored_timer_arrives_with_its_schedule_status()
    {
        using var response = await PostAsync("test-timer", """
            {
              "Data": {
                "timer": {
                  "Schedule": { "AdjustForDST": true },
                  "ScheduleStatus": {
                    "Last": "2023-10-12T20:10:00.000000Z",
                    "Next": "2023-10-12T20:15:00.000000Z",
                    "LastUpdated": "2023-10-12T20:10:00.640002Z"
                  },
                  "IsPastDue": true
                }
              },
              "Metadata": { "sys": { "MethodName": "test-timer", "UtcNow": "2023-10-12T20:15:49.640002Z", "RandGuid": "4e773554-f6b7-4ea2-b07d-4c5fd5aba741" } }
            }
            """);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var context = Assert.IsType<TimerTriggerContext>(Assert.Single(_timer.Received));
        Assert.True(context.IsPastDue);
        Assert.Equal(DateTimeOffset.Parse("2023-10-12T20:10:00Z", System.Globalization.CultureInfo.InvariantCulture), context.Last);
        Assert.Equal(DateTimeOffset.Parse("2023-10-12T20:15:00Z", System.Globalization.CultureInfo.InvariantCulture), context.Next);
    }

    [Fact]
    public async Task An_unmonitored_timer_arrives_without_schedule_status()
    {
        using var response = await PostAsync("test-timer", """
            {"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"azure","UtcNow":"2023-09-07T11:40:45.004275Z","RandGuid":"35e6e68c-5583-436c-a277-5aec2b416ba8"}}}
            """);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var context = Assert.IsType<TimerTriggerContext>(Assert.Single(_timer.Received));
        Assert.False(context.IsPastDue);
        Assert.Null(context.Last);
        Assert.Null(context.Next);
    }

    [Fact]
    public async Task A_failing_handler_answers_500_with_a_log_line_so_the_host_retries_and_counts_the_error()
    {
        var errors = 0L;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == TriggerTelemetry.Name && instrument.Name == "faas.errors")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "faas.name" && (string?)tag.Value == _failingName)
                {
                    Interlocked.Add(ref errors, value);
                }
            }
        });
        listener.Start();

        using var response = await PostAsync(_failingName, """{"Data":{"message":"boom"},"Metadata":{"DequeueCount":1,"Id":"m-1"}}""");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(1, answer.RootElement.GetProperty("Logs").GetArrayLength());
        Assert.Equal(1, _failing.Calls);
        Assert.Equal(1, Interlocked.Read(ref errors));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"Metadata":{}}""")]
    [InlineData("""{"Data":{"other":"x"},"Metadata":{}}""")]
    public async Task An_envelope_without_the_triggers_data_is_refused_with_400_and_runs_nothing(string body)
    {
        using var response = await PostAsync("test-queue", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty(_queue.Received);
    }

    [Fact]
    public async Task A_blob_whose_data_is_not_base64_is_refused()
    {
        using var response = await PostAsync("test-blob", """{"Data":{"blob":"not base64!"},"Metadata":{"BlobTrigger":"uploads/a.csv"}}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty(_blob.Received);
    }

    [Fact]
    public async Task Only_declared_functions_have_an_endpoint_and_the_api_function_has_none()
    {
        using var unknown = await PostAsync("no-such-function", """{"Data":{},"Metadata":{}}""");
        using var api = await PostAsync("api", """{"Data":{},"Metadata":{}}""");

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
    }

    [Fact]
    public async Task The_plan_grants_timer_grants_each_team_on_a_plan_its_month_once_however_often_it_fires()
    {
        var (team, _) = await _app.NewTeamAsync();
        var (teamWithoutPlan, _) = await _app.NewTeamAsync();
        Assert.True(await _app.Teams.SetPlanAsync(team, "demo", Ct));
        const string envelope = """
            {"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"plan-grants","UtcNow":"2026-11-22T00:05:00.01Z","RandGuid":"35e6e68c-5583-436c-a277-5aec2b416ba8"}}}
            """;

        using (var first = await PostAsync(PlanGrants.FunctionName, envelope))
        using (var second = await PostAsync(PlanGrants.FunctionName, envelope))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        var ledger = _app.Services.GetRequiredService<LedgerService>();
        var balances = await ledger.GetBalancesAsync(team, Ct);
        Assert.All(PlanCatalog.Default.Find("demo")!.Monthly, plan =>
            Assert.Equal(plan.Value, Assert.Single(balances, b => b.CreditType == plan.Key).Granted));
        Assert.All(await ledger.GetBalancesAsync(teamWithoutPlan, Ct), b => Assert.Equal(Credits.Zero, b.Granted));
    }

    private async Task<HttpResponseMessage> PostAsync(string function, string body, string? invocationId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/" + function)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-azure-functions-invocationid", invocationId ?? Guid.NewGuid().ToString());
        request.Headers.Add("x-azure-functions-hostversion", "4.1037.1.1");
        return await _app.Client.SendAsync(request, Ct);
    }
}
