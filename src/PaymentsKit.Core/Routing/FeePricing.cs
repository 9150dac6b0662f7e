using Microsoft.Extensions.Options;

namespace PaymentsKit.Routing;

/// <summary>Prices a chain's fee asset in the settlement asset, so fees of different chains compare.</summary>
public interface IFeePriceSource
{
    /// <summary>How many units of <paramref name="settlementAsset"/> one unit of <paramref name="feeAsset"/> is worth now.</summary>
    /// <exception cref="PaymentsKitException"><c>unknown_asset</c> when there is no price.</exception>
    ValueTask<decimal> GetPriceAsync(Asset feeAsset, Asset settlementAsset, CancellationToken cancellationToken = default);
}

/// <summary>The prices of <see cref="RoutingOptions.NativeAssetPrices"/>; an asset is worth 1 of itself.</summary>
public sealed class ConfiguredFeePriceSource : IFeePriceSource
{
    private readonly IOptions<RoutingOptions> _options;

    /// <summary>Creates the source.</summary>
    public ConfiguredFeePriceSource(IOptions<RoutingOptions> options) =>
        _options = options ?? throw new ArgumentNullException(nameof(options));

    /// <inheritdoc />
    public ValueTask<decimal> GetPriceAsync(Asset feeAsset, Asset settlementAsset, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(feeAsset);
        ArgumentNullException.ThrowIfNull(settlementAsset);
        cancellationToken.ThrowIfCancellationRequested();
        if (feeAsset == settlementAsset)
        {
            return ValueTask.FromResult(1m);
        }

        return _options.Value.NativeAssetPrices.TryGetValue(feeAsset.Code, out var price) && price > 0m
            ? ValueTask.FromResult(price)
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownAsset,
                $"There is no price of {feeAsset.Code} in {settlementAsset.Code}: set Routing:NativeAssetPrices[{feeAsset.Code}].",
                new Dictionary<string, object?> { ["field"] = "Routing:NativeAssetPrices", ["asset"] = feeAsset.Code });
    }
}

/// <summary>Fee conversions of the router. Rounding is explicit and always up, so a reservation never falls short.</summary>
public static class FeeMath
{
    /// <summary>
    /// The value of <paramref name="fee"/> in <paramref name="settlementAsset"/> at <paramref name="price"/>, rounded
    /// up to the asset's scale. Monotone: a smaller fee never converts to more.
    /// </summary>
    public static Money ToSettlement(Money fee, decimal price, Asset settlementAsset) =>
        Money.Round(fee.Amount * price, settlementAsset, MidpointRounding.ToPositiveInfinity);

    /// <summary>The most a transaction may pay: the estimate times the headroom, rounded up to the fee asset's scale.</summary>
    public static Money MaxFee(Money estimate, decimal headroom) =>
        Money.Round(estimate.Amount * headroom, estimate.Asset, MidpointRounding.ToPositiveInfinity);
}
