using System.Collections.Concurrent;

namespace PaymentsKit;

/// <summary>
/// The assets a host knows, by code. Starts with the assets the five source systems use and accepts
/// host-added ones. Thread-safe; registering the same definition twice is a no-op, a different
/// definition under a taken code is <see cref="PaymentsKitErrorCodes.AssetConflict"/>.
/// </summary>
public sealed class AssetRegistry
{
    /// <summary>Stellar lumens, 7 decimals (stroops).</summary>
    public static readonly Asset Xlm = Asset.Create("XLM", 7, ChainId.Stellar, "native");

    /// <summary>USD Coin, 6 decimals.</summary>
    public static readonly Asset Usdc = Asset.Create("USDC", 6);

    /// <summary>Euro Coin, 6 decimals.</summary>
    public static readonly Asset Eurc = Asset.Create("EURC", 6);

    /// <summary>Ether, 18 decimals (wei).</summary>
    public static readonly Asset Eth = Asset.Create("ETH", 18, ChainId.Ethereum, "native");

    /// <summary>Solana's SOL, 9 decimals (lamports).</summary>
    public static readonly Asset Sol = Asset.Create("SOL", 9, ChainId.Solana, "native");

    /// <summary>Hedera's HBAR, 8 decimals (tinybars).</summary>
    public static readonly Asset Hbar = Asset.Create("HBAR", 8, ChainId.Hedera, "native");

    /// <summary>US dollar as fiat money, 2 decimals (orchestration's currencies table).</summary>
    public static readonly Asset Usd = Asset.Create("USD", 2);

    /// <summary>
    /// US dollar valuations with 6 decimals, as the router's <c>amount_usd</c>/<c>fee_usd</c>
    /// <c>NUMERIC(18,6)</c> columns carry them.
    /// </summary>
    public static readonly Asset UsdValuation = Asset.Create("USD.6", 6);

    /// <summary>Euro, 2 decimals.</summary>
    public static readonly Asset Eur = Asset.Create("EUR", 2);

    /// <summary>Pound sterling, 2 decimals.</summary>
    public static readonly Asset Gbp = Asset.Create("GBP", 2);

    /// <summary>Thai baht, 2 decimals.</summary>
    public static readonly Asset Thb = Asset.Create("THB", 2);

    /// <summary>Japanese yen, no decimals.</summary>
    public static readonly Asset Jpy = Asset.Create("JPY", 0);

    /// <summary>The assets every registry starts with.</summary>
    public static IReadOnlyList<Asset> BuiltIn { get; } = [Xlm, Usdc, Eurc, Eth, Sol, Hbar, Usd, UsdValuation, Eur, Gbp, Thb, Jpy];

    private readonly ConcurrentDictionary<string, Asset> _assets = new(StringComparer.Ordinal);

    /// <summary>Creates a registry holding <see cref="BuiltIn"/>.</summary>
    public AssetRegistry()
    {
        foreach (var asset in BuiltIn)
        {
            _assets[asset.Code] = asset;
        }
    }

    // A snapshot of All, dropped (under the lock, after the add) when an asset is added: the ledger asks for it on
    // every post or void of a transfer.
    private readonly Lock _allLock = new();
    private volatile IReadOnlyList<Asset>? _all;

    /// <summary>Every registered asset, ordered by code.</summary>
    public IReadOnlyList<Asset> All
    {
        get
        {
            if (_all is { } all)
            {
                return all;
            }

            lock (_allLock)
            {
                return _all ??= [.. _assets.Values.OrderBy(a => a.Code, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Adds an asset; idempotent for an identical definition.</summary>
    /// <returns>The registered asset.</returns>
    /// <exception cref="PaymentsKitException"><c>asset_conflict</c> when the code is taken by a different definition.</exception>
    public Asset Register(Asset asset)
    {
        ArgumentNullException.ThrowIfNull(asset);
        var registered = _assets.GetOrAdd(asset.Code, asset);
        lock (_allLock)
        {
            _all = null;
        }

        if (registered != asset)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetConflict,
                $"Asset '{asset.Code}' is already registered with a different definition (scale {registered.Scale}, chain '{registered.Chain}').",
                new Dictionary<string, object?> { ["asset"] = asset.Code });
        }

        return registered;
    }

    /// <summary>Finds an asset by code.</summary>
    /// <exception cref="PaymentsKitException"><c>unknown_asset</c> when no asset has the code.</exception>
    public Asset Get(string? code)
    {
        Guard.Text(code, "asset", 32);
        return TryGet(code, out var asset)
            ? asset
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownAsset,
                $"Asset '{code}' is not registered.",
                new Dictionary<string, object?> { ["asset"] = code });
    }

    /// <summary>Finds an asset by code without throwing.</summary>
    public bool TryGet(string? code, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Asset? asset)
    {
        asset = null;
        return code is not null && _assets.TryGetValue(code, out asset);
    }
}
