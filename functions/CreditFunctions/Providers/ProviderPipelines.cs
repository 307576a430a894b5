using System.Threading.RateLimiting;
using Polly;
using Polly.CircuitBreaker;
using Polly.RateLimiting;
using Polly.Registry;
using Polly.Retry;
using Polly.Timeout;

namespace CreditFunctions.Providers;

/// <summary>One attempt's answer as the pipeline sees it: read in full inside the attempt, so the attempt timeout
/// covers a vendor that stalls mid-body and nothing needs disposing when an answer is retried.</summary>
internal sealed record ProviderAnswer(int StatusCode, TimeSpan? RetryAfter, byte[] Body, bool TooLarge);

/// <summary>
/// The Polly pipelines, one per provider and key owner (the shared default key, or a team's own key), built on first
/// use and cached. Outermost first: total timeout → retry → circuit breaker → rate limiter → attempt timeout. So each
/// retry is an attempt the breaker counts and the limiter meters; an open circuit fails before taking a permit; and
/// the total timeout bounds everything, waits for permits and <c>Retry-After</c> included.
/// </summary>
internal sealed class ProviderPipelines(ILogger logger) : IAsyncDisposable
{
    private readonly ResiliencePipelineRegistry<PipelineKey> _registry = new();

    public ResiliencePipeline<ProviderAnswer> For(ResolvedProvider provider, string? teamId) =>
        _registry.TryGetPipeline<ProviderAnswer>(new PipelineKey(provider.Definition.Name, teamId), out var pipeline)
            ? pipeline
            : _registry.GetOrAddPipeline<ProviderAnswer>(new PipelineKey(provider.Definition.Name, teamId),
                (builder, context) => Configure(builder, context, provider.Definition));

    public ValueTask DisposeAsync() => _registry.DisposeAsync();

    /// <summary>True when an attempt's outcome counts against the provider's health (and is worth retrying).</summary>
    internal static bool IsTransientFailure(Outcome<ProviderAnswer> outcome) =>
        outcome.Exception is HttpRequestException or TimeoutRejectedException || outcome.Result is { StatusCode: >= 500 or 408 };

    private void Configure(ResiliencePipelineBuilder<ProviderAnswer> builder, ConfigureBuilderContext<PipelineKey> context, ProviderDefinition d)
    {
        var name = d.Name;
        builder.AddTimeout(TimeSpan.FromSeconds(d.TotalTimeoutSeconds));

        var retry = d.Retry ?? new();
        if (retry.MaxRetryAttempts > 0)
        {
            var maxRetryAfter = TimeSpan.FromSeconds(retry.MaxRetryAfterSeconds);
            builder.AddRetry(new RetryStrategyOptions<ProviderAnswer>
            {
                MaxRetryAttempts = retry.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(retry.BaseDelaySeconds),
                MaxDelay = TimeSpan.FromSeconds(retry.MaxDelaySeconds),
                ShouldHandle = args => ValueTask.FromResult(
                    IsTransientFailure(args.Outcome)
                    || args.Outcome.Result is { StatusCode: 429 } answer && (answer.RetryAfter is null || answer.RetryAfter <= maxRetryAfter)),
                // A 429's Retry-After is the vendor telling us when to come back: wait exactly that (no jitter);
                // everything else takes the jittered exponential back-off (null).
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result is { StatusCode: 429, RetryAfter: { } after } ? after : (TimeSpan?)null),
                OnRetry = args =>
                {
                    var exception = args.Outcome.Exception?.GetType().Name;
                    ProvidersLog.Retrying(logger, name, args.AttemptNumber + 1, (long)args.RetryDelay.TotalMilliseconds,
                        args.Outcome.Result?.StatusCode ?? 0, exception);
                    return default;
                },
            });
        }

        var breaker = d.CircuitBreaker ?? new();
        if (breaker.Enabled)
        {
            builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<ProviderAnswer>
            {
                FailureRatio = breaker.FailureRatio,
                MinimumThroughput = breaker.MinimumThroughput,
                SamplingDuration = TimeSpan.FromSeconds(breaker.SamplingDurationSeconds),
                BreakDuration = TimeSpan.FromSeconds(breaker.BreakDurationSeconds),
                ShouldHandle = args => ValueTask.FromResult(IsTransientFailure(args.Outcome)),
                OnOpened = args =>
                {
                    ProvidersLog.CircuitOpened(logger, name, args.BreakDuration.TotalSeconds);
                    return default;
                },
                OnClosed = _ =>
                {
                    ProvidersLog.CircuitClosed(logger, name);
                    return default;
                },
            });
        }

        var rate = d.RateLimit ?? new();
        if (rate.PermitsPerSecond > 0)
        {
            // Replenish often in small steps rather than once a second in a lump, so calls spread evenly.
            var period = TimeSpan.FromSeconds(Math.Max(0.05, 1 / rate.PermitsPerSecond));
            var limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = rate.Burst > 0 ? rate.Burst : (int)Math.Ceiling(rate.PermitsPerSecond),
                TokensPerPeriod = Math.Max(1, (int)Math.Round(rate.PermitsPerSecond * period.TotalSeconds)),
                ReplenishmentPeriod = period,
                QueueLimit = rate.QueueLimit,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                AutoReplenishment = true,
            });
            context.OnPipelineDisposed(limiter.Dispose);
            // Polly.RateLimiting: waits for a permit in the limiter's bounded queue (cancelled by the total timeout) or
            // fails at once with RateLimiterRejectedException.
            builder.AddRateLimiter(new RateLimiterStrategyOptions
            {
                Name = "ProviderRateLimiter",
                RateLimiter = args => limiter.AcquireAsync(1, args.Context.CancellationToken),
            });
        }

        builder.AddTimeout(TimeSpan.FromSeconds(d.AttemptTimeoutSeconds));
    }

    internal readonly record struct PipelineKey(string Provider, string? TeamId);
}
