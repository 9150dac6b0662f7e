using System.Globalization;
using System.Text.RegularExpressions;

namespace PaymentsKit;

/// <summary>
/// Something that can be counted as money: a code, the number of decimal places amounts in it may
/// carry (<see cref="Scale"/>), and, for on-chain assets, the chain and the chain's identifier of it
/// (a Stellar issuer, an ERC-20 contract, an SPL mint, a Hedera token id).
/// </summary>
/// <remarks>Two assets are the same asset only if every field is equal.</remarks>
public sealed partial record Asset
{
    /// <summary>The largest scale an asset may have; <see cref="decimal"/> holds 28 fractional digits.</summary>
    public const int MaxScale = 18;

    private Asset(string code, int scale, ChainId? chain, string? identifier)
    {
        Code = code;
        Scale = scale;
        Chain = chain;
        Identifier = identifier;
    }

    /// <summary>The asset code, e.g. <c>USDC</c>.</summary>
    public string Code { get; }

    /// <summary>How many decimal places an amount in this asset may have.</summary>
    public int Scale { get; }

    /// <summary>The chain the asset lives on, if it is an on-chain asset.</summary>
    public ChainId? Chain { get; }

    /// <summary>The chain's identifier for the asset (issuer, contract, mint, token id), if any.</summary>
    public string? Identifier { get; }

    /// <summary>The smallest positive amount of this asset: 10^-<see cref="Scale"/>.</summary>
    public decimal MinorUnit => new(1, 0, 0, false, (byte)Scale);

    /// <summary>Creates a validated asset.</summary>
    /// <param name="code">1–32 characters: letters, digits, '.', '-', '_' or ':' (starting with a letter or digit).</param>
    /// <param name="scale">0 to <see cref="MaxScale"/>.</param>
    /// <param name="chain">The chain, for on-chain assets.</param>
    /// <param name="identifier">The chain's identifier of the asset; requires <paramref name="chain"/>.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> naming the bad field.</exception>
    public static Asset Create(string code, int scale, ChainId? chain = null, string? identifier = null)
    {
        Guard.Text(code, "asset.code", 32);
        if (!CodePattern().IsMatch(code))
        {
            throw PaymentsKitException.InvalidArgument("asset.code", code, "must be letters, digits, '.', '-', '_' or ':'");
        }

        if (scale is < 0 or > MaxScale)
        {
            throw PaymentsKitException.InvalidArgument(
                "asset.scale", scale, string.Create(CultureInfo.InvariantCulture, $"must be between 0 and {MaxScale}"));
        }

        Guard.OptionalText(identifier, "asset.identifier", 256);
        if (identifier is not null && chain is null)
        {
            throw PaymentsKitException.InvalidArgument("asset.identifier", identifier, "requires a chain");
        }

        return new Asset(code, scale, chain, identifier);
    }

    /// <inheritdoc />
    public override string ToString() => Code;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex CodePattern();
}
