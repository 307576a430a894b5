using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;
using CreditFunctions.Providers;

namespace CreditFunctions.Waterfall;

/// <summary>A team's enrichment settings: provider order per data, verification, automatic refunds, own keys.</summary>
public sealed record EnrichmentSettings
{
    /// <summary>Providers asked for emails, in order.</summary>
    public IReadOnlyList<string> EmailProviders { get; init; } = [];

    /// <summary>Providers asked for mobile numbers, in order.</summary>
    public IReadOnlyList<string> MobileProviders { get; init; } = [];

    /// <summary>The email verifier.</summary>
    public string? Verifier { get; init; }

    /// <summary>Whether found emails are verified (an invalid one counts as a miss); on by default.</summary>
    public bool VerifyEmails { get; init; } = true;

    /// <summary>Whether an email that re-verifies as invalid after purchase is refunded automatically; on by default.</summary>
    public bool RefundInvalidOnReverify { get; init; } = true;

    /// <summary>The team's own provider keys: provider → protected key or a setting reference. Never returned in full.</summary>
    public IReadOnlyDictionary<string, StoredKey> Keys { get; init; } = new Dictionary<string, StoredKey>();

    /// <summary>The secret that signs this team's webhooks, protected.</summary>
    public string? WebhookSecret { get; init; }

    /// <summary>The secret replaced by the last rotation, protected; deliveries are signed with it too until
    /// <see cref="PreviousWebhookSecretExpiresAt"/>.</summary>
    public string? PreviousWebhookSecret { get; init; }

    /// <summary>When <see cref="PreviousWebhookSecret"/> stops signing.</summary>
    public DateTimeOffset? PreviousWebhookSecretExpiresAt { get; init; }
}

/// <summary>The secrets that sign a team's deliveries now: the current one first, then the previous one while it is
/// still valid after a rotation.</summary>
public sealed record WebhookSigningSecrets(string Current, string? Previous);

/// <summary>A team's own key for a provider: encrypted at rest, or the name of an app setting (e.g. a Key Vault reference).</summary>
/// <param name="Protected">The key, encrypted with the app's secrets key.</param>
/// <param name="Setting">The name of an app setting holding the key.</param>
/// <param name="Last4">The key's last four characters, shown masked.</param>
public sealed record StoredKey(string? Protected, string? Setting, string Last4);

/// <summary>
/// Encrypts team secrets (own provider keys, webhook secrets) with AES-GCM under the app's secrets key. The team id is
/// bound in as associated data, so a secret copied into another team's settings does not decrypt. A protected value
/// names the key that made it (<c>v2.&lt;key id&gt;.&lt;base64&gt;</c>, the key id being the first 8 hex digits of a
/// SHA-256 of the key), so the key can be rotated: <see cref="KeySetting"/> is the current key, every new value is made
/// with it; <see cref="PreviousKeysSetting"/> lists old keys (comma-separated), which still decrypt what they made until
/// <c>secrets reencrypt</c> has moved every stored value to the current key. Values of the first format (<c>v1.</c>, no
/// key id) decrypt with whichever configured key made them.
/// </summary>
public sealed class SecretProtector
{
    /// <summary>The setting that holds the current key (32 bytes, base64).</summary>
    public const string KeySetting = "CREDITFUNCTIONS_SECRETS_KEY";

    /// <summary>The setting that holds previous keys (32 bytes base64 each, comma-separated), for decryption only.</summary>
    public const string PreviousKeysSetting = "CREDITFUNCTIONS_SECRETS_KEY_PREVIOUS";

    private const string Format = "v2.";
    private const string LegacyFormat = "v1.";

    private readonly byte[] _current;
    private readonly Dictionary<string, byte[]> _keys = new(StringComparer.Ordinal);

