using System.Security.Cryptography;
using System.Text;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>The data a waterfall can find: a work email or a mobile number, each charged to its own balance.</summary>
public static class WaterfallData
{
    /// <summary>A work email (email credits).</summary>
    public const string Email = "email";

    /// <summary>A mobile number (phone credits).</summary>
    public const string Mobile = "mobile";

    /// <summary>Both, in the order they are looked for.</summary>
    public static IReadOnlyList<string> All { get; } = [Email, Mobile];

    /// <summary>The provider capability that finds <paramref name="data"/>.</summary>
    public static string Capability(string data) => data == Email ? ProviderCapabilities.Email : ProviderCapabilities.Mobile;

    /// <summary>The ledger's data type of ownership for <paramref name="data"/>.</summary>
    public static string OwnershipType(string data) => data == Email ? "email" : "phone";

    /// <summary>The credit type <paramref name="data"/> is charged to.</summary>
    public static string CreditType(string data) => data == Email ? "email" : "phone";
}

/// <summary>How a run charges: which catalog actions its hits are charged under.</summary>
/// <param name="Feature">The catalog feature.</param>
/// <param name="EmailAction">The action of an email hit.</param>
/// <param name="MobileAction">The action of a mobile hit.</param>
public sealed record ChargePlan(string Feature, string EmailAction, string MobileAction)
{
    /// <summary>A waterfall started through the API (<c>POST /api/v1/enrichment/waterfall</c>).</summary>
    public static ChargePlan ApiWaterfall { get; } = new("waterfall_enrichment", "api_waterfall_email", "waterfall_mobile");

    /// <summary>A waterfall started in the product (workflows, lists).</summary>
    public static ChargePlan Waterfall { get; } = new("waterfall_enrichment", "waterfall_email", "waterfall_mobile");

    /// <summary>A single reveal (<c>POST /api/v1/people/reveal</c>): the Email and Phone number features.</summary>
    public static ChargePlan Reveal { get; } = new("email", "email_reveal", "phone_reveal");

    /// <summary>A dialer look-up (<c>POST /api/v1/dialer/lookups</c>): a number for the dialer, under Phone number.</summary>
    public static ChargePlan Dialer { get; } = new("phone_number", "email_reveal", "dialer_lookup");

    /// <summary>The (feature, action) of a hit for <paramref name="data"/>.</summary>
    public (string Feature, string Action) For(string data) =>
        this == Reveal || this == Dialer
            ? (data == WaterfallData.Email ? "email" : "phone_number", data == WaterfallData.Email ? EmailAction : MobileAction)
            : (Feature, data == WaterfallData.Email ? EmailAction : MobileAction);
}

/// <summary>One person of a run: their input and the stable id under which the team's contact store keeps them.</summary>
public sealed record WaterfallPerson(int Index, string PersonId, PersonInput Input)
{
    /// <summary>
    /// The stable id of a person: a hash of the LinkedIn profile when known, else of the email, else of name and company
    /// domain (normalized), so the same person asked for twice is recognised and never charged twice.
    /// </summary>
    public static string IdFor(PersonInput person)
    {
        ArgumentNullException.ThrowIfNull(person);
        var p = person.Normalize();
        var identity = p.LinkedInUrl is { } url
            ? "li:" + url.ToLowerInvariant().TrimEnd('/').Replace("http://", "https://", StringComparison.Ordinal).Replace("://linkedin.com", "://www.linkedin.com", StringComparison.Ordinal)
            : p.Email is { } email ? "em:" + email
            : $"nd:{p.FirstName?.ToLowerInvariant()}|{p.LastName?.ToLowerInvariant()}|{p.CompanyDomain ?? p.CompanyName?.ToLowerInvariant()}";
        return "p_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..24];
    }
}

/// <summary>Everything an orchestration needs to run a waterfall for some people.</summary>
public sealed record WaterfallRun
{
    /// <summary>The run's id (the instance id is derived from team and run).</summary>
    public required string RunId { get; init; }

    /// <summary>The team charged.</summary>
    public required string TeamId { get; init; }

    /// <summary>The member who asked.</summary>
    public required string UserId { get; init; }

    /// <summary>What to find: <see cref="WaterfallData.Email"/> and/or <see cref="WaterfallData.Mobile"/>.</summary>
    public required IReadOnlyList<string> Data { get; init; }

