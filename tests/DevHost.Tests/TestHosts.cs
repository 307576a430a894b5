using DevHost.SampleApp;
using Microsoft.Extensions.DependencyInjection;

namespace DevHost.Tests;

/// <summary>Starts the sample app on the dev host against the test Azurite, on a free port, with unique names.</summary>
internal static class TestHosts
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static string Unique(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 12, 40)].ToLowerInvariant();

    public static Dictionary<string, string?> Settings(string connectionString, string? hostId = null) => new()
    {
        ["AzureWebJobsStorage"] = connectionString,
        ["AzureFunctionsWebHost:hostid"] = hostId ?? Unique("h"),
        ["WorkQueue"] = Unique("work-"),
        ["TextQueue"] = Unique("text-"),
        ["FailQueue"] = Unique("fail-"),
        ["SlowQueue"] = Unique("slow-"),
        ["BlobContainer"] = Unique("blobs-"),
        ["FailingBlobContainer"] = Unique("failing-"),
        ["TickSchedule"] = "0 0 0 1 1 *",
        ["DevHost:BlobScanInterval"] = "00:00:00.200",
        ["AzureFunctionsJobHost:extensions:durableTask:hubName"] = "h" + Guid.NewGuid().ToString("N")[..16],
        ["AzureFunctionsJobHost:extensions:durableTask:storageProvider:leaseAcquireInterval"] = "00:00:01",
        ["AzureFunctionsJobHost:extensions:durableTask:storageProvider:leaseRenewInterval"] = "00:00:02",
        ["AzureFunctionsJobHost:extensions:durableTask:storageProvider:leaseInterval"] = "00:00:05",
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:DevHost.Invocation.FunctionInvoker"] = "Critical",
    };

    public static DevHostOptions Options(IReadOnlyDictionary<string, string?> settings, params string[] functions) => new()
    {
        AppAssembly = typeof(SampleServices).Assembly,
        ConfigureAppServices = SampleServices.Add,
        Settings = settings,
        Port = 0,
        FunctionFilter = functions.Length == 0 ? name => !name.StartsWith("Unsupported", StringComparison.Ordinal) : functions.Contains,
    };

    public static Task<FunctionsDevHost> StartAsync(IReadOnlyDictionary<string, string?> settings, params string[] functions) =>
        FunctionsDevHost.StartAsync(Options(settings, functions), TestContext.Current.CancellationToken);

    public static Recorder Recorder(this FunctionsDevHost host) => host.Services.GetRequiredService<Recorder>();

    /// <summary>Polls <paramref name="condition"/> until it holds; fails after <paramref name="timeout"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, string? because = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        while (!await condition())
        {
            if (cts.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting: {because ?? "condition"}");
            }
            await Task.Delay(50, CancellationToken.None);
        }
    }

    public static Task EventuallyAsync(Func<bool> condition, TimeSpan? timeout = null, string? because = null) =>
        EventuallyAsync(() => Task.FromResult(condition()), timeout, because);
}
