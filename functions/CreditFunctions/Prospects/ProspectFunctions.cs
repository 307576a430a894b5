using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Api;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace CreditFunctions.Prospects;

/// <summary>
/// The prospecting API: lists (<c>/api/v1/lists</c>, members, CSV exports), sequences (<c>/api/v1/sequences</c>,
/// enrollments), CRM exports (<c>/api/v1/crm/exports</c>), combined actions (<c>/api/v1/prospects/actions</c>) and saved
/// searches (<c>/api/v1/saved-searches</c>). Leads are given as <c>people</c> (identifiers, like a reveal) and/or
/// <c>contactIds</c>, at most <see cref="ProspectService.LeadsMax"/> a request; every charging route answers its cost
/// without acting when asked with <c>"dryRun": true</c> and takes an <c>Idempotency-Key</c>.
/// </summary>
public sealed class ProspectFunctions(ProspectStore store, ProspectService prospects, ListExportService exports, ApiGate gate)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>500 people with their identifiers fit well under 1 MiB.</summary>
    private const int LeadsBodyLimitBytes = 1024 * 1024;

    /// <summary>Makes a list: <c>{name}</c> → 201.</summary>
    [Function("lists-create")]
    public Task<IActionResult> CreateListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = "v1/lists")] HttpRequest request,
        CancellationToken ct) =>
        CollectionsAsync(request, CollectionKind.List, ct);

    /// <summary>The list with its member count.</summary>
    [Function("lists-get")]
    public Task<IActionResult> GetListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/lists/{id}")] HttpRequest request, string id,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller => await store.GetAsync(caller.TeamId, CollectionKind.List, id, ct) is { } list
            ? Results.Ok(new { id = list.Id, name = list.Name, createdAt = list.CreatedAt, createdBy = list.CreatedBy, members = await store.CountAsync(caller.TeamId, id, ct) })
            : Problems.NotFound($"No list '{id}' in this team."));

    /// <summary>Adds leads to the list (1 email credit per lead whose email is not owned, when found) or, with GET, pages
    /// its members (<c>?limit=</c> 1–500, <c>?cursor=</c>).</summary>
    [Function("lists-members")]
    public Task<IActionResult> ListMembersAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = "v1/lists/{id}/members")] HttpRequest request,
        string id, CancellationToken ct) =>
        HttpMethods.IsGet(request.Method) ? MembersPageAsync(request, CollectionKind.List, id, ct)
            : ActAsync(request, _ => [new ProspectAction(ProspectAction.AddToList, id)], ct);

    /// <summary>Takes a lead off the list (nothing is refunded: the email stays owned).</summary>
    [Function("lists-member-remove")]
    public Task<IActionResult> RemoveMemberAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/lists/{id}/members/{contactId}")] HttpRequest request, string id, string contactId,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await store.GetAsync(caller.TeamId, CollectionKind.List, id, ct) is null)
            {
                return Problems.NotFound($"No list '{id}' in this team.");
            }
            return await store.RemoveMemberAsync(caller.TeamId, id, contactId, ct) ? Results.NoContent() : Problems.NotFound($"'{contactId}' is not on this list.");
        });

    /// <summary>Exports the list to CSV: <c>{enrich, phone, maxCredits?, dryRun?}</c> → the file's download link.</summary>
    [Function("lists-export")]
    public Task<IActionResult> ExportListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/lists/{id}/exports")] HttpRequest request,
        string id, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var (body, key, problem) = await RequestBody.ReadKeyedJsonAsync<ExportBody>(request, s_json, ct);
            if (problem is not null)
            {
                return problem;
            }
            body ??= new ExportBody(null, null, null, null);
            if (body.Phone == true && body.Enrich != true)
            {
                return Problems.Validation("phone", "Phone numbers are looked up only in an enriched export (enrich: true).");
            }
            if (body.MaxCredits is { } max && max < Credits.Zero)
            {
                return Problems.Validation("maxCredits", "Must be 0 or more.");
            }
            try
            {
                return Results.Ok(await exports.ExportAsync(caller.TeamId, caller.UserId, id, body.Enrich == true, body.Phone == true, body.MaxCredits,
                    body.DryRun == true, key, ct));
            }
            catch (ProspectTargetNotFoundException missing)
            {
                return Problems.NotFound(missing.Message);
            }
            catch (ListTooLargeToEnrichException tooLarge)
            {
                return Problems.Create(StatusCodes.Status422UnprocessableEntity, "list-too-large-to-enrich", "The list is too large to enrich here.", tooLarge.Message);
            }
            catch (ExportOverMaxCreditsException over)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "quote-exceeds-max-credits", "The export could cost more than maxCredits.", over.Message);
            }
            catch (WaterfallRefusedException refused)
            {
                return WaterfallApiFunctions.InsufficientCredits(refused);
            }
            catch (IdempotencyKeyReusedException)
            {
                return Problems.IdempotencyKeyReused();
            }
        });

    /// <summary>Makes a sequence (<c>{name}</c> → 201) or lists the team's.</summary>
    [Function("sequences")]
    public Task<IActionResult> SequencesAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = "v1/sequences")] HttpRequest request,
        CancellationToken ct) =>
        CollectionsAsync(request, CollectionKind.Sequence, ct);

    /// <summary>Enrolls leads (1 email credit only for a lead whose email is not owned yet, when found; a lead without an
    /// email is not enrolled) or, with GET, pages the enrollments.</summary>
    [Function("sequences-enrollments")]
    public Task<IActionResult> EnrollAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = "v1/sequences/{id}/enrollments")] HttpRequest request,
        string id, CancellationToken ct) =>
        HttpMethods.IsGet(request.Method) ? MembersPageAsync(request, CollectionKind.Sequence, id, ct)
            : ActAsync(request, _ => [new ProspectAction(ProspectAction.AddToSequence, id)], ct);

    /// <summary>Pushes leads to the team's CRM (1 email credit per lead whose email is not owned, when found).</summary>
    [Function("crm-exports")]
    public Task<IActionResult> CrmExportAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/crm/exports")] HttpRequest request,
        CancellationToken ct) =>
        ActAsync(request, _ => [new ProspectAction(ProspectAction.ExportToCrm)], ct);

    /// <summary>Several actions on the same leads, each lead charged once for its email whichever are combined:
    /// <c>{people, contactIds, actions: [{type: "add_to_list", listId}, {type: "export_to_crm"}, {type: "add_to_sequence", sequenceId}]}</c>.</summary>
    [Function("prospects-actions")]
    public Task<IActionResult> CombinedAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/prospects/actions")] HttpRequest request,
        CancellationToken ct) =>
        ActAsync(request, null, ct);

    /// <summary>Saves a search (<c>{name, query}</c>, free) or lists the team's.</summary>
    [Function("saved-searches")]
    public Task<IActionResult> SavedSearchesAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = "v1/saved-searches")] HttpRequest request,
        CancellationToken ct) =>
        CollectionsAsync(request, CollectionKind.SavedSearch, ct);

    private Task<IActionResult> CollectionsAsync(HttpRequest request, CollectionKind kind, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (HttpMethods.IsGet(request.Method))
            {
                var all = await store.ListAsync(caller.TeamId, kind, ct);
                return Results.Ok(new Dictionary<string, object>
                {
                    [kind switch { CollectionKind.List => "lists", CollectionKind.Sequence => "sequences", _ => "savedSearches" }] = all.Select(View),
                });
            }
            var (body, problem) = await RequestBody.ReadJsonAsync<CollectionBody>(request, s_json, ct);
            if (problem is not null)
            {
                return problem;
            }
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            if (body?.Name is not { } name || name.Trim().Length is 0 or > 200)
            {
                errors["name"] = ["Required, 1–200 characters."];
            }
            if (kind == CollectionKind.SavedSearch && body?.Query is not { ValueKind: JsonValueKind.Object })
            {
                errors["query"] = ["Required: the search's filters, as a JSON object."];
            }
            else if (kind != CollectionKind.SavedSearch && body?.Query is not null)
            {
                errors["query"] = ["Only a saved search has a query."];
            }
            if (errors.Count > 0)
            {
                return Problems.Validation(errors);
            }
            try
            {
                var row = await store.CreateAsync(caller.TeamId, kind, body!.Name!.Trim(), caller.UserId, body.Query?.GetRawText(), ct);
                return Results.Json(View(row), statusCode: StatusCodes.Status201Created);
            }
            catch (InvalidOperationException full)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "too-many", "The team keeps too many of these.", full.Message);
            }
        });

    private Task<IActionResult> MembersPageAsync(HttpRequest request, CollectionKind kind, string id, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            if (await store.GetAsync(caller.TeamId, kind, id, ct) is null)
            {
                return Problems.NotFound($"No {(kind == CollectionKind.List ? "list" : "sequence")} '{id}' in this team.");
            }
            var limit = 100;
            if (request.Query["limit"] is { Count: > 0 } l && (!int.TryParse(l, out limit) || limit is < 1 or > 500))
            {
                return Problems.Validation("limit", "Must be a whole number from 1 to 500.");
            }
            var cursor = request.Query["cursor"] is { Count: > 0 } c ? c.ToString() : null;
            var page = await store.MembersAsync(caller.TeamId, id, cursor, limit, ct);
            return Results.Ok(new
            {
                members = page.Select(m => new { contactId = m.ContactId, name = m.Name, email = m.Email, addedAt = m.AddedAt, addedBy = m.AddedBy }),
                cursor = page.Count == limit ? page[^1].ContactId : null,
            });
        });

    /// <summary>A charging route on leads: <paramref name="fixedActions"/>, or null for the actions of the body.</summary>
    private Task<IActionResult> ActAsync(HttpRequest request, Func<LeadsBody, IReadOnlyList<ProspectAction>>? fixedActions, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var (body, key, problem) = await RequestBody.ReadKeyedJsonAsync<LeadsBody>(request, s_json, ct, LeadsBodyLimitBytes);
            if (problem is not null)
            {
                return problem;
            }
            body ??= new LeadsBody();
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            var leads = ReadLeads(body, errors);
            if (fixedActions is null)
            {
                ValidateActions(body.Actions, errors);
            }
            else if (body.Actions is not null)
            {
                errors["actions"] = ["Only /api/v1/prospects/actions takes actions."];
            }
            if (errors.Count > 0)
            {
                return Problems.Validation(errors);
            }
            try
            {
                var actions = fixedActions?.Invoke(body) ?? [.. body.Actions!.Select(a => new ProspectAction(a.Type!,
                    a.Type == ProspectAction.AddToList ? a.ListId : a.Type == ProspectAction.AddToSequence ? a.SequenceId : null))];
                return Results.Ok(await prospects.ApplyAsync(caller.TeamId, caller.UserId, leads, actions, body.DryRun == true, key, ct));
            }
            catch (ProspectTargetNotFoundException missing)
            {
                return Problems.NotFound(missing.Message);
            }
            catch (WaterfallRefusedException refused)
            {
                return WaterfallApiFunctions.InsufficientCredits(refused);
            }
            catch (IdempotencyKeyReusedException)
            {
                return Problems.IdempotencyKeyReused();
            }
            catch (CrmUnavailableException unavailable)
            {
                return Problems.Create(StatusCodes.Status503ServiceUnavailable, "crm-unavailable", "The CRM is not available.", unavailable.Message);
            }
        });

    private static List<LeadInput> ReadLeads(LeadsBody body, Dictionary<string, string[]> errors)
    {
        var leads = new List<LeadInput>();
        for (var i = 0; i < (body.People?.Count ?? 0); i++)
        {
            var person = body.People![i];
            var field = $"people[{i}]";
            WaterfallApiFunctions.AddPersonErrors(errors, field, person);
            leads.Add(new LeadInput(null, person));
        }
        for (var i = 0; i < (body.ContactIds?.Count ?? 0); i++)
        {
            var id = body.ContactIds![i];
            if (id is not { Length: 26 } || !id.StartsWith("p_", StringComparison.Ordinal) || id.AsSpan(2).ContainsAnyExcept(ProspectStore.LowerHex))
            {
                errors[$"contactIds[{i}]"] = ["Not a contact id (p_ and 24 hex digits)."];
            }
            leads.Add(new LeadInput(id, null));
        }
        if (leads.Count == 0)
        {
            errors.TryAdd("people", ["Give at least one lead in people or contactIds."]);
        }
        else if (leads.Count > ProspectService.LeadsMax)
        {
            errors["people"] = [$"At most {ProspectService.LeadsMax} leads a request (people and contactIds together)."];
        }
        return leads;
    }

    private static void ValidateActions(IReadOnlyList<ActionBody>? actions, Dictionary<string, string[]> errors)
    {
        if (actions is not { Count: > 0 })
        {
            errors["actions"] = ["Give at least one action."];
            return;
        }
        if (actions.Count > 10)
        {
            errors["actions"] = ["At most 10 actions."];
            return;
        }
        for (var i = 0; i < actions.Count; i++)
        {
            var action = actions[i];
            var field = $"actions[{i}]";
            switch (action?.Type)
            {
                case ProspectAction.AddToList when action.ListId is null:
                    errors[field + ".listId"] = ["Required for add_to_list."];
                    break;
                case ProspectAction.AddToSequence when action.SequenceId is null:
                    errors[field + ".sequenceId"] = ["Required for add_to_sequence."];
                    break;
                case ProspectAction.AddToList or ProspectAction.AddToSequence or ProspectAction.ExportToCrm:
                    break;
                default:
                    errors[field + ".type"] = [$"Must be one of {string.Join(", ", ProspectAction.Types)}."];
                    break;
            }
        }
    }

    private static object View(CollectionRow row) => row.QueryJson is { } query
        ? new { id = row.Id, name = row.Name, createdAt = row.CreatedAt, createdBy = row.CreatedBy, query = JsonDocument.Parse(query).RootElement }
        : new { id = row.Id, name = row.Name, createdAt = row.CreatedAt, createdBy = row.CreatedBy };

    private sealed record LeadsBody
    {
        public IReadOnlyList<PersonInput>? People { get; init; }

        public IReadOnlyList<string>? ContactIds { get; init; }

        public IReadOnlyList<ActionBody>? Actions { get; init; }

        public bool? DryRun { get; init; }
    }

    private sealed record ActionBody(string? Type, string? ListId, string? SequenceId);

    private sealed record CollectionBody(string? Name, JsonElement? Query);

    private sealed record ExportBody(bool? Enrich, bool? Phone, Credits? MaxCredits, bool? DryRun);
}

/// <summary>Registers lists, sequences, CRM exports and saved searches.</summary>
public static class ProspectSetup
{
    /// <summary>Adds the prospecting services (their rows live in the enrichment table, beside the team's contacts).</summary>
    public static IServiceCollection AddProspects(this IServiceCollection services, IConfiguration configuration)
    {
        var crm = CrmOptions.From(configuration);
        services.AddSingleton(crm);
        services.AddSingleton(sp => new CrmClient(new HttpClient { Timeout = TimeSpan.FromSeconds(30) }, crm));
        services.AddSingleton(sp => new ProspectStore(sp.GetRequiredService<ContactStore>().Table, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ProspectService>();
        services.AddSingleton<ListExportService>();
        return services;
    }
}
