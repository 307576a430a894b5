using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace DevHost.SampleApp;

/// <summary>The app's registrations, shared by Program.cs (real host) and the dev host's ConfigureAppServices.</summary>
public static class SampleServices
{
    public static void Add(IConfiguration configuration, IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddSingleton<Recorder>();
        services.AddSingleton(TimeProvider.System);
    }
}

/// <summary>What the functions saw, for the tests to assert on.</summary>
public sealed class Recorder
{
    private readonly ConcurrentQueue<(string Function, string Value)> _events = new();

    public void Add(string function, string value) => _events.Enqueue((function, value));

    public IReadOnlyList<string> Values(string function) => [.. _events.Where(e => e.Function == function).Select(e => e.Value)];

    /// <summary>Lets a test block a slow function until released.</summary>
    public TaskCompletionSource SlowStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

public sealed record Greeting(string Name, int Length);

public sealed record WorkItem(string Id, int Amount);

public sealed record ChainInput(IReadOnlyList<string> Names);

public sealed record ApprovalInput(int TimeoutSeconds);

public sealed record Approval(string By);
