namespace CreditFunctions.Ledger;

/// <summary>A request the ledger refuses before anything is read or written; names the field at fault.</summary>
public sealed class LedgerValidationException(string field, string message) : Exception(message)
{
    /// <summary>The request field at fault (camelCase, as in the API).</summary>
    public string Field { get; } = field;
}

/// <summary>The ledger's input rules, shared by the API and the service.</summary>
public static class LedgerRules
{
    /// <summary>Longest idempotency key.</summary>
    public const int IdempotencyKeyMaxLength = 255;

    /// <summary>Longest description, reason or related record.</summary>
    public const int TextMaxLength = 500;

    /// <summary>Longest subject id.</summary>
    public const int SubjectIdMaxLength = 256;

    /// <summary>The longest a hold may stay open.</summary>
    public static readonly TimeSpan HoldLifetimeMax = TimeSpan.FromDays(30);

    /// <summary>Who acts and under which key: every credit-moving operation checks these first.</summary>
    internal static void Caller(string teamId, string userId, string idempotencyKey)
    {
        Team(teamId);
        User(userId);
        IdempotencyKey(idempotencyKey);
    }

    internal static void Team(string teamId)
    {
        if (!Auth.AuthInput.IsTeamId(teamId))
        {
            throw new LedgerValidationException("teamId", "must be 1-63 lower-case letters, digits or hyphens, starting with a letter or digit");
        }
    }

    internal static void User(string userId, string field = "userId")
    {
        if (!Auth.AuthInput.IsUserId(userId))
        {
            throw new LedgerValidationException(field, "must be 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
    }

    internal static void IdempotencyKey(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > IdempotencyKeyMaxLength || key.Any(char.IsControl))
        {
            throw new LedgerValidationException("idempotencyKey", $"is required: 1-{IdempotencyKeyMaxLength} printable characters (header Idempotency-Key)");
        }
    }

    internal static void Text(string? value, string field, bool required = false, int max = TextMaxLength)
    {
        if (required && string.IsNullOrWhiteSpace(value))
        {
            throw new LedgerValidationException(field, "is required");
        }
        if (value is not null && (value.Length > max || value.Any(c => char.IsControl(c) && c is not '\n' and not '\t')))
        {
            throw new LedgerValidationException(field, $"must be at most {max} characters without control characters");
        }
    }

    internal static void Positive(Credits amount, string field)
    {
        if (amount <= Credits.Zero)
        {
            throw new LedgerValidationException(field, "must be greater than 0");
        }
        if (amount > Credits.MaxAmount)
        {
            throw new LedgerValidationException(field, "must be at most 1,000,000,000");
        }
    }
}
