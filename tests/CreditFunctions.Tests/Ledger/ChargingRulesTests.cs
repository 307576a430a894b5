using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Ledger;

/// <summary>The charging rules the ledger alone decides (DOMAIN.md, "Charging rules" 2–4, 8, 9, and the catalog).</summary>
public sealed class ChargingRulesTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData("email", "email_reveal", "email", 1)]
    [InlineData("phone_number", "phone_reveal", "phone", 1)]
    [InlineData("phone_number", "dialer_lookup", "phone", 1)]
    [InlineData("waterfall_enrichment", "waterfall_email", "email", 1)]
    [InlineData("waterfall_enrichment", "waterfall_mobile", "phone", 1)]
    [InlineData("waterfall_enrichment", "api_waterfall_email", "email", 1)]
    [InlineData("waterfall_enrichment", "email_reverification", "email", 0.5)]
    [InlineData("enrichment", "auto_enrichment", "email", 1)]
    [InlineData("enrichment", "csv_enrich", "email", 0.5)]
    [InlineData("enrichment", "csv_validate", "email", 0.5)]
    [InlineData("enrichment", "csv_enrich_validate", "email", 1)]
    [InlineData("enrichment", "csv_phone", "phone", 1)]
    [InlineData("enrichment", "api_person_enrichment", "email", 1)]
    [InlineData("enrichment", "crm_field_enrichment", "email", 1)]
    [InlineData("enrichment", "workflow_enrichment", "email", 1)]
    [InlineData("job_change", "update_contact", "email", 1)]
    [InlineData("job_change", "create_contact", "email", 1)]
    [InlineData("contact_tracking", "track_contact", "tracking", 1)]
    [InlineData("ai_research", "person_research", "ai_research", 1)]
    [InlineData("ai_research", "company_research", "ai_research", 1)]
    [InlineData("prospecting", "add_to_list", "email", 1)]
    [InlineData("prospecting", "crm_export", "email", 1)]
    [InlineData("prospecting", "sequence_enrollment", "email", 1)]
    [InlineData("exports", "list_export", "email", 1)]
    [InlineData("exports", "list_export_phone", "phone", 1)]
    [InlineData("exports", "raw_export", "email", 0)]
    [InlineData("inbound_visitors", "identify_company", "email", 1)]
    [InlineData("inbound_visitors", "match_contact", "email", 1)]
    [InlineData("form_enrichment", "enrich_new_contact", "email", 1)]
    [InlineData("form_enrichment", "enrich_new_contact_mobile", "phone", 1)]
    [InlineData("api", "api_email_reveal", "email", 1)]
    [InlineData("api", "api_phone_reveal", "phone", 1)]
    public async Task Every_catalog_action_charges_its_price_to_its_credit_type(string feature, string action, string creditType, double price)
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        foreach (var type in Catalog.Default.CreditTypes)
        {
            await ctx.GrantAsync("t1", type, 10);
        }

        var result = await ctx.ChargeAsync("t1", feature, action, subject: "person-1");

        Assert.Equal(LedgerStatus.Charged, result.Status);
        Assert.Equal((decimal)price, result.Amount.Value);
        Assert.Equal(creditType, result.CreditType);
        foreach (var type in Catalog.Default.CreditTypes)
        {
            Assert.Equal(type == creditType ? 10 - (decimal)price : 10, await ctx.AvailableAsync("t1", type));
        }
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_full_refund_ends_the_ownership_it_bought_and_a_partial_one_does_not()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);
        var bought = await ctx.ChargeAsync("t1", "email", "email_reveal", subject: "person-1");
        var refunded = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "operator.billing", bought.LineId!, "bounced", LedgerTestContext.Key()));
        Assert.Equal(LedgerStatus.Refunded, refunded.Status);

        var again = await ctx.ChargeAsync("t1", "waterfall_enrichment", "waterfall_email", subject: "person-1");
        Assert.Equal(LedgerStatus.Charged, again.Status);
        Assert.Equal(1m, again.Amount.Value);

        var half = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "operator.billing", again.LineId!, "half wrong", LedgerTestContext.Key()) { Amount = Credits.FromDecimal(0.5m) });
        Assert.Equal(LedgerStatus.Refunded, half.Status);
        Assert.Equal(LedgerStatus.AlreadyOwned, (await ctx.ChargeAsync("t1", "email", "email_reveal", subject: "person-1")).Status);
        Assert.Equal(9.5m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public void Every_catalog_action_is_covered_by_the_price_test()
    {
        var tested = typeof(ChargingRulesTests).GetMethod(nameof(Every_catalog_action_charges_its_price_to_its_credit_type))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => ((string)a.Data[0]!, (string)a.Data[1]!)).ToHashSet();
        Assert.All(Catalog.Default.Actions, a => Assert.Contains((a.Feature, a.Action), tested));
    }

    [Fact]
    public async Task Data_already_bought_costs_nothing_whichever_feature_bought_it()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 10);

        var bought = await ctx.ChargeAsync("t1", "waterfall_enrichment", "waterfall_email", "person-7");
        var reveal = await ctx.ChargeAsync("t1", "email", "email_reveal", "person-7");
        var export = await ctx.ChargeAsync("t1", "exports", "list_export", "person-7");
        var crm = await ctx.ChargeAsync("t1", "enrichment", "crm_field_enrichment", "person-7");

        Assert.Equal(LedgerStatus.Charged, bought.Status);
        Assert.All(new[] { reveal, export, crm }, r =>
        {
            Assert.Equal(LedgerStatus.AlreadyOwned, r.Status);
            Assert.Equal(0m, r.Amount.Value);
        });
        Assert.Equal(9m, await ctx.AvailableAsync("t1", "email"));
        var lines = await ctx.UsageAsync("t1");
        Assert.Equal(4, lines.Count);
        Assert.Equal(3, lines.Count(l => l.AlreadyOwned && l.Credits.Value == 0));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Adding_to_a_list_and_exporting_to_the_crm_in_one_go_costs_one_credit()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 5);

        var both = await Task.WhenAll(
            ctx.ChargeAsync("t1", "exports", "list_export", "lead-1"),
            ctx.ChargeAsync("t1", "enrichment", "crm_field_enrichment", "lead-1"));

        Assert.Single(both, r => r.Status == LedgerStatus.Charged);
        Assert.Single(both, r => r.Status == LedgerStatus.AlreadyOwned);
        Assert.Equal(4m, await ctx.AvailableAsync("t1", "email"));
    }

    [Fact]
    public async Task Email_and_phone_are_charged_to_separate_balances_each_only_on_its_own_hit_as_separate_lines()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 3);
        await ctx.GrantAsync("t1", "phone", 3);

        await ctx.ChargeAsync("t1", "waterfall_enrichment", "waterfall_email", "p1");
        await ctx.ChargeAsync("t1", "waterfall_enrichment", "waterfall_mobile", "p1");
        await ctx.ChargeAsync("t1", "waterfall_enrichment", "waterfall_email", "p2"); // p2's mobile was not found: no phone charge

        Assert.Equal(1m, await ctx.AvailableAsync("t1", "email"));
        Assert.Equal(2m, await ctx.AvailableAsync("t1", "phone"));
        var lines = await ctx.UsageAsync("t1");
        Assert.Equal(["Waterfall email", "Waterfall mobile", "Waterfall email"], lines.Select(l => l.ActionName).Reverse());
        Assert.Equal(["email", "phone", "email"], lines.Select(l => l.DataRequested).Reverse());
    }

    [Fact]
    public async Task Owning_a_persons_email_does_not_make_their_phone_free()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 3);
        await ctx.GrantAsync("t1", "phone", 3);
        await ctx.ChargeAsync("t1", "email", "email_reveal", "p1");

        var phone = await ctx.ChargeAsync("t1", "phone_number", "phone_reveal", "p1");

        Assert.Equal(LedgerStatus.Charged, phone.Status);
        Assert.Equal(2m, await ctx.AvailableAsync("t1", "phone"));
    }

    [Fact]
    public async Task Ownership_is_per_team()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 3);
        await ctx.GrantAsync("t2", "email", 3);
        await ctx.ChargeAsync("t1", "email", "email_reveal", "p1");

        Assert.Equal(LedgerStatus.Charged, (await ctx.ChargeAsync("t2", "email", "email_reveal", "p1")).Status);
        Assert.Equal(2m, await ctx.AvailableAsync("t2", "email"));
    }

    [Fact]
    public async Task Half_credit_actions_charge_exactly_half_without_rounding()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 1.5m);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(LedgerStatus.Charged, (await ctx.ChargeAsync("t1", "enrichment", "csv_validate", $"row-{i}")).Status);
        }

        Assert.Equal(0m, await ctx.AvailableAsync("t1", "email"));
        Assert.Equal(LedgerStatus.InsufficientCredits, (await ctx.ChargeAsync("t1", "enrichment", "csv_validate", "row-3")).Status);
    }

    [Fact]
    public async Task Insufficient_credits_is_an_error_with_the_shortfall_and_nothing_is_recorded()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "phone", 0.5m);
        var key = LedgerTestContext.Key();

        var refused = await ctx.ChargeAsync("t1", "phone_number", "phone_reveal", "p1", key: key);

        Assert.Equal(LedgerStatus.InsufficientCredits, refused.Status);
        Assert.Equal(0.5m, refused.Shortfall!.Value.Value);
        Assert.Equal(0.5m, await ctx.AvailableAsync("t1", "phone"));
        Assert.Empty(await ctx.UsageAsync("t1"));

        // Nothing was recorded, not even the key: after a top-up the same request goes through.
        await ctx.GrantAsync("t1", "phone", 1);
        Assert.Equal(LedgerStatus.Charged, (await ctx.ChargeAsync("t1", "phone_number", "phone_reveal", "p1", key: key)).Status);
        Assert.Equal(0.5m, await ctx.AvailableAsync("t1", "phone"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task Same_idempotency_key_twice_moves_credits_once_and_returns_the_first_result()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 5);
        var key = LedgerTestContext.Key();

        var first = await ctx.ChargeAsync("t1", "email", "email_reveal", "p1", key: key);
        var second = await ctx.ChargeAsync("t1", "email", "email_reveal", "p1", key: key);
        var fromAnotherProcess = await ctx.NewLedger().ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", key) { SubjectId = "p1" });

        Assert.False(first.Replayed);
        Assert.True(second.Replayed);
        Assert.True(fromAnotherProcess.Replayed);
        Assert.Equal(first.LineId, second.LineId);
        Assert.Equal(first.LineId, fromAnotherProcess.LineId);
        Assert.Equal(LedgerStatus.Charged, fromAnotherProcess.Status);
        Assert.Equal(4m, await ctx.AvailableAsync("t1", "email"));
        Assert.Single(await ctx.UsageAsync("t1"));
    }

    [Fact]
    public async Task Same_idempotency_key_with_different_parameters_is_refused_and_moves_nothing()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 5);
        var key = LedgerTestContext.Key();
        await ctx.ChargeAsync("t1", "email", "email_reveal", "p1", key: key);

        var other = await ctx.ChargeAsync("t1", "email", "email_reveal", "p2", key: key);
        var otherProcess = await ctx.NewLedger().ChargeAsync(new ChargeRequest("t1", "ada", "email", "email_reveal", key) { SubjectId = "p3" });

        Assert.Equal(LedgerStatus.ExistsWithDifferentParameters, other.Status);
        Assert.Equal(LedgerStatus.ExistsWithDifferentParameters, otherProcess.Status);
        Assert.Equal(4m, await ctx.AvailableAsync("t1", "email"));
        Assert.Single(await ctx.UsageAsync("t1"));
    }

    [Fact]
    public async Task A_refund_is_a_separate_line_linked_to_its_charge_and_history_hides_it_by_default()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 5);
        var charge = await ctx.ChargeAsync("t1", "email", "email_reveal", "p1");

        var refund = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "ada", charge.LineId!, "Email bounced", LedgerTestContext.Key()));

        Assert.Equal(LedgerStatus.Refunded, refund.Status);
        Assert.Equal(1m, refund.Amount.Value);
        Assert.Equal(5m, await ctx.AvailableAsync("t1", "email"));
        Assert.Single(await ctx.UsageAsync("t1"));
        var withRefunds = await ctx.UsageAsync("t1", includeRefunds: true);
        var line = Assert.Single(withRefunds, l => l.Kind == "refund");
        Assert.Equal(-1m, line.Credits.Value);
        Assert.Equal(charge.LineId, line.ChargeId);
        Assert.Equal("Email bounced", line.Reason);
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_charge_is_never_refunded_twice_or_by_more_than_it_cost()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 5);
        var charge = await ctx.ChargeAsync("t1", "enrichment", "csv_enrich_validate", "row-1");
        RefundRequest Refund(decimal? amount) => new("t1", "ada", charge.LineId!, "Data proven wrong", LedgerTestContext.Key())
        {
            Amount = amount is null ? null : Credits.FromDecimal(amount.Value),
        };

        Assert.Equal(LedgerStatus.RefundExceedsCharge, (await ctx.Ledger.RefundAsync(Refund(1.5m))).Status);
        Assert.Equal(LedgerStatus.Refunded, (await ctx.Ledger.RefundAsync(Refund(0.5m))).Status);
        Assert.Equal(LedgerStatus.RefundExceedsCharge, (await ctx.Ledger.RefundAsync(Refund(0.75m))).Status);
        var rest = await ctx.Ledger.RefundAsync(Refund(null));
        Assert.Equal(0.5m, rest.Amount.Value);
        Assert.Equal(LedgerStatus.RefundExceedsCharge, (await ctx.Ledger.RefundAsync(Refund(null))).Status);

        Assert.Equal(5m, await ctx.AvailableAsync("t1", "email"));
        await ctx.AssertVerifiedAsync("t1");
    }

    [Fact]
    public async Task A_refund_of_an_unknown_or_other_teams_charge_is_refused()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        await ctx.GrantAsync("t1", "email", 5);
        var charge = await ctx.ChargeAsync("t1", "email", "email_reveal", "p1");

        var otherTeam = await ctx.Ledger.RefundAsync(new RefundRequest("t2", "eve", charge.LineId!, "mine now", LedgerTestContext.Key()));
        var unknown = await ctx.Ledger.RefundAsync(new RefundRequest("t1", "ada", "not-a-charge", "typo", LedgerTestContext.Key()));

        Assert.Equal(LedgerStatus.ChargeNotFound, otherTeam.Status);
        Assert.Equal(LedgerStatus.ChargeNotFound, unknown.Status);
        Assert.Equal(4m, await ctx.AvailableAsync("t1", "email"));
    }

    [Fact]
    public async Task Bad_input_is_refused_naming_the_field_before_anything_is_written()
    {
        var ctx = await LedgerTestContext.CreateAsync(azurite);
        async Task<string> FieldOf(Func<Task> act) => (await Assert.ThrowsAsync<LedgerValidationException>(act)).Field;

        Assert.Equal("feature", await FieldOf(() => ctx.ChargeAsync("t1", "nope", "email_reveal", "p1")));
        Assert.Equal("action", await FieldOf(() => ctx.ChargeAsync("t1", "email", "nope", "p1")));
        Assert.Equal("subjectId", await FieldOf(() => ctx.ChargeAsync("t1", "email", "email_reveal", null)));
        Assert.Equal("teamId", await FieldOf(() => ctx.ChargeAsync("Bad Team", "email", "email_reveal", "p1")));
        Assert.Equal("idempotencyKey", await FieldOf(() => ctx.ChargeAsync("t1", "email", "email_reveal", "p1", key: "")));
        Assert.Equal("reason", await FieldOf(() => ctx.Ledger.RefundAsync(new RefundRequest("t1", "ada", "x", " ", "k"))));
        Assert.Equal("amount", await FieldOf(() => ctx.Ledger.GrantAsync(new GrantRequest("t1", "ada", "email", Credits.Zero, GrantKind.TopUp, "k"))));
        Assert.Equal("creditType", await FieldOf(() => ctx.Ledger.GrantAsync(new GrantRequest("t1", "ada", "gold", Credits.FromDecimal(1), GrantKind.TopUp, "k"))));
        Assert.Throws<ArgumentException>(() => Credits.FromDecimal(0.0005m));
        Assert.Empty(await ctx.UsageAsync("t1"));
    }
}