    /// <summary>A protector encrypting with <paramref name="currentKey"/> and decrypting with it and <paramref name="previousKeys"/>.</summary>
    /// <exception cref="ArgumentException">A key is not 32 bytes.</exception>
    public SecretProtector(byte[] currentKey, IEnumerable<byte[]>? previousKeys = null)
    {
        ArgumentNullException.ThrowIfNull(currentKey);
        foreach (var key in (previousKeys ?? []).Prepend(currentKey))
        {
            if (key.Length != 32)
            {
                throw new ArgumentException("A secrets key is 32 bytes.", nameof(currentKey));
            }
            _keys.TryAdd(KeyIdOf(key), key);
        }
        _current = currentKey;
        CurrentKeyId = KeyIdOf(currentKey);
    }

    /// <summary>The id of the key new values are made with.</summary>
    public string CurrentKeyId { get; }

    /// <summary>The id a protected value carries for <paramref name="key"/>: 8 hex digits of a SHA-256 of it.</summary>
    public static string KeyIdOf(byte[] key) =>
        Convert.ToHexStringLower(SHA256.HashData([.. Encoding.ASCII.GetBytes("creditfunctions-secrets-key:"), .. key]))[..8];

    /// <summary>Encrypts <paramref name="secret"/> for <paramref name="teamId"/> under the current key.</summary>
    public string Protect(string teamId, string secret)
    {
        var nonce = RandomNumberGenerator.GetBytes(12);
        var plain = Encoding.UTF8.GetBytes(secret);
        var cipher = new byte[plain.Length];
        var tag = new byte[16];
        using var aes = new AesGcm(_current, 16);
        aes.Encrypt(nonce, plain, cipher, tag, Encoding.UTF8.GetBytes(teamId));
        return Format + CurrentKeyId + "." + Convert.ToBase64String([.. nonce, .. tag, .. cipher]);
    }

    /// <summary>Whether <paramref name="protectedValue"/> was made with the current key.</summary>
    public bool IsCurrent(string protectedValue) =>
        protectedValue?.StartsWith(Format + CurrentKeyId + ".", StringComparison.Ordinal) == true;

    /// <summary>Decrypts a value made by <see cref="Protect"/> for the same team, with the key it names.</summary>
    /// <exception cref="CryptographicException">Unknown key (not the current one nor a previous one), wrong team or tampered value.</exception>
    public string Unprotect(string teamId, string protectedValue)
    {
        ArgumentNullException.ThrowIfNull(protectedValue);
        if (protectedValue.StartsWith(Format, StringComparison.Ordinal) && protectedValue.IndexOf('.', Format.Length) is var dot and > 0)
        {
            var keyId = protectedValue[Format.Length..dot];
            return _keys.TryGetValue(keyId, out var key)
                ? Decrypt(key, teamId, protectedValue[(dot + 1)..])
                : throw new CryptographicException($"The value was protected with key {keyId}, which is neither {KeySetting} nor in {PreviousKeysSetting}.");
        }
        if (protectedValue.StartsWith(LegacyFormat, StringComparison.Ordinal))
        {
            foreach (var key in _keys.Values)
            {
                try
                {
                    return Decrypt(key, teamId, protectedValue[LegacyFormat.Length..]);
                }
                catch (CryptographicException)
                {
                    // Made with another key, or not for this team: try the next key.
                }
            }
            throw new CryptographicException("No configured secrets key decrypts the value.");
        }
        throw new CryptographicException("Unknown protected-value format.");
    }

    /// <summary><paramref name="protectedValue"/> under the current key: itself when it already is, else decrypted and
    /// protected again.</summary>
    /// <exception cref="CryptographicException">As <see cref="Unprotect"/>.</exception>
    public string Reprotect(string teamId, string protectedValue) =>
        IsCurrent(protectedValue) ? protectedValue : Protect(teamId, Unprotect(teamId, protectedValue));

