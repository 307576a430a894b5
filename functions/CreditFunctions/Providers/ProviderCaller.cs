using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace CreditFunctions.Providers;

/// <summary>
/// Calls one provider for one person and says what came of it, as a <see cref="ProviderOutcome"/>: never throws for
/// anything the provider does. Every call goes through the provider's resilience pipeline (timeouts, retries with
/// back-off and <c>Retry-After</c>, circuit breaker, rate limit; see <see cref="ProviderDefinition"/>) and is counted
/// in <see cref="ProviderStatistics"/>. Thread-safe; one instance per app (it owns the HTTP connections and the
/// circuits).
/// </summary>
public sealed class ProviderCaller : IAsyncDisposable
{
    private const int BodyMaxBytes = 256 * 1024;

    private readonly HttpClient _http;
    private readonly ProviderPipelines _pipelines;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>A caller for the providers of <paramref name="catalog"/>.</summary>
    public ProviderCaller(ProviderCatalog catalog, ProviderStatistics statistics, TimeProvider time, ILogger<ProviderCaller> logger)
    {
        Catalog = catalog;
        Statistics = statistics;
        _time = time;
        _logger = logger;
        _pipelines = new ProviderPipelines(logger);
        // One client for every provider: SocketsHttpHandler pools connections per host and recycles them (DNS changes);
        // the pipelines own all timeouts, so the client's own is off.
        _http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            AutomaticDecompression = System.Net.DecompressionMethods.All,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("CreditFunctions", "1.0"));
    }

    /// <summary>The providers this caller knows.</summary>
    public ProviderCatalog Catalog { get; }

    /// <summary>The statistics every call is counted in.</summary>
    public ProviderStatistics Statistics { get; }

    /// <summary>
    /// Asks <paramref name="provider"/> for <paramref name="capability"/> about <paramref name="person"/>. The answer is
    /// a <see cref="ProviderHit"/> (the capability's data found), <see cref="ProviderMiss"/>, <see cref="ProviderVerified"/>
    /// (for <see cref="ProviderCapabilities.EmailVerification"/>) or <see cref="ProviderFailed"/> (after retries; at once
    /// and without a request when the circuit is open, the rate limit's queue is full, or the person or key is missing).
    /// With <paramref name="teamKey"/>, the team's own key is sent instead of the default key. The call is counted in the
    /// statistics of <paramref name="teamId"/> (or of the team key's team) besides the platform's.
    /// </summary>
    /// <exception cref="ArgumentException">The provider is unknown, does not offer the capability, or the person is
    /// invalid (<see cref="PersonInput.Validate"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<ProviderOutcome> LookupAsync(string provider, string capability, PersonInput person, ProviderApiKey? teamKey = null,
        string? teamId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(person);
        var resolved = Catalog.Resolve(provider) ?? throw new ArgumentException($"Unknown provider '{provider}'.", nameof(provider));
        if (!resolved.Definition.Endpoints.TryGetValue(capability, out var endpoint))
        {
            throw new ArgumentException($"Provider '{provider}' does not offer '{capability}'.", nameof(capability));
        }
        var errors = person.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"The person is invalid: {string.Join(", ", errors.Keys)}.", nameof(person));
        }
        var input = person.Normalize();
        var startedAt = _time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        var call = new Call(this, resolved, endpoint, input, teamKey?.Value ?? resolved.DefaultKey);

        ProviderOutcome outcome;
        if (!ProviderTemplates.HasRequiredFields(endpoint, input))
        {
            outcome = Failed(ProviderErrorKind.InsufficientInput, "The person lacks the fields this provider needs.");
        }
        else if (resolved.Definition.Auth is not null && call.Key is null)
        {
            outcome = Failed(ProviderErrorKind.MissingKey, "No API key: the team has none for this provider and the default key setting is not set.");
        }
        else
        {
            outcome = await CallAsync().ConfigureAwait(false);
        }
        Statistics.Record(teamId ?? teamKey?.TeamId, outcome, outcome is ProviderFailed ? 0 : endpoint.CostPerCall);
        if (outcome is ProviderFailed { Kind: not ProviderErrorKind.InsufficientInput } failed)
        {
            ProvidersLog.CallFailed(_logger, provider, capability, failed.Kind, failed.Provenance.Attempts);
        }
        return outcome;

        ProviderProvenance Provenance() => new(provider, capability, startedAt, clock.Elapsed, call.Attempts);

        ProviderFailed Failed(ProviderErrorKind kind, string message) => new(Provenance(), kind, message);

        async Task<ProviderOutcome> CallAsync()
        {
            var pipeline = _pipelines.For(resolved, teamKey?.TeamId);
            var context = ResilienceContextPool.Shared.Get(cancellationToken);
            Outcome<ProviderAnswer> result;
            try
            {
                result = await pipeline.ExecuteOutcomeAsync(static async (context, call) =>
                {
                    try
                    {
                        return Outcome.FromResult(await call.SendAsync(context.CancellationToken).ConfigureAwait(false));
                    }
                    catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
                    {
                        return Outcome.FromException<ProviderAnswer>(ex);
                    }
                }, context, call).ConfigureAwait(false);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }

            switch (result.Exception)
            {
                case null:
                    break;
                case OperationCanceledException when cancellationToken.IsCancellationRequested:
                    throw new OperationCanceledException("The provider call was cancelled.", result.Exception, cancellationToken);
                case TimeoutRejectedException or OperationCanceledException:
                    return Failed(ProviderErrorKind.Timeout, $"No answer in time after {call.Attempts} attempts.");
                case BrokenCircuitException:
                    return Failed(ProviderErrorKind.CircuitOpen, "The provider's circuit is open after repeated failures; it was not called.");
                case Polly.RateLimiting.RateLimiterRejectedException:
                    return Failed(ProviderErrorKind.RateLimited, "The provider's rate limit queue is full; it was not called.");
                case HttpRequestException or IOException:
                    return Failed(ProviderErrorKind.Network, $"The provider could not be reached after {call.Attempts} attempts ({result.Exception.GetType().Name}).");
                default:
                    return Failed(ProviderErrorKind.BadResponse, $"Unexpected {result.Exception.GetType().Name}.");
            }

            var answer = result.Result!;
            var status = answer.StatusCode;
            if ((endpoint.NotFound?.StatusCodes ?? [404]).Contains(status))
            {
                return new ProviderMiss(Provenance());
            }
            return status switch
            {
                429 => Failed(ProviderErrorKind.TooManyRequests, answer.RetryAfter is { } after
                    ? string.Create(CultureInfo.InvariantCulture, $"HTTP 429 after {call.Attempts} attempts; the provider asked to wait {after.TotalSeconds:0.#} s.")
                    : $"HTTP 429 after {call.Attempts} attempts."),
                401 or 403 => Failed(ProviderErrorKind.Unauthorized, $"HTTP {status}: the provider refused the key."),
                >= 500 or 408 => Failed(ProviderErrorKind.ServerError, $"HTTP {status} after {call.Attempts} attempts."),
                >= 400 => Failed(ProviderErrorKind.Rejected, $"HTTP {status}: the provider refused the request."),
                < 200 or >= 300 => Failed(ProviderErrorKind.BadResponse, $"Unexpected HTTP {status}."),
                _ => Interpret(answer),
            };
        }

        ProviderOutcome Interpret(ProviderAnswer answer)
        {
            if (answer.TooLarge)
            {
                return Failed(ProviderErrorKind.BadResponse, $"The answer is larger than {BodyMaxBytes / 1024} KiB.");
            }
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(answer.Body);
            }
            catch (JsonException)
            {
                return Failed(ProviderErrorKind.BadResponse, "The answer is not JSON.");
            }
            using (document)
            {
                var root = document.RootElement;
                var notFound = endpoint.NotFound ?? new();
                if ((notFound.NullPath is { } nullPath && ProviderTemplates.Select(root, nullPath) is null)
                    || (notFound.EqualsPath is { } equalsPath && ProviderTemplates.Text(ProviderTemplates.Select(root, equalsPath)) == notFound.EqualsValue))
                {
                    return new ProviderMiss(Provenance());
                }
                var map = endpoint.Response;
                string? Read(string? path) => path is null ? null : ProviderTemplates.Text(ProviderTemplates.Select(root, path)) is { Length: > 0 } text ? text.Trim() : null;
                var confidence = Read(map.Confidence) is { } c && decimal.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out var raw)
                    ? Math.Round(Math.Clamp(raw / map.ConfidenceScale, 0m, 1m), 4)
                    : (decimal?)null;
                if (capability == ProviderCapabilities.EmailVerification)
                {
                    var verdict = Read(map.VerificationStatus);
                    if (verdict is null)
                    {
                        return Failed(ProviderErrorKind.BadResponse, "The answer has no verification status.");
                    }
                    var mapped = map.StatusMap.FirstOrDefault(p => string.Equals(p.Key, verdict, StringComparison.OrdinalIgnoreCase)).Value;
                    return new ProviderVerified(Provenance(), mapped is null ? EmailVerificationStatus.Unknown : ProviderCatalog.ToVerdict(mapped), verdict, confidence);
                }
                var data = new ProviderData(Read(map.Email), Read(map.Phone), Read(map.JobTitle), Read(map.CompanyName), Read(map.CompanyDomain), Read(map.Summary));
                var found = capability switch
                {
                    ProviderCapabilities.Email => data.Email is not null,
                    ProviderCapabilities.Mobile => data.Phone is not null,
                    ProviderCapabilities.Job => data.JobTitle is not null || data.CompanyName is not null,
                    ProviderCapabilities.Research => data.Summary is not null,
                    _ => data.CompanyName is not null || data.CompanyDomain is not null,
                };
                return found ? new ProviderHit(Provenance(), data, confidence) : new ProviderMiss(Provenance());
            }
        }
    }

    /// <summary>Asks a verifier about an email address (a <see cref="LookupAsync"/> for
    /// <see cref="ProviderCapabilities.EmailVerification"/>).</summary>
    /// <exception cref="ArgumentException">The provider is unknown or verifies no email, or the address is malformed.</exception>
    public Task<ProviderOutcome> VerifyEmailAsync(string provider, string email, ProviderApiKey? teamKey = null, string? teamId = null,
        CancellationToken cancellationToken = default) =>
        LookupAsync(provider, ProviderCapabilities.EmailVerification, new PersonInput { Email = email }, teamKey, teamId, cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _pipelines.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
    }

    /// <summary>
    /// A bulk call: posts <paramref name="body"/> (built by the caller, e.g. up to 100 people) to the endpoint of
    /// <paramref name="capability"/> of <paramref name="provider"/>, with the provider's auth, through the same pipeline as
    /// single look-ups (timeouts, retries, circuit breaker, rate limit). Returns the 2xx answer's body.
    /// </summary>
    /// <exception cref="ArgumentException">The provider is unknown or does not offer the capability.</exception>
    /// <exception cref="ProviderUnavailableException">No 2xx answer after retries, or no key.</exception>
    public async Task<byte[]> PostBulkAsync(string provider, string capability, System.Text.Json.Nodes.JsonNode body, string? teamId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        var resolved = Catalog.Resolve(provider) ?? throw new ArgumentException($"Unknown provider '{provider}'.", nameof(provider));
        if (!resolved.Definition.Endpoints.TryGetValue(capability, out var endpoint))
        {
            throw new ArgumentException($"Provider '{provider}' does not offer '{capability}'.", nameof(capability));
        }
        var call = new Call(this, resolved, endpoint, new PersonInput(), resolved.DefaultKey, body);
        if (resolved.Definition.Auth is not null && call.Key is null)
        {
            throw new ProviderUnavailableException($"No API key for '{provider}': the default key setting is not set.");
        }
        var pipeline = _pipelines.For(resolved, null);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        Outcome<ProviderAnswer> result;
        try
        {
            result = await pipeline.ExecuteOutcomeAsync(static async (context, call) =>
            {
                try
                {
                    return Outcome.FromResult(await call.SendAsync(context.CancellationToken).ConfigureAwait(false));
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
                {
                    return Outcome.FromException<ProviderAnswer>(ex);
                }
            }, context, call).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (result.Exception is { } failure)
        {
            throw new ProviderUnavailableException($"'{provider}' failed: {failure.GetType().Name}.");
        }
        var answer = result.Result!;
        Statistics.Record(teamId, answer.StatusCode is >= 200 and < 300
            ? new ProviderMiss(new ProviderProvenance(provider, capability, _time.GetUtcNow(), TimeSpan.Zero, call.Attempts))
            : new ProviderFailed(new ProviderProvenance(provider, capability, _time.GetUtcNow(), TimeSpan.Zero, call.Attempts), ProviderErrorKind.ServerError, "bulk call failed"),
            answer.StatusCode is >= 200 and < 300 ? endpoint.CostPerCall : 0);
        if (answer.StatusCode is < 200 or >= 300 || answer.TooLarge)
        {
            throw new ProviderUnavailableException($"'{provider}' answered {answer.StatusCode}.");
        }
        return answer.Body;
    }

    /// <summary>One lookup's request, sent once per attempt (a request message cannot be sent twice).</summary>
    private sealed class Call(ProviderCaller owner, ResolvedProvider provider, ProviderEndpoint endpoint, PersonInput person, string? key,
        System.Text.Json.Nodes.JsonNode? bulkBody = null)
    {
        private int _attempts;

        public string? Key { get; } = key;

        public int Attempts => Volatile.Read(ref _attempts);

        public async Task<ProviderAnswer> SendAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _attempts);
            using var request = Build();
            using var response = await owner._http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var (body, tooLarge) = await ReadBodyAsync(response.Content, cancellationToken).ConfigureAwait(false);
            return new ProviderAnswer((int)response.StatusCode, RetryAfter(response), body, tooLarge);
        }

        private HttpRequestMessage Build()
        {
            var baseUrl = provider.BaseAddress.AbsoluteUri.TrimEnd('/');
            if (bulkBody is not null)
            {
                var bulk = new HttpRequestMessage(new HttpMethod(endpoint.Method), new Uri(baseUrl + endpoint.Path))
                {
                    Content = new StringContent(bulkBody.ToJsonString(), Encoding.UTF8, "application/json"),
                };
                return Authorize(bulk);
            }
            var request = new HttpRequestMessage(new HttpMethod(endpoint.Method), new Uri(baseUrl + ProviderTemplates.RenderPathAndQuery(endpoint, person)));
            if (ProviderTemplates.RenderBody(endpoint, person) is { } body)
            {
                request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            }
            return Authorize(request);
        }

        private HttpRequestMessage Authorize(HttpRequestMessage request)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            switch (provider.Definition.Auth)
            {
                case { Kind: ProviderAuthKind.Bearer }:
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);
                    break;
                case { Kind: ProviderAuthKind.Header } auth:
                    request.Headers.TryAddWithoutValidation(auth.HeaderName, Key);
                    break;
            }
            return request;
        }

        private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta < TimeSpan.Zero ? TimeSpan.Zero : delta,
            { Date: { } date } => date - owner._time.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
            _ => null,
        };

        private static async Task<(byte[] Body, bool TooLarge)> ReadBodyAsync(HttpContent content, CancellationToken cancellationToken)
        {
            var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                using var buffer = new MemoryStream();
                var chunk = new byte[16 * 1024];
                int read;
                while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (buffer.Length + read > BodyMaxBytes)
                    {
                        return ([], true);
                    }
                    buffer.Write(chunk, 0, read);
                }
                return (buffer.ToArray(), false);
            }
        }
    }
}

/// <summary>A bulk provider call found no 2xx answer after its retries (or had no key): try again later.</summary>
public sealed class ProviderUnavailableException(string message) : Exception(message);
