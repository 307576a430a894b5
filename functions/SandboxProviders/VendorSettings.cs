using System.Text.Json;
using System.Text.Json.Serialization;

namespace SandboxProviders;

/// <summary>The API a sandbox vendor speaks: its routes and its JSON shapes (see the README).</summary>
public enum VendorShape
{
    /// <summary>Email finder: <c>GET /{vendor}/v1/email?first_name=&amp;last_name=&amp;domain=</c> answers
    /// <c>{"data":{"email":…,"confidence":0–100}}</c> or <c>{"data":null}</c>.</summary>
    Leadmine,

    /// <summary>Email finder: <c>POST /{vendor}/api/find</c> with
    /// <c>{"person":{"first_name","last_name","linkedin_url"},"company":{"name","domain"}}</c> answers
    /// <c>{"result":"found","score":0–1,"person":{"work_email":…}}</c> or 404 <c>{"result":"not_found"}</c>.</summary>
    Mailscout,

    /// <summary>Mobile and job finder: <c>GET /{vendor}/v2/mobile</c> and <c>GET /{vendor}/v2/job</c> with
    /// <c>linkedin_url</c> or <c>first_name</c>, <c>last_name</c>, <c>company_domain</c>; answers
    /// <c>{"status":"ok",…}</c> or <c>{"status":"no_match"}</c>.</summary>
    Dialbase,

    /// <summary>Email verifier: <c>POST /{vendor}/verify</c> with <c>{"email":…}</c> answers
    /// <c>{"email":…,"result":"deliverable|accept_all|undeliverable|unknown","score":…}</c>.</summary>
    Verifly,

    /// <summary>Research writer: <c>POST /{vendor}/v1/research</c> with <c>first_name</c>, <c>last_name</c>,
    /// <c>linkedin_url</c> (a person) or only <c>company_domain</c> (a company); answers
    /// <c>{"status":"ok","summary":…,"company":{"name","domain"}}</c> or 404 <c>{"status":"not_found"}</c>.</summary>
    Sagewise,

    /// <summary>Reverse IP: <c>GET /{vendor}/v1/ip?ip=</c> answers <c>{"type":"company","company":{"name","domain"},"confidence"}</c>
    /// for an address of a company's range it knows (company k of the data set owns <c>20.(k/256).(k%256).0/24</c>), or a
    /// miss: <c>{"type":"isp","isp":…}</c> (<c>100.64.0.0/10</c>), <c>{"type":"residential"}</c> (<c>73.0.0.0/8</c>),
    /// <c>{"type":"unknown"}</c>; 400 for a value that is not an IP address.</summary>
    ReverseIp,

    /// <summary>A stand-in CRM that records what it receives: <c>POST /{vendor}/v1/contacts/batch</c> with
    /// <c>{"contacts":[{"externalId","email","firstName","lastName","companyDomain","phone"}]}</c> (1–100 contacts, each
    /// with an <c>externalId</c>) upserts them by external id and answers <c>{"results":[{"externalId","id","created"}]}</c>;
    /// <c>GET /{vendor}/v1/contacts</c> answers <c>{"contacts":[…]}</c>, what it holds. 400 for a malformed batch.</summary>
    Crm,

    /// <summary>Job histories in bulk: <c>POST /{vendor}/v1/jobs/bulk</c> with <c>{"people":[{"ref","linkedin_url" or
    /// "first_name","last_name","company_domain" or "email"}]}</c> (1–100 people) answers <c>{"results":[{"ref","status":"ok",
    /// "title","company":{"name","domain"},"since"}]}</c> or <c>"status":"no_match"</c> per person, as of the sandbox clock;
    /// 400 for an empty or too large request.</summary>
    JobHistory,
}

/// <summary>How long a vendor takes to answer.</summary>
public enum LatencyDistribution
{
    /// <summary>Always <see cref="LatencySettings.FixedMilliseconds"/>.</summary>
    Fixed,

