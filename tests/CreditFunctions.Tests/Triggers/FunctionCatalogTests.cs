using System.Text.Json;
using CreditFunctions.Ledger;
using CreditFunctions.Triggers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CreditFunctions.Tests.Triggers;

public sealed class FunctionCatalogTests
{
    private static Task Nothing<T>(T _, IServiceProvider __, CancellationToken ___) => Task.CompletedTask;

    [Fact]
    public void The_app_declares_the_forwarded_api_function_the_durable_work_queue_and_the_daily_plan_grants_timer()
    {
        var catalog = CreditFunctionsApp.DeclaredFunctions();

        Assert.Equal(["api", "durable-work", "plan-grants"], catalog.Functions.Select(f => f.Name).Order());
        Assert.Equal("%CREDITFUNCTIONS_DURABLE_HUB%-work", Assert.IsType<QueueTrigger>(catalog.Find("durable-work")!.Trigger).QueueName);
        var api = Assert.IsType<HttpTrigger>(catalog.Find("api")!.Trigger);
        Assert.Equal("{*path}", api.Route);
        var grants = Assert.IsType<TimerTrigger>(catalog.Find(PlanGrants.FunctionName)!.Trigger);
        Assert.Equal("0 5 0 * * *", grants.Schedule);
    }

    [Fact]
    public void Each_trigger_kind_becomes_the_binding_the_host_reads_with_setting_expressions_left_for_the_host()
    {
        var services = new ServiceCollection()
            .AddHttpFunction("api")
            .AddQueueFunction("durable-work", new QueueTrigger("%CREDITFUNCTIONS_WORK_QUEUE%"), Nothing)
            .AddBlobFunction("csv-uploaded", new BlobTrigger("csv-uploads/{name}"), Nothing)
            .AddTimerFunction("tracking-scan", new TimerTrigger("0 0 3 * * *"), Nothing);
        var catalog = FunctionsCatalog.From(services);

        JsonElement Binding(string name, int index = 0) =>
            JsonDocument.Parse(FunctionsCommand.FunctionJson(catalog.Find(name)!)).RootElement.GetProperty("bindings")[index];

        var http = Binding("api");
        Assert.Equal(("httpTrigger", "in", "req", "anonymous", "{*path}"),
            (Str(http, "type"), Str(http, "direction"), Str(http, "name"), Str(http, "authLevel"), Str(http, "route")));
        Assert.Contains("post", http.GetProperty("methods").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(("http", "out"), (Str(Binding("api", 1), "type"), Str(Binding("api", 1), "direction")));
        var queue = Binding("durable-work");
        Assert.Equal(("queueTrigger", "in", "message", "%CREDITFUNCTIONS_WORK_QUEUE%", "AzureWebJobsStorage"),
            (Str(queue, "type"), Str(queue, "direction"), Str(queue, "name"), Str(queue, "queueName"), Str(queue, "connection")));
        var blob = Binding("csv-uploaded");
        Assert.Equal(("blobTrigger", "blob", "csv-uploads/{name}", "AzureWebJobsStorage", "binary"),
            (Str(blob, "type"), Str(blob, "name"), Str(blob, "path"), Str(blob, "connection"), Str(blob, "dataType")));
        var timer = Binding("tracking-scan");
        Assert.Equal(("timerTrigger", "timer", "0 0 3 * * *"), (Str(timer, "type"), Str(timer, "name"), Str(timer, "schedule")));
        Assert.True(timer.GetProperty("useMonitor").GetBoolean());
        Assert.False(timer.GetProperty("runOnStartup").GetBoolean());
    }

    [Fact]
    public async Task The_generate_command_writes_one_function_json_per_declared_function()
    {
        var folder = Path.Combine(Path.GetTempPath(), "cf-generate-" + Guid.NewGuid().ToString("N"));
        try
        {
            var output = new StringWriter();
            var exit = await FunctionsCommand.RunAsync(["functions", "generate", folder], CreditFunctionsApp.DeclaredFunctions(), output, TextWriter.Null);

            Assert.Equal(0, exit);
            Assert.Equal(["api", "durable-work", "plan-grants"], Directory.GetDirectories(folder).Select(Path.GetFileName).Order());
            using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, "plan-grants", "function.json"), TestContext.Current.CancellationToken));
            Assert.Equal("timerTrigger", json.RootElement.GetProperty("bindings")[0].GetProperty("type").GetString());
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Theory]
    [InlineData("bad name")]
    [InlineData("-starts-with-a-dash")]
    [InlineData("")]
    public void A_function_name_the_host_would_refuse_is_refused_when_declared(string name)
    {
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddQueueFunction(name, new QueueTrigger("work"), Nothing));
    }

    [Fact]
    public void Two_functions_with_one_name_are_refused_whatever_the_case()
    {
        var services = new ServiceCollection().AddQueueFunction("work", new QueueTrigger("work"), Nothing);

        Assert.Throws<ArgumentException>(() => services.AddTimerFunction("Work", new TimerTrigger("0 0 * * * *"), Nothing));
    }

    [Theory]
    [InlineData("Work_Items")]
    [InlineData("ab")]
    [InlineData("work--items")]
    public void A_queue_name_the_service_would_refuse_is_refused_when_declared(string queue)
    {
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddQueueFunction("work", new QueueTrigger(queue), Nothing));
    }

    [Theory]
    [InlineData("no-container-separator")]
    [InlineData("Uploads/{name}")]
    [InlineData("uploads/")]
    [InlineData("uploads/{name}/{name}")]
    public void A_blob_path_that_is_not_container_and_pattern_is_refused_when_declared(string path)
    {
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddBlobFunction("uploaded", new BlobTrigger(path), Nothing));
    }

    [Fact]
    public void A_schedule_that_is_not_six_field_NCRONTAB_is_refused_when_declared()
    {
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddTimerFunction("nightly", new TimerTrigger("5 0 * * *"), Nothing));
    }

    [Fact]
    public void Setting_expressions_resolve_from_configuration_and_a_missing_setting_is_named()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["WORK_QUEUE"] = "work-items" }).Build();

        Assert.Equal("work-items", BindingExpressions.Resolve("%WORK_QUEUE%", configuration));
        Assert.Equal("prefix-work-items", BindingExpressions.Resolve("prefix-%WORK_QUEUE%", configuration));
        var missing = Assert.Throws<InvalidOperationException>(() => BindingExpressions.Resolve("%OTHER_QUEUE%", configuration));
        Assert.Contains("OTHER_QUEUE", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_function_is_disabled_by_the_hosts_setting_in_either_spelling()
    {
        IConfiguration With(string key) => new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = "true" }).Build();

        Assert.True(FunctionsCatalog.IsDisabled("plan-grants", With("AzureWebJobs.plan-grants.Disabled")));
        Assert.True(FunctionsCatalog.IsDisabled("plan-grants", With("AzureWebJobs:plan-grants:Disabled")));
        Assert.False(FunctionsCatalog.IsDisabled("plan-grants", With("AzureWebJobs.other.Disabled")));
    }

    private static string? Str(JsonElement element, string name) => element.GetProperty(name).GetString();
}
