using Azure;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.Waterfall;

/// <summary>A team's copy of a person's found data, with provenance (who found it, when, how it verified).</summary>
public sealed class ContactRecord : ITableEntity<ContactRecord>
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

    /// <inheritdoc />
    public void WriteProperties(TableEntityWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(nameof(Name), Name);
        writer.Write(nameof(Email), Email);
        writer.Write(nameof(EmailProvider), EmailProvider);
        writer.Write(nameof(EmailFoundAt), EmailFoundAt);
        writer.Write(nameof(EmailVerification), EmailVerification);
        writer.Write(nameof(EmailVerifiedAt), EmailVerifiedAt);
        writer.Write(nameof(EmailChargeId), EmailChargeId);
        writer.Write(nameof(Mobile), Mobile);
        writer.Write(nameof(MobileProvider), MobileProvider);
        writer.Write(nameof(MobileFoundAt), MobileFoundAt);
        writer.Write(nameof(MobileChargeId), MobileChargeId);
    }

    /// <inheritdoc />
    public static ContactRecord ReadEntity(TableEntityReader reader) => new()
    {
        Name = reader.GetString(nameof(Name)),
        Email = reader.GetString(nameof(Email)),
        EmailProvider = reader.GetString(nameof(EmailProvider)),
        EmailFoundAt = reader.GetDateTimeOffset(nameof(EmailFoundAt)),
        EmailVerification = reader.GetString(nameof(EmailVerification)),
        EmailVerifiedAt = reader.GetDateTimeOffset(nameof(EmailVerifiedAt)),
        EmailChargeId = reader.GetString(nameof(EmailChargeId)),
        Mobile = reader.GetString(nameof(Mobile)),
        MobileProvider = reader.GetString(nameof(MobileProvider)),
        MobileFoundAt = reader.GetDateTimeOffset(nameof(MobileFoundAt)),
        MobileChargeId = reader.GetString(nameof(MobileChargeId)),
    };
}

/// <summary>
/// The team-scoped contact store: partition = team, so one team can never read another's contacts. Writes merge, so
/// recording the email and the number of a person are independent and each idempotent.
/// </summary>
public sealed class ContactStore(TableClient table)
{
    internal const string RowPrefix = "c|";

    /// <summary>The underlying table.</summary>
    public TableClient Table { get; } = table;

    /// <summary>The person's record in the team's store, or null.</summary>
    public Task<ContactRecord?> GetAsync(string teamId, string personId, CancellationToken cancellationToken = default) =>
        Table.GetEntityIfExistsAsync<ContactRecord>(teamId, RowPrefix + personId, cancellationToken);

    /// <summary>Records a found email (merge; repeating it is harmless).</summary>
    public Task RecordEmailAsync(string teamId, string personId, string? name, string email, string provider, string? verification, string? chargeId,
        DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Table.UpsertEntityAsync(new ContactRecord
        {
            PartitionKey = teamId, RowKey = RowPrefix + personId, Name = name, Email = email, EmailProvider = provider, EmailFoundAt = at,
            EmailVerification = verification, EmailVerifiedAt = verification is null ? null : at, EmailChargeId = chargeId,
        }, TableUpdateMode.Merge, cancellationToken);

    /// <summary>Records a found mobile number (merge).</summary>
    public Task RecordMobileAsync(string teamId, string personId, string? name, string mobile, string provider, string? chargeId,
        DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Table.UpsertEntityAsync(new ContactRecord
        {
            PartitionKey = teamId, RowKey = RowPrefix + personId, Name = name, Mobile = mobile, MobileProvider = provider, MobileFoundAt = at,
            MobileChargeId = chargeId,
        }, TableUpdateMode.Merge, cancellationToken);

    /// <summary>Records a new verification status of the stored email.</summary>
    public Task RecordVerificationAsync(string teamId, string personId, string status, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Table.UpsertEntityAsync(new VerificationUpdate(teamId, RowPrefix + personId, status, at), TableUpdateMode.Merge, cancellationToken);

    private sealed class VerificationUpdate(string team, string row, string status, DateTimeOffset at) : ITableEntity
    {
        public string PartitionKey { get; set; } = team;

        public string RowKey { get; set; } = row;

        public DateTimeOffset? Timestamp { get; set; }

        public ETag ETag { get; set; }

        public void WriteProperties(TableEntityWriter writer)
        {
            writer.Write(nameof(ContactRecord.EmailVerification), status);
            writer.Write(nameof(ContactRecord.EmailVerifiedAt), at);
        }
    }
}
