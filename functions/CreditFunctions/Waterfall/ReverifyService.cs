using CreditFunctions.Ledger;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>The outcome of a re-verification.</summary>
/// <param name="Status"><c>verified</c>, <c>verifier_unavailable</c> or <c>insufficient_credits</c>.</param>
/// <param name="PersonId">The person.</param>
/// <param name="Email">The stored email.</param>
/// <param name="Verification">The new status (<c>valid</c>, <c>catch_all</c>, <c>invalid</c>, <c>unknown</c>).</param>
/// <param name="Credits">Credits charged for the re-verification.</param>
/// <param name="RefundLineId">The refund of the email's purchase, when it turned invalid and refunds are on.</param>
public sealed record ReverifyResult(string Status, string PersonId, string? Email, string? Verification, decimal Credits, string? RefundLineId);

/// <summary>
/// Re-verifies a stored email (<em>Email re-verification</em>, charged per catalog). An email that turns
/// <c>invalid</c> after purchase is refunded (rule 8) when the team's settings say so; the refund's idempotency key is
/// the purchase, so it is never refunded twice.
/// </summary>
public sealed class ReverifyService(LedgerService ledger, ContactStore contacts, EnrichmentSettingsStore settings, ProviderCaller providers, TimeProvider clock)
{
    /// <summary>Re-verifies; null when the team has no stored email for the person.</summary>
    public async Task<ReverifyResult?> ReverifyAsync(string teamId, string userId, string personId, string idempotencyKey, CancellationToken cancellationToken)
    {
        var (same, stored) = await contacts.ClaimRequestAsync(teamId, "reverify:" + idempotencyKey, personId, cancellationToken).ConfigureAwait(false);
        if (!same)
        {
            throw new IdempotencyKeyReusedException();
        }
        if (stored is not null)
        {
            // A retry: its first result, and no vendor is called again.
            return System.Text.Json.JsonSerializer.Deserialize<ReverifyResult>(stored, System.Text.Json.JsonSerializerOptions.Web);
        }
        var contact = personId.StartsWith("p_", StringComparison.Ordinal) && personId.Length <= 40
            ? await contacts.GetAsync(teamId, personId, cancellationToken).ConfigureAwait(false)
            : null;
        if (contact?.Email is not { } email)
        {
            return null;
        }
        var team = await settings.GetAsync(teamId, cancellationToken).ConfigureAwait(false);
        if (team.Verifier is not { } verifier)
        {
            return new ReverifyResult("verifier_unavailable", personId, email, null, 0m, null);
        }
        var charge = await ledger.ChargeAsync(new ChargeRequest(teamId, userId, "waterfall_enrichment", "email_reverification", $"reverify:{personId}:{idempotencyKey}")
        {
            Description = $"Re-verification of {contact.Name ?? personId}", RelatedRecord = "person:" + personId,
        }).ConfigureAwait(false);
        if (charge.Status == LedgerStatus.InsufficientCredits)
        {
            return new ReverifyResult("insufficient_credits", personId, email, null, 0m, null);
        }
        var outcome = await providers.VerifyEmailAsync(verifier, email, settings.ResolveKey(teamId, team, verifier), teamId, cancellationToken).ConfigureAwait(false);
        if (outcome is not ProviderVerified verified)
        {
            // The verifier could not answer: the re-verification is refunded in full.
            if (charge.LineId is { } line)
            {
                await ledger.RefundAsync(new RefundRequest(teamId, userId, line, "The verifier was unavailable.", $"refund:{line}")).ConfigureAwait(false);
            }
            return new ReverifyResult("verifier_unavailable", personId, email, null, 0m, null);
        }
        var status = WaterfallEngine.VerificationName(verified.Status);
        await contacts.RecordVerificationAsync(teamId, personId, status, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        string? refundLine = null;
        if (status == "invalid" && team.RefundInvalidOnReverify && contact.EmailChargeId is { } purchase)
        {
            // Keyed by purchase and person: a job line holds many people's purchases, each refunded once (a line of one
            // purchase refuses a second refund anyway).
            var refund = await ledger.RefundAsync(new RefundRequest(teamId, userId, purchase, "The email proved invalid on re-verification.",
                $"refund-invalid:{purchase}:{personId}") { SubjectId = personId }).ConfigureAwait(false);
            refundLine = refund.Status == LedgerStatus.Refunded ? refund.LineId : null;
        }
        var result = new ReverifyResult("verified", personId, email, status, charge.Status == LedgerStatus.Charged ? charge.Amount.Value : 0m, refundLine);
        await contacts.SaveRequestResultAsync(teamId, "reverify:" + idempotencyKey,
            System.Text.Json.JsonSerializer.Serialize(result, System.Text.Json.JsonSerializerOptions.Web), cancellationToken).ConfigureAwait(false);
        return result;
    }
}
