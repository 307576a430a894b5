using System.Collections.Concurrent;

namespace CreditFunctions.Auth;

/// <summary>Why a presented key was accepted or refused. Only <see cref="Authenticated"/> yields a caller; callers
/// outside this feature see every refusal alike, so a refusal reveals nothing about which keys exist.</summary>
public enum ApiKeyCheckStatus
{
    /// <summary>The key is valid and active.</summary>
    Authenticated,

    /// <summary>The text does not have the key format.</summary>
    Malformed,

    /// <summary>No key has this key id.</summary>
    UnknownKey,

    /// <summary>The key id exists but the secret does not match.</summary>
    WrongSecret,

    /// <summary>The key matches but was revoked.</summary>
    Revoked,
}

/// <summary>The outcome of <see cref="ApiKeyAuthenticator.CheckAsync"/>.</summary>
/// <param name="Status">Accepted, or why not.</param>
/// <param name="Caller">Who the key speaks for, when <see cref="ApiKeyCheckStatus.Authenticated"/>.</param>
public readonly record struct ApiKeyCheck(ApiKeyCheckStatus Status, CallerContext? Caller);

/// <summary>
/// Turns a presented API key into a <see cref="CallerContext"/>. Keys found in storage are kept in memory for
/// <see cref="AuthOptions.KeyCacheDuration"/> (30 s by default) so most requests cost no storage read; the price is
/// that a key revoked elsewhere stays accepted by this server until its entry expires. A revocation made through
/// this server's own <see cref="Forget"/> applies at once. Thread-safe; one per process.
/// </summary>
public sealed class ApiKeyAuthenticator
{
    private readonly ApiKeyStore _store;
    private readonly AuthOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, CachedKey> _cache = new(StringComparer.Ordinal);

    /// <summary>An authenticator reading keys from <paramref name="store"/>.</summary>
    public ApiKeyAuthenticator(ApiKeyStore store, AuthOptions options, TimeProvider? timeProvider = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// Checks <paramref name="key"/>: its format, that its key id exists, that its secret matches the stored hash
    /// (compared in constant time) and that it is not revoked, in that order.
    /// </summary>
    public async ValueTask<ApiKeyCheck> CheckAsync(string? key, CancellationToken cancellationToken = default)
    {
        if (!ApiKeyToken.TryParse(key, out var keyId))
        {
            return new ApiKeyCheck(ApiKeyCheckStatus.Malformed, null);
        }
        var cached = await LoadAsync(keyId, cancellationToken).ConfigureAwait(false);
        if (cached is null)
        {
            return new ApiKeyCheck(ApiKeyCheckStatus.UnknownKey, null);
        }
        if (!ApiKeyToken.Matches(key!, cached.Hash))
        {
            return new ApiKeyCheck(ApiKeyCheckStatus.WrongSecret, null);
        }
        return cached.Revoked
            ? new ApiKeyCheck(ApiKeyCheckStatus.Revoked, null)
            : new ApiKeyCheck(ApiKeyCheckStatus.Authenticated, cached.Caller);
    }

    /// <summary>
    /// Checks the key a browser session speaks for, by its id alone (the session proved the secret when it was made):
    /// that it exists and is not revoked, with the same cache as <see cref="CheckAsync"/>. So revoking a key ends its
    /// sessions as it ends the key.
    /// </summary>
    public async ValueTask<ApiKeyCheck> CheckKeyIdAsync(string? keyId, CancellationToken cancellationToken = default)
    {
        if (!ApiKeyToken.IsKeyId(keyId))
        {
            return new ApiKeyCheck(ApiKeyCheckStatus.Malformed, null);
        }
        var cached = await LoadAsync(keyId!, cancellationToken).ConfigureAwait(false);
        if (cached is null)
        {
            return new ApiKeyCheck(ApiKeyCheckStatus.UnknownKey, null);
        }
        return cached.Revoked
            ? new ApiKeyCheck(ApiKeyCheckStatus.Revoked, null)
            : new ApiKeyCheck(ApiKeyCheckStatus.Authenticated, cached.Caller);
    }

    private async ValueTask<CachedKey?> LoadAsync(string keyId, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (!_cache.TryGetValue(keyId, out var cached) || cached.ExpiresAt <= now)
        {
            var row = await _store.FindEntityAsync(keyId, cancellationToken).ConfigureAwait(false);
            if (row?.KeyHash is null)
            {
                // Unknown ids are not cached: anyone can make up ids, and they must not crowd out real keys.
                return null;
            }
            var record = row.ToRecord();
            cached = new CachedKey(row.KeyHash, new CallerContext(record.TeamId, record.UserId, record.Role, record.KeyId),
                record.IsRevoked, now + _options.KeyCacheDuration);
            Remember(keyId, cached, now);
        }
        return cached;
    }

    /// <summary>Drops this server's cached copy of a key, so that a change to it (a revocation) applies here at once.</summary>
    public void Forget(string keyId) => _cache.TryRemove(keyId, out _);

    private void Remember(string keyId, CachedKey entry, DateTimeOffset now)
    {
        if (_options.KeyCacheDuration <= TimeSpan.Zero)
        {
            return;
        }
        if (_cache.Count >= _options.KeyCacheEntriesMax)
        {
            foreach (var (id, old) in _cache)
            {
                if (old.ExpiresAt <= now)
                {
                    _cache.TryRemove(id, out _);
                }
            }
            if (_cache.Count >= _options.KeyCacheEntriesMax)
            {
                _cache.Clear();
            }
        }
        _cache[keyId] = entry;
    }

    private sealed record CachedKey(byte[] Hash, CallerContext Caller, bool Revoked, DateTimeOffset ExpiresAt);
}
