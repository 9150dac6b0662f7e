using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using SimpleBase;

namespace PaymentsKit.Chains.Solana;

/// <summary>
/// Solana addresses: 32-byte public keys (wallets, program-derived and token accounts alike) in base58
/// with the Bitcoin alphabet, 32–44 characters. Only the canonical spelling is accepted: the text must
/// decode to exactly 32 bytes and re-encode to itself.
/// </summary>
/// <remarks>
/// Solana addresses carry no checksum, so a mistyped character usually yields another valid key; the
/// codec guarantees only that such text is never normalised into the address that was meant. Program-derived
/// addresses are off the ed25519 curve and still valid recipients, so no curve check is made.
/// </remarks>
public sealed class SolanaAddressCodec : IAddressCodec
{
    /// <summary>The shared instance.</summary>
    public static SolanaAddressCodec Instance { get; } = new();

    /// <inheritdoc />
    public bool TryNormalize(string? text, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? problem)
    {
        canonical = null;
        if (!TryDecode(text, out _, out problem))
        {
            return false;
        }

        canonical = text!;
        return true;
    }

    /// <summary>Decodes an address to its 32 bytes.</summary>
    public static bool TryDecode(string? text, [NotNullWhen(true)] out byte[]? key, [NotNullWhen(false)] out string? problem)
    {
        key = null;
        if (string.IsNullOrEmpty(text))
        {
            problem = "the address is empty";
            return false;
        }

        if (text.Length is < 32 or > 44)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"it has {text.Length} characters, a base58 public key has 32 to 44");
            return false;
        }

        foreach (var c in text)
        {
            if (!IsBase58(c))
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"character '{c}' is not base58");
                return false;
            }
        }

        var bytes = Base58.Bitcoin.Decode(text);
        if (bytes.Length != 32)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"it decodes to {bytes.Length} bytes, a public key has 32");
            return false;
        }

        if (!string.Equals(Base58.Bitcoin.Encode(bytes), text, StringComparison.Ordinal))
        {
            problem = "it is not the canonical base58 spelling of its key";
            return false;
        }

        key = bytes;
        problem = null;
        return true;
    }

    /// <summary>Encodes 32 bytes as an address.</summary>
    /// <exception cref="ArgumentException">When not 32 bytes.</exception>
    public static string Encode(ReadOnlySpan<byte> key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A public key has 32 bytes, not {key.Length}."), nameof(key));
        }

        return Base58.Bitcoin.Encode(key);
    }

    private static bool IsBase58(char c) =>
        c is (>= '1' and <= '9') or (>= 'A' and <= 'H') or (>= 'J' and <= 'N') or (>= 'P' and <= 'Z') or (>= 'a' and <= 'k') or (>= 'm' and <= 'z');
}
