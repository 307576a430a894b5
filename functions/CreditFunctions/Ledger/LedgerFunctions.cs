using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CreditFunctions.Api;
using CreditFunctions.Auth;
using CsvHelper;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace CreditFunctions.Ledger;

/// <summary>
/// <c>/api/v1/credits</c>: balances, grants, charges, refunds, holds, usage history (JSON, CSV, summary, filters) and
/// verification, one HTTP function per route. Functions only adapt HTTP to <see cref="LedgerService"/>. Every write needs an <c>Idempotency-Key</c>
/// header; a bad field is a 400 naming it and nothing is written.
/// </summary>
public sealed class LedgerFunctions(LedgerService ledger, Catalog catalog, TeamStore teams, ApiKeyStore keys, ApiGate gate)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private const string CreditsRoute = "v1/credits";

    [Function("credits-balances")]
    public Task<IActionResult> BalancesAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = CreditsRoute + "/balances")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller => Results.Ok(new { teamId = caller.TeamId, balances = await ledger.GetBalancesAsync(caller.TeamId, ct) }));

    [Function("credits-grants")]
    public Task<IActionResult> GrantAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = CreditsRoute + "/grants")] HttpRequest request) =>
        gate.RunAsync(request, caller => WriteAsync<GrantBody>(request.HttpContext, async (body, key) =>
            await ledger.GrantAsync(new GrantRequest(await ExistingTeamAsync(body.TeamId), OperatorUser(caller), body.CreditType ?? string.Empty,
                body.Amount ?? Credits.Zero, body.Kind ?? GrantKind.TopUp, key) { Priority = body.Priority, ExpiresAt = body.ExpiresAt, Description = body.Description })),
            ApiAccess.Operator);

    [Function("credits-charges")]
    public Task<IActionResult> ChargeAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = CreditsRoute + "/charges")] HttpRequest request) =>
        gate.RunAsync(request, caller => WriteAsync<ChargeBody>(request.HttpContext, (body, key) =>
            ledger.ChargeAsync(new ChargeRequest(caller.TeamId, caller.UserId, body.Feature ?? string.Empty, BuysNoData(body.Feature, body.Action), key)
            {
                SubjectId = body.SubjectId, Description = body.Description, RelatedRecord = body.RelatedRecord, HoldId = body.HoldId,
            })));

    /// <summary>
    /// The generic route charges for services only: an action whose catalog entry buys data (it has a <c>dataType</c>,
    /// and owning that data makes later actions free) is charged by the feature that delivers the data — a reveal, a
    /// waterfall, a CSV job — never by a caller who merely says it happened.
    /// </summary>
    private string BuysNoData(string? feature, string? action) =>
        catalog.Find(feature ?? string.Empty, action ?? string.Empty) is { DataType: { } dataType }
            ? throw new LedgerValidationException("action",
                $"buys {dataType} data: it is charged by the feature that delivers the data (reveal, waterfall, CSV job, …), not through this route")
            : action ?? string.Empty;

    [Function("credits-refunds")]
    public Task<IActionResult> RefundAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = CreditsRoute + "/refunds")] HttpRequest request) =>
        gate.RunAsync(request, caller => WriteAsync<RefundBody>(request.HttpContext, async (body, key) =>
            await ledger.RefundAsync(new RefundRequest(await ExistingTeamAsync(body.TeamId), OperatorUser(caller), body.ChargeId ?? string.Empty,
                body.Reason ?? string.Empty, key)
            {
                Amount = body.Amount, SubjectId = body.SubjectId,
            })), ApiAccess.Operator);

    // The ledger records who moved the credits: the operator, never a team's user.
    private static string OperatorUser(CallerContext caller) => "operator." + caller.UserId;

    /// <summary>The team a platform action names; a missing or unknown team refuses it before anything is written.</summary>
    private async Task<string> ExistingTeamAsync(string? teamId)
    {
        if (string.IsNullOrEmpty(teamId))
        {
            throw new LedgerValidationException("teamId", "is required: the team whose credits move");
        }
        return AuthInput.IsTeamId(teamId) && teamId != AuthInput.PlatformTeamId && await teams.GetAsync(teamId).ConfigureAwait(false) is not null
            ? teamId
            : throw new LedgerValidationException("teamId", "is not a team");
    }

    [Function("credits-holds")]
    public Task<IActionResult> HoldsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", Route = CreditsRoute + "/holds")] HttpRequest request,
        CancellationToken ct) =>
        HttpMethods.IsGet(request.Method)
            ? gate.RunAsync(request, async caller =>
            {
                var limit = 100;
                if (request.Query["limit"] is { Count: > 0 } l && (!int.TryParse(l.ToString(), CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 1000))
                {
                    return Problems.Validation("limit", "must be a whole number from 1 to 1000");
                }
                // A member sees the holds they placed; an admin all of the team's.
                return Results.Ok(new { holds = await ledger.ListOpenHoldsAsync(caller.TeamId, caller.VisibleUserId, limit, ct) });
            })
            : gate.RunAsync(request, caller => WriteAsync<HoldBody>(request.HttpContext, (body, key) =>
                ledger.PlaceHoldAsync(new HoldRequest(caller.TeamId, caller.UserId, body.Feature ?? string.Empty, body.Action ?? string.Empty,
                    body.Amount ?? Credits.Zero, body.ExpiresAt ?? default, key) { Description = body.Description, RelatedRecord = body.RelatedRecord })));

    [Function("credits-hold-capture")]
    public Task<IActionResult> CaptureHoldAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = CreditsRoute + "/holds/{holdId}/capture")] HttpRequest request, string holdId) =>
        gate.RunAsync(request, async caller => await MayControlAsync(caller, holdId) ?? await WriteAsync<CaptureBody>(request.HttpContext, (body, key) =>
            ledger.CaptureHoldAsync(new CaptureRequest(caller.TeamId, caller.UserId, holdId, body.Amount ?? throw new LedgerValidationException("amount", "is required"), key))));

    [Function("credits-hold-void")]
    public Task<IActionResult> VoidHoldAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = CreditsRoute + "/holds/{holdId}/void")] HttpRequest request, string holdId) =>
        gate.RunAsync(request, async caller => await MayControlAsync(caller, holdId) ?? await WriteAsync<VoidBody>(request.HttpContext, (_, key) =>
            ledger.VoidHoldAsync(new VoidRequest(caller.TeamId, caller.UserId, holdId, key))));

    /// <summary>Null when the caller may capture or void the hold (its creator or an admin; an unknown hold is left to
    /// the ledger's 404); otherwise the 403.</summary>
    private async Task<IResult?> MayControlAsync(CallerContext caller, string holdId) =>
        !caller.IsAdmin && await ledger.GetHoldAsync(caller.TeamId, holdId).ConfigureAwait(false) is { } hold && hold.UserId != caller.UserId
            ? Problems.Forbidden("Only the member who placed the hold, or an admin, may capture or void it.")
            : null;

    /// <summary>A member's spend limits: the member or an admin reads them; an admin sets (<c>PUT</c>, one credit type and
    /// period) or removes (<c>DELETE ?creditType=</c>) one.</summary>
    [Function("limits-member")]
    public Task<IActionResult> MemberLimitsAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "put", "delete", Route = "v1/limits/members/{userId}")] HttpRequest request, string userId,
        CancellationToken ct)
    {
        if (HttpMethods.IsGet(request.Method))
        {
            return gate.RunAsync(request, async caller => caller.VisibleUserId is { } self && self != userId
                ? Problems.Forbidden("A member sees only their own limits.")
                : Results.Ok(new { userId, limits = await ledger.GetMemberLimitsAsync(caller.TeamId, userId, ct) }));
        }
        var remove = HttpMethods.IsDelete(request.Method);
        return gate.RunAsync(request, async caller => await UnknownMemberAsync(caller, userId, ct) ?? await WriteAsync<LimitBody>(request.HttpContext, (body, key) =>
        {
            var creditType = remove ? request.Query["creditType"].ToString() : body.CreditType ?? string.Empty;
            var amount = remove ? (Credits?)null : body.Amount ?? throw new LedgerValidationException("amount", "is required (DELETE removes a limit)");
            return ledger.SetMemberLimitAsync(new MemberLimitRequest(caller.TeamId, caller.UserId, userId, creditType, amount,
                remove ? SpendPeriods.Month : body.Period ?? SpendPeriods.Month, key), ct);
        }), ApiAccess.Admin);
    }

    /// <summary>Every spend limit of the team (admin).</summary>
    [Function("limits")]
    public Task<IActionResult> LimitsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/limits")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller => Results.Ok(new { limits = await ledger.GetMemberLimitsAsync(caller.TeamId, null, ct) }), ApiAccess.Admin);

    /// <summary>Null when <paramref name="userId"/> holds a key of the caller's team; otherwise the 404 (a limit on nobody
    /// is a typo, never stored).</summary>
    private async Task<IResult?> UnknownMemberAsync(CallerContext caller, string userId, CancellationToken ct) =>
        (await keys.ListAsync(caller.TeamId, ct).ConfigureAwait(false)).Any(k => k.UserId == userId)
            ? null
            : Problems.NotFound($"No member '{userId}' in this team.");

    [Function("credits-usage")]
    public Task<IActionResult> UsageAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = CreditsRoute + "/usage")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, caller => ReadAsync(request.HttpContext, caller, async query => Results.Ok(await ledger.QueryUsageAsync(query, ct))));

    [Function("credits-usage-csv")]
    public Task<IActionResult> UsageCsvAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = CreditsRoute + "/usage.csv")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, caller => ReadAsync(request.HttpContext, caller, query =>
            Task.FromResult<IResult>(new UsageCsvResult(ledger.StreamUsageAsync(query with { Cursor = null }, ct)))));

    [Function("credits-usage-summary")]
    public Task<IActionResult> UsageSummaryAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = CreditsRoute + "/usage/summary")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, caller => ReadAsync(request.HttpContext, caller, async query =>
        {
            if (request.Query["interval"] is { Count: > 0 } interval && interval.ToString() != "day")
            {
                return Problems.Validation("interval", "must be 'day'");
            }
            return Results.Ok(new { interval = "day", series = await ledger.SummarizeUsageAsync(query with { IncludeRefunds = true }, ct) });
        }));

    [Function("credits-usage-filters")]
    public Task<IActionResult> UsageFiltersAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = CreditsRoute + "/usage/filters")] HttpRequest request, CancellationToken ct) =>
        gate.RunAsync(request, async caller =>
        {
            var (actions, users) = await ledger.GetUsedFiltersAsync(caller.TeamId, caller.VisibleUserId, ct);
            return Results.Ok(new
            {
                features = actions.GroupBy(a => (a.Feature, a.FeatureName)).Select(f => new
                {
                    id = f.Key.Feature, name = f.Key.FeatureName, actions = f.Select(a => new { id = a.Action, name = a.ActionName }),
                }),
                users,
            });
        });

    [Function("credits-verify")]
    public Task<IActionResult> VerifyAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = CreditsRoute + "/verify")] HttpRequest request,
        CancellationToken ct) =>
        gate.RunAsync(request, async caller => Results.Ok(await ledger.VerifyAsync(caller.TeamId, ct)), ApiAccess.Admin);

    private static async Task<IResult> WriteAsync<TBody>(HttpContext http, Func<TBody, string, Task<LedgerResult>> send)
        where TBody : class, new()
    {
        var key = IdempotencyKeys.Read(http.Request, required: true, out var keyProblem);
        if (keyProblem is not null || key is null)
        {
            return keyProblem!;
        }
        var (read, bodyProblem) = await RequestBody.ReadJsonAsync<TBody>(http.Request, s_json, http.RequestAborted);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }
        TBody? body = read ?? new TBody();
        try
        {
            return ToHttp(await send(body, key));
        }
        catch (LedgerValidationException ex)
        {
            return Problems.Validation(ex.Field, ex.Message);
        }
    }

    private static async Task<IResult> ReadAsync(HttpContext http, CallerContext caller, Func<UsageQuery, Task<IResult>> read)
    {
        var q = http.Request.Query;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        DateTimeOffset? Date(string name)
        {
            if (q[name] is not { Count: > 0 } v)
            {
                return null;
            }
            if (DateTimeOffset.TryParse(v.ToString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d))
            {
                return d;
            }
            errors[name] = ["must be an ISO 8601 date or date-time"];
            return null;
        }
        var from = Date("from");
        var to = Date("to");
        var limit = 50;
        if (q["limit"] is { Count: > 0 } l && (!int.TryParse(l.ToString(), CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 500))
        {
            errors["limit"] = ["must be a whole number from 1 to 500"];
        }
        var includeRefunds = false;
        if (q["includeRefunds"] is { Count: > 0 } r && !bool.TryParse(r.ToString(), out includeRefunds))
        {
            errors["includeRefunds"] = ["must be true or false"];
        }
        var user = q["user"] is { Count: > 0 } u ? u.ToString() : null;
        if (caller.VisibleUserId is { } self)
        {
            if (user is not null && user != self)
            {
                return Problems.Forbidden("A member sees only their own usage.");
            }
            user = self;
        }
        if (errors.Count > 0)
        {
            return Problems.Validation(errors);
        }
        try
        {
            return await read(new UsageQuery(caller.TeamId)
            {
                From = from, To = to, UserId = user, Feature = q["feature"] is { Count: > 0 } f ? f.ToString() : null,
                Action = q["action"] is { Count: > 0 } a ? a.ToString() : null, IncludeRefunds = includeRefunds, Limit = limit,
                Cursor = q["cursor"] is { Count: > 0 } c ? c.ToString() : null,
            });
        }
        catch (LedgerValidationException ex)
        {
            return Problems.Validation(ex.Field, ex.Message);
        }
    }

    /// <summary>Maps a ledger outcome to its HTTP answer: successes 200 (201 when new), refusals a problem.</summary>
    private static IResult ToHttp(LedgerResult result) => result.Status switch
    {
        LedgerStatus.InsufficientCredits => Problems.Create(StatusCodes.Status402PaymentRequired, "insufficient-credits", "Not enough credits.",
            $"The {result.CreditType} balance is {result.Shortfall} short; nothing was charged.",
            new Dictionary<string, object?> { ["creditType"] = result.CreditType, ["shortfall"] = result.Shortfall?.Value }),
        LedgerStatus.SpendLimitReached => Problems.Create(StatusCodes.Status402PaymentRequired, "spend-limit-reached", "The member's spend limit is reached.",
            $"This would pass the member's {result.CreditType} limit of {result.SpendLimit} per {result.LimitPeriod} by {result.Shortfall}; nothing was spent.",
            new Dictionary<string, object?>
            {
                ["creditType"] = result.CreditType, ["limit"] = result.SpendLimit?.Value, ["period"] = result.LimitPeriod, ["shortfall"] = result.Shortfall?.Value,
            }),
        LedgerStatus.ExistsWithDifferentParameters => Problems.Create(StatusCodes.Status409Conflict, "idempotency-key-reused",
            "The Idempotency-Key was used with other parameters.", "Use a new key for a new operation; nothing was changed."),
        LedgerStatus.ChargeNotFound => Problems.NotFound("There is no such charge."),
        LedgerStatus.HoldNotFound => Problems.NotFound("There is no such hold."),
        LedgerStatus.RefundExceedsCharge => Problems.Create(StatusCodes.Status409Conflict, "refund-exceeds-charge",
            "The refund exceeds what is left of the charge.", "A charge is refunded at most by what it cost, minus earlier refunds."),
        LedgerStatus.HoldAlreadyCaptured or LedgerStatus.HoldAlreadyVoided or LedgerStatus.HoldExpired or LedgerStatus.CaptureExceedsHold
            or LedgerStatus.HoldExhausted =>
            Problems.Create(StatusCodes.Status409Conflict, HoldProblem(result.Status), "The hold cannot be used for this.", HoldDetail(result.Status)),
        LedgerStatus.HoldCreditTypeMismatch => Problems.Validation("holdId", $"is a hold of another credit type; this action spends {result.CreditType} credits"),
        _ => result.Replayed ? Results.Ok(ToView(result)) : Results.Json(ToView(result), statusCode: StatusCodes.Status201Created),
    };

    private static string HoldProblem(LedgerStatus status) => status switch
    {
        LedgerStatus.HoldAlreadyCaptured => "hold-already-captured",
        LedgerStatus.HoldAlreadyVoided => "hold-already-voided",
        LedgerStatus.HoldExpired => "hold-expired",
        LedgerStatus.HoldExhausted => "hold-exhausted",
        _ => "capture-exceeds-hold",
    };

    private static string HoldDetail(LedgerStatus status) => status switch
    {
        LedgerStatus.HoldAlreadyCaptured => "The hold was captured already; nothing was charged.",
        LedgerStatus.HoldAlreadyVoided => "The hold was voided already; nothing was charged.",
        LedgerStatus.HoldExpired => "The hold expired and released its credits; nothing was charged.",
        LedgerStatus.HoldExhausted => "Less than the price is left of the hold; nothing was charged.",
        _ => "A capture is at most what is left of the hold after its draws.",
    };

    private static object ToView(LedgerResult r) => new
    {
        status = JsonNamingPolicy.SnakeCaseLower.ConvertName(r.Status.ToString()),
        creditType = r.CreditType,
        amount = r.Amount,
        lineId = r.LineId,
        holdId = r.HoldId,
        holdRemaining = r.HoldRemaining,
        released = r.Released,
        availableAfter = r.AvailableAfter,
        replayed = r.Replayed,
    };

    private sealed class GrantBody
    {
        public string? TeamId { get; set; }
        public string? CreditType { get; set; }
        public Credits? Amount { get; set; }
        public GrantKind? Kind { get; set; }
        public int? Priority { get; set; }
        public DateTimeOffset? ExpiresAt { get; set; }
        public string? Description { get; set; }
    }

    private sealed class ChargeBody
    {
        public string? Feature { get; set; }
        public string? Action { get; set; }
        public string? SubjectId { get; set; }
        public string? Description { get; set; }
        public string? RelatedRecord { get; set; }
        public string? HoldId { get; set; }
    }

    private sealed class RefundBody
    {
        public string? TeamId { get; set; }
        public string? ChargeId { get; set; }
        public Credits? Amount { get; set; }
        public string? Reason { get; set; }
        public string? SubjectId { get; set; }
    }

    private sealed class HoldBody
    {
        public string? Feature { get; set; }
        public string? Action { get; set; }
        public Credits? Amount { get; set; }
        public DateTimeOffset? ExpiresAt { get; set; }
        public string? Description { get; set; }
        public string? RelatedRecord { get; set; }
    }

    private sealed class CaptureBody
    {
        public Credits? Amount { get; set; }
    }

    private sealed class VoidBody;

    private sealed class LimitBody
    {
        public string? CreditType { get; set; }
        public Credits? Amount { get; set; }
        public string? Period { get; set; }
    }

    /// <summary>
    /// Streams the usage lines as CSV (RFC 4180, UTF-8). CsvHelper escapes every text cell that a spreadsheet would run
    /// as a formula (starting with <c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>, tab or carriage return) with a leading
    /// <c>'</c>; numbers and dates it formats itself are not text and stay numbers (credits are negative for refunds).
    /// </summary>
    private sealed class UsageCsvResult(IAsyncEnumerable<UsageLine> lines) : IResult
    {
        private static readonly CsvWriterOptions s_options = new() { Injection = CsvInjection.Escape, FormatProvider = CultureInfo.InvariantCulture };

        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.ContentType = "text/csv; charset=utf-8";
            httpContext.Response.Headers.ContentDisposition = "attachment; filename=\"credit-usage.csv\"";
            await using var csv = CsvWriter.Create(httpContext.Response.Body, s_options, leaveOpen: true);
            csv.WriteHeader(["date", "feature", "action", "description", "credits", "credit_type", "data_requested", "user", "related_record", "kind", "id"]);
            await foreach (var line in lines.WithCancellation(httpContext.RequestAborted))
            {
                csv.WriteField(line.Date.ToUniversalTime(), "yyyy-MM-ddTHH:mm:ssZ");
                csv.WriteField(line.FeatureName ?? line.Feature ?? string.Empty);
                csv.WriteField(line.ActionName ?? line.Action ?? string.Empty);
                csv.WriteField(line.Description ?? string.Empty);
                csv.WriteField(line.Credits.Value, "0.###");
                csv.WriteField(line.CreditType);
                csv.WriteField(line.DataRequested ?? string.Empty);
                csv.WriteField(line.User);
                csv.WriteField(line.RelatedRecord ?? string.Empty);
                csv.WriteField(line.Kind);
                csv.WriteField(line.Id);
                await csv.EndRecordAsync(httpContext.RequestAborted);
            }
        }
    }
}
