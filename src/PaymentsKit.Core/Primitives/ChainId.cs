using System.Text.RegularExpressions;

namespace PaymentsKit;

/// <summary>
/// Names a blockchain network family ("stellar", "ethereum", "solana", "hedera", or a host's own).
/// Lower-case ASCII letters, digits and dashes, 1–32 characters.
/// </summary>
public readonly partial record struct ChainId
{
    private ChainId(string value) => Value = value;

    /// <summary>Stellar (XLM and issued assets).</summary>
    public static ChainId Stellar { get; } = new("stellar");

    /// <summary>Ethereum and EVM-compatible networks.</summary>
    public static ChainId Ethereum { get; } = new("ethereum");

    /// <summary>Solana.</summary>
    public static ChainId Solana { get; } = new("solana");

    /// <summary>Hedera.</summary>
    public static ChainId Hedera { get; } = new("hedera");

    /// <summary>The chain name.</summary>
    public string Value { get; }

    /// <summary>Validates and wraps a chain name.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for an empty or malformed name.</exception>
    public static ChainId Of(string? value)
    {
        Guard.Text(value, "chain", 32);
        if (!ChainPattern().IsMatch(value!))
        {
            throw PaymentsKitException.InvalidArgument("chain", value, "must be lower-case letters, digits and dashes");
        }

        return new ChainId(value!);
    }

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex ChainPattern();
}
