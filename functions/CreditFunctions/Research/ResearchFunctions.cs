using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Api;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace CreditFunctions.Research;

/// <summary><c>POST /api/v1/research</c>: AI research on a person (<c>person</c>, identified like a reveal) or a company
/// (<c>company.domain</c>); <c>refresh</c> buys a new summary even within 30 days; <c>dryRun</c> answers the cost only.</summary>
public sealed class ResearchFunctions(ResearchService research, ApiGate gate)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    [Function("research")]
    public Task<IActionResult> ResearchAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/research")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var (read, key, bodyProblem) = await RequestBody.ReadKeyedJsonAsync<ResearchBody>(request, s_json, ct);
            if (bodyProblem is not null)
            {
                return bodyProblem;
            }
            ResearchBody? body = read;
            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            if (body is null || (body.Person is null) == (body.Company is null))
            {
                return Problems.Validation("person", "Give either a person or a company (with its domain).");
            }
            PersonInput subject;
            if (body.Company is { } company)
            {
                subject = new PersonInput { CompanyDomain = company.Domain };
                if (string.IsNullOrWhiteSpace(company.Domain))
                {
                    errors["company.domain"] = ["Required."];
                }
                else
                {
                    foreach (var (field, messages) in subject.Validate())
                    {
                        errors[field == "companyDomain" ? "company.domain" : "company"] = messages;
                    }
                }
            }
            else
            {
                subject = body.Person!;
                WaterfallApiFunctions.AddPersonErrors(errors, "person", subject);
            }
            if (errors.Count > 0)
            {
                return Problems.Validation(errors);
            }
            var isCompany = body.Company is not null;
            if (body.DryRun == true)
            {
                var (kind, stored, atMost) = await research.QuoteAsync(caller.TeamId, subject, isCompany, body.Refresh == true, ct);
                return Results.Ok(new { dryRun = true, kind, stored, creditType = "ai_research", atMost = atMost.Value, charged = "only when a summary is returned" });
            }
            try
            {
                var result = await research.ResearchAsync(caller.TeamId, caller.UserId, subject, isCompany, body.Refresh == true, key, ct);
                return result.Status switch
                {
                    "insufficient_credits" => Problems.Create(StatusCodes.Status402PaymentRequired, "insufficient-credits", "Not enough credits.",
                        "Research costs 1 ai_research credit; nothing was charged.", new Dictionary<string, object?> { ["creditType"] = "ai_research" }),
                    "spend_limit_reached" => Problems.Create(StatusCodes.Status402PaymentRequired, "spend-limit-reached", "The member's spend limit is reached.",
                        "This research would pass your ai_research limit; nothing was charged.", new Dictionary<string, object?> { ["creditType"] = "ai_research" }),
                    _ => Results.Ok(result),
                };
            }
            catch (IdempotencyKeyReusedException)
            {
                return Problems.IdempotencyKeyReused();
            }
            catch (ResearchUnavailableException ex)
            {
                return Problems.Create(StatusCodes.Status503ServiceUnavailable, "research-unavailable", "The research provider is unavailable.", ex.Message);
            }
        });

    private sealed record ResearchBody(PersonInput? Person, CompanyBody? Company, bool? Refresh, bool? DryRun);

    private sealed record CompanyBody(string? Domain);
}

/// <summary>Registers AI research.</summary>
public static class ResearchSetup
{
    /// <summary>Adds <see cref="ResearchService"/> (its summaries live in the contact store's table).</summary>
    public static IServiceCollection AddResearch(this IServiceCollection services)
    {
        services.AddSingleton<ResearchService>();
        return services;
    }
}
