using System.Globalization;
using PaymentsKit.Storage;

namespace PaymentsKit.Payouts;

/// <summary>The record collections mass payouts keep in an <see cref="IPaymentsStore"/> (holders live in an <see cref="IHolderSnapshotStore"/>).</summary>
public static class PayoutCollections
{
    /// <summary>The unique key holding an asset's tenant-scoped token id.</summary>
    public const string TokenKey = "token";

    /// <summary>The unique key holding a batch's (distribution, batch number).</summary>
    public const string BatchNumberKey = "batch_number";

    /// <summary>The unique key holding a listener's contract id.</summary>
    public const string ContractKey = "contract";

    /// <summary>Token assets; on PostgreSQL in the seed's <c>asset</c> table.</summary>
    public static RecordCollection<TokenAsset> Assets { get; } = new(
        "payout_asset",
        a => a.Id.Value,
        a => a.TenantId.Value,
        [new UniqueKey<TokenAsset>(TokenKey, a => TokenIdKey(a.TenantId, a.TokenId))],
        table: "asset");

    /// <summary>Distributions; on PostgreSQL in the seed's <c>distribution</c> table.</summary>
    public static RecordCollection<Distribution> Distributions { get; } = new(
        "payout_distribution",
        d => d.Id.Value,
        d => d.TenantId.Value,
        table: "distribution");

    /// <summary>Payout batches; on PostgreSQL in the seed's <c>batch_payout</c> table.</summary>
    public static RecordCollection<PayoutBatchRecord> Batches { get; } = new(
        "payout_batch",
        b => b.Id.Value,
        b => b.TenantId.Value,
        [new UniqueKey<PayoutBatchRecord>(BatchNumberKey, b => BatchKey(b.DistributionId, b.BatchNumber))],
        table: "batch_payout");

    /// <summary>Event listener cursors (shared, not per tenant); on PostgreSQL in the seed's <c>blockchain_event_listener_config</c> table.</summary>
    public static RecordCollection<EventListenerConfig> EventListeners { get; } = new(
        "payout_event_listener",
        l => l.Id.Value,
        _ => Guid.Empty,
        [new UniqueKey<EventListenerConfig>(ContractKey, l => l.ContractId)],
        table: "blockchain_event_listener_config");

    /// <summary>Every tenant that has distributions (shared), so the default due index can find them.</summary>
    internal static RecordCollection<PayoutTenant> Tenants { get; } = new(
        "payout_tenant",
        t => t.Id,
        _ => Guid.Empty);

    internal static string TokenIdKey(MerchantId tenantId, string tokenId) =>
        string.Concat(tenantId.Value.ToString("N", CultureInfo.InvariantCulture), ":", tokenId);

    /// <summary>The idempotency key of a distribution's batch: the same on every execution of the batch.</summary>
    public static string BatchKey(DistributionId distributionId, int batchNumber) =>
        string.Create(CultureInfo.InvariantCulture, $"{distributionId}/{batchNumber}");
}

/// <summary>A tenant with distributions; its id is the tenant's.</summary>
/// <param name="Id">The tenant's UUID.</param>
/// <param name="TenantId">The tenant.</param>
internal sealed record PayoutTenant(Guid Id, MerchantId TenantId);