    private static string Decrypt(byte[] key, string teamId, string payload)
    {
        byte[] data;
        try
        {
            data = Convert.FromBase64String(payload);
        }
        catch (FormatException ex)
        {
            throw new CryptographicException("The protected value is not base64.", ex);
        }
        if (data.Length < 28)
        {
            throw new CryptographicException("The protected value is too short.");
        }
        var plain = new byte[data.Length - 28];
        using var aes = new AesGcm(key, 16);
        aes.Decrypt(data.AsSpan(0, 12), data.AsSpan(28), data.AsSpan(12, 16), plain, Encoding.UTF8.GetBytes(teamId));
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>The keys from <paramref name="configuration"/>, or for a local run a current key kept in
    /// <paramref name="localKeyFile"/> (created on first use); null when there is no current key.</summary>
    /// <exception cref="InvalidOperationException">A key setting is not 32 bytes of base64.</exception>
    public static SecretProtector? From(IConfiguration configuration, string? localKeyFile)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var previous = (configuration[PreviousKeysSetting] ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(text => TryBase64(text) is { Length: 32 } bytes ? bytes
                : throw new InvalidOperationException($"{PreviousKeysSetting} must be comma-separated keys of 32 bytes in base64."))
            .ToList();
        if (configuration[KeySetting] is { Length: > 0 } text)
        {
            var bytes = TryBase64(text);
            return bytes is { Length: 32 } ? new SecretProtector(bytes, previous)
                : throw new InvalidOperationException($"{KeySetting} must be 32 bytes in base64 (e.g. openssl rand -base64 32).");
        }
        if (localKeyFile is null)
        {
            return null;
        }
        if (!File.Exists(localKeyFile))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(localKeyFile)!);
            File.WriteAllText(localKeyFile, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        }
        return new SecretProtector(Convert.FromBase64String(File.ReadAllText(localKeyFile).Trim()), previous);
    }

    private static byte[]? TryBase64(string text)
    {
        try
        {
            return Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>
/// The app settings a team may name as its own provider key (<c>apiKeySetting</c>):
/// <c>CREDITFUNCTIONS_TEAMKEY_&lt;TEAM&gt;_&lt;NAME&gt;</c>, where TEAM is the team id upper-cased with its hyphens
/// as <c>_</c> and NAME is 1 to 64 upper-case letters and digits (no <c>_</c>, so no name is under two teams'
/// prefixes: team <c>acme</c> cannot name <c>…_ACME_X_…</c>, which belongs to team <c>acme-x</c>). Any other setting
/// (the platform's own vendor keys, the storage connection, the secrets key) is refused when saved and never read.
/// </summary>
public static class TeamKeySetting
{
    /// <summary>What every team key setting starts with.</summary>
    public const string Prefix = "CREDITFUNCTIONS_TEAMKEY_";

    private const int NameLengthMax = 64;

    /// <summary>The prefix of <paramref name="teamId"/>'s settings, e.g. <c>CREDITFUNCTIONS_TEAMKEY_ACME_CORP_</c>.</summary>
    public static string PrefixFor(string teamId)
    {
        ArgumentNullException.ThrowIfNull(teamId);
        return Prefix + new string([.. teamId.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToUpperInvariant(c) : '_')]) + "_";
    }

    /// <summary>Whether <paramref name="teamId"/> may name the setting <paramref name="name"/>.</summary>
    public static bool IsAllowed(string teamId, string? name)
    {
        var prefix = PrefixFor(teamId);
        return name is not null && name.StartsWith(prefix, StringComparison.Ordinal)
            && name.Length - prefix.Length is > 0 and <= NameLengthMax
            && name.AsSpan(prefix.Length).ToString().All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c));
    }

    /// <summary>The rule, for error messages.</summary>
    public static string Rule(string teamId) =>
        $"A setting named {PrefixFor(teamId)}<NAME>, NAME being 1-{NameLengthMax} upper-case letters and digits.";
}

/// <summary>Stores each team's <see cref="EnrichmentSettings"/> (one row per team in the enrichment table) and
/// resolves its own provider keys.</summary>
public sealed class EnrichmentSettingsStore(TableClient table, ProviderCatalog catalog, SecretProtector? protector, IConfiguration configuration)
{
    private const string SettingsRow = "settings";
    private const int RecentMax = 10_000;
    private const int AttemptsMax = 16;

    // Settings as last read by this process, for GetRecentAsync; a save here drops the team's entry and bumps the
    // version, so a read that raced the save is not kept.
    private readonly ConcurrentDictionary<string, (EnrichmentSettings Settings, long ReadAt)> _recent = new(StringComparer.Ordinal);
    private long _version;

