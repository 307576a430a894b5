using System.Diagnostics;
using CreditFunctions.Providers;
using SandboxProviders;

namespace CreditFunctions.Tests.Providers;

/// <summary>
/// Retries, Retry-After, timeouts, the circuit breaker, the rate limiter and team keys, against the sandbox over real
/// HTTP. Timing is asserted on the sandbox's recorded arrival times, with generous bounds.
/// </summary>
public sealed class ProviderResilienceTests : IClassFixture<SandboxVendors>
{
    private readonly SandboxVendors _sandbox;

    public ProviderResilienceTests(SandboxVendors sandbox)
    {
        _sandbox = sandbox;
        sandbox.Reset();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private PersonInput KnownByLeadmine => SandboxVendors.Input(_sandbox.KnownBy("leadmine"));

    private Task<ProviderOutcome> LeadmineAsync(ProviderCaller caller, ProviderApiKey? key = null) =>
        caller.LookupAsync("leadmine", ProviderCapabilities.Email, KnownByLeadmine, key, cancellationToken: Ct);

    private void Leadmine(Func<VendorSettings, VendorSettings> change) => _sandbox.Configure("leadmine", change);

    [Fact]
    public async Task Provider_answering_429_is_retried_after_its_Retry_After()
    {
        Leadmine(s => s with { Failures = new FailureSettings { RetryAfterSeconds = 1 }, Script = [ScriptedResponse.RateLimited] });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with { Retry = d.Retry with { BaseDelaySeconds = 0, MaxRetryAfterSeconds = 5 } });

        var outcome = await LeadmineAsync(caller);

        var hit = Assert.IsType<ProviderHit>(outcome);
        Assert.Equal(2, hit.Provenance.Attempts);
        var calls = _sandbox.Stats("leadmine").Calls;
        Assert.Equal([429, 200], calls.Select(c => c.Status));
        // With no back-off of its own (base delay 0), only the Retry-After explains a gap of about a second.
        var gap = calls[1].ReceivedAt - calls[0].ReceivedAt;
        Assert.InRange(gap, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Provider_asking_to_wait_longer_than_allowed_is_not_retried()
    {
        Leadmine(s => s with { Failures = new FailureSettings { RetryAfterSeconds = 30 }, Script = [ScriptedResponse.RateLimited] });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with { Retry = d.Retry with { MaxRetryAfterSeconds = 5 } });

        var outcome = await LeadmineAsync(caller);

        var failed = Assert.IsType<ProviderFailed>(outcome);
        Assert.Equal(ProviderErrorKind.TooManyRequests, failed.Kind);
        Assert.Equal(1, _sandbox.Stats("leadmine").Total);
    }

    [Fact]
    public async Task Server_error_is_retried_then_succeeds()
    {
        Leadmine(s => s with { Script = [ScriptedResponse.ServerError, ScriptedResponse.ServerError] });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with { Retry = d.Retry with { MaxRetryAttempts = 2, BaseDelaySeconds = 0.01 } });

        var outcome = await LeadmineAsync(caller);

        Assert.Equal(3, Assert.IsType<ProviderHit>(outcome).Provenance.Attempts);
        Assert.Equal([500, 500, 200], _sandbox.Stats("leadmine").Calls.Select(c => c.Status));
    }

    [Fact]
    public async Task Server_errors_beyond_the_retries_fail_with_ServerError()
    {
        Leadmine(s => s with { Failures = new FailureSettings { ServerErrorRate = 1 } });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with { Retry = d.Retry with { MaxRetryAttempts = 1, BaseDelaySeconds = 0.01 } });

        var outcome = await LeadmineAsync(caller);

