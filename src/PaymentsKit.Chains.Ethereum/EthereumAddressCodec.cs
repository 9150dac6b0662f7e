using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace PaymentsKit.Chains.Ethereum;

/// <summary>
/// Ethereum addresses with EIP-55 checksums: <c>0x</c> and 40 hex digits, where the case of each letter
/// is set by the Keccak-256 of the lower-case hex. The canonical form is always the checksummed one.
/// </summary>
/// <remarks>
/// Mixed-case input must carry a correct checksum. All-lower-case and all-upper-case input carries no
/// checksum (EIP-55 treats it as unchecksummed); <see cref="Lenient"/> accepts it — nodes, explorers and
/// many wallets print addresses that way — while <see cref="Strict"/> rejects it so a typo cannot slip
/// through. The adapter uses <see cref="Lenient"/> unless <c>EthereumOptions.RequireChecksum</c> is set.
/// </remarks>
public sealed class EthereumAddressCodec : IAddressCodec
{
    private EthereumAddressCodec(bool requireChecksum) => RequireChecksum = requireChecksum;

    /// <summary>Accepts checksummed, all-lower-case and all-upper-case addresses.</summary>
    public static EthereumAddressCodec Lenient { get; } = new(requireChecksum: false);

    /// <summary>Accepts only addresses with a correct EIP-55 checksum.</summary>
    public static EthereumAddressCodec Strict { get; } = new(requireChecksum: true);

    /// <summary>Whether single-case (unchecksummed) addresses are rejected.</summary>
    public bool RequireChecksum { get; }

    /// <inheritdoc />
    public bool TryNormalize(string? text, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? problem)
    {
        canonical = null;
        if (string.IsNullOrEmpty(text))
        {
            problem = "the address is empty";
            return false;
        }

        if (text.Length != 42 || text[0] != '0' || text[1] != 'x')
        {
            problem = "it must be 0x followed by 40 hexadecimal digits";
            return false;
        }

        var hex = text.AsSpan(2);
        foreach (var c in hex)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"character '{c}' is not hexadecimal");
                return false;
            }
        }

        var checksummed = ToChecksumAddress(hex);
        var hasLower = hex.ContainsAnyInRange('a', 'f');
        var hasUpper = hex.ContainsAnyInRange('A', 'F');
        if (hasLower && hasUpper)
        {
            if (!string.Equals(checksummed, text, StringComparison.Ordinal))
            {
                problem = "its EIP-55 checksum (letter case) is wrong";
                return false;
            }
        }
        else if (RequireChecksum && (hasLower || hasUpper) && !string.Equals(checksummed, text, StringComparison.Ordinal))
        {
            problem = "it has no EIP-55 checksum (all letters are one case)";
            return false;
        }

        canonical = checksummed;
        problem = null;
        return true;
    }

    /// <summary>The EIP-55 form of 20 address bytes.</summary>
    /// <exception cref="ArgumentException">When not 20 bytes.</exception>
    public static string Encode(ReadOnlySpan<byte> address)
    {
        if (address.Length != 20)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"An address has 20 bytes, not {address.Length}."), nameof(address));
        }

        return ToChecksumAddress(Convert.ToHexStringLower(address));
    }

    private static string ToChecksumAddress(ReadOnlySpan<char> hex)
    {
        Span<char> lower = stackalloc char[40];
        hex.ToLowerInvariant(lower);
        var hash = Keccak256.Hash(Encoding.ASCII.GetBytes(lower.ToArray()));
        var result = new StringBuilder("0x", 42);
        for (var i = 0; i < 40; i++)
        {
            var nibble = (i % 2 == 0 ? hash[i / 2] >> 4 : hash[i / 2]) & 0x0F;
            result.Append(nibble >= 8 ? char.ToUpperInvariant(lower[i]) : lower[i]);
        }

        return result.ToString();
    }
}
