using System.Security.Cryptography;
using System.Text;
using PaymentsKit.Storage;

namespace PaymentsKit.Routing;

/// <summary>The record collections the router keeps; on PostgreSQL each seed table is a dedicated records table.</summary>
public static class RoutingCollections
{
    /// <summary>The unique key holding a merchant's API key hash.</summary>
    public const string ApiKeyHashKey = "api_key_hash";

    /// <summary>The unique key holding an intent's merchant-scoped idempotency key.</summary>
    public const string IdempotencyKey = "idempotency";

    /// <summary>Merchants, shared (tenant <see cref="Guid.Empty"/>) so an API key finds its merchant; table <c>merchants</c>.</summary>
    public static RecordCollection<RoutingMerchant> Merchants { get; } = new(
        "routing_merchant",
        m => m.Id.Value,
        _ => Guid.Empty,
        [new UniqueKey<RoutingMerchant>(ApiKeyHashKey, m => m.ApiKeyHash)],
        table: "merchants");

    /// <summary>Quotes of a merchant; table <c>quotes</c>.</summary>
    public static RecordCollection<Quote> Quotes { get; } = new(
        "routing_quote",
        q => q.Id.Value,
        q => q.MerchantId.Value,
        table: "quotes");

    /// <summary>Payment intents of a merchant, unique per (merchant, idempotency key); table <c>payment_intents</c>.</summary>
    public static RecordCollection<PaymentIntent> Intents { get; } = new(
        "payment_intent",
        i => i.Id.Value,
        i => i.MerchantId.Value,
        [new UniqueKey<PaymentIntent>(IdempotencyKey, i => Idempotency.ScopedKey(i.MerchantId.Value, i.IdempotencyKey))],
        table: "payment_intents");

    /// <summary>Broadcast attempts of a merchant's intents; table <c>payment_attempts</c>.</summary>
    public static RecordCollection<PaymentAttempt> Attempts { get; } = new(
        "payment_attempt",
        a => a.Id.Value,
        a => a.MerchantId.Value,
        table: "payment_attempts");

    /// <summary>The health time series, partitioned by chain (<see cref="Partition"/>); table <c>chain_health_snapshots</c>.</summary>
    public static RecordCollection<ChainHealthSnapshot> HealthSnapshots { get; } = new(
        "chain_health_snapshot",
        s => s.Id.Value,
        s => Partition(s.Chain),
        table: "chain_health_snapshots");

    /// <summary>One pointer per chain to its latest snapshot.</summary>
    internal static RecordCollection<ChainHealthLatest> LatestHealth { get; } = new(
        "chain_health_latest",
        l => l.Id,
        _ => Guid.Empty);

    /// <summary>Which merchant an intent belongs to, so a worker can advance an intent by its id alone.</summary>
    internal static RecordCollection<PaymentIntentLocator> Locators { get; } = new(
        "payment_intent_locator",
        l => l.Id,
        _ => Guid.Empty);

    /// <summary>The store partition (tenant column) of a chain's health records: a UUIDv8 from SHA-256 of its name.</summary>
    public static Guid Partition(ChainId chain)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes("paymentskit:chain-health:" + chain.Value), hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }
}

/// <summary>Names an intent's merchant.</summary>
/// <param name="Id">The intent id.</param>
/// <param name="MerchantId">Its merchant.</param>
internal sealed record PaymentIntentLocator(Guid Id, MerchantId MerchantId);
