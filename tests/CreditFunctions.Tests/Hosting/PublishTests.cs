using System.Diagnostics;
using System.Text.Json;
using CreditFunctions.AzureStorage.Emulator;

namespace CreditFunctions.Tests.Hosting;

/// <summary>The README's publish command produces a deployable Functions app folder. Slow (a Release build and a
/// self-contained publish, about half a minute here): one test.</summary>
public sealed class PublishTests
{
    [Fact]
    public async Task The_publish_command_produces_host_json_a_folder_per_function_and_a_self_contained_linux_executable()
    {
        var root = AzuriteProcess.FindRepositoryRoot() ?? throw new InvalidOperationException("Run from the repository.");
        var work = Path.Combine(Path.GetTempPath(), "cf-publish-" + Guid.NewGuid().ToString("N"));
        var output = Path.Combine(work, "publish");
        try
        {
            // The README's command, plus a private artifacts path so that it shares no bin/obj folder with the build
            // of a test run going on at the same time.
            var (exit, log) = await RunAsync("dotnet", root,
                "publish", "functions/CreditFunctions", "-c", "Release", "-r", "linux-x64", "--self-contained", "-o", output,
                "--artifacts-path", Path.Combine(work, "artifacts"), "-nologo");
            Assert.True(exit == 0, "dotnet publish failed:\n" + log);

            using var host = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "host.json"), TestContext.Current.CancellationToken));
            var customHandler = host.RootElement.GetProperty("customHandler");
            Assert.True(customHandler.GetProperty("enableForwardingHttpRequest").GetBoolean());
            var executable = Path.Combine(output, customHandler.GetProperty("description").GetProperty("defaultExecutablePath").GetString()!);
            Assert.True(File.Exists(executable));
            if (!OperatingSystem.IsWindows())
            {
                Assert.True((File.GetUnixFileMode(executable) & UnixFileMode.UserExecute) != 0);
            }
            Assert.Equal(5, host.RootElement.GetProperty("extensions").GetProperty("queues").GetProperty("maxDequeueCount").GetInt32());
            using (var runtime = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "CreditFunctions.runtimeconfig.json"), TestContext.Current.CancellationToken)))
            {
                Assert.True(runtime.RootElement.GetProperty("runtimeOptions").TryGetProperty("includedFrameworks", out _), "the app is not self-contained");
            }
            Assert.True(File.Exists(Path.Combine(output, "libcoreclr.so")), "the runtime is not in the folder");
            Assert.False(File.Exists(Path.Combine(output, "local.settings.json")));

            var declared = CreditFunctionsApp.DeclaredFunctions().Functions;
            foreach (var function in declared)
            {
                var path = Path.Combine(output, function.Name, "function.json");
                Assert.True(File.Exists(path), $"{function.Name}/function.json is missing");
                using var json = JsonDocument.Parse(await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken));
                Assert.Equal(function.Trigger.BindingType, json.RootElement.GetProperty("bindings")[0].GetProperty("type").GetString());
            }

            // The executable itself runs (no SDK needed) and lists the same functions.
            var (listed, list) = await RunAsync(executable, output, "functions", "list");
            Assert.Equal(0, listed);
            Assert.Equal(declared.Select(f => f.Name), list.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]));
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
