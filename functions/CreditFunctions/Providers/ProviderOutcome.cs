namespace CreditFunctions.Providers;

/// <summary>A verifier's verdict on an email address.</summary>
public enum EmailVerificationStatus
{
    /// <summary>The mailbox exists.</summary>
    Valid,

    /// <summary>The domain accepts every address; this one may or may not exist.</summary>
    CatchAll,

    /// <summary>No such mailbox: the waterfall treats the email as not found.</summary>
    Invalid,

    /// <summary>The verifier could not decide.</summary>
    Unknown,
}

/// <summary>Why a call failed. Every kind but <see cref="InsufficientInput"/> and <see cref="MissingKey"/> is final
/// only after the provider's retry policy gave up.</summary>
public enum ProviderErrorKind
{
    /// <summary>An attempt or the whole call ran out of time.</summary>
    Timeout,

    /// <summary>The provider kept answering 5xx.</summary>
    ServerError,

    /// <summary>The provider kept answering 429 (or asked to wait longer than the retry policy allows).</summary>
    TooManyRequests,

    /// <summary>The provider's circuit is open after repeated failures: no call was made.</summary>
    CircuitOpen,

    /// <summary>Our own rate limit for the provider had no permit and its queue was full: no call was made.</summary>
    RateLimited,

    /// <summary>The provider refused the key (401 or 403).</summary>
    Unauthorized,

    /// <summary>The provider refused the request (another 4xx).</summary>
    Rejected,

    /// <summary>The answer could not be read (not JSON, too large, an unexpected shape).</summary>
    BadResponse,

    /// <summary>The provider could not be reached (connection refused or reset, DNS).</summary>
    Network,

    /// <summary>The person lacks the fields this provider needs: no call was made.</summary>
    InsufficientInput,

    /// <summary>The provider needs a key and neither the team nor the settings supply one: no call was made.</summary>
    MissingKey,
}

/// <summary>Where an outcome came from.</summary>
/// <param name="Provider">The provider's name.</param>
/// <param name="Capability">What was asked (<see cref="ProviderCapabilities"/>).</param>
/// <param name="StartedAt">When the call started.</param>
/// <param name="Latency">How long the whole call took, retries and waits included.</param>
/// <param name="Attempts">HTTP requests sent (0 when none was: circuit open, rate limited, missing input or key).</param>
public sealed record ProviderProvenance(string Provider, string Capability, DateTimeOffset StartedAt, TimeSpan Latency, int Attempts);

/// <summary>The data a provider found. Personal data: <see cref="ToString"/> shows none.</summary>
/// <param name="Email">Work email.</param>
/// <param name="Phone">Phone number.</param>
/// <param name="JobTitle">Current title.</param>
/// <param name="CompanyName">Current company.</param>
/// <param name="CompanyDomain">Current company's domain.</param>
/// <param name="Summary">A research summary.</param>
public sealed record ProviderData(string? Email, string? Phone, string? JobTitle, string? CompanyName, string? CompanyDomain, string? Summary = null)
{
    /// <summary>Shows no personal data.</summary>
    public override string ToString() => nameof(ProviderData);
}

/// <summary>
/// What one call to one provider came to: <see cref="ProviderHit"/>, <see cref="ProviderMiss"/>,
/// <see cref="ProviderVerified"/> or <see cref="ProviderFailed"/>. Only a hit or a verdict carries data; a miss and a
/// failure both mean "ask the next provider".
/// </summary>
/// <param name="Provenance">Who answered, when, how fast, after how many attempts.</param>
public abstract record ProviderOutcome(ProviderProvenance Provenance);

/// <summary>The provider found what was asked: the capability's field in <paramref name="Data"/> is set (the email for
/// <see cref="ProviderCapabilities.Email"/>, the phone for <see cref="ProviderCapabilities.Mobile"/>, …).</summary>
/// <param name="Provenance">Who answered, when, how fast.</param>
/// <param name="Data">Everything the answer's mapping found.</param>
/// <param name="Confidence">The provider's confidence in [0, 1], when it gives one.</param>
public sealed record ProviderHit(ProviderProvenance Provenance, ProviderData Data, decimal? Confidence) : ProviderOutcome(Provenance);

/// <summary>The provider answered and does not have it.</summary>
/// <param name="Provenance">Who answered, when, how fast.</param>
public sealed record ProviderMiss(ProviderProvenance Provenance) : ProviderOutcome(Provenance);

/// <summary>A verifier's verdict.</summary>
/// <param name="Provenance">Who answered, when, how fast.</param>
/// <param name="Status">The verdict.</param>
/// <param name="ProviderStatus">The provider's own word for it (e.g. <c>accept_all</c>).</param>
/// <param name="Confidence">The provider's confidence in [0, 1], when it gives one.</param>
public sealed record ProviderVerified(ProviderProvenance Provenance, EmailVerificationStatus Status, string ProviderStatus, decimal? Confidence)
    : ProviderOutcome(Provenance);

/// <summary>The call failed (after retries, where they apply).</summary>
/// <param name="Provenance">Who was called, when, how long it took.</param>
/// <param name="Kind">Why.</param>
/// <param name="Message">What happened, for people: status codes and counts, never personal data or keys.</param>
public sealed record ProviderFailed(ProviderProvenance Provenance, ProviderErrorKind Kind, string Message) : ProviderOutcome(Provenance);

/// <summary>A team's own key for a provider, used instead of the default key. Its <see cref="ToString"/> hides the
/// key. Calls with a team's key get their own rate limit and circuit (vendors limit per key).</summary>
public sealed class ProviderApiKey
{
    /// <summary>A team's key.</summary>
    /// <exception cref="ArgumentException">A value is empty.</exception>
    public ProviderApiKey(string teamId, string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(teamId);
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        TeamId = teamId;
        Value = value;
    }

    /// <summary>The team the key belongs to.</summary>
    public string TeamId { get; }

    /// <summary>The key.</summary>
    public string Value { get; }

    /// <summary>Names the team, not the key.</summary>
    public override string ToString() => $"{nameof(ProviderApiKey)}(team {TeamId})";
}