    /// <summary>The people.</summary>
    public required IReadOnlyList<WaterfallPerson> People { get; init; }

    /// <summary>The charge plan (actions charged).</summary>
    public required ChargePlan Plan { get; init; }

    /// <summary>Holds reserving the run's maximum cost, by credit type; charges are drawn from them. Null for a
    /// single person, which is charged directly.</summary>
    public IReadOnlyDictionary<string, string>? HoldIds { get; init; }

    /// <summary>Where to post the results when done.</summary>
    public string? WebhookUrl { get; init; }

    /// <summary>Email providers in order (the team's settings when the run started).</summary>
    public IReadOnlyList<string> EmailProviders { get; init; } = [];

    /// <summary>Mobile providers in order.</summary>
    public IReadOnlyList<string> MobileProviders { get; init; } = [];

    /// <summary>The email verifier; null or <see cref="VerifyEmails"/> false for none.</summary>
    public string? Verifier { get; init; }

    /// <summary>Whether found emails are verified.</summary>
    public bool VerifyEmails { get; init; } = true;

    /// <summary>The description of every charge of the run, by data, when the run is part of a larger job (a CSV job's
    /// lines name the job, so the same lead in two rows of one file is the same charge); null: the person's name.</summary>
    public IReadOnlyDictionary<string, string>? ChargeDescriptions { get; init; }

    /// <summary>What the run is for, added to each charge's description after the person (e.g. "added to list 'Q4'").</summary>
    public string? ChargeContext { get; init; }

    /// <summary>Counts each charge drawn from the run's holds in the hold's job line (<see cref="Ledger.ChargeRequest.RollUp"/>):
    /// history shows the run as a line per action and day, not one per lead.</summary>
    public bool RollUpCharges { get; init; }

    /// <summary>The record every charge links to; null: <c>waterfall:{RunId}</c>.</summary>
    public string? RelatedRecord { get; init; }

    /// <summary>A hash of the request that started the run: the same Idempotency-Key with another request is refused.</summary>
    public string? RequestFingerprint { get; init; }

    /// <summary>The orchestration instance id of a run: team and run id, so a team only ever reaches its own runs.</summary>
    public static string InstanceIdFor(string teamId, string runId) => $"wf:{teamId}:{runId}";
}

/// <summary>What happened to one provider asked.</summary>
/// <param name="Provider">The provider.</param>
/// <param name="Outcome"><c>hit</c>, <c>miss</c>, <c>error</c> or <c>skipped</c>.</param>
/// <param name="Detail">The error kind, or the verification status of an email hit.</param>
public sealed record ProviderAttempt(string Provider, string Outcome, string? Detail = null);

/// <summary>The result for one person and one kind of data.</summary>
public sealed record DataResult
{
    /// <summary><c>found</c>, <c>already_owned</c>, <c>not_found</c> or <c>insufficient_credits</c>.</summary>
    public required string Status { get; init; }

    /// <summary>The email or number, when found or owned.</summary>
    public string? Value { get; init; }

    /// <summary>Which provider found it.</summary>
    public string? Provider { get; init; }

    /// <summary>The email's verification status (<c>valid</c>, <c>catch_all</c>, <c>unknown</c>).</summary>
    public string? Verification { get; init; }

    /// <summary>Credits charged for it (0 when already owned or not found).</summary>
    public decimal Credits { get; init; }

    /// <summary>The ledger line (charge or 0-credit line).</summary>
    public string? LineId { get; init; }

    /// <summary>The providers asked, in order.</summary>
    public IReadOnlyList<ProviderAttempt> Tried { get; init; } = [];
}

/// <summary>The results for one person.</summary>
public sealed record PersonResult(int Index, string PersonId, DataResult? Email, DataResult? Mobile);

/// <summary>Progress of a run, shown while it runs.</summary>
public sealed record WaterfallProgress(int Total, int Done, int EmailsFound, int MobilesFound, decimal CreditsCharged);

/// <summary>The output of a run.</summary>
/// <param name="RunId">The run.</param>
/// <param name="People">The results per person.</param>
/// <param name="Totals">The final progress.</param>
/// <param name="Webhook"><c>delivered</c> or <c>failed</c>; null without a webhook.</param>
/// <param name="WebhookError">Why the webhook failed.</param>
public sealed record WaterfallOutput(string RunId, IReadOnlyList<PersonResult> People, WaterfallProgress Totals, string? Webhook, string? WebhookError = null);
