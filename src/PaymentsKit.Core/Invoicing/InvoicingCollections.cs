using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Invoicing;

/// <summary>
/// The record collections of the invoicing module. Merchants and API key prefixes are platform
/// records (tenant <see cref="Guid.Empty"/>) because they are looked up before a tenant is known
/// (by wallet, by presented key); everything else is keyed by its merchant. On PostgreSQL each
/// seed collection lives in the seed's table (users, clients, api_keys, invoices, payment_links,
/// payments; see docs/decisions/0003-seed-tables-on-the-record-store.md).
/// </summary>
internal static class InvoicingCollections
{
    public const string WalletKey = "wallet";
    public const string EmailKey = "email";
    public const string PrefixKey = "prefix";
    public const string NumberKey = "number";
    public const string MemoKey = "memo";
    public const string SlugKey = "slug";
    public const string IdempotencyKey = "idempotency";
    public const string TransactionKey = "transaction";

    /// <summary>The refunds' index by invoice; on PostgreSQL, the refund table's column.</summary>
    public const string InvoiceIndex = "invoice_id";

    /// <summary>The payment refunds' index by payment; on PostgreSQL, the refund table's column.</summary>
    public const string PaymentIndex = "payment_id";

    public static readonly RecordCollection<Merchant> Merchants = new(
        "invoicing_merchant",
        m => m.Id.Value,
        _ => Guid.Empty,
        [
            new(WalletKey, m => Wallet(m.Chain, m.WalletAddress)),
            new(EmailKey, m => m.Email is null ? null : NormalizeEmail(m.Email)),
        ],
        table: "users");

    public static readonly RecordCollection<Client> Clients = new(
        "invoicing_client",
        c => c.Id.Value,
        c => c.MerchantId.Value,
        [new(EmailKey, c => c.Email is null ? null : Scoped(c.MerchantId, NormalizeEmail(c.Email)))],
        table: "clients");

    public static readonly RecordCollection<ApiKey> ApiKeys = new(
        "invoicing_api_key",
        k => k.Id.Value,
        k => k.MerchantId.Value,
        table: "api_keys");

    public static readonly RecordCollection<ApiKeyPrefix> ApiKeyPrefixes = new(
        "invoicing_api_key_prefix",
        p => p.Id.Value,
        _ => Guid.Empty,
        [new(PrefixKey, p => p.Prefix)]);

    public static readonly RecordCollection<Invoice> Invoices = new(
        "invoicing_invoice",
        i => i.Id.Value,
        i => i.MerchantId.Value,
        [
            new(NumberKey, i => Scoped(i.MerchantId, i.Number)),
            new(MemoKey, i => Scoped(i.MerchantId, i.Memo)),
            new(IdempotencyKey, i => i.IdempotencyKey),
        ],
        table: "invoices");

    public static readonly RecordCollection<PaymentLink> PaymentLinks = new(
        "invoicing_payment_link",
        l => l.Id.Value,
        l => l.MerchantId.Value,
        [
            new(SlugKey, l => l.Slug),
            new(IdempotencyKey, l => l.IdempotencyKey),
        ],
        table: "payment_links");

    /// <summary>
    /// Expiry deadlines of payment links, shared across merchants, ids ordered by due instant, the open ones indexed (the
    /// expiry sweep's).
    /// </summary>
    public static readonly RecordCollection<PaymentLinkDeadline> LinkDeadlines =
        DeadlineRecords.Collection<PaymentLinkDeadline>("invoicing_payment_link_deadline", d => d.Id, d => d.Closed);

    public static readonly RecordCollection<Payment> Payments = new(
        "invoicing_payment",
        p => p.Id.Value,
        p => p.MerchantId.Value,
        [new(TransactionKey, p => Transaction(p.Chain, p.TransactionHash))],
        table: "payments");

    /// <summary>
    /// Refunds merchants recorded for invoices, indexed by invoice so that listing one invoice's refunds reads only those; no
    /// seed table holds them, so their table is PaymentsKit's (migration 0029).
    /// </summary>
    public static readonly RecordCollection<InvoiceRefund> InvoiceRefunds = new(
        "invoicing_invoice_refund",
        r => r.Id.Value,
        r => r.MerchantId.Value,
        [new(IdempotencyKey, r => r.IdempotencyKey)],
        table: "invoice_refunds",
        indexes: [new(InvoiceIndex, r => r.InvoiceId.Value)]);

    /// <summary>
    /// Refunds merchants recorded of payments' unapplied money, indexed by payment so that listing one payment's refunds
    /// reads only those; apart from <see cref="InvoiceRefunds"/>, whose totals the revenue queries report as refunded out of
    /// overpayments, which these never were. Their table is PaymentsKit's (migration 0031).
    /// </summary>
    public static readonly RecordCollection<PaymentRefund> PaymentRefunds = new(
        "invoicing_payment_refund",
        r => r.Id.Value,
        r => r.MerchantId.Value,
        [new(IdempotencyKey, r => r.IdempotencyKey)],
        table: "payment_refunds",
        indexes: [new(PaymentIndex, r => r.PaymentId.Value)]);

    public static string Wallet(ChainId chain, string address) => $"{chain.Value}:{address}";

    public static string Transaction(ChainId chain, string hash) => $"{chain.Value}:{hash}";

    public static string Scoped(MerchantId merchant, string value) => $"{merchant.Value:N}:{value}";

    // Emails compare case-insensitively (domains always do; virtually every mailbox does too).
    public static string NormalizeEmail(string email) => email.ToUpperInvariant();
}

/// <summary>Finds an API key's merchant from the key's visible prefix before the tenant is known.</summary>
/// <param name="Id">The API key id.</param>
/// <param name="Prefix">The visible prefix, globally unique.</param>
/// <param name="MerchantId">The merchant owning the key.</param>
internal sealed record ApiKeyPrefix(ApiKeyId Id, string Prefix, MerchantId MerchantId);

/// <summary>When a payment link expires, for the expiry sweep.</summary>
/// <param name="Id">A UUIDv7 stamped with the expiry instant, so listing order is due order (to the millisecond).</param>
/// <param name="MerchantId">The link's merchant.</param>
/// <param name="LinkId">The link.</param>
/// <param name="DueAt">The link's expiry.</param>
/// <param name="Closed">Whether the sweep handled it.</param>
internal sealed record PaymentLinkDeadline(Guid Id, MerchantId MerchantId, PaymentLinkId LinkId, Instant DueAt, bool Closed);
