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
}

/// <summary>A team's own key for a provider: encrypted at rest, or the name of an app setting (e.g. a Key Vault reference).</summary>
/// <param name="Protected">The key, encrypted with the app's secrets key.</param>
/// <param name="Setting">The name of an app setting holding the key.</param>
/// <param name="Last4">The key's last four characters, shown masked.</param>
public sealed record StoredKey(string? Protected, string? Setting, string Last4);

/// <summary>
/// Encrypts team secrets (own provider keys, webhook secrets) with AES-GCM under the app's secrets key
/// (<c>CREDITFUNCTIONS_SECRETS_KEY</c>, 32 bytes base64). The team id is bound in as associated data, so a secret
/// copied into another team's settings does not decrypt.
/// </summary>
public sealed class SecretProtector(byte[] key)
{
    /// <summary>The setting that holds the key.</summary>
    public const string KeySetting = "CREDITFUNCTIONS_SECRETS_KEY";

    /// <summary>Encrypts <paramref name="secret"/> for <paramref name="teamId"/>.</summary>
    public string Protect(string teamId, string secret)
    {
        var nonce = RandomNumberGenerator.GetBytes(12);
        var plain = Encoding.UTF8.GetBytes(secret);
        var cipher = new byte[plain.Length];
        var tag = new byte[16];
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(nonce, plain, cipher, tag, Encoding.UTF8.GetBytes(teamId));
        return "v1." + Convert.ToBase64String([.. nonce, .. tag, .. cipher]);
    }

    /// <summary>Decrypts a value made by <see cref="Protect"/> for the same team.</summary>
    /// <exception cref="CryptographicException">Wrong key, wrong team or tampered value.</exception>
    public string Unprotect(string teamId, string protectedValue)
    {
        ArgumentNullException.ThrowIfNull(protectedValue);
        if (!protectedValue.StartsWith("v1.", StringComparison.Ordinal))
        {
            throw new CryptographicException("Unknown protected-value format.");
        }
        var data = Convert.FromBase64String(protectedValue[3..]);
        var plain = new byte[data.Length - 28];
        using var aes = new AesGcm(key, 16);
        aes.Decrypt(data.AsSpan(0, 12), data.AsSpan(28), data.AsSpan(12, 16), plain, Encoding.UTF8.GetBytes(teamId));
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>The key from <paramref name="configuration"/>, or for a local run a key kept in <paramref name="localKeyFile"/>
    /// (created on first use); null when neither is available.</summary>
    /// <exception cref="InvalidOperationException">The setting is not 32 bytes of base64.</exception>
    public static SecretProtector? From(IConfiguration configuration, string? localKeyFile)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration[KeySetting] is { Length: > 0 } text)
        {
            var bytes = TryBase64(text);
            return bytes is { Length: 32 } ? new SecretProtector(bytes)
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
        return new SecretProtector(Convert.FromBase64String(File.ReadAllText(localKeyFile).Trim()));
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

    /// <summary>The team's own key for <paramref name="provider"/>, or null to use the app's default key.</summary>
    public ProviderApiKey? ResolveKey(string teamId, EnrichmentSettings settings, string provider)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!settings.Keys.TryGetValue(provider, out var stored))
        {
            return null;
        }
        var value = stored.Setting is not null ? configuration[stored.Setting]
            : stored.Protected is not null && protector is not null ? protector.Unprotect(teamId, stored.Protected)
            : null;
        return value is { Length: > 0 } ? new ProviderApiKey(teamId, value) : null;
    }

    /// <summary>Protects a new own key.</summary>
    /// <exception cref="InvalidOperationException">No secrets key is configured.</exception>
    public StoredKey Protect(string teamId, string key) =>
        new(protector?.Protect(teamId, key) ?? throw new InvalidOperationException("No secrets key is configured."), null, Last4(key));

    /// <summary>Protects a webhook secret.</summary>
    public string? ProtectWebhookSecret(string teamId, string secret) => protector?.Protect(teamId, secret);

    /// <summary>The webhook secret in clear, or null when the team has none.</summary>
    public string? WebhookSecret(string teamId, EnrichmentSettings settings) =>
        settings?.WebhookSecret is { } value && protector is not null ? protector.Unprotect(teamId, value) : null;

    private static string Last4(string key) => key.Length <= 4 ? new string('*', key.Length) : key[^4..];
}
