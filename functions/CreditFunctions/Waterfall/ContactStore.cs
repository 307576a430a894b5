using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;

namespace CreditFunctions.Waterfall;

/// <summary>A team's copy of a person's found data, with provenance (who found it, when, how it verified).</summary>
public sealed class ContactRecord : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>The person's id.</summary>
    [System.Runtime.Serialization.IgnoreDataMember]
    public string PersonId => RowKey[ContactStore.RowPrefix.Length..];

    /// <summary>Display name.</summary>
    public string? Name { get; set; }

    /// <summary>The email bought.</summary>
    public string? Email { get; set; }

    /// <summary>Who found the email.</summary>
    public string? EmailProvider { get; set; }

    /// <summary>When the email was found.</summary>
    public DateTimeOffset? EmailFoundAt { get; set; }

    /// <summary>The email's last verification status.</summary>
    public string? EmailVerification { get; set; }

    /// <summary>When the email was last verified.</summary>
    public DateTimeOffset? EmailVerifiedAt { get; set; }

    /// <summary>The ledger line that bought the email (refunded if it proves invalid).</summary>
    public string? EmailChargeId { get; set; }

    /// <summary>The mobile number bought.</summary>
    public string? Mobile { get; set; }

    /// <summary>Who found the number.</summary>
    public string? MobileProvider { get; set; }

    /// <summary>When the number was found.</summary>
    public DateTimeOffset? MobileFoundAt { get; set; }

    /// <summary>The ledger line that bought the number.</summary>
    public string? MobileChargeId { get; set; }
}

/// <summary>
/// The team-scoped contact store: partition = team, so one team can never read another's contacts. Writes merge, so
/// recording the email and the number of a person are independent and each idempotent.
/// </summary>
public sealed class ContactStore(TableClient table)
{
    internal const string RowPrefix = "c|";
    private const string RequestPrefix = "k|";

    /// <summary>The underlying table.</summary>
    public TableClient Table { get; } = table;

    /// <summary>The person's record in the team's store, or null.</summary>
    public Task<ContactRecord?> GetAsync(string teamId, string personId, CancellationToken cancellationToken = default) =>
        Table.GetEntityOrNullAsync<ContactRecord>(teamId, RowPrefix + personId, cancellationToken);

    /// <summary>Records a found email (merge; repeating it is harmless).</summary>
    public Task RecordEmailAsync(string teamId, string personId, string? name, string email, string provider, string? verification, string? chargeId,
        DateTimeOffset at, CancellationToken cancellationToken = default) =>
        MergeAsync(teamId, personId, cancellationToken,
            (nameof(ContactRecord.Name), name), (nameof(ContactRecord.Email), email), (nameof(ContactRecord.EmailProvider), provider),
            (nameof(ContactRecord.EmailFoundAt), at), (nameof(ContactRecord.EmailVerification), verification),
            (nameof(ContactRecord.EmailVerifiedAt), verification is null ? null : at), (nameof(ContactRecord.EmailChargeId), chargeId));

    /// <summary>Records a found mobile number (merge).</summary>
    public Task RecordMobileAsync(string teamId, string personId, string? name, string mobile, string provider, string? chargeId,
        DateTimeOffset at, CancellationToken cancellationToken = default) =>
        MergeAsync(teamId, personId, cancellationToken,
            (nameof(ContactRecord.Name), name), (nameof(ContactRecord.Mobile), mobile), (nameof(ContactRecord.MobileProvider), provider),
            (nameof(ContactRecord.MobileFoundAt), at), (nameof(ContactRecord.MobileChargeId), chargeId));

    /// <summary>Records a new verification status of the stored email.</summary>
    public Task RecordVerificationAsync(string teamId, string personId, string status, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        MergeAsync(teamId, personId, cancellationToken,
            (nameof(ContactRecord.EmailVerification), status), (nameof(ContactRecord.EmailVerifiedAt), at));

    /// <summary>
    /// Claims <paramref name="idempotencyKey"/> for a request with <paramref name="fingerprint"/>: true when the key is
    /// new or was claimed by the same request before (a retry), false when another request holds it. The claim is an
    /// insert, so two racing requests with one key cannot both win.
    /// </summary>
    public async Task<(bool Same, string? StoredResult)> ClaimRequestAsync(string teamId, string idempotencyKey, string fingerprint,
        CancellationToken cancellationToken = default)
    {
        var rowKey = RequestPrefix + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(idempotencyKey)));
        try
        {
            await Table.AddEntityAsync(new TableEntity(teamId, rowKey) { ["Fingerprint"] = fingerprint }, cancellationToken).ConfigureAwait(false);
            return (true, null);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            var stored = await Table.GetEntityOrNullAsync<TableEntity>(teamId, rowKey, cancellationToken).ConfigureAwait(false);
            return stored?.GetString("Fingerprint") == fingerprint ? (true, stored.GetString("Result")) : (false, null);
        }
    }

    /// <summary>Stores the first result of a claimed request, answered again to a retry without redoing its work.</summary>
    public Task<Response> SaveRequestResultAsync(string teamId, string idempotencyKey, string result, CancellationToken cancellationToken = default)
    {
        var rowKey = RequestPrefix + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(idempotencyKey)));
        return Table.UpsertEntityAsync(new TableEntity(teamId, rowKey) { ["Result"] = result }, TableUpdateMode.Merge, cancellationToken);
    }

    // A merge writes only the values given: a null leaves what is stored untouched.
    private Task<Response> MergeAsync(string teamId, string personId, CancellationToken cancellationToken, params (string Name, object? Value)[] values)
    {
        var entity = new TableEntity(teamId, RowPrefix + personId);
        foreach (var (name, value) in values)
        {
            if (value is not null)
            {
                entity[name] = value;
            }
        }
        return Table.UpsertEntityAsync(entity, TableUpdateMode.Merge, cancellationToken);
    }
}