    /// <summary>Uniform between <see cref="LatencySettings.MinMilliseconds"/> and <see cref="LatencySettings.MaxMilliseconds"/>.</summary>
    Uniform,

    /// <summary>Normal with <see cref="LatencySettings.MeanMilliseconds"/> and <see cref="LatencySettings.StdDevMilliseconds"/>,
    /// never below zero.</summary>
    Normal,
}

/// <summary>One scripted answer: the vendor's next calls answer these, in order, before its usual behaviour.</summary>
public enum ScriptedResponse
{
    /// <summary>The usual answer (still subject to latency, outage and the API key).</summary>
    Ok,

    /// <summary>429 with <c>Retry-After</c> <see cref="FailureSettings.RetryAfterSeconds"/>.</summary>
    RateLimited,

    /// <summary>500.</summary>
    ServerError,

    /// <summary>No answer for <see cref="FailureSettings.HangMilliseconds"/>, then 504.</summary>
    Hang,
}

/// <summary>A vendor's latency. Default: no delay.</summary>
public sealed record LatencySettings
{
    /// <summary>Which of the numbers below apply.</summary>
    public LatencyDistribution Distribution { get; init; } = LatencyDistribution.Fixed;

    /// <summary>Delay of <see cref="LatencyDistribution.Fixed"/>.</summary>
    public double FixedMilliseconds { get; init; }

    /// <summary>Lower bound of <see cref="LatencyDistribution.Uniform"/>.</summary>
    public double MinMilliseconds { get; init; }

    /// <summary>Upper bound of <see cref="LatencyDistribution.Uniform"/>.</summary>
    public double MaxMilliseconds { get; init; }

    /// <summary>Mean of <see cref="LatencyDistribution.Normal"/>.</summary>
    public double MeanMilliseconds { get; init; }

    /// <summary>Standard deviation of <see cref="LatencyDistribution.Normal"/>.</summary>
    public double StdDevMilliseconds { get; init; }

    /// <summary>The delay for two uniform draws in [0, 1).</summary>
    public TimeSpan Sample(double u1, double u2)
    {
        var ms = Distribution switch
        {
            LatencyDistribution.Uniform => MinMilliseconds + ((MaxMilliseconds - MinMilliseconds) * u1),
            // Box-Muller; 1 - u1 keeps the logarithm finite.
            LatencyDistribution.Normal => MeanMilliseconds + (StdDevMilliseconds * Math.Sqrt(-2 * Math.Log(1 - u1)) * Math.Cos(2 * Math.PI * u2)),
            _ => FixedMilliseconds,
        };
        return TimeSpan.FromMilliseconds(Math.Max(0, ms));
    }

    internal IEnumerable<string> Validate(string vendor)
    {
        foreach (var (field, value) in new[]
        {
            ("fixedMilliseconds", FixedMilliseconds), ("minMilliseconds", MinMilliseconds), ("maxMilliseconds", MaxMilliseconds),
            ("meanMilliseconds", MeanMilliseconds), ("stdDevMilliseconds", StdDevMilliseconds),
        })
        {
            if (value < 0 || double.IsNaN(value) || value > 600_000)
            {
                yield return $"vendor '{vendor}': latency.{field} must be between 0 and 600000";
            }
        }
        if (Distribution == LatencyDistribution.Uniform && MaxMilliseconds < MinMilliseconds)
        {
            yield return $"vendor '{vendor}': latency.maxMilliseconds must not be below minMilliseconds";
        }
    }
}

/// <summary>A vendor's failure mix: fractions of calls, drawn per call in a reproducible sequence. Default: none.</summary>
public sealed record FailureSettings
{
    /// <summary>Fraction of calls answered 429 with <c>Retry-After</c>.</summary>
    public double RateLimitedRate { get; init; }

    /// <summary>The <c>Retry-After</c> of a 429, in whole seconds (the header's unit).</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>Fraction of calls answered 500.</summary>
    public double ServerErrorRate { get; init; }

