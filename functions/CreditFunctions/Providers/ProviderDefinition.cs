using System.Text.Json.Serialization;

namespace CreditFunctions.Providers;

/// <summary>What a provider can find. An endpoint per capability; a provider offers the capabilities it has endpoints for.</summary>
public static class ProviderCapabilities
{
    /// <summary>A person's work email.</summary>
    public const string Email = "email";

    /// <summary>A person's mobile number.</summary>
    public const string Mobile = "mobile";

    /// <summary>Whether an email address is deliverable (answered as <see cref="ProviderVerified"/>).</summary>
    public const string EmailVerification = "email_verification";

    /// <summary>A person's current job title and company.</summary>
    public const string Job = "job";

    /// <summary>The company behind an IP address.</summary>
    public const string ReverseIp = "reverse_ip";

    /// <summary>A written summary of a person or a company (AI research).</summary>
    public const string Research = "research";

    /// <summary>Every capability a definition may name.</summary>
    public static IReadOnlyList<string> All { get; } = [Email, Mobile, EmailVerification, Job, ReverseIp, Research];
}

/// <summary>The fields of <see cref="PersonInput"/> a request template may use, as <c>{field}</c>.</summary>
public static class PersonFields
{
    /// <summary><see cref="PersonInput.FirstName"/>.</summary>
    public const string FirstName = "first_name";

    /// <summary><see cref="PersonInput.LastName"/>.</summary>
    public const string LastName = "last_name";

    /// <summary><see cref="PersonInput.FullName"/> (first and last name when not given).</summary>
    public const string FullName = "full_name";

    /// <summary><see cref="PersonInput.CompanyName"/>.</summary>
    public const string CompanyName = "company_name";

    /// <summary><see cref="PersonInput.CompanyDomain"/>.</summary>
    public const string CompanyDomain = "company_domain";

    /// <summary><see cref="PersonInput.LinkedInUrl"/>.</summary>
    public const string LinkedInUrl = "linkedin_url";

    /// <summary><see cref="PersonInput.Email"/>.</summary>
    public const string Email = "email";

    /// <summary><see cref="PersonInput.IpAddress"/>.</summary>
    public const string IpAddress = "ip_address";

    /// <summary>Every field.</summary>
    public static IReadOnlyList<string> All { get; } = [FirstName, LastName, FullName, CompanyName, CompanyDomain, LinkedInUrl, Email, IpAddress];
}

/// <summary>How a provider's API key travels.</summary>
public enum ProviderAuthKind
{
    /// <summary>In the header <see cref="ProviderAuth.HeaderName"/>, as is.</summary>
    Header,

    /// <summary>As <c>Authorization: Bearer &lt;key&gt;</c>.</summary>
    Bearer,
}

/// <summary>
/// A provider's authentication. The default key is never in the definition: it is read from the setting
/// <see cref="KeySetting"/>; a team that brings its own key passes it per call (<see cref="ProviderApiKey"/>) and it
/// is sent instead.
/// </summary>
public sealed record ProviderAuth
{
    /// <summary>Header or bearer.</summary>
    public ProviderAuthKind Kind { get; init; } = ProviderAuthKind.Header;

    /// <summary>The header of <see cref="ProviderAuthKind.Header"/>; default <c>X-Api-Key</c>.</summary>
    public string HeaderName { get; init; } = "X-Api-Key";

    /// <summary>The setting (app setting or environment variable) holding the default key. Null or unset: calls
    /// need a team's own key, and without one fail with <see cref="ProviderErrorKind.MissingKey"/>.</summary>
    public string? KeySetting { get; init; }
}

/// <summary>
/// Where the answer's data is, as JSON paths (<c>data.email</c>, <c>phones[0].number</c>). Paths that are absent or
/// null in an answer yield no value.
/// </summary>
public sealed record ProviderResponseMapping
{
    /// <summary>The email found (required for <see cref="ProviderCapabilities.Email"/>).</summary>
    public string? Email { get; init; }

    /// <summary>The phone number found (required for <see cref="ProviderCapabilities.Mobile"/>).</summary>
    public string? Phone { get; init; }

