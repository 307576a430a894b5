using System.Text.Json;
using System.Text.Json.Serialization;
using Azure.Storage.Queues;
using CreditFunctions.Api;
using CreditFunctions.Ledger;
using CreditFunctions.Platform;
using CreditFunctions.Waterfall;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace CreditFunctions.Alerts;

/// <summary>
/// Low-balance alerts (DOMAIN rule 10). The ledger decides an alert in the commit that crosses the threshold and keeps
/// it in the wallet until its delivery is acknowledged; this sink puts each fired alert on the alerts queue, and the
/// queue-triggered <see cref="LowBalanceAlertFunctions.DeliverAsync"/> posts it (signed, through the egress guard) and
/// acknowledges it. Delivery is at least once: a receiver dedupes by the alert id (also the delivery header).
/// </summary>
public sealed partial class QueueAlertSink(QueueServiceClient queues, AlertOptions options, ILogger<QueueAlertSink> logger) : ILowBalanceAlertSink
{
    /// <inheritdoc />
    public void Raised(LowBalanceAlert alert) => _ = SendAsync(alert);

    private async Task SendAsync(LowBalanceAlert alert)
    {
        try
        {
            var message = JsonSerializer.Serialize(AlertMessage.From(alert), AlertJson.Options);
            // The app's queue client writes base64, as the queue trigger reads it.
            await queues.GetQueueClient(options.QueueName).SendMessageAsync(message).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The alert stays pending in the wallet; it is offered again when the team's ledger is next loaded.
            LogNotQueued(logger, alert.TeamId, alert.CreditType, ex);
        }
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Low-balance alert of team {TeamId} ({CreditType}) could not be queued")]
    private static partial void LogNotQueued(ILogger logger, string teamId, string creditType, Exception exception);
}

/// <summary>Where fired alerts wait for delivery.</summary>
public sealed record AlertOptions
{
    /// <summary>The setting naming the alerts queue (the queue trigger reads it as <c>%CREDITFUNCTIONS_ALERTS_QUEUE%</c>).</summary>
    public const string QueueSetting = "CREDITFUNCTIONS_ALERTS_QUEUE";

    /// <summary>The queue's name when the setting is not given.</summary>
    public const string DefaultQueue = "low-balance-alerts";

    /// <summary>The alerts queue.</summary>
    public string QueueName { get; init; } = DefaultQueue;

    /// <summary>From configuration.</summary>
    public static AlertOptions From(IConfiguration configuration) =>
        new() { QueueName = configuration[QueueSetting] is { Length: > 0 } name ? name : DefaultQueue };
}

/// <summary>An alert on the queue: everything its delivery needs.</summary>
public sealed record AlertMessage(string TeamId, string CreditType, string AlertId, decimal Threshold, decimal Available, DateTimeOffset At, string WebhookUrl)
{
    /// <summary>The message of a fired alert.</summary>
    public static AlertMessage From(LowBalanceAlert alert) =>
        new(alert.TeamId, alert.CreditType, alert.AlertId, alert.Threshold.Value, alert.Available.Value, alert.At, alert.WebhookUrl);
}

internal static class AlertJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
}

/// <summary>The alerts' delivery and their API: <c>/api/v1/alerts/low-balance</c>.</summary>
public sealed partial class LowBalanceAlertFunctions(LedgerService ledger, WebhookSender webhooks, EgressGuard guard, ApiGate gate,
    ILogger<LowBalanceAlertFunctions> logger)
{
    /// <summary>Posts a fired alert to its webhook and acknowledges it. A receiver that fails (non-2xx, unreachable)
    /// makes the message come back (5 attempts, then the poison queue); a URL the egress guard refuses is acknowledged
    /// and logged, since no retry can change it.</summary>
    [Function("low-balance-alert")]
    public async Task DeliverAsync([QueueTrigger("%" + AlertOptions.QueueSetting + "%")] AlertMessage alert, CancellationToken ct)
    {

        var body = JsonSerializer.Serialize(new
        {
            type = "low_balance",
            alertId = alert.AlertId,
            teamId = alert.TeamId,
            creditType = alert.CreditType,
            threshold = alert.Threshold,
            available = alert.Available,
            at = alert.At,
        }, AlertJson.Options);
        var result = await webhooks.SendAsync(alert.TeamId, alert.WebhookUrl, body, alert.AlertId, ct).ConfigureAwait(false);
        if (!result.Delivered)
        {
            LogRefused(logger, alert.TeamId, alert.CreditType, result.Refused!);
        }
        await ledger.AcknowledgeAlertAsync(alert.TeamId, alert.CreditType, alert.AlertId).ConfigureAwait(false);
    }

    /// <summary>The team's alerts (admin).</summary>
    [Function("alerts-low-balance")]
    public Task<IActionResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/alerts/low-balance")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller => Results.Ok(new { alerts = await ledger.GetAlertsAsync(caller.TeamId, ct) }), ApiAccess.Admin);

    /// <summary>Sets (<c>PUT {threshold, webhookUrl}</c>) or removes (<c>DELETE</c>) the alert of one credit type (admin).</summary>
    [Function("alerts-low-balance-type")]
    public Task<IActionResult> SetAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "put", "delete", Route = "v1/alerts/low-balance/{creditType}")] HttpRequest request, string creditType,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var key = IdempotencyKeys.Read(request, required: false, out var keyProblem);
            if (keyProblem is not null)
            {
                return keyProblem;
            }
            key ??= "alert:" + Guid.NewGuid().ToString("N");
            AlertBody body = new();
            if (!HttpMethods.IsDelete(request.Method))
            {
                var (read, bodyProblem) = await RequestBody.ReadJsonAsync<AlertBody>(request, s_json, ct);
                if (bodyProblem is not null)
                {
                    return bodyProblem;
                }
                body = read ?? new AlertBody();
                if (body.Threshold is null)
                {
                    return Problems.Validation("threshold", "is required (DELETE removes the alert)");
                }
                if (guard.Refusal(body.WebhookUrl) is { } refused)
                {
                    return Problems.Validation("webhookUrl", refused);
                }
            }
            try
            {
                var remove = HttpMethods.IsDelete(request.Method);
                await ledger.SetAlertAsync(new AlertRequest(caller.TeamId, caller.UserId, creditType, remove ? null : body.Threshold,
                    remove ? null : body.WebhookUrl, key));
            }
            catch (LedgerValidationException ex)
            {
                return Problems.Validation(ex.Field, ex.Message);
            }
            return Results.Ok(new { alerts = await ledger.GetAlertsAsync(caller.TeamId, ct) });
        }, ApiAccess.Admin);

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private sealed class AlertBody
    {
        public Credits? Threshold { get; set; }
        public string? WebhookUrl { get; set; }
    }

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Low-balance alert of team {TeamId} ({CreditType}) was not delivered: {Reason}")]
    private static partial void LogRefused(ILogger logger, string teamId, string creditType, string reason);
}

/// <summary>Registers the alerts.</summary>
public static class AlertsSetup
{
    /// <summary>Adds the queue sink the ledger hands fired alerts to. Setting: <c>CREDITFUNCTIONS_ALERTS_QUEUE</c>
    /// (default <c>low-balance-alerts</c>; the queue trigger needs it set, as the local run and the deployment do).</summary>
    public static IServiceCollection AddAlerts(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(AlertOptions.From(configuration));
        services.AddSingleton<ILowBalanceAlertSink, QueueAlertSink>();
        return services;
    }
}