    /// <summary>Fraction of calls that hang for <see cref="HangMilliseconds"/> and then answer 504.</summary>
    public double HangRate { get; init; }

    /// <summary>How long a hanging call hangs (it ends earlier when the caller gives up).</summary>
    public int HangMilliseconds { get; init; } = 30_000;

    internal IEnumerable<string> Validate(string vendor)
    {
        foreach (var (field, value) in new[] { ("rateLimitedRate", RateLimitedRate), ("serverErrorRate", ServerErrorRate), ("hangRate", HangRate) })
        {
            if (value is < 0 or > 1 || double.IsNaN(value))
            {
                yield return $"vendor '{vendor}': failures.{field} must be between 0 and 1";
            }
        }
        if (RateLimitedRate + ServerErrorRate + HangRate > 1.000001)
        {
            yield return $"vendor '{vendor}': failures rates add up to more than 1";
        }
        if (RetryAfterSeconds is < 0 or > 3600)
        {
            yield return $"vendor '{vendor}': failures.retryAfterSeconds must be between 0 and 3600";
        }
        if (HangMilliseconds is < 0 or > 600_000)
        {
            yield return $"vendor '{vendor}': failures.hangMilliseconds must be between 0 and 600000";
        }
    }
}

/// <summary>The API key a vendor demands: the request must carry <see cref="Header"/> with exactly <see cref="Value"/>
/// (for a bearer token: header <c>Authorization</c>, value <c>Bearer …</c>).</summary>
/// <param name="Header">The header's name.</param>
/// <param name="Value">The header's expected value.</param>
public sealed record ApiKeySettings(string Header, string Value);

/// <summary>
/// One sandbox vendor's behaviour: data, not code. Every knob may change at runtime
/// (<c>PUT /_admin/vendors/{name}</c>); calls already in flight finish with the settings they started with.
/// </summary>
public sealed record VendorSettings
{
    /// <summary>The API the vendor speaks.</summary>
    public required VendorShape Shape { get; init; }

    /// <summary>Fraction of the data set the vendor knows (finders). Whether it knows a given person is decided by a
    /// hash of (vendor name, person id), so it is stable and differs between vendors.</summary>
    public double HitRate { get; init; } = 0.5;

    /// <summary>Fraction of known people for whom an email finder returns the real mailbox; for the others it returns a
    /// pattern guess (<c>flast@domain</c>) that verifies invalid unless the domain is catch-all.</summary>
    public double Accuracy { get; init; } = 1;

    /// <summary>Verifiers: fraction of domains that accept every address (answered as catch-all).</summary>
    public double CatchAllRate { get; init; } = 0.1;

    /// <summary>Verifiers: fraction of real mailboxes the verifier cannot decide (answered as unknown).</summary>
    public double UnknownRate { get; init; } = 0.05;

    /// <summary>How long an answer takes.</summary>
    public LatencySettings Latency { get; init; } = new();

    /// <summary>The failure mix.</summary>
    public FailureSettings Failures { get; init; } = new();

    /// <summary>The next calls' answers, in order, before the usual behaviour (tests use it for exact sequences).
    /// Replacing the settings restarts the script.</summary>
    public IReadOnlyList<ScriptedResponse> Script { get; init; } = [];

    /// <summary>The key the vendor demands (401 without it); null: none.</summary>
    public ApiKeySettings? ApiKey { get; init; }

    /// <summary>When true every call answers 503.</summary>
    public bool Outage { get; init; }

    internal IEnumerable<string> Validate(string vendor)
    {
        foreach (var (field, value) in new[] { ("hitRate", HitRate), ("accuracy", Accuracy), ("catchAllRate", CatchAllRate), ("unknownRate", UnknownRate) })
        {
            if (value is < 0 or > 1 || double.IsNaN(value))
            {
                yield return $"vendor '{vendor}': {field} must be between 0 and 1";
            }
        }
        if (ApiKey is not null && (string.IsNullOrWhiteSpace(ApiKey.Header) || string.IsNullOrEmpty(ApiKey.Value)))
        {
            yield return $"vendor '{vendor}': apiKey needs a header and a value";
        }
        foreach (var error in (Latency ?? new()).Validate(vendor).Concat((Failures ?? new()).Validate(vendor)))
        {
            yield return error;
        }
    }
}

