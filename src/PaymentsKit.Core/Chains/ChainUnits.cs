using System.Globalization;
using System.Numerics;

namespace PaymentsKit.Chains;

/// <summary>
/// Exact conversion between <see cref="Money"/> and a chain's integer base units (stroops, wei,
/// lamports, tinybars, token units) using the asset's scale. Shared by every adapter so each chain
/// converts the same way.
/// </summary>
public static class ChainUnits
{
    // decimal's 96-bit mantissa bounds what FromBaseUnits can represent.
    private static readonly BigInteger MaxMantissa = (BigInteger.One << 96) - 1;

    /// <summary>Converts <paramref name="amount"/> to base units, exactly (amount × 10^scale).</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> when the asset is on another chain.</exception>
    public static BigInteger ToBaseUnits(Money amount, ChainId chain)
    {
        var asset = amount.Asset;
        EnsureOnChain(asset, chain, "amount.asset");
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(amount.Amount, bits);
        var mantissa = new BigInteger(unchecked((uint)bits[0]))
            | (new BigInteger(unchecked((uint)bits[1])) << 32)
            | (new BigInteger(unchecked((uint)bits[2])) << 64);
        var scale = (bits[3] >> 16) & 0xFF;
        if (bits[3] < 0)
        {
            mantissa = -mantissa;
        }

        // Money keeps exactly the asset's scale; the general form keeps this exact for any decimal.
        return scale <= asset.Scale
            ? mantissa * BigInteger.Pow(10, asset.Scale - scale)
            : mantissa / BigInteger.Pow(10, scale - asset.Scale);
    }

    /// <summary>Converts base units to an amount of <paramref name="asset"/>, exactly (units ÷ 10^scale).</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>invalid_argument</c> when the asset is on another chain; <c>arithmetic_overflow</c> when the value
    /// does not fit a <see cref="decimal"/> amount (more than 2^96 − 1 base units).
    /// </exception>
    public static Money FromBaseUnits(BigInteger units, Asset asset, ChainId chain)
    {
        if (TryFromBaseUnits(units, asset, chain, out var amount))
        {
            return amount;
        }

        throw new PaymentsKitException(
            PaymentsKitErrorCodes.ArithmeticOverflow,
            string.Create(
                CultureInfo.InvariantCulture,
                $"{units} base units of {asset.Code} on {chain} do not fit an amount (at most {MaxMantissa} base units)."),
            new Dictionary<string, object?> { ["units"] = units.ToString(CultureInfo.InvariantCulture), ["asset"] = asset.Code, ["chain"] = chain.Value });
    }

    /// <summary>
    /// Converts base units to an amount of <paramref name="asset"/>, exactly, or says it cannot: what an adapter reading a
    /// transfer uses, since a token can move more base units than any amount holds (a uint256 ERC-20 value) and such a
    /// transfer is left out of the transaction rather than failing the read of the rest.
    /// </summary>
    /// <param name="units">The base units.</param>
    /// <param name="asset">The asset they are of.</param>
    /// <param name="chain">The chain reading them.</param>
    /// <param name="amount">The amount, exact; default when the result is false.</param>
    /// <returns>False when the value does not fit a <see cref="decimal"/> amount (more than 2^96 − 1 base units).</returns>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> when the asset is on another chain.</exception>
    public static bool TryFromBaseUnits(BigInteger units, Asset asset, ChainId chain, out Money amount)
    {
        ArgumentNullException.ThrowIfNull(asset);
        EnsureOnChain(asset, chain, "asset");
        var magnitude = BigInteger.Abs(units);
        if (magnitude > MaxMantissa)
        {
            amount = default;
            return false;
        }

        Span<byte> bytes = stackalloc byte[12];
        bytes.Clear();
        magnitude.TryWriteBytes(bytes, out _, isUnsigned: true, isBigEndian: false);
        var lo = BitConverter.ToInt32(bytes[..4]);
        var mid = BitConverter.ToInt32(bytes[4..8]);
        var hi = BitConverter.ToInt32(bytes[8..12]);
        amount = Money.Of(new decimal(lo, mid, hi, units.Sign < 0, (byte)asset.Scale), asset);
        return true;
    }

    /// <summary>Parses a base-unit integer as RPC nodes print it (decimal digits, optional leading '-').</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> naming <paramref name="field"/>.</exception>
    public static BigInteger ParseInteger(string? text, string field)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 100
            || !BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            throw PaymentsKitException.InvalidArgument(field, text, "is not an integer number of base units");
        }

        return value;
    }

    /// <summary>Requires <paramref name="asset"/> to be off-chain (no chain) or on <paramref name="chain"/>.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> naming <paramref name="field"/>.</exception>
    public static void EnsureOnChain(Asset asset, ChainId chain, string field)
    {
        ArgumentNullException.ThrowIfNull(asset);
        if (asset.Chain is { } assetChain && assetChain != chain)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidArgument,
                string.Create(CultureInfo.InvariantCulture, $"{field} {asset.Code} lives on {assetChain}, not on {chain}."),
                new Dictionary<string, object?> { ["field"] = field, ["value"] = asset.Code, ["assetChain"] = assetChain.Value, ["chain"] = chain.Value });
        }
    }
}
