using System.Security.Cryptography;
using System.Text;

namespace PaymentsKit.Security;

/// <summary>A freshly generated API key. <see cref="Key"/> is shown to its owner once and never stored or logged.</summary>
/// <param name="Key">The full secret key, e.g. <c>pk_Ab3dE6gH…</c>.</param>
/// <param name="Prefix">The visible, non-secret lookup prefix (the kind and the first 8 random characters).</param>
/// <param name="Hash">The keyed hash to store.</param>
public sealed record GeneratedApiKey(string Key, string Prefix, string Hash)
{
    /// <summary>Never prints the key itself.</summary>
    public override string ToString() => $"{Prefix}… (hash {Hash[..8]}…)";
}

/// <summary>
/// Generates API keys and stores them only as HMAC-SHA256 hashes keyed with a host secret, so a
/// leaked database does not leak usable keys; verification compares in constant time. A key is
/// <c>{kind}_{40 base64url characters}</c>; its first 8 random characters form the lookup prefix.
/// </summary>
public sealed class ApiKeyHasher
{
    /// <summary>Random characters after the kind and underscore.</summary>
    public const int SecretLength = 40;

    /// <summary>How many random characters the visible prefix shows.</summary>
    public const int PrefixLength = 8;

    private static readonly System.Buffers.SearchValues<char> Base64UrlCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    private readonly byte[] _secret;

    /// <summary>Creates a hasher with the host's hashing secret (at least 32 bytes).</summary>
    public ApiKeyHasher(ReadOnlySpan<byte> secret)
    {
        if (secret.Length < 32)
        {
            throw PaymentsKitException.InvalidArgument("apiKeyHashingSecret", $"{secret.Length} bytes", "must be at least 32 bytes");
        }

        _secret = secret.ToArray();
    }

    /// <summary>Generates a new key of a kind (e.g. <c>pk</c>, <c>sk</c>, <c>ptn</c>).</summary>
    /// <param name="kind">2–8 lower-case letters naming what the key is for.</param>
    public GeneratedApiKey Generate(string kind)
    {
        if (string.IsNullOrEmpty(kind) || kind.Length is < 2 or > 8 || !kind.All(char.IsAsciiLetterLower))
        {
            throw PaymentsKitException.InvalidArgument("kind", kind, "must be 2–8 lower-case letters");
        }

        var random = Base64UrlEncode(RandomNumberGenerator.GetBytes(SecretLength * 3 / 4));
        var key = $"{kind}_{random}";
        return new GeneratedApiKey(key, PrefixOf(key), Hash(key));
    }

    /// <summary>The lookup prefix of a presented key; throws <c>invalid_argument</c> for a malformed key.</summary>
    public static string PrefixOf(string? key)
    {
        // The shape Generate makes, character by character: anything else (a NUL, say) is not a key, on every store.
        var underscore = key?.IndexOf('_', StringComparison.Ordinal) ?? -1;
        if (key is null || underscore is < 2 or > 8 || key.Length != underscore + 1 + SecretLength
            || key.AsSpan(0, underscore).ContainsAnyExceptInRange('a', 'z')
            || key.AsSpan(underscore + 1).IndexOfAnyExcept(Base64UrlCharacters) >= 0)
        {
            // Never echo a presented key: it may be a real secret with a typo.
            throw PaymentsKitException.InvalidArgument("apiKey", "(redacted)", "is not a PaymentsKit API key");
        }

        return key[..(underscore + 1 + PrefixLength)];
    }

    /// <summary>The keyed hash of a key, as lower-case hex.</summary>
    public string Hash(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Convert.ToHexStringLower(HMACSHA256.HashData(_secret, Encoding.UTF8.GetBytes(key)));
    }

    /// <summary>Whether a presented key matches a stored hash, in time independent of where they differ.</summary>
    public bool Verify(string? presentedKey, string storedHash)
    {
        ArgumentNullException.ThrowIfNull(storedHash);
        if (presentedKey is null)
        {
            return false;
        }

        var presented = Encoding.ASCII.GetBytes(Hash(presentedKey));
        var stored = Encoding.ASCII.GetBytes(storedHash);
        return CryptographicOperations.FixedTimeEquals(presented, stored);
    }

    private static string Base64UrlEncode(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
