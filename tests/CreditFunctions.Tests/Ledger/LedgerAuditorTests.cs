using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

/// <summary>
/// A randomized auditor in the spirit of TigerBeetle's: a model of the ledger in memory, thousands of random
/// operations (grants, charges, refunds, holds, charges drawn from holds, captures and voids, with repeated keys,
/// reused keys with other parameters, dropped connections and client restarts), every reply checked against the
/// model, and the balances and verification checked along the way and at the end.
/// </summary>
public sealed class LedgerAuditorTests(AzuriteFixture azurite)
{
    private sealed class Model
    {
        public Dictionary<(string Team, string Type), long> Available { get; } = [];
        public HashSet<(string Team, string Key)> Owned { get; } = [];
        public Dictionary<string, (string Team, long Amount, long Refunded, string? Bought)> Charges { get; } = [];
        public Dictionary<(string Team, string Key), (object Request, LedgerResult Result)> Keys { get; } = [];
        public Dictionary<string, ModelHold> Holds { get; } = [];
    }

    private sealed record ModelHold(string Team, string Type, long Amount, long Drawn, string State)
    {
        public long Remaining => Amount - Drawn;
    }

    private static readonly (string Feature, string Action, string Type, long Price, bool Buys)[] Actions =
    [
        ("email", "email_reveal", "email", 1000, true),
        ("exports", "list_export", "email", 1000, true),
        ("enrichment", "csv_validate", "email", 500, false),
        ("phone_number", "phone_reveal", "phone", 1000, true),
        ("ai_research", "person_research", "ai_research", 1000, false),
    ];

    [Fact]
    public async Task Thousands_of_random_operations_match_the_model_reply_by_reply()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        var random = new Random(20261121);
        var model = new Model();
        var faults = new FaultInjectionPolicy(0.05, seed: 7);
        var ledger = ctx.NewLedger(faults);
        var teams = new[] { "a1", "b2" };
        var history = new List<(string Team, string Key, object Request)>();

