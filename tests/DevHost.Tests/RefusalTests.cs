using DevHost.Discovery;
using DevHost.SampleApp;
using Microsoft.Azure.Functions.Worker.Core.FunctionMetadata;

namespace DevHost.Tests;

public sealed class RefusalTests
{
    [Theory]
    [InlineData("UnsupportedQueueOutput", "output binding '$return' of type 'queue'")]
    [InlineData("UnsupportedRetry", "retry policy")]
    [InlineData("UnsupportedHttpRequestData", "HttpRequestData")]
    [InlineData("UnsupportedMultiOutput", "output binding 'Message' of type 'queue'")]
    public async Task Function_using_an_unsupported_feature_is_refused_at_start(string function, string reason)
    {
        var options = TestHosts.Options(new Dictionary<string, string?> { ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true" }, function);

        var refused = await Assert.ThrowsAsync<UnsupportedFunctionException>(() => FunctionsDevHost.StartAsync(options, TestContext.Current.CancellationToken));

        Assert.Equal(function, refused.FunctionName);
        Assert.Contains(reason, refused.Message, StringComparison.Ordinal);
        Assert.Contains(function, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_whole_sample_app_is_refused_because_it_holds_unsupported_functions()
    {
        var options = TestHosts.Options(new Dictionary<string, string?>()) with { FunctionFilter = null };

        await Assert.ThrowsAsync<UnsupportedFunctionException>(() => FunctionsDevHost.StartAsync(options, TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("""{"name":"message","direction":"In","type":"serviceBusTrigger","queueName":"q"}""", "trigger type 'serviceBusTrigger'")]
    [InlineData("""{"name":"message","direction":"In","type":"queueTrigger","queueName":"q"}|{"name":"row","direction":"In","type":"table","tableName":"t"}""", "input binding 'row' of type 'table'")]
    [InlineData("""{"name":"message","direction":"In","type":"queueTrigger","queueName":"q"}|{"name":"$return","direction":"Out","type":"blob","path":"c/x"}""", "output binding '$return' of type 'blob'")]
    public async Task Hand_written_metadata_with_unsupported_bindings_is_refused(string bindings, string reason)
    {
        var function = (await FunctionCatalog.LoadAsync(typeof(SampleServices).Assembly, TestContext.Current.CancellationToken)).Single(f => f.Name == "FailAlways");
        var metadata = new DefaultFunctionMetadata { Name = "Handwritten", EntryPoint = function.Metadata.EntryPoint, RawBindings = bindings.Split('|') };
        var parsed = metadata.RawBindings.Select(BindingInfo.Parse).ToList();
        var descriptor = new FunctionDescriptor
        {
            Metadata = metadata,
            Name = "Handwritten",
            Bindings = parsed,
            Trigger = parsed.First(b => b.IsTrigger),
            Method = function.Method,
        };

        var refused = Assert.Throws<UnsupportedFunctionException>(() => FunctionValidator.Validate(descriptor));

        Assert.Equal("Handwritten", refused.FunctionName);
        Assert.Contains(reason, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Functions_are_discovered_from_the_generated_metadata()
    {
        var functions = await FunctionCatalog.LoadAsync(typeof(SampleServices).Assembly, TestContext.Current.CancellationToken);

        var hello = functions.Single(f => f.Name == "Hello");
        Assert.Equal("httpTrigger", hello.Trigger.Type);
        Assert.Equal("hello/{name}", hello.Trigger.GetString("route"));
        Assert.Equal(typeof(HttpFunctions).GetMethod(nameof(HttpFunctions.Hello)), hello.Method);
        Assert.Equal("queueTrigger", functions.Single(f => f.Name == "ProcessWork").Trigger.Type);
        Assert.Equal("orchestrationTrigger", functions.Single(f => f.Name == "Chain").Trigger.Type);
        Assert.Equal("activityTrigger", functions.Single(f => f.Name == "SayHello").Trigger.Type);
        Assert.Equal("orchestrationTrigger", functions.Single(f => f.Name == "BenchChain").Trigger.Type);
        Assert.Equal(33, functions.Count);
    }
}