    /// <summary>The job title (<see cref="ProviderCapabilities.Job"/> needs this or <see cref="CompanyName"/>).</summary>
    public string? JobTitle { get; init; }

    /// <summary>The company's name.</summary>
    public string? CompanyName { get; init; }

    /// <summary>The research summary (required for <see cref="ProviderCapabilities.Research"/>).</summary>
    public string? Summary { get; init; }

    /// <summary>The company's domain.</summary>
    public string? CompanyDomain { get; init; }

    /// <summary>The provider's confidence, a number or numeric string; divided by <see cref="ConfidenceScale"/>.</summary>
    public string? Confidence { get; init; }

    /// <summary>What the provider's confidence is out of (100 for a percentage); default 1.</summary>
    public decimal ConfidenceScale { get; init; } = 1;

    /// <summary>The verification verdict (required for <see cref="ProviderCapabilities.EmailVerification"/>).</summary>
    public string? VerificationStatus { get; init; }

    /// <summary>The provider's verdicts → <c>valid</c>, <c>catch_all</c>, <c>invalid</c> or <c>unknown</c> (case
    /// ignored). A verdict the map lacks counts as <c>unknown</c>.</summary>
    public IReadOnlyDictionary<string, string> StatusMap { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// How a provider says "not found". Any of these makes the answer a <see cref="ProviderMiss"/>; so does a successful
/// answer without the data the capability asks for.
/// </summary>
public sealed record ProviderNotFound
{
    /// <summary>HTTP statuses meaning not found; default 404.</summary>
    public IReadOnlyList<int> StatusCodes { get; init; } = [404];

    /// <summary>A JSON path whose absence or null means not found (e.g. <c>data</c> in <c>{"data":null}</c>).</summary>
    public string? NullPath { get; init; }

    /// <summary>A JSON path that, equal to <see cref="EqualsValue"/>, means not found.</summary>
    public string? EqualsPath { get; init; }

    /// <summary>The value of <see cref="EqualsPath"/> meaning not found (compared as text, exactly).</summary>
    public string? EqualsValue { get; init; }
}

/// <summary>
/// One capability's HTTP call. Templates hold literal text and <c>{field}</c> placeholders naming
/// <see cref="PersonFields"/>; a query parameter or body member whose template names a field the person lacks is left
/// out.
/// </summary>
public sealed record ProviderEndpoint
{
    /// <summary>GET, POST or PUT; default GET.</summary>
    public string Method { get; init; } = "GET";

    /// <summary>Path template appended to the base URL, starting with <c>/</c>; placeholders are URL-escaped.</summary>
    public required string Path { get; init; }

    /// <summary>Query parameter → template.</summary>
    public IReadOnlyDictionary<string, string> Query { get; init; } = new Dictionary<string, string>();

    /// <summary>JSON body: dotted member path (<c>person.first_name</c>) → template, sent as strings. Null: no body.</summary>
    public IReadOnlyDictionary<string, string>? Body { get; init; }

    /// <summary>Sets of fields of which the person must have at least one set complete (e.g.
    /// <c>[["linkedin_url"], ["first_name","last_name","company_domain"]]</c>). Empty: every field the templates
    /// name. A person without them gets <see cref="ProviderErrorKind.InsufficientInput"/> and no call is made.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Requires { get; init; } = [];

    /// <summary>Where the data is in the answer.</summary>
    public required ProviderResponseMapping Response { get; init; }

    /// <summary>How the provider says "not found".</summary>
    public ProviderNotFound NotFound { get; init; } = new();

    /// <summary>What one answered call (hit, miss or verdict) costs us, for statistics; failures cost nothing.</summary>
    public decimal CostPerCall { get; init; }
}

/// <summary>A provider's rate limit: a token bucket per provider (and per team key), waited on in a bounded queue.</summary>
public sealed record ProviderRateLimit
{
    /// <summary>Calls per second (each retry is a call); 0: no limit.</summary>
    public double PermitsPerSecond { get; init; }

    /// <summary>Calls that may start at once after a quiet spell; 0: the per-second rate rounded up.</summary>
    public int Burst { get; init; }

    /// <summary>Calls that may wait for a permit; beyond it a call fails at once with
    /// <see cref="ProviderErrorKind.RateLimited"/>. Default 100.</summary>
    public int QueueLimit { get; init; } = 100;
}

/// <summary>When a failed attempt is tried again: on a 5xx, 408, attempt timeout or network error with jittered
/// exponential back-off; on a 429 after its <c>Retry-After</c> (back-off when it has none).</summary>
public sealed record ProviderRetry
{
    /// <summary>Retries after the first attempt; 0 to 10, default 2.</summary>
    public int MaxRetryAttempts { get; init; } = 2;

    /// <summary>The first back-off (doubles each retry, with jitter); default 0.2 s.</summary>
    public double BaseDelaySeconds { get; init; } = 0.2;

    /// <summary>The longest back-off; default 5 s.</summary>
    public double MaxDelaySeconds { get; init; } = 5;

    /// <summary>The longest <c>Retry-After</c> waited for; a 429 asking for longer is not retried. Default 10 s.</summary>
    public double MaxRetryAfterSeconds { get; init; } = 10;
}

/// <summary>
/// When to stop calling a failing provider: once at least <see cref="MinimumThroughput"/> attempts in
/// <see cref="SamplingDurationSeconds"/> failed (5xx, timeout, network error) at <see cref="FailureRatio"/> or more,
/// calls fail at once with <see cref="ProviderErrorKind.CircuitOpen"/> for <see cref="BreakDurationSeconds"/>, then
/// one trial call decides whether to close again. 429s and unauthorized answers do not count.
/// </summary>
public sealed record ProviderCircuitBreaker
{
    /// <summary>False: never break. Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Failed share of attempts that opens the circuit, in (0, 1]; default 0.5.</summary>
    public double FailureRatio { get; init; } = 0.5;

    /// <summary>Attempts in the window before the ratio counts; at least 2, default 10.</summary>
    public int MinimumThroughput { get; init; } = 10;

    /// <summary>The window; at least 0.5 s, default 30 s.</summary>
    public double SamplingDurationSeconds { get; init; } = 30;

    /// <summary>How long an open circuit skips the provider; at least 0.5 s, default 30 s.</summary>
    public double BreakDurationSeconds { get; init; } = 30;
}

/// <summary>
/// One data provider, as data: where it is, how to authenticate, how to ask it for each capability and read its
/// answer, and how patiently to call it. Adding a vendor is adding a definition to <c>providers.json</c>; see
/// <see cref="ProviderCatalog"/> for loading and validation.
/// </summary>
public sealed record ProviderDefinition
{
    /// <summary>Unique id: lower-case letters, digits, <c>-</c> and <c>_</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Name shown to people; default <see cref="Name"/>.</summary>
    public string? DisplayName { get; init; }

    /// <summary>The base URL (http or https). <see cref="BaseUrlSetting"/>, when set, wins.</summary>
    public string? BaseUrl { get; init; }

    /// <summary>A setting holding the base URL (e.g. <c>CREDITFUNCTIONS_SANDBOX_URL</c>, so a local run or a test can
    /// point at the sandbox's port).</summary>
    public string? BaseUrlSetting { get; init; }

    /// <summary>The API key; null: the provider needs none.</summary>
    public ProviderAuth? Auth { get; init; }

    /// <summary>Capability (<see cref="ProviderCapabilities"/>) → how to call it.</summary>
    public required IReadOnlyDictionary<string, ProviderEndpoint> Endpoints { get; init; }

    /// <summary>Longest single attempt; default 5 s.</summary>
    public double AttemptTimeoutSeconds { get; init; } = 5;

    /// <summary>Longest whole call, retries, back-off and waiting for a rate-limit permit included; default 15 s.</summary>
    public double TotalTimeoutSeconds { get; init; } = 15;

    /// <summary>The rate limit; default none.</summary>
    public ProviderRateLimit RateLimit { get; init; } = new();

    /// <summary>The retry policy.</summary>
    public ProviderRetry Retry { get; init; } = new();

    /// <summary>The circuit breaker.</summary>
    public ProviderCircuitBreaker CircuitBreaker { get; init; } = new();

    /// <summary>The capabilities this provider offers.</summary>
    [JsonIgnore]
    public IEnumerable<string> Capabilities => Endpoints.Keys;
}
