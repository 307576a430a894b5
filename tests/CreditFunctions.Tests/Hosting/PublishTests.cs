using System.Diagnostics;
using System.Text.Json;
using CreditFunctions.Hosting;

namespace CreditFunctions.Tests.Hosting;

/// <summary>The README's publish command produces a deployable isolated-worker Functions app folder. Slow (a Release
/// build and publish, about half a minute here): one test.</summary>
public sealed class PublishTests
{
    [Fact]
    public async Task The_publish_command_produces_the_function_metadata_host_json_and_the_extensions_the_host_loads()
    {
        var root = RepositoryRoot.Find() ?? throw new InvalidOperationException("Run from the repository.");
        var work = Path.Combine(Path.GetTempPath(), "cf-publish-" + Guid.NewGuid().ToString("N"));
        var output = Path.Combine(work, "publish");
        var ct = TestContext.Current.CancellationToken;
        try
        {
            // The README's command, plus a private artifacts path so that it shares no bin/obj folder with the build
            // of a test run going on at the same time.
            var (exit, log) = await RunAsync("dotnet", root,
                "publish", "functions/CreditFunctions", "-c", "Release", "-o", output, "--artifacts-path", Path.Combine(work, "artifacts"), "-nologo");
            Assert.True(exit == 0, "dotnet publish failed:\n" + log);

            using var host = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "host.json"), ct));
            var durable = host.RootElement.GetProperty("extensions").GetProperty("durableTask");
            Assert.Equal("AzureStorage", durable.GetProperty("storageProvider").GetProperty("type").GetString());
            Assert.Equal(5, host.RootElement.GetProperty("extensions").GetProperty("queues").GetProperty("maxDequeueCount").GetInt32());
            Assert.False(host.RootElement.TryGetProperty("customHandler", out _));

            using var worker = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "worker.config.json"), ct));
            Assert.Equal("CreditFunctions.dll", worker.RootElement.GetProperty("description").GetProperty("defaultWorkerPath").GetString());

            using var metadata = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "functions.metadata"), ct));
            var functions = metadata.RootElement.EnumerateArray().ToDictionary(
                f => f.GetProperty("name").GetString()!,
                f => f.GetProperty("bindings").EnumerateArray().Select(b => b.GetProperty("type").GetString()!).ToList());
            Assert.Contains("httpTrigger", functions["credits-charges"]);
            Assert.Contains("orchestrationTrigger", functions["Waterfall"]);
            Assert.Contains("activityTrigger", functions["WaterfallChunk"]);
            Assert.Contains("timerTrigger", functions["plan-grants"]);
            Assert.Contains("durableClient", functions["enrichment-waterfall"]);
            // One function per route, no catch-all proxy.
            Assert.DoesNotContain("api", functions.Keys);

            var extensions = await File.ReadAllTextAsync(Path.Combine(output, ".azurefunctions", "function.deps.json"), ct);
            Assert.Contains("Microsoft.Azure.WebJobs.Extensions.DurableTask", extensions, StringComparison.Ordinal);
            using var loaded = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "extensions.json"), ct));
            var names = loaded.RootElement.GetProperty("extensions").EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToList();
            // The SDK keeps only the extensions the functions use (no queue or blob trigger yet).
            Assert.Contains("DurableTask", names);
            Assert.False(File.Exists(Path.Combine(output, "local.settings.json")));
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, string directory, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // The test host's own MSBuild settings must not leak into the nested build.
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "DOTNET_HOST_PATH" })
        {
            start.Environment.Remove(name);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