/// <summary>The sandbox's configuration: the data set's seed and size, and the vendors by name.</summary>
public sealed record SandboxConfig
{
    /// <summary>Seed of the people data set.</summary>
    public int Seed { get; init; } = 20261121;

    /// <summary>How many people the data set holds.</summary>
    public int People { get; init; } = 20_000;

    /// <summary>Vendors by name; the name is the first segment of the vendor's routes.</summary>
    public IReadOnlyDictionary<string, VendorSettings> Vendors { get; init; } = new Dictionary<string, VendorSettings>();

    /// <summary>The configuration shipped with the sandbox (<c>vendors.json</c>).</summary>
    public static SandboxConfig Default { get; } = LoadEmbedded();

    /// <summary>This configuration with every vendor answering at once and never failing (latency and failure mix
    /// reset); keys, hit rates and accuracy unchanged. Tests start from it and add the faults they test.</summary>
    public SandboxConfig Quiet() => this with
    {
        Vendors = Vendors.ToDictionary(v => v.Key, v => v.Value with { Latency = new(), Failures = new(), Script = [], Outage = false }, StringComparer.Ordinal),
    };

    /// <summary>Reads and validates a configuration file.</summary>
    /// <exception cref="FormatException">The file is malformed; the message names the vendor and the field.</exception>
    public static SandboxConfig Load(string path) => Parse(File.ReadAllText(path));

    /// <summary>Parses and validates a configuration document.</summary>
    /// <exception cref="FormatException">The document is malformed; the message names the vendor and the field.</exception>
    public static SandboxConfig Parse(string json)
    {
        SandboxConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<SandboxConfig>(json, SandboxJson.Options);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"Sandbox configuration is malformed: {ex.Message}", ex);
        }
        if (config is null)
        {
            throw new FormatException("Sandbox configuration is empty.");
        }
        var errors = config.Validate().ToList();
        return errors.Count == 0 ? config : throw new FormatException($"Sandbox configuration is invalid: {string.Join("; ", errors)}.");
    }

    /// <summary>The problems of this configuration; empty when it is valid.</summary>
    public IEnumerable<string> Validate()
    {
        if (People is < 1 or > 1_000_000)
        {
            yield return "people must be between 1 and 1000000";
        }
        foreach (var (name, vendor) in Vendors ?? new Dictionary<string, VendorSettings>())
        {
            foreach (var error in ValidateVendor(name, vendor))
            {
                yield return error;
            }
        }
    }

    /// <summary>The problems of one vendor's settings; empty when they are valid.</summary>
    public static IEnumerable<string> ValidateVendor(string name, VendorSettings? vendor)
    {
        if (!IsValidName(name))
        {
            return [$"vendor name '{name}' must be 1-40 lower-case letters, digits or hyphens, starting with a letter"];
        }
        return vendor is null ? [$"vendor '{name}' has no settings"] : vendor.Validate(name);
    }

    private static bool IsValidName(string name) =>
        name.Length is > 0 and <= 40 && char.IsAsciiLetterLower(name[0]) && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    private static SandboxConfig LoadEmbedded()
    {
        using var stream = typeof(SandboxConfig).Assembly.GetManifestResourceStream("SandboxProviders.vendors.json")
            ?? throw new InvalidOperationException("The embedded vendors.json is missing.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }
}

/// <summary>The JSON conventions of the configuration and admin endpoints: camelCase, enums in snake_case, nulls left out, unknown
/// members refused (a typo in a knob is an error, not a silent default).</summary>
public static class SandboxJson
{
    /// <summary>The shared options (read-only).</summary>
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
