using System.Text.Json;
using CreditFunctions.Durable;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>
/// The waterfall, as replay code: for each person and each data asked for, (1) data the team owns is returned and
/// recorded as a 0-credit line without asking any provider; (2) otherwise the team's providers are asked in order,
/// an email hit is verified (<c>invalid</c> counts as a miss, <c>catch_all</c> is accepted and labelled), and the
/// first accepted hit is charged (idempotency key = the charge step) and stored; (3) no hit costs nothing. People run
/// in parallel; a bulk run draws its charges from holds placed before it started and releases the rest at the end,
/// then posts the signed results to its webhook.
/// </summary>
public sealed class WaterfallOrchestrator : TaskOrchestrator<WaterfallRun, WaterfallOutput>
{
    /// <summary>The orchestrator's registered name.</summary>
    public const string Name = "Waterfall";

    private static readonly RetryPolicy s_chargeRetry = new(5, TimeSpan.FromSeconds(1)) { BackoffCoefficient = 2 };
    private static readonly RetryPolicy s_webhookRetry = new(6, TimeSpan.FromSeconds(2)) { BackoffCoefficient = 2, MaxRetryInterval = TimeSpan.FromMinutes(1) };

    /// <inheritdoc />
    public override async Task<WaterfallOutput> RunAsync(TaskOrchestrationContext context, WaterfallRun input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var results = new PersonResult?[input.People.Count];
        var progress = new WaterfallProgress(input.People.Count, 0, 0, 0, 0m);
        context.SetCustomStatus(progress);

        async Task RunPersonAsync(WaterfallPerson person)
        {
            var email = input.Data.Contains(WaterfallData.Email) ? FindAsync(context, input, person, WaterfallData.Email) : Task.FromResult<DataResult?>(null);
            var mobile = input.Data.Contains(WaterfallData.Mobile) ? FindAsync(context, input, person, WaterfallData.Mobile) : Task.FromResult<DataResult?>(null);
            var result = new PersonResult(person.Index, person.PersonId, await email, await mobile);
            results[person.Index] = result;
            progress = progress with
            {
                Done = progress.Done + 1,
                EmailsFound = progress.EmailsFound + (IsHit(result.Email) ? 1 : 0),
                MobilesFound = progress.MobilesFound + (IsHit(result.Mobile) ? 1 : 0),
                CreditsCharged = progress.CreditsCharged + (result.Email?.Credits ?? 0) + (result.Mobile?.Credits ?? 0),
            };
            context.SetCustomStatus(progress);
        }

        await Task.WhenAll(input.People.Select(RunPersonAsync));

        if (input.HoldIds is { Count: > 0 } holds)
        {
            await context.CallActivityAsync<int>(WaterfallActivityNames.ReleaseHolds, new HoldsToRelease(input.TeamId, input.UserId, [.. holds.Values]), s_chargeRetry);
        }
        var output = new WaterfallOutput(input.RunId, [.. results.Select(r => r!)], progress, null);
        if (input.WebhookUrl is { } url)
        {
            var body = JsonSerializer.Serialize(new { type = "waterfall.completed", runId = input.RunId, totals = progress, people = output.People }, JsonSerializerOptions.Web);
            try
            {
                await context.CallActivityAsync<int>(WaterfallActivityNames.SendWebhook, new WebhookDelivery(input.TeamId, url, body, input.RunId), s_webhookRetry);
                output = output with { Webhook = "delivered" };
            }
            catch (TaskFailedException)
            {
                output = output with { Webhook = "failed" };
            }
        }
        return output;
    }

    private static bool IsHit(DataResult? result) => result?.Status is "found" or "already_owned";

    private static async Task<DataResult?> FindAsync(TaskOrchestrationContext context, WaterfallRun run, WaterfallPerson person, string data)
    {
        var (feature, action) = run.Plan.For(data);
        var holdId = run.HoldIds?.GetValueOrDefault(WaterfallData.CreditType(data));
        var name = person.Input.FullName ?? $"{person.Input.FirstName} {person.Input.LastName}".Trim();
        var owned = await context.CallActivityAsync<OwnedData?>(WaterfallActivityNames.LookupOwned, new OwnedQuery(run.TeamId, person.PersonId, data));
        if (owned is not null)
        {
            // Rule 2: owned data costs nothing; the ledger still records a 0-credit line for the action.
            var line = await context.CallActivityAsync<ChargeAnswer>(WaterfallActivityNames.ChargeHit,
                new HitToCharge(run.TeamId, run.UserId, feature, action, person.PersonId, name, data, owned.Value, owned.Provider ?? "owned", owned.Verification, null, run.RunId),
                s_chargeRetry);
            return new DataResult { Status = "already_owned", Value = owned.Value, Provider = owned.Provider, Verification = owned.Verification, LineId = line.LineId };
        }

        var tried = new List<ProviderAttempt>();
        var providers = data == WaterfallData.Email ? run.EmailProviders : run.MobileProviders;
        foreach (var provider in providers)
        {
            var answer = await context.CallActivityAsync<ProviderAnswer>(WaterfallActivityNames.AskProvider,
                new ProviderQuestion(run.TeamId, provider, WaterfallData.Capability(data), person.Input));
            if (answer.Outcome != "hit" || answer.Value is null)
            {
                tried.Add(new ProviderAttempt(provider, answer.Outcome, answer.Detail));
                continue;
            }
            string? verification = null;
            if (data == WaterfallData.Email && run.VerifyEmails && run.Verifier is { } verifier)
            {
                var verdict = await context.CallActivityAsync<ProviderAnswer>(WaterfallActivityNames.Verify, new VerifyQuestion(run.TeamId, verifier, answer.Value));
                verification = verdict.Outcome == "verified" ? verdict.Detail : "unknown";
                if (verification == "invalid")
                {
                    tried.Add(new ProviderAttempt(provider, "invalid", verification));
                    continue;
                }
            }
            tried.Add(new ProviderAttempt(provider, "hit", verification));
            var charge = await context.CallActivityAsync<ChargeAnswer>(WaterfallActivityNames.ChargeHit,
                new HitToCharge(run.TeamId, run.UserId, feature, action, person.PersonId, name, data, answer.Value, provider, verification, holdId, run.RunId),
                s_chargeRetry);
            return charge.Status is "found" or "already_owned"
                ? new DataResult { Status = charge.Status, Value = answer.Value, Provider = provider, Verification = verification, Credits = charge.Credits, LineId = charge.LineId, Tried = tried }
                : new DataResult { Status = charge.Status, Tried = tried };
        }
        return new DataResult { Status = "not_found", Tried = tried };
    }
}

/// <summary>Registers the waterfall's orchestrator and activities with the durable runtime.</summary>
public static class WaterfallRegistration
{
    /// <summary>Adds them to <paramref name="registry"/>.</summary>
    public static DurableTaskRegistry AddWaterfall(this DurableTaskRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        return registry
            .AddOrchestrator<WaterfallOrchestrator>(WaterfallOrchestrator.Name)
            .AddActivity<LookupOwnedActivity>(WaterfallActivityNames.LookupOwned)
            .AddActivity<AskProviderActivity>(WaterfallActivityNames.AskProvider)
            .AddActivity<VerifyEmailActivity>(WaterfallActivityNames.Verify)
            .AddActivity<ChargeHitActivity>(WaterfallActivityNames.ChargeHit)
            .AddActivity<ReleaseHoldsActivity>(WaterfallActivityNames.ReleaseHolds)
            .AddActivity<SendWebhookActivity>(WaterfallActivityNames.SendWebhook);
    }
}
