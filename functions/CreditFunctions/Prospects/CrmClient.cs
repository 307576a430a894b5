using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Providers;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace CreditFunctions.Prospects;

/// <summary>A lead as the CRM receives it; <see cref="ExternalId"/> is the team's contact id, so a lead pushed twice is
/// one CRM record, updated.</summary>
public sealed record CrmContact(string ExternalId, string? Email, string? FirstName, string? LastName, string? CompanyDomain, string? Phone);

/// <summary>What the CRM answered for one lead: its record id, and whether the push made it.</summary>
public sealed record CrmPushResult(string ExternalId, long Id, bool Created);

/// <summary>The CRM could not be reached or refused the batch after the retries.</summary>
public sealed class CrmUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Where the CRM is and how to sign in to it.</summary>
/// <param name="BaseUrl">The CRM API's base address (batches go to <c>v1/contacts/batch</c> under it); null: not configured.</param>
/// <param name="ApiKey">The bearer token.</param>
public sealed record CrmOptions(Uri? BaseUrl, string? ApiKey)
{
    /// <summary>The setting with the CRM's base address; unset, a local run's stand-in CRM of the sandbox.</summary>
    public const string UrlSetting = "CREDITFUNCTIONS_CRM_URL";

    /// <summary>The setting with the CRM's API key.</summary>
    public const string KeySetting = "CREDITFUNCTIONS_CRM_KEY";

    /// <summary>The sandbox's stand-in CRM (a vendor of the CRM shape).</summary>
    public const string SandboxCrm = "pipewell";

    /// <summary>Reads the options: the CRM URL setting, else the sandbox's CRM when a sandbox is configured.</summary>
    public static CrmOptions From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var url = configuration[UrlSetting] is { Length: > 0 } set ? set
            : configuration[ProviderCatalog.SandboxUrlSetting] is { Length: > 0 } sandbox ? sandbox.TrimEnd('/') + "/" + SandboxCrm : null;
        return new CrmOptions(url is null ? null : new Uri(url.TrimEnd('/') + "/"), configuration[KeySetting]);
    }
}

/// <summary>
/// Pushes leads to the CRM in batches of at most <see cref="BatchMax"/>, each batch retried (transport errors, 429,
/// 5xx: three more attempts, exponential back-off with jitter, 5 s per attempt). A batch is an upsert by external id,
/// so a retried batch, or the same leads exported again, leaves one record each.
/// </summary>
public sealed class CrmClient(HttpClient http, CrmOptions options)
{
    /// <summary>Most leads in one CRM request.</summary>
    public const int BatchMax = 100;

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private static readonly ResiliencePipeline<HttpResponseMessage> s_pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
        .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            ShouldHandle = new PredicateBuilder<HttpResponseMessage>().Handle<HttpRequestException>().Handle<TimeoutRejectedException>()
                .HandleResult(r => r.StatusCode == HttpStatusCode.TooManyRequests || (int)r.StatusCode >= 500),
            MaxRetryAttempts = 3, BackoffType = DelayBackoffType.Exponential, Delay = TimeSpan.FromMilliseconds(200), UseJitter = true,
            OnRetry = args =>
            {
                args.Outcome.Result?.Dispose();
                return default;
            },
        })
        .AddTimeout(TimeSpan.FromSeconds(5))
        .Build();

    /// <summary>Whether a CRM is configured.</summary>
    public bool Configured => options.BaseUrl is not null;

    /// <summary>Pushes <paramref name="contacts"/> and returns the CRM's answer per external id.</summary>
    /// <exception cref="CrmUnavailableException">A batch failed after its retries (earlier batches stay pushed).</exception>
    public async Task<IReadOnlyDictionary<string, CrmPushResult>> PushAsync(IReadOnlyList<CrmContact> contacts, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(contacts);
        var endpoint = new Uri(options.BaseUrl ?? throw new CrmUnavailableException("No CRM is configured."), "v1/contacts/batch");
        var results = new Dictionary<string, CrmPushResult>(StringComparer.Ordinal);
        foreach (var batch in contacts.Chunk(BatchMax))
        {
            HttpResponseMessage response;
            try
            {
                response = await s_pipeline.ExecuteAsync(async token =>
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = JsonContent.Create(new { contacts = batch }, options: s_json) };
                    if (options.ApiKey is { Length: > 0 } key)
                    {
                        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
                    }
                    return await http.SendAsync(request, token).ConfigureAwait(false);
                }, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException)
            {
                throw new CrmUnavailableException("The CRM could not be reached.", ex);
            }
            using (response)
            {
                if (!response.IsSuccessStatusCode)
                {
                    throw new CrmUnavailableException($"The CRM answered {(int)response.StatusCode}.");
                }
                var answer = await response.Content.ReadFromJsonAsync<BatchAnswer>(s_json, ct).ConfigureAwait(false);
                foreach (var result in answer?.Results ?? [])
                {
                    results[result.ExternalId] = result;
                }
            }
        }
        return results;
    }

    private sealed record BatchAnswer(IReadOnlyList<CrmPushResult>? Results);
}