        var failed = Assert.IsType<ProviderFailed>(outcome);
        Assert.Equal(ProviderErrorKind.ServerError, failed.Kind);
        Assert.Equal(2, failed.Provenance.Attempts);
        Assert.Equal(2, _sandbox.Stats("leadmine").Total);
    }

    [Fact]
    public async Task Provider_hanging_past_the_timeout_fails_with_Timeout_in_bounded_time()
    {
        Leadmine(s => s with { Failures = new FailureSettings { HangRate = 1, HangMilliseconds = 60_000 } });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with
        {
            AttemptTimeoutSeconds = 0.3,
            TotalTimeoutSeconds = 1,
            Retry = d.Retry with { MaxRetryAttempts = 5, BaseDelaySeconds = 0.01 },
        });
        var clock = Stopwatch.StartNew();

        var outcome = await LeadmineAsync(caller);

        var failed = Assert.IsType<ProviderFailed>(outcome);
        Assert.Equal(ProviderErrorKind.Timeout, failed.Kind);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        // Attempts of 0.3 s within a total of 1 s: the total timeout cut the retries short.
        Assert.InRange(_sandbox.Stats("leadmine").Total, 2, 4);
    }

    [Fact]
    public async Task Circuit_opens_after_repeated_failures_and_skips_the_provider_without_a_call()
    {
        Leadmine(s => s with { Failures = new FailureSettings { ServerErrorRate = 1 } });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with
        {
            Retry = d.Retry with { MaxRetryAttempts = 0 },
            CircuitBreaker = new ProviderCircuitBreaker { FailureRatio = 0.5, MinimumThroughput = 3, SamplingDurationSeconds = 30, BreakDurationSeconds = 30 },
        });

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ProviderErrorKind.ServerError, Assert.IsType<ProviderFailed>(await LeadmineAsync(caller)).Kind);
        }
        var skipped = await LeadmineAsync(caller);

        var failed = Assert.IsType<ProviderFailed>(skipped);
        Assert.Equal(ProviderErrorKind.CircuitOpen, failed.Kind);
        Assert.Equal(0, failed.Provenance.Attempts);
        Assert.Equal(3, _sandbox.Stats("leadmine").Total);
    }

    [Fact]
    public async Task Open_circuit_lets_a_trial_call_through_after_its_break_duration()
    {
        Leadmine(s => s with { Failures = new FailureSettings { ServerErrorRate = 1 } });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with
        {
            Retry = d.Retry with { MaxRetryAttempts = 0 },
            CircuitBreaker = new ProviderCircuitBreaker { FailureRatio = 0.5, MinimumThroughput = 2, SamplingDurationSeconds = 30, BreakDurationSeconds = 0.5 },
        });
        await LeadmineAsync(caller);
        await LeadmineAsync(caller);
        Assert.Equal(ProviderErrorKind.CircuitOpen, Assert.IsType<ProviderFailed>(await LeadmineAsync(caller)).Kind);

        Leadmine(s => s with { Failures = new FailureSettings() });
        await Task.Delay(TimeSpan.FromSeconds(0.8), Ct);
        var trial = await LeadmineAsync(caller);

        Assert.IsType<ProviderHit>(trial);
        Assert.Equal(3, _sandbox.Stats("leadmine").Total);
    }

    [Fact]
    public async Task Unauthorized_and_rate_limited_answers_do_not_open_the_circuit()
    {
        await using var caller = _sandbox.NewCaller("leadmine", d => d with
        {
            Retry = d.Retry with { MaxRetryAttempts = 0 },
            CircuitBreaker = new ProviderCircuitBreaker { FailureRatio = 0.5, MinimumThroughput = 2, SamplingDurationSeconds = 30, BreakDurationSeconds = 30 },
        });

        Leadmine(s => s with { ApiKey = new ApiKeySettings("X-Api-Key", "another-key") });
        var unauthorized = new[] { await LeadmineAsync(caller), await LeadmineAsync(caller) };
        Leadmine(_ => SandboxConfig.Default.Quiet().Vendors["leadmine"] with { Failures = new FailureSettings { RateLimitedRate = 1 } });
        var tooMany = new[] { await LeadmineAsync(caller), await LeadmineAsync(caller) };
        Leadmine(_ => SandboxConfig.Default.Quiet().Vendors["leadmine"]);
        var healthy = await LeadmineAsync(caller);

        Assert.All(unauthorized, o => Assert.Equal(ProviderErrorKind.Unauthorized, Assert.IsType<ProviderFailed>(o).Kind));
        Assert.All(tooMany, o => Assert.Equal(ProviderErrorKind.TooManyRequests, Assert.IsType<ProviderFailed>(o).Kind));
        Assert.IsType<ProviderHit>(healthy);
        Assert.Equal(5, _sandbox.Stats("leadmine").Total);
    }

    [Fact]
    public async Task Rate_limiter_refuses_calls_beyond_its_queue_without_calling_the_provider()
    {
        await using var caller = _sandbox.NewCaller("leadmine", d => d with
        {
            RateLimit = new ProviderRateLimit { PermitsPerSecond = 0.5, Burst = 1, QueueLimit = 0 },
        });

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => LeadmineAsync(caller)));

        Assert.Single(outcomes, o => o is ProviderHit);
        var refused = outcomes.OfType<ProviderFailed>().ToList();
        Assert.Equal(4, refused.Count);
        Assert.All(refused, f => Assert.Equal(ProviderErrorKind.RateLimited, f.Kind));
        Assert.All(refused, f => Assert.Equal(0, f.Provenance.Attempts));
        Assert.Equal(1, _sandbox.Stats("leadmine").Total);
    }

    [Fact]
    public async Task Rate_limiter_spaces_queued_calls_at_its_rate()
    {
        await using var caller = _sandbox.NewCaller("leadmine", d => d with
        {
            RateLimit = new ProviderRateLimit { PermitsPerSecond = 5, Burst = 1, QueueLimit = 10 },
        });

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => LeadmineAsync(caller)));

        Assert.All(outcomes, o => Assert.IsType<ProviderHit>(o));
        var arrivals = _sandbox.Stats("leadmine").Calls.Select(c => c.ReceivedAt).Order().ToList();
        Assert.Equal(6, arrivals.Count);
        // Six calls at five a second with a burst of one: five gaps of 0.2 s.
        Assert.True(arrivals[^1] - arrivals[0] >= TimeSpan.FromSeconds(0.8), $"spread over {arrivals[^1] - arrivals[0]}");
    }

    [Fact]
    public async Task Team_key_is_sent_instead_of_the_default_key()
    {
        Leadmine(s => s with { ApiKey = new ApiKeySettings("X-Api-Key", "team-own-key") });
        await using var caller = _sandbox.NewCaller();

        var withDefault = await LeadmineAsync(caller);
        var withTeamKey = await LeadmineAsync(caller, new ProviderApiKey("acme", "team-own-key"));

        Assert.Equal(ProviderErrorKind.Unauthorized, Assert.IsType<ProviderFailed>(withDefault).Kind);
        Assert.IsType<ProviderHit>(withTeamKey);
        Assert.Equal([401, 200], _sandbox.Stats("leadmine").Calls.Select(c => c.Status));
    }

    [Fact]
    public async Task Bearer_key_reaches_a_provider_that_wants_a_bearer_token()
    {
        Leadmine(s => s with { ApiKey = new ApiKeySettings("Authorization", "Bearer team-own-key") });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with { Auth = new ProviderAuth { Kind = ProviderAuthKind.Bearer } });

        var outcome = await LeadmineAsync(caller, new ProviderApiKey("acme", "team-own-key"));

        Assert.IsType<ProviderHit>(outcome);
    }

    [Fact]
    public async Task Missing_default_key_fails_without_calling_the_provider()
    {
        await using var caller = _sandbox.NewCaller(settings: _sandbox.SettingsWith(("CREDITFUNCTIONS_LEADMINE_KEY", null)));

        var outcome = await LeadmineAsync(caller);

        Assert.Equal(ProviderErrorKind.MissingKey, Assert.IsType<ProviderFailed>(outcome).Kind);
        Assert.False(caller.Catalog.HasDefaultKey("leadmine"));
        Assert.Equal(0, _sandbox.Stats("leadmine").Total);
    }

    [Fact]
    public async Task Unreachable_provider_fails_with_Network()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        await using var caller = _sandbox.NewCaller(settings: _sandbox.SettingsWith((ProviderCatalog.SandboxUrlSetting, $"http://127.0.0.1:{port}")));

        var outcome = await LeadmineAsync(caller);

        var failed = Assert.IsType<ProviderFailed>(outcome);
        Assert.Equal(ProviderErrorKind.Network, failed.Kind);
        Assert.Equal(3, failed.Provenance.Attempts);
    }

    [Fact]
    public async Task Outage_fails_with_ServerError_after_the_retries()
    {
        Leadmine(s => s with { Outage = true });
        await using var caller = _sandbox.NewCaller("leadmine", d => d with { Retry = d.Retry with { BaseDelaySeconds = 0.01 } });

        var outcome = await LeadmineAsync(caller);

        Assert.Equal(ProviderErrorKind.ServerError, Assert.IsType<ProviderFailed>(outcome).Kind);
        Assert.Equal([503, 503, 503], _sandbox.Stats("leadmine").Calls.Select(c => c.Status));
    }

    [Fact]
    public async Task Cancelled_call_throws_rather_than_failing()
    {
        Leadmine(s => s with { Failures = new FailureSettings { HangRate = 1, HangMilliseconds = 60_000 } });
        await using var caller = _sandbox.NewCaller();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            caller.LookupAsync("leadmine", ProviderCapabilities.Email, KnownByLeadmine, cancellationToken: cancel.Token));
    }
}
