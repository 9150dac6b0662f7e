using NodaTime;

namespace PaymentsKit.Payouts;

/// <summary>
/// An imported asset token whose holders receive distributions (seed 004 <c>asset</c>). Immutable; a change
/// is a new instance written with the store's version check.
/// </summary>
/// <param name="Id">The asset's id.</param>
/// <param name="TenantId">The issuer (merchant) it belongs to.</param>
/// <param name="TokenId">The chain's token id (e.g. Hedera <c>0.0.789012</c>); unique per tenant.</param>
/// <param name="Name">The asset's name.</param>
/// <param name="Symbol">The asset's symbol.</param>
/// <param name="TotalSupply">Total supply in the token's smallest unit; a holder snapshot never sums to more.</param>
/// <param name="Decimals">The token's decimals: smallest units per whole share are 10^<paramref name="Decimals"/>.</param>
/// <param name="LifecycleContractId">The lifecycle cash-flow contract whose events concern the asset, if any.</param>
/// <param name="PaymentTokenId">The chain's id of the token payments are made in (e.g. USDC <c>0.0.429274</c>), if any.</param>
/// <param name="PaymentAsset">The code of the registered <see cref="Asset"/> payments are counted in; its scale is the payment token's decimals.</param>
/// <param name="SyncStatus">Where the on-chain sync stands; null before the first sync.</param>
/// <param name="LastSyncedAt">When the asset was last in step with the chain.</param>
/// <param name="CreatedAt">When it was imported.</param>
/// <param name="UpdatedAt">When it last changed.</param>
public sealed record TokenAsset(
    TokenAssetId Id,
    MerchantId TenantId,
    string TokenId,
    string Name,
    string Symbol,
    long TotalSupply,
    int Decimals,
    string? LifecycleContractId,
    string? PaymentTokenId,
    string PaymentAsset,
    TokenSyncStatus? SyncStatus,
    Instant? LastSyncedAt,
    Instant CreatedAt,
    Instant UpdatedAt);

/// <summary>Imports a token asset.</summary>
/// <param name="TokenId">The chain's token id: 1–64 printable ASCII characters, unique per tenant.</param>
/// <param name="Name">1–200 characters.</param>
/// <param name="Symbol">1–32 characters.</param>
/// <param name="TotalSupply">Zero or more, in the token's smallest unit.</param>
/// <param name="Decimals">0–18.</param>
/// <param name="PaymentAsset">The registered asset payments are counted in (e.g. <see cref="AssetRegistry.Usdc"/>).</param>
public sealed record CreateTokenAssetRequest(string TokenId, string Name, string Symbol, long TotalSupply, int Decimals, Asset PaymentAsset)
{
    /// <summary>The lifecycle cash-flow contract id (1–64 printable ASCII characters), if any.</summary>
    public string? LifecycleContractId { get; init; }

    /// <summary>The chain's id of the payment token (1–64 printable ASCII characters), if any.</summary>
    public string? PaymentTokenId { get; init; }
}