        for (var i = 0; i < 10_000; i++)
        {
            if (i % 400 == 399)
            {
                ledger = ctx.NewLedger(faults); // a client restart: no caches, no committer state
            }
            if (i % 500 == 499)
            {
                foreach (var t in teams)
                {
                    await ctx.AssertVerifiedAsync(t); // with holds partly drawn, settled and open
                }
            }
            var team = teams[random.Next(teams.Length)];
            object request;
            var roll = random.Next(100);
            if (roll < 10 && history.Count > 0)
            {
                request = history[random.Next(history.Count)].Request; // an exact repeat
            }
            else if (roll < 13 && history.Count > 0)
            {
                request = Reuse(history[random.Next(history.Count)].Request, random); // same key, other parameters
            }
            else if (roll < 25)
            {
                request = new GrantRequest(team, "admin", random.Next(2) == 0 ? "email" : "phone", new Credits(random.Next(1, 6) * 500), GrantKind.TopUp, $"g{i}");
            }
            else if (roll < 31)
            {
                var a = Actions[random.Next(Actions.Length)];
                request = new HoldRequest(team, "ada", a.Feature, a.Action, new Credits(random.Next(2, 11) * 500), ctx.Clock.Now.AddDays(1), $"h{i}");
            }
            else if (roll < 35 && model.Holds.Count > 0)
            {
                var holdId = model.Holds.Keys.ElementAt(random.Next(model.Holds.Count));
                var holdTeam = random.Next(10) == 0 ? teams.First(t => t != model.Holds[holdId].Team) : model.Holds[holdId].Team;
                request = random.Next(2) == 0
                    ? new VoidRequest(holdTeam, "ada", holdId, $"v{i}")
                    : new CaptureRequest(holdTeam, "ada", holdId, new Credits(random.Next(0, 5) * 500), $"x{i}");
            }
            else if (roll < 55 && model.Holds.Count > 0)
            {
                // A hit of a bulk job: drawn from a hold, mostly an open one of the action's credit type.
                var open = model.Holds.Where(h => h.Value.State == "open" && h.Value.Remaining > 0).Select(h => h.Key).ToList();
                var holdId = open.Count > 0 && random.Next(5) > 0 ? open[random.Next(open.Count)] : model.Holds.Keys.ElementAt(random.Next(model.Holds.Count));
                var hold = model.Holds[holdId];
                var matching = Actions.Where(x => x.Type == hold.Type).ToList();
                var a = matching.Count > 0 && random.Next(10) > 0 ? matching[random.Next(matching.Count)] : Actions[random.Next(Actions.Length)];
                request = new ChargeRequest(random.Next(15) == 0 ? teams.First(t => t != hold.Team) : hold.Team, "ada", a.Feature, a.Action, $"d{i}")
                {
                    SubjectId = $"s{random.Next(240)}", HoldId = holdId, // a job meets new people more often than owned ones
                };
            }
            else if (roll < 62 && model.Charges.Count > 0)
            {
                var chargeId = model.Charges.Keys.ElementAt(random.Next(model.Charges.Count));
                var charged = model.Charges[chargeId];
                request = new RefundRequest(random.Next(10) == 0 ? teams.First(t => t != charged.Team) : charged.Team, "ada", chargeId, "audit", $"r{i}")
                {
                    Amount = random.Next(3) == 0 ? null : new Credits(random.Next(1, 3) * 250),
                };
            }
            else
            {
                var a = Actions[random.Next(Actions.Length)];
                request = new ChargeRequest(team, "ada", a.Feature, a.Action, $"c{i}") { SubjectId = $"s{random.Next(60)}" };
            }

            var reply = await SendAsync(ledger, request);
            var expected = Apply(model, request, reply);
            if (expected.Status != reply.Status)
            {
                var balances = string.Join(", ", (await ledger.GetBalancesAsync(team, TestContext.Current.CancellationToken)).Select(b => $"{b.CreditType}={b.Available}"));
                var modelled = string.Join(", ", model.Available.Where(p => p.Key.Team == team).Select(p => $"{p.Key.Type}={new Credits(p.Value)}"));
                Assert.Fail($"op {i}: {request} expected {expected.Status} but got {reply.Status}; ledger {balances}; model {modelled}; history {string.Join(" | ", history.TakeLast(8).Select(h => h.Request))}");
            }
            Assert.Equal(expected.Amount, reply.Amount);
            if (expected.Replayed)
            {
                Assert.True(reply.Replayed, $"op {i}: a repeated key must answer with the first result");
                Assert.Equal(expected.LineId, reply.LineId);
            }
            history.Add((TeamOf(request), KeyOf(request), request));
            foreach (var type in new[] { "email", "phone" })
            {
                var available = (await ledger.GetBalancesAsync(team, TestContext.Current.CancellationToken)).Single(b => b.CreditType == type).Available.Thousandths;
                Assert.True(available == model.Available.GetValueOrDefault((team, type)),
                    $"op {i} ({request}, reply {reply.Status}): {type} available {available} but the model has {model.Available.GetValueOrDefault((team, type))}");
            }
        }

