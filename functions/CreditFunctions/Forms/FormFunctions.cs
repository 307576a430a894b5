using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Api;
using CreditFunctions.Platform;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Forms;

/// <summary>The forms API (<c>/api/v1/forms</c>), the public submission URL (<c>/api/forms/{formId}/submissions</c>,
/// authenticated by the tool's signature instead of an API key) and the submissions queue's function.</summary>
public sealed partial class FormFunctions(FormService forms, EgressGuard guard, ApiGate gate, ILogger<FormFunctions> logger)
{
    /// <summary>Registers a form (admin): <c>{name, source, fieldMap, enrich: {email, phone}, webhookUrl?}</c> → 201 with
    /// the form's id, its submission URL and its signing secret (shown this once).</summary>
    [Function("forms-create")]
    public Task<IActionResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/forms")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var (read, key, bodyProblem) = await RequestBody.ReadKeyedJsonAsync<FormBody>(request, s_json, ct);
            if (bodyProblem is not null)
            {
                return bodyProblem;
            }
            FormBody body = read ?? new FormBody();
            if (Validate(body) is { Count: > 0 } errors)
            {
                return Problems.Validation(errors);
            }
            if (!forms.CanProtectSecrets)
            {
                return Problems.Create(StatusCodes.Status503ServiceUnavailable, "secrets-unavailable", "Secrets cannot be kept here.",
                    "This deployment has no secrets key, so no form signing secret can be stored; nothing was written.");
            }
            var registration = new FormRegistration(body.Name!.Trim(), body.Source!, body.FieldMap!, body.Enrich?.Email ?? true, body.Enrich?.Phone ?? false, body.WebhookUrl);
            try
            {
                var (form, secret) = await forms.RegisterAsync(caller.TeamId, caller.UserId, registration, key, ct);
                var view = FormView(request, form, secret);
                return secret is null ? Results.Ok(view) : Results.Json(view, statusCode: StatusCodes.Status201Created);
            }
            catch (IdempotencyKeyReusedException)
            {
                return Problems.IdempotencyKeyReused();
            }
        }, ApiAccess.Admin);

    /// <summary>The team's form (any key of the team; another team's is 404).</summary>
    [Function("forms-get")]
    public Task<IActionResult> GetAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/forms/{formId}")] HttpRequest request, string formId,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
            await forms.GetAsync(caller.TeamId, formId, ct) is { } form ? Results.Ok(FormView(request, form, null)) : Problems.NotFound("No such form."));

    /// <summary>The form's submissions and their outcomes, newest first (<c>limit</c>, 100, at most 1,000).</summary>
    [Function("forms-submissions-list")]
    public Task<IActionResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/forms/{formId}/submissions")] HttpRequest request,
        string formId, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var limit = 100;
            if (request.Query["limit"] is { Count: > 0 } given && (!int.TryParse(given[0], out limit) || limit is < 1 or > 1000))
            {
                return Problems.Validation("limit", "must be a whole number from 1 to 1000");
            }
            return await forms.ListAsync(caller.TeamId, formId, limit, ct) is { } rows
                ? Results.Ok(new { submissions = rows.Select(r => FormService.View(formId, r)) })
                : Problems.NotFound("No such form.");
        });

    /// <summary>
    /// The public submission URL a form tool calls. No API key: the tool's signature over the body is the
    /// authentication (401 when missing, wrong or stale), 413 over 64 KiB, 400 when neither an email nor first name,
    /// last name and company domain can be read through the form's field map, else 202 once the submission is stored and
    /// queued (the same submission again: 202 with <c>duplicate: true</c>, processed once).
    /// </summary>
    [Function("forms-submit")]
    public async Task<IActionResult> SubmitAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "forms/{formId}/submissions")] HttpRequest request,
        string formId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            var (bytes, tooLarge) = await RequestBody.ReadAsync(request, FormService.BodyBytesMax, ct).ConfigureAwait(false);
            if (tooLarge is not null)
            {
                return new HttpResultAction(tooLarge);
            }
            var uri = $"{request.Scheme}://{request.Host}{request.PathBase}{request.Path}{request.QueryString}";
            var (status, submissionId, detail) = await forms.AcceptAsync(formId, bytes!, name => request.Headers[name].FirstOrDefault(), request.Method, uri, ct)
                .ConfigureAwait(false);
            return new HttpResultAction(status switch
            {
                AcceptStatus.NoSuchForm => Problems.NotFound("No such form."),
                AcceptStatus.BadSignature => Problems.Unauthorized(detail == nameof(SignatureCheck.Stale)
                    ? "The signature is too old (or too far ahead): at most 5 minutes."
                    : "The submission is not signed with this form's secret."),
                AcceptStatus.NotJson => Problems.Validation("body", "must be JSON"),
                AcceptStatus.NoContact => Problems.Validation("email", "no email, nor first name, last name and company domain, could be read through the form's field map"),
                _ => Results.Json(new { submissionId, status = "received", duplicate = status == AcceptStatus.Duplicate }, statusCode: StatusCodes.Status202Accepted),
            });
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            var traceId = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? request.HttpContext.TraceIdentifier;
            LogUnexpected(logger, traceId, ex);
            return new HttpResultAction(Problems.Create(StatusCodes.Status500InternalServerError, "internal-error", "Something went wrong on our side.",
                "The submission may not have been stored; send it again.", new Dictionary<string, object?> { ["traceId"] = traceId }));
        }
    }

    /// <summary>Processes a queued submission (at least once; see <see cref="FormService"/>). A failure (storage, the
    /// webhook's receiver) makes the message come back; after 5 deliveries it goes to the poison queue and the submission
    /// stays listed as it was.</summary>
    [Function("form-submission")]
    public Task ProcessAsync([QueueTrigger("%" + FormOptions.QueueSetting + "%")] FormSubmissionMessage message, CancellationToken ct) =>
        forms.ProcessAsync(message, ct);

    private Dictionary<string, string[]> Validate(FormBody body)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(body.Name) || body.Name.Length > 200)
        {
            errors["name"] = ["is required, at most 200 characters"];
        }
        if (body.Source is null || !FormSources.All.Contains(body.Source))
        {
            errors["source"] = ["must be one of " + string.Join(", ", FormSources.All)];
        }
        if (body.FieldMap is null || body.FieldMap.Count == 0)
        {
            errors["fieldMap"] = ["is required: our field → a path into the tool's payload (" + string.Join(", ", FieldMap.Fields) + ")"];
        }
        else
        {
            foreach (var (field, path) in body.FieldMap)
            {
                if (!FieldMap.Fields.Contains(field))
                {
                    errors["fieldMap." + field] = ["is not a field (" + string.Join(", ", FieldMap.Fields) + ")"];
                }
                else if (FieldMap.Refusal(path) is { } refusal)
                {
                    errors["fieldMap." + field] = [refusal];
                }
            }
            if (!body.FieldMap.ContainsKey("email") && !(body.FieldMap.ContainsKey("companyDomain")
                && (body.FieldMap.ContainsKey("fullName") || (body.FieldMap.ContainsKey("firstName") && body.FieldMap.ContainsKey("lastName")))))
            {
                errors.TryAdd("fieldMap", ["must map email, or first and last name (or fullName) with companyDomain"]);
            }
        }
        if (body.WebhookUrl is not null && guard.Refusal(body.WebhookUrl) is { } refused)
        {
            errors["webhookUrl"] = [refused];
        }
        return errors;
    }

    private static object FormView(HttpRequest request, FormRow form, string? secret) => new
    {
        id = form.FormId,
        name = form.Name,
        source = form.Source,
        fieldMap = form.FieldMap(),
        enrich = new { email = form.EnrichEmail, phone = form.EnrichPhone },
        webhookUrl = form.WebhookUrl,
        submissionUrl = $"{request.Scheme}://{request.Host}{request.PathBase}/api/forms/{form.FormId}/submissions",
        signingSecret = secret,
        createdAt = form.CreatedAt,
        replayed = secret is null ? true : (bool?)null,
    };

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private sealed class FormBody
    {
        public string? Name { get; set; }
        public string? Source { get; set; }
        public Dictionary<string, string>? FieldMap { get; set; }
        public EnrichBody? Enrich { get; set; }
        public string? WebhookUrl { get; set; }
    }

    private sealed class EnrichBody
    {
        public bool? Email { get; set; }
        public bool? Phone { get; set; }
    }

    [LoggerMessage(EventId = 6001, Level = LogLevel.Error, Message = "A form submission failed unexpectedly (trace {TraceId})")]
    private static partial void LogUnexpected(ILogger logger, string traceId, Exception exception);
}

/// <summary>Registers forms.</summary>
public static class FormsSetup
{
    /// <summary>Adds the form store and service. Settings: <c>CREDITFUNCTIONS_INBOUND_TABLE</c> (default <c>inbound</c>),
    /// <c>CREDITFUNCTIONS_FORMS_QUEUE</c> (default <c>form-submissions</c>; the queue trigger needs it set, as the local
    /// run and the deployment do).</summary>
    public static IServiceCollection AddForms(this IServiceCollection services, IConfiguration configuration)
    {
        var options = FormOptions.From(configuration);
        services.AddSingleton(options);
        services.AddSingleton(sp => new FormStore(sp.GetRequiredService<Azure.Data.Tables.TableServiceClient>().GetTableClient(options.TableName),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<FormService>();
        return services;
    }
}
