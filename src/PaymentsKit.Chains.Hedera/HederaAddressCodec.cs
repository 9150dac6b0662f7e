using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;

namespace PaymentsKit.Chains.Hedera;

/// <summary>The Hedera ledgers with a HIP-15 ledger id.</summary>
public enum HederaNetwork
{
    /// <summary>Mainnet, ledger id 0x00.</summary>
    Mainnet = 0,

    /// <summary>The stable testnet, ledger id 0x01.</summary>
    Testnet = 1,

    /// <summary>Previewnet, ledger id 0x02.</summary>
    Previewnet = 2,
}

/// <summary>A Hedera entity id.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Realm">The realm.</param>
/// <param name="Num">The entity number.</param>
public readonly record struct HederaEntityId(long Shard, long Realm, long Num)
{
    /// <summary>The no-checksum form, e.g. <c>0.0.123</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Shard}.{Realm}.{Num}");
}

/// <summary>
/// Hedera account ids <c>shard.realm.num</c> with the optional HIP-15 checksum (<c>0.0.123-vfmkw</c>), which
/// depends on the ledger. Input follows HIP-15 exactly: decimal numbers without leading zeros, an optional
/// dash and five lower-case letters, nothing else; a checksum must match this codec's ledger. The canonical
/// form always carries the checksum, as HIP-15 asks for output.
/// </summary>
/// <remarks>EVM-address aliases (<c>0x…</c>, <c>0.0.&lt;alias&gt;</c>) are not accepted.</remarks>
public sealed partial class HederaAddressCodec : IAddressCodec
{
    private const int P3 = 26 * 26 * 26;
    private const int P5 = 26 * 26 * 26 * 26 * 26;
    private readonly byte[] _ledgerId;

    /// <summary>Creates a codec for a ledger id (HIP-15: one byte per public network, longer for others).</summary>
    /// <exception cref="ArgumentException">When the ledger id is empty.</exception>
    public HederaAddressCodec(ReadOnlySpan<byte> ledgerId)
    {
        if (ledgerId.IsEmpty)
        {
            throw new ArgumentException("A ledger id has at least one byte.", nameof(ledgerId));
        }

        _ledgerId = ledgerId.ToArray();
    }

    /// <summary>Mainnet (ledger id 0x00).</summary>
    public static HederaAddressCodec Mainnet { get; } = new([0]);

    /// <summary>Testnet (ledger id 0x01).</summary>
    public static HederaAddressCodec Testnet { get; } = new([1]);

    /// <summary>Previewnet (ledger id 0x02).</summary>
    public static HederaAddressCodec Previewnet { get; } = new([2]);

    /// <summary>The codec of a public network.</summary>
    public static HederaAddressCodec For(HederaNetwork network) => network switch
    {
        HederaNetwork.Mainnet => Mainnet,
        HederaNetwork.Testnet => Testnet,
        HederaNetwork.Previewnet => Previewnet,
        _ => throw new ArgumentOutOfRangeException(nameof(network), network, "Unknown Hedera network."),
    };

    /// <inheritdoc />
    public bool TryNormalize(string? text, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? problem)
    {
        canonical = null;
        if (!TryParse(text, out var id, out problem))
        {
            return false;
        }

        canonical = Format(id);
        return true;
    }

    /// <summary>Parses <c>shard.realm.num</c> with an optional checksum for this ledger.</summary>
    public bool TryParse(string? text, out HederaEntityId id, [NotNullWhen(false)] out string? problem)
    {
        id = default;
        if (string.IsNullOrEmpty(text))
        {
            problem = "the address is empty";
            return false;
        }

        var match = AddressPattern().Match(text);
        if (!match.Success)
        {
            problem = "it must be shard.realm.num without leading zeros, optionally followed by '-' and a 5-letter lower-case checksum";
            return false;
        }

        if (!long.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var shard)
            || !long.TryParse(match.Groups[2].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var realm)
            || !long.TryParse(match.Groups[3].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var num))
        {
            problem = "a number is larger than a 64-bit entity id allows";
            return false;
        }

        var noChecksum = text[..match.Groups[3].Index] + match.Groups[3].Value;
        if (match.Groups[4].Success && !string.Equals(match.Groups[4].Value, Checksum(noChecksum), StringComparison.Ordinal))
        {
            problem = "the checksum does not match this ledger";
            return false;
        }

        id = new HederaEntityId(shard, realm, num);
        problem = null;
        return true;
    }

    /// <summary>The with-checksum form, e.g. <c>0.0.123-vfmkw</c> on mainnet.</summary>
    /// <exception cref="ArgumentOutOfRangeException">For a negative part.</exception>
    public string Format(HederaEntityId id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id.Shard);
        ArgumentOutOfRangeException.ThrowIfNegative(id.Realm);
        ArgumentOutOfRangeException.ThrowIfNegative(id.Num);
        var plain = id.ToString();
        return plain + "-" + Checksum(plain);
    }

    /// <summary>The HIP-15 checksum of a no-checksum address on this ledger.</summary>
    public string Checksum(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        long sd0 = 0, sd1 = 0, sd = 0, sh = 0;
        for (var i = 0; i < address.Length; i++)
        {
            var digit = address[i] == '.' ? 10 : address[i] - '0';
            if (i % 2 == 0)
            {
                sd0 += digit;
            }
            else
            {
                sd1 += digit;
            }

            sd = ((sd * 31) + digit) % P3;
        }

        foreach (var b in _ledgerId.Concat(new byte[6]))
        {
            sh = ((sh * 31) + b) % P5;
        }

        var c = ((((((address.Length % 5) * 11) + (sd0 % 11)) * 11) + (sd1 % 11)) * P3 + sd + sh) % P5;
        var cp = c * 1_000_003 % P5;
        Span<char> letters = stackalloc char[5];
        for (var i = 4; i >= 0; i--)
        {
            letters[i] = (char)('a' + (cp % 26));
            cp /= 26;
        }

        return new string(letters);
    }

    [GeneratedRegex(@"^(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})(?:-([a-z]{5}))?\z", RegexOptions.CultureInvariant)]
    private static partial Regex AddressPattern();
}