        Assert.True(faults.Injected > 0);
        foreach (var team in teams)
        {
            foreach (var type in new[] { "email", "phone", "ai_research" })
            {
                Assert.Equal(model.Available.GetValueOrDefault((team, type)), (await ctx.BalanceAsync(team, type)).Available.Thousandths);
            }
            await ctx.AssertVerifiedAsync(team);
        }
    }

    private static async Task<LedgerResult> SendAsync(LedgerService ledger, object request)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return request switch
                {
                    ChargeRequest c => await ledger.ChargeAsync(c),
                    GrantRequest g => await ledger.GrantAsync(g),
                    RefundRequest r => await ledger.RefundAsync(r),
                    HoldRequest h => await ledger.PlaceHoldAsync(h),
                    CaptureRequest x => await ledger.CaptureHoldAsync(x),
                    VoidRequest v => await ledger.VoidHoldAsync(v),
                    _ => throw new InvalidOperationException(),
                };
            }
            catch (LedgerUnavailableException) when (attempt < 30)
            {
                // Unknown outcome: send the same request again.
            }
        }
    }

    /// <summary>What the model says the reply must be; records the ledger's reply for later repeats.</summary>
    private static LedgerResult Apply(Model model, object request, LedgerResult actual)
    {
        var team = TeamOf(request);
        var key = KeyOf(request);
        if (model.Keys.TryGetValue((team, key), out var first))
        {
            return Equals(first.Request, request)
                ? first.Result with { Replayed = true }
                : new LedgerResult { Status = LedgerStatus.ExistsWithDifferentParameters, CreditType = first.Result.CreditType };
        }
        LedgerResult expected;
        switch (request)
        {
            case GrantRequest g:
                model.Available[(team, g.CreditType)] = model.Available.GetValueOrDefault((team, g.CreditType)) + g.Amount.Thousandths;
                expected = new LedgerResult { Status = LedgerStatus.Granted, CreditType = g.CreditType, Amount = g.Amount };
                break;
            case ChargeRequest c:
                var action = Actions.Single(a => a.Action == c.Action);
                var dataType = Catalog.Default.Find(c.Feature, c.Action)!.DataType;
                ModelHold? source = null;
                if (c.HoldId is not null)
                {
                    source = model.Holds.GetValueOrDefault(c.HoldId);
                    var refused = HoldRefusal(source, team) ?? (source!.Type != action.Type ? LedgerStatus.HoldCreditTypeMismatch : null);
                    if (refused is { } status)
                    {
                        return new LedgerResult { Status = status, CreditType = action.Type };
                    }
                }
                var owned = action.Buys && model.Owned.Contains((team, dataType + "/" + c.SubjectId));
                var price = owned ? 0 : action.Price;
                var available = model.Available.GetValueOrDefault((team, action.Type));
                if (source is not null)
                {
                    if (price > source.Remaining)
                    {
                        return new LedgerResult { Status = LedgerStatus.HoldExhausted, CreditType = action.Type };
                    }
                    // Drawn from what the hold reserved: available does not move.
                    model.Holds[c.HoldId!] = source with { Drawn = source.Drawn + price };
                }
                else if (price > available)
                {
                    return new LedgerResult { Status = LedgerStatus.InsufficientCredits, CreditType = action.Type };
                }
                else
                {
                    model.Available[(team, action.Type)] = available - price;
                }
                if (action.Buys)
                {
                    model.Owned.Add((team, dataType + "/" + c.SubjectId));
                }
                expected = new LedgerResult { Status = owned ? LedgerStatus.AlreadyOwned : LedgerStatus.Charged, CreditType = action.Type, Amount = new Credits(price) };
                if (actual.Status == expected.Status)
                {
                    model.Charges[actual.LineId!] = (team, price, 0, action.Buys && !owned ? dataType + "/" + c.SubjectId : null);
                }
                break;
            case RefundRequest r:
                if (!model.Charges.TryGetValue(r.ChargeId, out var charge) || charge.Team != team)
                {
                    return new LedgerResult { Status = LedgerStatus.ChargeNotFound, CreditType = string.Empty };
                }
                var left = charge.Amount - charge.Refunded;
                var amount = r.Amount?.Thousandths ?? left;
                if (amount <= 0 || amount > left)
                {
                    return new LedgerResult { Status = LedgerStatus.RefundExceedsCharge, CreditType = string.Empty };
                }
                model.Charges[r.ChargeId] = charge with { Refunded = charge.Refunded + amount };
                if (charge.Refunded + amount == charge.Amount && charge.Bought is { } bought)
                {
                    // DOMAIN rule 8: a purchase refunded in full no longer counts as owned.
                    model.Owned.Remove((team, bought));
                }
                var type = actual.CreditType;
                model.Available[(team, type)] = model.Available.GetValueOrDefault((team, type)) + amount;
                expected = new LedgerResult { Status = LedgerStatus.Refunded, CreditType = type, Amount = new Credits(amount) };
                break;
            case HoldRequest h:
                var held = Actions.Single(a => a.Action == h.Action).Type;
                var free = model.Available.GetValueOrDefault((team, held));
                if (h.Amount.Thousandths > free)
                {
                    return new LedgerResult { Status = LedgerStatus.InsufficientCredits, CreditType = held };
                }
                model.Available[(team, held)] = free - h.Amount.Thousandths;
                if (actual.Status == LedgerStatus.HoldPlaced)
                {
                    model.Holds[actual.HoldId!] = new ModelHold(team, held, h.Amount.Thousandths, 0, "open");
                }
                expected = new LedgerResult { Status = LedgerStatus.HoldPlaced, CreditType = held, Amount = h.Amount };
                break;
            case CaptureRequest or VoidRequest:
                var (settledId, capture) = request is CaptureRequest cr ? (cr.HoldId, (long?)cr.Amount.Thousandths) : (((VoidRequest)request).HoldId, null);
                var settled = model.Holds.GetValueOrDefault(settledId);
                if (HoldRefusal(settled, team) is { } settleRefusal)
                {
                    return new LedgerResult { Status = settleRefusal, CreditType = string.Empty };
                }
                if (capture > settled!.Remaining)
                {
                    return new LedgerResult { Status = LedgerStatus.CaptureExceedsHold, CreditType = settled.Type };
                }
                // What is left of the hold, minus the capture, becomes available again; earlier draws stay charged.
                model.Available[(team, settled.Type)] = model.Available.GetValueOrDefault((team, settled.Type)) + settled.Remaining - (capture ?? 0);
                model.Holds[settledId] = settled with { State = capture is null ? "voided" : "captured" };
                expected = new LedgerResult
                {
                    Status = capture is null ? LedgerStatus.HoldVoided : LedgerStatus.HoldCaptured, CreditType = settled.Type, Amount = new Credits(capture ?? 0),
                };
                if (capture > 0 && actual.Status == expected.Status)
                {
                    model.Charges[actual.LineId!] = (team, capture.Value, 0, null);
                }
                break;
            default:
                throw new InvalidOperationException();
        }
        model.Keys[(team, key)] = (request, actual);
        return expected;
    }

    /// <summary>Why a hold refuses every operation, as the model sees it (holds do not expire in this run).</summary>
    private static LedgerStatus? HoldRefusal(ModelHold? hold, string team) => hold switch
    {
        null => LedgerStatus.HoldNotFound,
        _ when hold.Team != team => LedgerStatus.HoldNotFound,
        { State: "captured" } => LedgerStatus.HoldAlreadyCaptured,
        { State: "voided" } => LedgerStatus.HoldAlreadyVoided,
        _ => null,
    };

    private static object Reuse(object request, Random random) => request switch
    {
        ChargeRequest { HoldId: not null } c when random.Next(2) == 0 => c with { HoldId = c.HoldId[..^4] + (c.HoldId.EndsWith("0000", StringComparison.Ordinal) ? "0001" : "0000") },
        ChargeRequest c => c with { SubjectId = c.SubjectId + "-other" },
        GrantRequest g => g with { Amount = g.Amount + new Credits(500) },
        RefundRequest r => r with { Reason = "another reason" },
        HoldRequest h => h with { Amount = h.Amount + new Credits(500) },
        CaptureRequest x => x with { Amount = x.Amount + new Credits(500) },
        VoidRequest v => v with { UserId = "bob" },
        _ => throw new InvalidOperationException(),
    };

    private static string TeamOf(object request) => request switch
    {
        ChargeRequest c => c.TeamId,
        GrantRequest g => g.TeamId,
        RefundRequest r => r.TeamId,
        HoldRequest h => h.TeamId,
        CaptureRequest x => x.TeamId,
        VoidRequest v => v.TeamId,
        _ => throw new InvalidOperationException(),
    };

    private static string KeyOf(object request) => request switch
    {
        ChargeRequest c => c.IdempotencyKey,
        GrantRequest g => g.IdempotencyKey,
        RefundRequest r => r.IdempotencyKey,
        HoldRequest h => h.IdempotencyKey,
        CaptureRequest x => x.IdempotencyKey,
        VoidRequest v => v.IdempotencyKey,
        _ => throw new InvalidOperationException(),
    };
}