    /// <summary>Whether own keys can be stored encrypted (a secrets key is configured).</summary>
    public bool CanProtectSecrets => protector is not null;

    /// <summary>The team's settings, or the defaults: every provider of the catalog in file order, verification on.</summary>
    public async Task<EnrichmentSettings> GetAsync(string teamId, CancellationToken cancellationToken = default)
    {
        var row = await table.GetEntityOrNullAsync<TableEntity>(teamId, SettingsRow, cancellationToken).ConfigureAwait(false);
        return Parse(row);
    }

    private EnrichmentSettings Parse(TableEntity? row) =>
        row?.GetString("Json") is { } json
            ? JsonSerializer.Deserialize<EnrichmentSettings>(json, JsonSerializerOptions.Web)!
            : Defaults();

    /// <summary>
    /// The team's settings as this process read them at most <paramref name="maxAge"/> ago, else read now. For the
    /// activities of a run in flight, which need only the team's own keys (the run took its providers when it started):
    /// a change saved through this process applies at once, one saved through another server within
    /// <paramref name="maxAge"/>.
    /// </summary>
    public async Task<EnrichmentSettings> GetRecentAsync(string teamId, TimeSpan maxAge, CancellationToken cancellationToken = default)
    {
        if (_recent.TryGetValue(teamId, out var recent) && Stopwatch.GetElapsedTime(recent.ReadAt) < maxAge)
        {
            return recent.Settings;
        }
        var version = Interlocked.Read(ref _version);
        var readAt = Stopwatch.GetTimestamp();
        var settings = await GetAsync(teamId, cancellationToken).ConfigureAwait(false);
        if (_recent.Count >= RecentMax)
        {
            _recent.Clear();
        }
        _recent[teamId] = (settings, readAt);
        if (Interlocked.Read(ref _version) != version)
        {
            _recent.TryRemove(teamId, out _); // a save ran meanwhile: what was read may be older than it
        }
        return settings;
    }

    /// <summary>
    /// Changes the team's settings: reads them, applies <paramref name="change"/> and writes the result under the row's
    /// ETag (or as a new row), so two admins changing different settings at once both keep their change; a lost race
    /// is read and applied again. Returns what was written.
    /// </summary>
    /// <exception cref="RequestFailedException">The row kept changing under 16 attempts in a row.</exception>
    public async Task<EnrichmentSettings> UpdateAsync(string teamId, Func<EnrichmentSettings, EnrichmentSettings> change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(change);
        for (var attempt = 1; ; attempt++)
        {
            var row = await table.GetEntityOrNullAsync<TableEntity>(teamId, SettingsRow, cancellationToken).ConfigureAwait(false);
            var updated = change(Parse(row));
            var entity = new TableEntity(teamId, SettingsRow) { ["Json"] = JsonSerializer.Serialize(updated, JsonSerializerOptions.Web) };
            try
            {
                if (row is null)
                {
                    await table.AddEntityAsync(entity, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await table.UpdateEntityAsync(entity, row.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
                }
                return updated;
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412 && attempt < AttemptsMax)
            {
                // Another writer got there first: read its version and apply the change to it.
            }
            finally
            {
                Interlocked.Increment(ref _version);
                _recent.TryRemove(teamId, out _);
            }
        }
    }

    /// <summary>The defaults from the provider catalog.</summary>
    public EnrichmentSettings Defaults() => new()
    {
        EmailProviders = catalog.WithCapability(ProviderCapabilities.Email).Select(p => p.Name).ToList(),
        MobileProviders = catalog.WithCapability(ProviderCapabilities.Mobile).Select(p => p.Name).ToList(),
        Verifier = catalog.WithCapability(ProviderCapabilities.EmailVerification).Select(p => p.Name).FirstOrDefault(),
    };

    /// <summary>The team's own key for <paramref name="provider"/>, or null to use the app's default key. A setting
    /// reference is read only when <see cref="TeamKeySetting.IsAllowed"/> allows it for the team (a reference stored
    /// before the rule, or written around the API, is ignored).</summary>
    public ProviderApiKey? ResolveKey(string teamId, EnrichmentSettings settings, string provider)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!settings.Keys.TryGetValue(provider, out var stored))
        {
            return null;
        }
        var value = stored.Setting is not null ? (TeamKeySetting.IsAllowed(teamId, stored.Setting) ? configuration[stored.Setting] : null)
            : stored.Protected is not null && protector is not null ? protector.Unprotect(teamId, stored.Protected)
            : null;
        return value is { Length: > 0 } ? new ProviderApiKey(teamId, value) : null;
    }

