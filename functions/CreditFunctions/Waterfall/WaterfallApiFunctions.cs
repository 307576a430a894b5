using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Api;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Providers;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace CreditFunctions.Waterfall;

/// <summary>
/// The enrichment API, one HTTP function per route (or per methods of one resource): <c>POST /people/reveal</c> (in the request), <c>POST /enrichment/waterfall</c> (async HTTP pattern),
/// <c>GET /enrichment/waterfall/{id}</c>, <c>POST /people/{id}/reverify</c>, <c>GET|PUT /enrichment/settings</c>,
/// <c>POST /enrichment/settings/webhook-secret</c>, <c>GET /enrichment/providers</c>. Bad input is a 400 naming the
/// field, and nothing is started, held or charged.
/// </summary>
public sealed class WaterfallApiFunctions(ApiGate gate, WaterfallService waterfall, ReverifyService reverify, EnrichmentSettingsStore store,
    ProviderCatalog catalog, ProviderCaller providers, EgressGuard egress, TimeProvider clock)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    [Function("people-reveal")]
    public Task<IActionResult> RevealAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/people/reveal")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var key = IdempotencyKeys.Read(request, required: false, out var keyProblem);
            if (keyProblem is not null)
            {
                return keyProblem;
            }
            var (body, error) = await ReadAsync<RevealBody>(request.HttpContext, ct);
            if (error is not null)
            {
                return error;
            }
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            var data = new List<string>();
            foreach (var item in body!.Data ?? ["email"])
            {
                var name = item switch { "email" => WaterfallData.Email, "phone" or "mobile" => WaterfallData.Mobile, _ => null };
                if (name is null)
                {
                    errors["data"] = ["Each item is 'email' or 'phone'."];
                }
                else if (!data.Contains(name))
                {
                    data.Add(name);
                }
            }
            if (data.Count == 0 && !errors.ContainsKey("data"))
            {
                errors["data"] = ["Ask for 'email', 'phone' or both."];
            }
            AddPersonErrors(errors, "person", body.Person);
            if (errors.Count > 0)
            {
                return Problems.Validation(errors);
            }
            try
            {
                var (runId, person) = await waterfall.RevealAsync(caller.TeamId, caller.UserId, body.Person!, data, key, ct);
                return Results.Ok(new { runId, personId = person.PersonId, email = person.Email, phone = person.Mobile });
            }
            catch (WaterfallRefusedException refused)
            {
                return InsufficientCredits(refused);
            }
            catch (IdempotencyKeyReusedException)
            {
                return Problems.IdempotencyKeyReused();
            }
        });

    /// <summary>A number for the dialer: the waterfall's mobile providers for one person, a phone credit (*Phone number* /
    /// *Dialer look-up*) only when a number is found that the team does not own yet. <c>dryRun</c> answers the cost
    /// without calling a provider.</summary>
    [Function("dialer-lookups")]
    public Task<IActionResult> DialerLookupAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/dialer/lookups")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var key = IdempotencyKeys.Read(request, required: false, out var keyProblem);
            if (keyProblem is not null)
            {
                return keyProblem;
            }
            var (body, error) = await ReadAsync<DialerBody>(request.HttpContext, ct);
            if (error is not null)
            {
                return error;
            }
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            AddPersonErrors(errors, "person", body!.Person);
            if (errors.Count > 0)
            {
                return Problems.Validation(errors);
            }
            if (body.DryRun == true)
            {
                var quote = (await waterfall.QuoteAsync(caller.TeamId, body.Person!, [WaterfallData.Mobile], ChargePlan.Dialer, ct)).Single();
                return Results.Ok(new
                {
                    dryRun = true, feature = "phone_number", action = quote.Action, owned = quote.Owned, creditType = "phone",
                    atMost = quote.AtMost.Value, charged = "only when a number is found",
                });
            }
            try
            {
                var (runId, person) = await waterfall.RevealAsync(caller.TeamId, caller.UserId, body.Person!, [WaterfallData.Mobile], key, ct, ChargePlan.Dialer);
                return Results.Ok(new { runId, personId = person.PersonId, phone = person.Mobile });
            }
            catch (WaterfallRefusedException refused)
            {
                return InsufficientCredits(refused);
            }
            catch (IdempotencyKeyReusedException)
            {
                return Problems.IdempotencyKeyReused();
            }
        });

    [Function("enrichment-waterfall")]
    public Task<IActionResult> StartWaterfallAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/enrichment/waterfall")] HttpRequest request,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var key = IdempotencyKeys.Read(request, required: false, out var keyProblem);
            if (keyProblem is not null)
            {
                return keyProblem;
            }
            var (body, error) = await ReadAsync<WaterfallBody>(request.HttpContext, ct);
            if (error is not null)
            {
                return error;
            }
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            var people = body!.People ?? [];
            if (people.Count is 0 or > WaterfallService.PeopleMax)
            {
                errors["people"] = [$"Between 1 and {WaterfallService.PeopleMax} people."];
            }
            for (var i = 0; i < people.Count && errors.Count < 20; i++)
            {
                AddPersonErrors(errors, $"people[{i}]", people[i]);
            }
            var data = (body.Data ?? []).Distinct(StringComparer.Ordinal).ToList();
            if (data.Count == 0 || data.Any(d => d is not (WaterfallData.Email or WaterfallData.Mobile)))
            {
                errors["data"] = ["One or both of 'email' and 'mobile'."];
            }
            if (body.WebhookUrl is { } url && (egress.Refusal(url) ?? (store.CanProtectSecrets ? null : $"Webhooks are signed: set {SecretProtector.KeySetting}.")) is { } why)
            {
                errors["webhookUrl"] = [why];
            }
            if (body.MaxCredits is { } negative && negative < Credits.Zero)
            {
                errors["maxCredits"] = ["Must be 0 or more."];
            }
            if (errors.Count > 0)
            {
                return Problems.Validation(errors);
            }
            // A run never spends more than its maxCredits: one whose maximum (every person found) is above it does not start.
            var atMost = data.Aggregate(Credits.Zero, (sum, d) => sum + WaterfallService.Price(ChargePlan.ApiWaterfall, d) * people.Count);
            if (body.MaxCredits is { } max && atMost > max)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "quote-exceeds-max-credits", "The run could cost more than maxCredits.",
                    $"The run can cost up to {atMost} credits ({people.Count} people × {string.Join(" + ", data)}), above its maxCredits ({max}); nothing was held or charged.");
            }
            try
            {
                var runId = await waterfall.StartAsync(durable, caller.TeamId, caller.UserId, people!, data, ChargePlan.ApiWaterfall, body.WebhookUrl,
                    key, ct);
                return Accepted(request, caller.TeamId, runId);
            }
            catch (WaterfallRefusedException refused)
            {
                return InsufficientCredits(refused);
            }
            catch (IdempotencyKeyReusedException)
            {
                return Problems.IdempotencyKeyReused();
            }
        });

    [Function("enrichment-waterfall-run")]
    public Task<IActionResult> GetWaterfallAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/enrichment/waterfall/{id}")] HttpRequest request, string id,
        [DurableClient] DurableTaskClient durable, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var state = await WaterfallService.GetAsync(durable, caller.TeamId, id, ct);
            if (state is null)
            {
                return Problems.NotFound($"No waterfall run '{id}' in this team.");
            }
            if (!caller.IsAdmin && state.ReadInputAs<WaterfallRun>()?.UserId != caller.UserId)
            {
                // A member sees only their own runs.
                return Problems.NotFound($"No waterfall run '{id}' in this team.");
            }
            var output = state.RuntimeStatus == OrchestrationRuntimeStatus.Completed ? state.ReadOutputAs<WaterfallOutput>() : null;
            return Results.Ok(new
            {
                id,
                status = StatusName(state.RuntimeStatus),
                createdAt = state.CreatedAt,
                lastUpdatedAt = state.LastUpdatedAt,
                progress = output?.Totals ?? state.ReadCustomStatusAs<WaterfallProgress>(),
                webhook = output?.Webhook,
                webhookError = output?.WebhookError,
                people = output?.People,
                error = state.FailureDetails?.ErrorMessage,
            });
        });

    [Function("people-reverify")]
    public Task<IActionResult> ReverifyAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/people/{id}/reverify")] HttpRequest request,
        string id, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var key = IdempotencyKeys.Read(request, required: true, out var keyProblem);
            if (keyProblem is not null || key is null)
            {
                return keyProblem!;
            }
            ReverifyResult? result;
            try
            {
                result = await reverify.ReverifyAsync(caller.TeamId, caller.UserId, id, key, ct);
            }
            catch (IdempotencyKeyReusedException)
            {
                return Problems.IdempotencyKeyReused();
            }
            return result switch
            {
                null => Problems.NotFound($"No stored email for person '{id}' in this team."),
                { Status: "insufficient_credits" } => Problems.Create(StatusCodes.Status402PaymentRequired, "insufficient-credits", "Not enough credits.",
                    "Not enough email credits for a re-verification."),
                _ => Results.Ok(result),
            };
        });

    [Function("enrichment-providers")]
    public Task<IActionResult> ProvidersAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/enrichment/providers")] HttpRequest request) =>
        gate.RunAsync(request, caller => Task.FromResult(Results.Ok(new
        {
            // A team sees the statistics of its own calls only; the platform-wide figures are
            // GET /api/v1/platform/providers, for operator keys.
            providers = catalog.Definitions.Select(d => new
            {
                name = d.Name,
                displayName = d.DisplayName,
                capabilities = d.Capabilities,
                statistics = providers.Statistics.SnapshotForTeam(caller.TeamId, d.Name),
            }),
        })));

    /// <summary>The platform-wide statistics of every provider (all teams' calls in this instance): operator keys only.</summary>
    [Function("platform-providers")]
    public Task<IActionResult> PlatformProvidersAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/platform/providers")] HttpRequest request) =>
        gate.RunAsync(request, _ => Task.FromResult(Results.Ok(new
        {
            providers = catalog.Definitions.Select(d => new
            {
                name = d.Name,
                displayName = d.DisplayName,
                capabilities = d.Capabilities,
                statistics = providers.Statistics.Snapshot(d.Name),
            }),
        })), ApiAccess.Operator);

    [Function("enrichment-settings")]
    public Task<IActionResult> SettingsAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "put", Route = "v1/enrichment/settings")] HttpRequest request, CancellationToken ct) =>
        HttpMethods.IsGet(request.Method)
            ? gate.RunAsync(request, async caller => Results.Ok(View(await store.GetAsync(caller.TeamId, ct))))
            : gate.RunAsync(request, caller => PutSettingsAsync(request.HttpContext, caller, store, catalog, ct), ApiAccess.Admin);

    [Function("enrichment-webhook-secret")]
    public Task<IActionResult> WebhookSecretAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/enrichment/settings/webhook-secret")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (!store.CanProtectSecrets)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "secrets-unavailable", "This deployment cannot store secrets.",
                    $"Set {SecretProtector.KeySetting} to enable signed webhooks.");
            }
            var secret = WebhookSender.NewSecret();
            var now = clock.GetUtcNow();
            var rotated = await store.RotateWebhookSecretAsync(caller.TeamId, secret, now, ct);
            // The only time the secret is shown: it signs this team's webhooks from now on, the one it replaces too for 24 hours.
            return Results.Ok(new
            {
                webhookSecret = secret,
                signatureHeader = WebhookSender.SignatureHeader,
                previousSecretValidUntil = rotated.PreviousWebhookSecretExpiresAt,
            });
        }, ApiAccess.Admin);

    /// <summary>The API's name of a runtime status (<c>pending</c>, <c>running</c>, <c>completed</c>, …).</summary>
    internal static string StatusName(OrchestrationRuntimeStatus status) => status.ToString().ToLowerInvariant();

    private static async Task<IResult> PutSettingsAsync(HttpContext http, CallerContext caller, EnrichmentSettingsStore store, ProviderCatalog catalog, CancellationToken ct)
    {
        var (body, error) = await ReadAsync<SettingsBody>(http, ct);
        if (error is not null)
        {
            return error;
        }
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        void CheckOrder(string field, IReadOnlyList<string>? names, string capability)
        {
            if (names is not null && names.Distinct(StringComparer.Ordinal).Count() != names.Count)
            {
                errors[field] = ["Each provider at most once."];
            }
            foreach (var name in (names ?? []).Where(n => catalog.Find(n)?.Capabilities.Contains(capability) != true))
            {
                errors[field] = [$"'{name}' is not a provider with '{capability}'."];
            }
        }
        CheckOrder("emailProviders", body!.EmailProviders, ProviderCapabilities.Email);
        CheckOrder("mobileProviders", body.MobileProviders, ProviderCapabilities.Mobile);
        if (body.Verifier is { } verifier && catalog.Find(verifier)?.Capabilities.Contains(ProviderCapabilities.EmailVerification) != true)
        {
            errors["verifier"] = [$"'{verifier}' is not a provider with '{ProviderCapabilities.EmailVerification}'."];
        }
        // Key changes: a stored key (protected once, here), a setting reference, or null to remove the team's key.
        var keyChanges = new Dictionary<string, StoredKey?>(StringComparer.Ordinal);
        foreach (var (provider, key) in body.Keys ?? [])
        {
            var field = $"keys.{provider}";
            if (catalog.Find(provider) is null)
            {
                errors[field] = ["No such provider."];
            }
            else if (key is null)
            {
                keyChanges[provider] = null;
            }
            else if ((key.ApiKey is null) == (key.ApiKeySetting is null))
            {
                errors[field] = ["Give either apiKey or apiKeySetting."];
            }
            else if (key.ApiKey is { } apiKey)
            {
                if (apiKey.Length is < 8 or > 512)
                {
                    errors[field + ".apiKey"] = ["Between 8 and 512 characters."];
                }
                else if (!store.CanProtectSecrets)
                {
                    errors[field + ".apiKey"] = [$"This deployment cannot store keys ({SecretProtector.KeySetting} is not set): use apiKeySetting."];
                }
                else
                {
                    keyChanges[provider] = store.Protect(caller.TeamId, apiKey);
                }
            }
            else if (!TeamKeySetting.IsAllowed(caller.TeamId, key.ApiKeySetting))
            {
                errors[field + ".apiKeySetting"] = [TeamKeySetting.Rule(caller.TeamId)];
            }
            else
            {
                keyChanges[provider] = new StoredKey(null, key.ApiKeySetting, "(setting)");
            }
        }
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }
        var updated = await store.UpdateAsync(caller.TeamId, current =>
        {
            var keys = new Dictionary<string, StoredKey>(current.Keys, StringComparer.Ordinal);
            foreach (var (provider, key) in keyChanges)
            {
                if (key is null)
                {
                    keys.Remove(provider);
                }
                else
                {
                    keys[provider] = key;
                }
            }
            return current with
            {
                EmailProviders = body.EmailProviders ?? current.EmailProviders,
                MobileProviders = body.MobileProviders ?? current.MobileProviders,
                Verifier = body.Verifier ?? current.Verifier,
                VerifyEmails = body.VerifyEmails ?? current.VerifyEmails,
                RefundInvalidOnReverify = body.RefundInvalidOnReverify ?? current.RefundInvalidOnReverify,
                Keys = keys,
            };
        }, ct);
        return Results.Ok(View(updated));
    }

    private static object View(EnrichmentSettings settings) => new
    {
        emailProviders = settings.EmailProviders,
        mobileProviders = settings.MobileProviders,
        verifier = settings.Verifier,
        verifyEmails = settings.VerifyEmails,
        refundInvalidOnReverify = settings.RefundInvalidOnReverify,
        keys = settings.Keys.ToDictionary(k => k.Key, k => k.Value.Setting is { } setting
            ? (object)new { source = "setting", setting }
            : new { source = "stored", masked = "••••" + k.Value.Last4 }),
        webhookSigning = settings.WebhookSecret is not null,
    };

    internal static void AddPersonErrors(Dictionary<string, string[]> errors, string prefix, PersonInput? person)
    {
        if (person is null)
        {
            errors[prefix] = ["Required."];
            return;
        }
        foreach (var (field, messages) in person.Validate())
        {
            errors[field == "person" ? prefix : $"{prefix}.{field}"] = messages;
        }
        var p = person.Normalize();
        if (p.LinkedInUrl is null && p.Email is null && (p.FirstName is null || p.LastName is null || (p.CompanyDomain is null && p.CompanyName is null)))
        {
            errors.TryAdd(prefix, ["Give a LinkedIn URL, or first name, last name and company domain (or name)."]);
        }
    }

    /// <summary>202 with the run's status URL and the management URLs of its orchestration (events, terminate, purge).</summary>
    private static IResult Accepted(HttpRequest request, string teamId, string runId)
    {
        var urls = OrchestrationFunctions.ManagementUrls(request, WaterfallRun.InstanceIdFor(teamId, runId));
        var status = $"{request.Scheme}://{request.Host}{request.PathBase}/api/v1/enrichment/waterfall/{runId}";
        return OrchestrationFunctions.CheckStatusResponse(urls with { Id = runId, StatusQueryGetUri = status });
    }

    internal static IResult InsufficientCredits(WaterfallRefusedException refused) => refused.SpendLimited
        ? Problems.Create(StatusCodes.Status402PaymentRequired, "spend-limit-reached", "The member's spend limit is reached.",
            $"The run could cost {refused.Needed.Value} {refused.CreditType} credits; {refused.Available.Value} are left of the member's limit. Nothing was held or charged.",
            new Dictionary<string, object?> { ["creditType"] = refused.CreditType, ["needed"] = refused.Needed.Value, ["left"] = refused.Available.Value })
        : Problems.Create(StatusCodes.Status402PaymentRequired, "insufficient-credits", "Not enough credits.", refused.Message,
            new Dictionary<string, object?>
            {
                ["creditType"] = refused.CreditType, ["needed"] = refused.Needed.Value, ["available"] = refused.Available.Value,
            });


    /// <summary>A bulk request of 1,000 people fits in well under 1 MiB; every other body in 64 KiB.</summary>
    private const int BulkBodyLimitBytes = 1024 * 1024;

    private static async Task<(T? Body, IResult? Error)> ReadAsync<T>(HttpContext http, CancellationToken ct) where T : class
    {
        var (body, problem) = await RequestBody.ReadJsonAsync<T>(http.Request, s_json, ct,
            typeof(T) == typeof(WaterfallBody) ? BulkBodyLimitBytes : RequestBody.LimitBytesDefault);
        return problem is not null ? (null, problem)
            : body is null ? (null, Problems.Validation("body", "A JSON object is required.")) : (body, null);
    }

    private sealed record RevealBody(PersonInput? Person, IReadOnlyList<string>? Data);

    private sealed record DialerBody(PersonInput? Person, bool? DryRun);

    private sealed record WaterfallBody(IReadOnlyList<PersonInput>? People, IReadOnlyList<string>? Data, string? WebhookUrl, Credits? MaxCredits = null);

    private sealed record SettingsBody(IReadOnlyList<string>? EmailProviders, IReadOnlyList<string>? MobileProviders, string? Verifier, bool? VerifyEmails,
        bool? RefundInvalidOnReverify, Dictionary<string, KeyBody?>? Keys);

    private sealed record KeyBody(string? ApiKey, string? ApiKeySetting);
}
