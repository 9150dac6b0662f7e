using System.Buffers;
using System.Security.Cryptography;

namespace PaymentsKit.Webhooks;

/// <summary>
/// A Standard Webhooks symmetric signing secret: 24–64 random bytes, shown to the receiver as
/// <c>whsec_</c> followed by their base64. <see cref="ToString"/> never reveals it; <see cref="Reveal"/> does.
/// </summary>
public sealed class WebhookSecret
{
    /// <summary>The prefix of the serialized form.</summary>
    public const string Prefix = "whsec_";

    /// <summary>The fewest key bytes the specification allows (192 bits).</summary>
    public const int MinBytes = 24;

    /// <summary>The most key bytes the specification allows (512 bits).</summary>
    public const int MaxBytes = 64;

    /// <summary>The size of secrets made by <see cref="Generate"/>.</summary>
    public const int GeneratedBytes = 32;

    /// <summary>The characters of (padded, standard) base64.</summary>
    private static readonly SearchValues<char> Base64Characters =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");

    private readonly byte[] _key;

    private WebhookSecret(byte[] key) => _key = key;

    /// <summary>The raw key bytes.</summary>
    internal ReadOnlySpan<byte> Key => _key;

    /// <summary>A new random secret of <see cref="GeneratedBytes"/> bytes from the OS's cryptographic generator.</summary>
    public static WebhookSecret Generate() => new(RandomNumberGenerator.GetBytes(GeneratedBytes));

    /// <summary>Wraps raw key bytes (copied).</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for fewer than 24 or more than 64 bytes.</exception>
    public static WebhookSecret FromBytes(ReadOnlySpan<byte> key)
    {
        CheckLength(key.Length);
        return new WebhookSecret(key.ToArray());
    }

    /// <summary>
    /// Parses <c>whsec_&lt;base64&gt;</c>. The bare base64 is accepted too, as the reference libraries accept it.
    /// Whitespace anywhere in it is refused: base64 decoders skip it, so a secret broken over lines or padded by a copy
    /// and paste would otherwise be taken as a different text of the same key.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for malformed base64 (whitespace included) or a key of the wrong size; the secret is never echoed.</exception>
    public static WebhookSecret Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw PaymentsKitException.InvalidArgument("webhook_secret", null, "is required");
        }

        var encoded = text.StartsWith(Prefix, StringComparison.Ordinal) ? text.AsSpan(Prefix.Length) : text.AsSpan();
        var buffer = new byte[(encoded.Length * 3 / 4) + 3];
        try
        {
            if (encoded.ContainsAnyExcept(Base64Characters) || !Convert.TryFromBase64Chars(encoded, buffer, out var written))
            {
                throw PaymentsKitException.InvalidArgument("webhook_secret", "(redacted)", "must be 'whsec_' followed by base64");
            }

            CheckLength(written);
            return new WebhookSecret(buffer.AsSpan(0, written).ToArray());
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    /// <summary>The serialized secret, <c>whsec_&lt;base64&gt;</c>: show it to the receiver once, store it encrypted.</summary>
    public string Reveal() => Prefix + Convert.ToBase64String(_key);

    /// <summary>A redacted form, safe for logs.</summary>
    public override string ToString() => Prefix + "…";

    private static void CheckLength(int length)
    {
        if (length is < MinBytes or > MaxBytes)
        {
            throw PaymentsKitException.InvalidArgument(
                "webhook_secret", "(redacted)", $"must hold {MinBytes} to {MaxBytes} bytes but holds {length}");
        }
    }
}