    /// <summary>Protects a new own key.</summary>
    /// <exception cref="InvalidOperationException">No secrets key is configured.</exception>
    public StoredKey Protect(string teamId, string key) =>
        new(protector?.Protect(teamId, key) ?? throw new InvalidOperationException("No secrets key is configured."), null, Last4(key));

    /// <summary>Protects a secret of the team's own (a form's signing secret) under the current secrets key.</summary>
    /// <exception cref="InvalidOperationException">No secrets key is configured.</exception>
    public string ProtectSecret(string teamId, string secret) =>
        protector?.Protect(teamId, secret) ?? throw new InvalidOperationException("No secrets key is configured.");

    /// <summary>A secret protected by <see cref="ProtectSecret"/> for the same team.</summary>
    /// <exception cref="InvalidOperationException">No secrets key is configured.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">No configured key decrypts it.</exception>
    public string UnprotectSecret(string teamId, string protectedValue) =>
        protector?.Unprotect(teamId, protectedValue) ?? throw new InvalidOperationException("No secrets key is configured.");

    /// <summary>How long a rotated-out webhook secret keeps signing deliveries.</summary>
    public static readonly TimeSpan PreviousWebhookSecretLifetime = TimeSpan.FromHours(24);

    /// <summary>
    /// Makes <paramref name="secret"/> the team's webhook secret (stored protected, under the row's ETag); the secret
    /// it replaces keeps signing deliveries, besides the new one, for <see cref="PreviousWebhookSecretLifetime"/> from
    /// <paramref name="now"/> (an older previous secret stops at once).
    /// </summary>
    /// <exception cref="InvalidOperationException">No secrets key is configured.</exception>
    public Task<EnrichmentSettings> RotateWebhookSecretAsync(string teamId, string secret, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var protectedSecret = protector?.Protect(teamId, secret) ?? throw new InvalidOperationException("No secrets key is configured.");
        return UpdateAsync(teamId, current => current with
        {
            WebhookSecret = protectedSecret,
            PreviousWebhookSecret = current.WebhookSecret,
            PreviousWebhookSecretExpiresAt = current.WebhookSecret is null ? null : now + PreviousWebhookSecretLifetime,
        }, cancellationToken);
    }

    /// <summary>
    /// The secrets that sign the team's deliveries at <paramref name="now"/>. A team without a secret gets
    /// <paramref name="newSecret"/>'s, stored protected (when two deliveries race, the first stored wins and both use
    /// it); it is never shown: an admin sees a secret by rotating (the generated one keeps signing for 24 hours).
    /// Null when no secrets key is configured.
    /// </summary>
    public async Task<WebhookSigningSecrets?> GetOrCreateWebhookSecretsAsync(string teamId, Func<string> newSecret, DateTimeOffset now,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(newSecret);
        if (protector is null)
        {
            return null;
        }
        var settings = await GetAsync(teamId, cancellationToken).ConfigureAwait(false);
        if (settings.WebhookSecret is null)
        {
            var generated = protector.Protect(teamId, newSecret());
            settings = await UpdateAsync(teamId, current => current.WebhookSecret is null ? current with { WebhookSecret = generated } : current,
                cancellationToken).ConfigureAwait(false);
        }
        var previous = settings.PreviousWebhookSecret is { } old && settings.PreviousWebhookSecretExpiresAt > now ? protector.Unprotect(teamId, old) : null;
        return new WebhookSigningSecrets(protector.Unprotect(teamId, settings.WebhookSecret!), previous);
    }

    private static string Last4(string key) => key.Length <= 4 ? new string('*', key.Length) : key[^4..];
}
