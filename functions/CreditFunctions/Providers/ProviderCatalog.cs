using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CreditFunctions.Providers;

/// <summary>Provider definitions that cannot be used; <see cref="Errors"/> names each provider, field and reason.</summary>
public sealed class ProviderDefinitionException(IReadOnlyList<string> errors)
    : FormatException($"Provider definitions are invalid:{Environment.NewLine}- {string.Join(Environment.NewLine + "- ", errors)}")
{
    /// <summary>One line per problem: <c>provider 'x': field: why</c>.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// The providers the app can call, loaded from data: the embedded <c>providers.json</c> (the sandbox vendors, at the
/// URL in <c>CREDITFUNCTIONS_SANDBOX_URL</c>) or the file named by <c>CREDITFUNCTIONS_PROVIDERS_FILE</c>. Every
/// definition is validated when loaded and settings are resolved then (base URL, default keys); nothing is checked
/// lazily at call time. Immutable and thread-safe.
/// </summary>
public sealed class ProviderCatalog
{
    /// <summary>Setting naming a providers file that replaces the embedded one.</summary>
    public const string FileSetting = "CREDITFUNCTIONS_PROVIDERS_FILE";

    /// <summary>Setting holding the sandbox vendors' base URL, used by the embedded definitions.</summary>
    public const string SandboxUrlSetting = "CREDITFUNCTIONS_SANDBOX_URL";

    private static readonly string[] s_methods = ["GET", "POST", "PUT"];
    private static readonly string[] s_verdicts = ["valid", "catch_all", "invalid", "unknown"];

    private static readonly JsonSerializerOptions s_json = CreateJsonOptions();

    private readonly FrozenDictionary<string, ResolvedProvider> _providers;

    private ProviderCatalog(IReadOnlyList<ResolvedProvider> providers)
    {
        Definitions = [.. providers.Select(p => p.Definition)];
        _providers = providers.ToFrozenDictionary(p => p.Definition.Name, StringComparer.Ordinal);
    }

    /// <summary>Every definition, in file order.</summary>
    public IReadOnlyList<ProviderDefinition> Definitions { get; }

    /// <summary>The definition named <paramref name="name"/>, or null.</summary>
    public ProviderDefinition? Find(string name) => _providers.GetValueOrDefault(name)?.Definition;

    /// <summary>The providers offering <paramref name="capability"/>, in file order.</summary>
    public IReadOnlyList<ProviderDefinition> WithCapability(string capability) =>
        [.. Definitions.Where(d => d.Endpoints.ContainsKey(capability))];

    /// <summary>True when the settings supply a default key for the provider (or it needs none), so calls without a
    /// team's own key can be made.</summary>
    public bool HasDefaultKey(string name) => _providers.TryGetValue(name, out var p) && (p.Definition.Auth is null || p.DefaultKey is not null);

    /// <summary>Loads the providers file named by <see cref="FileSetting"/>, or the embedded <c>providers.json</c>.</summary>
    /// <exception cref="ProviderDefinitionException">A definition is invalid or a setting it needs is missing.</exception>
    public static ProviderCatalog Load(IConfiguration settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings[FileSetting] is { Length: > 0 } path)
        {
            return Parse(File.ReadAllText(path), settings);
        }
        using var stream = typeof(ProviderCatalog).Assembly.GetManifestResourceStream("CreditFunctions.Providers.providers.json")
            ?? throw new InvalidOperationException("The embedded providers.json is missing.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), settings);
    }

    /// <summary>Parses a providers document (<c>{"providers":[…]}</c>) and resolves its settings.</summary>
    /// <exception cref="ProviderDefinitionException">A definition is invalid or a setting it needs is missing.</exception>
    public static ProviderCatalog Parse(string json, IConfiguration settings)
    {
        var errors = new List<string>();
        var definitions = new List<ProviderDefinition>();
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (!document.RootElement.TryGetProperty("providers", out var array) || array.ValueKind != JsonValueKind.Array)
            {
                throw new ProviderDefinitionException(["the document needs a \"providers\" array"]);
            }
            var index = 0;
            foreach (var element in array.EnumerateArray())
            {
                index++;
                var label = element.ValueKind == JsonValueKind.Object && element.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                    ? $"provider '{n.GetString()}'"
                    : $"provider #{index.ToString(CultureInfo.InvariantCulture)}";
                try
                {
                    if (element.Deserialize<ProviderDefinition>(s_json) is { } definition)
                    {
                        definitions.Add(definition);
                    }
                }
                catch (JsonException ex)
                {
                    errors.Add($"{label}: {ex.Message}");
                }
            }
        }
        catch (JsonException ex)
        {
            throw new ProviderDefinitionException([$"not JSON: {ex.Message}"]);
        }
        if (errors.Count > 0)
        {
            throw new ProviderDefinitionException(errors);
        }
        return Create(definitions, settings);
    }

    /// <summary>Validates definitions made in code and resolves their settings.</summary>
    /// <exception cref="ProviderDefinitionException">A definition is invalid or a setting it needs is missing.</exception>
    public static ProviderCatalog Create(IEnumerable<ProviderDefinition> definitions, IConfiguration settings)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        ArgumentNullException.ThrowIfNull(settings);
        var list = definitions.ToList();
        var errors = new List<string>();
        foreach (var duplicate in list.GroupBy(d => d.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add($"provider '{duplicate.Key}': defined {duplicate.Count()} times");
        }
        var resolved = new List<ResolvedProvider>();
        foreach (var definition in list)
        {
            var problems = Validate(definition).ToList();
            Uri? baseAddress = null;
            if (problems.Count == 0)
            {
                var url = definition.BaseUrlSetting is { } setting && settings[setting] is { Length: > 0 } fromSetting ? fromSetting : definition.BaseUrl;
                if (url is null)
                {
                    problems.Add($"baseUrlSetting: the setting '{definition.BaseUrlSetting}' is not set (and there is no baseUrl to fall back on)");
                }
                else if (!Uri.TryCreate(url, UriKind.Absolute, out baseAddress) || (baseAddress.Scheme != Uri.UriSchemeHttp && baseAddress.Scheme != Uri.UriSchemeHttps))
                {
                    problems.Add($"baseUrl: '{url}' is not an absolute http or https URL");
                }
            }
            errors.AddRange(problems.Select(p => $"provider '{definition.Name}': {p}"));
            if (problems.Count == 0)
            {
                var key = definition.Auth?.KeySetting is { } keySetting && settings[keySetting] is { Length: > 0 } value ? value : null;
                resolved.Add(new ResolvedProvider(definition, baseAddress!, key));
            }
        }
        return errors.Count > 0 ? throw new ProviderDefinitionException(errors) : new ProviderCatalog(resolved);
    }

    internal ResolvedProvider? Resolve(string name) => _providers.GetValueOrDefault(name);

    private static IEnumerable<string> Validate(ProviderDefinition d)
    {
        if (string.IsNullOrEmpty(d.Name) || d.Name.Length > 40 || !d.Name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_'))
        {
            yield return "name: 1-40 lower-case letters, digits, '-' or '_'";
        }
        if (d.BaseUrl is null && d.BaseUrlSetting is null)
        {
            yield return "baseUrl or baseUrlSetting is required";
        }
        if (d.Auth is { Kind: ProviderAuthKind.Header } auth && string.IsNullOrWhiteSpace(auth.HeaderName))
        {
            yield return "auth.headerName is required for header authentication";
        }
        foreach (var error in Range("attemptTimeoutSeconds", d.AttemptTimeoutSeconds, 0.01, 300)
            .Concat(Range("totalTimeoutSeconds", d.TotalTimeoutSeconds, 0.01, 3600)))
        {
            yield return error;
        }
        if (d.TotalTimeoutSeconds < d.AttemptTimeoutSeconds)
        {
            yield return "totalTimeoutSeconds: must not be shorter than attemptTimeoutSeconds";
        }
        var rate = d.RateLimit ?? new();
        foreach (var error in Range("rateLimit.permitsPerSecond", rate.PermitsPerSecond, 0, 100_000)
            .Concat(Range("rateLimit.burst", rate.Burst, 0, 100_000))
            .Concat(Range("rateLimit.queueLimit", rate.QueueLimit, 0, 100_000)))
        {
            yield return error;
        }
        var retry = d.Retry ?? new();
        foreach (var error in Range("retry.maxRetryAttempts", retry.MaxRetryAttempts, 0, 10)
            .Concat(Range("retry.baseDelaySeconds", retry.BaseDelaySeconds, 0, 60))
            .Concat(Range("retry.maxDelaySeconds", retry.MaxDelaySeconds, 0.01, 600))
            .Concat(Range("retry.maxRetryAfterSeconds", retry.MaxRetryAfterSeconds, 0, 600)))
        {
            yield return error;
        }
        var breaker = d.CircuitBreaker ?? new();
        if (breaker.Enabled)
        {
            foreach (var error in Range("circuitBreaker.failureRatio", breaker.FailureRatio, 0.001, 1)
                .Concat(Range("circuitBreaker.minimumThroughput", breaker.MinimumThroughput, 2, 100_000))
                .Concat(Range("circuitBreaker.samplingDurationSeconds", breaker.SamplingDurationSeconds, 0.5, 86_400))
                .Concat(Range("circuitBreaker.breakDurationSeconds", breaker.BreakDurationSeconds, 0.5, 86_400)))
            {
                yield return error;
            }
        }
        if (d.Endpoints is null || d.Endpoints.Count == 0)
        {
            yield return "endpoints: at least one capability is required";
            yield break;
        }
        foreach (var (capability, endpoint) in d.Endpoints)
        {
            foreach (var error in ValidateEndpoint(capability, endpoint))
            {
                yield return $"endpoints.{capability}.{error}";
            }
        }
    }

    private static IEnumerable<string> ValidateEndpoint(string capability, ProviderEndpoint e)
    {
        if (!ProviderCapabilities.All.Contains(capability, StringComparer.Ordinal))
        {
            yield return $"capability: '{capability}' is not one of {string.Join(", ", ProviderCapabilities.All)}";
            yield break;
        }
        if (!s_methods.Contains(e.Method, StringComparer.Ordinal))
        {
            yield return $"method: '{e.Method}' is not one of {string.Join(", ", s_methods)}";
        }
        if (string.IsNullOrEmpty(e.Path) || e.Path[0] != '/')
        {
            yield return "path: must start with '/'";
        }
        var templates = new[] { ("path", e.Path ?? string.Empty) }
            .Concat((e.Query ?? new Dictionary<string, string>()).Select(q => ($"query.{q.Key}", q.Value)))
            .Concat((e.Body ?? new Dictionary<string, string>()).Select(b => ($"body.{b.Key}", b.Value)));
        foreach (var (where, template) in templates)
        {
            var fields = ProviderTemplates.Fields(template ?? string.Empty);
            if (fields is null)
            {
                yield return $"{where}: unbalanced '{{' or '}}' in '{template}'";
                continue;
            }
            foreach (var field in fields.Where(f => !PersonFields.All.Contains(f, StringComparer.Ordinal)))
            {
                yield return $"{where}: unknown field '{{{field}}}' (fields: {string.Join(", ", PersonFields.All)})";
            }
        }
        foreach (var path in (e.Body ?? new Dictionary<string, string>()).Keys.Where(p => !ProviderTemplates.IsValidMemberPath(p)))
        {
            yield return $"body: '{path}' is not a dotted member path";
        }
        foreach (var field in (e.Requires ?? []).SelectMany(r => r).Where(f => !PersonFields.All.Contains(f, StringComparer.Ordinal)))
        {
            yield return $"requires: unknown field '{field}'";
        }
        if ((e.Requires ?? []).Any(r => r.Count == 0))
        {
            yield return "requires: an empty set of fields";
        }

        var response = e.Response;
        if (response is null)
        {
            yield return "response: is required";
            yield break;
        }
        foreach (var (field, path) in new[]
        {
            ("email", response.Email), ("phone", response.Phone), ("jobTitle", response.JobTitle), ("companyName", response.CompanyName),
            ("companyDomain", response.CompanyDomain), ("confidence", response.Confidence), ("verificationStatus", response.VerificationStatus),
            ("summary", response.Summary),
            ("notFound.nullPath", e.NotFound?.NullPath), ("notFound.equalsPath", e.NotFound?.EqualsPath),
        })
        {
            if (path is not null && !ProviderTemplates.IsValidPath(path))
            {
                yield return $"response.{field}: '{path}' is not a JSON path like data.email or phones[0].number";
            }
        }
        if (response.ConfidenceScale <= 0)
        {
            yield return "response.confidenceScale: must be greater than 0";
        }
        var needed = capability switch
        {
            ProviderCapabilities.Email => response.Email is null ? "response.email" : null,
            ProviderCapabilities.Mobile => response.Phone is null ? "response.phone" : null,
            ProviderCapabilities.Job => response.JobTitle is null && response.CompanyName is null ? "response.jobTitle or response.companyName" : null,
            ProviderCapabilities.ReverseIp => response.CompanyName is null && response.CompanyDomain is null ? "response.companyName or response.companyDomain" : null,
            ProviderCapabilities.Research => response.Summary is null ? "response.summary" : null,
            _ => response.VerificationStatus is null ? "response.verificationStatus" : null,
        };
        if (needed is not null)
        {
            yield return $"{needed}: is required for capability '{capability}'";
        }
        foreach (var (vendorStatus, verdict) in response.StatusMap ?? new Dictionary<string, string>())
        {
            if (!s_verdicts.Contains(verdict, StringComparer.Ordinal))
            {
                yield return $"response.statusMap.{vendorStatus}: '{verdict}' is not one of {string.Join(", ", s_verdicts)}";
            }
        }
        if (capability == ProviderCapabilities.EmailVerification && (response.StatusMap ?? new Dictionary<string, string>()).Count == 0)
        {
            yield return $"response.statusMap: is required for capability '{capability}'";
        }
        var notFound = e.NotFound ?? new();
        if ((notFound.EqualsPath is null) != (notFound.EqualsValue is null))
        {
            yield return "notFound: equalsPath and equalsValue go together";
        }
        foreach (var status in (notFound.StatusCodes ?? []).Where(s => s is < 200 or > 499 or 401 or 403 or 429))
        {
            yield return $"notFound.statusCodes: {status} cannot mean not found (use 2xx or 4xx other than 401, 403 and 429)";
        }
        if (e.CostPerCall < 0)
        {
            yield return "costPerCall: must not be negative";
        }
    }

    private static IEnumerable<string> Range(string field, double value, double min, double max)
    {
        if (double.IsNaN(value) || value < min || value > max)
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"{field}: {value} is outside {min}..{max}");
        }
    }

    internal static EmailVerificationStatus ToVerdict(string verdict) => verdict switch
    {
        "valid" => EmailVerificationStatus.Valid,
        "catch_all" => EmailVerificationStatus.CatchAll,
        "invalid" => EmailVerificationStatus.Invalid,
        _ => EmailVerificationStatus.Unknown,
    };

    private static JsonSerializerOptions CreateJsonOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>A definition with its settings resolved. Holds the default key: never printed.</summary>
internal sealed class ResolvedProvider(ProviderDefinition definition, Uri baseAddress, string? defaultKey)
{
    public ProviderDefinition Definition { get; } = definition;

    public Uri BaseAddress { get; } = baseAddress;

    public string? DefaultKey { get; } = defaultKey;

    public override string ToString() => Definition.Name;
}
