using NodaTime;

namespace PaymentsKit.Invoicing;

/// <summary>Registers a merchant.</summary>
/// <param name="Chain">The chain the wallet is on, e.g. <c>stellar</c>; an adapter must be registered for it.</param>
/// <param name="WalletAddress">The receiving wallet; validated (with its checksum) by the chain's adapter.</param>
public sealed record RegisterMerchantRequest(string Chain, string WalletAddress)
{
    /// <summary>An optional contact email, unique across merchants.</summary>
    public string? Email { get; init; }

    /// <summary>An optional display name (up to 200 characters).</summary>
    public string? Name { get; init; }
}

/// <summary>Creates a client of a merchant.</summary>
/// <param name="Name">1–200 characters.</param>
public sealed record CreateClientRequest(string Name)
{
    /// <summary>An optional email, unique within the merchant.</summary>
    public string? Email { get; init; }

    /// <summary>An optional wallet on the merchant's chain.</summary>
    public string? WalletAddress { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500). Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }
}

/// <summary>Creates an API key.</summary>
/// <param name="Name">What the merchant calls the key, 1–100 characters.</param>
public sealed record CreateApiKeyRequest(string Name)
{
    /// <summary>When the key stops working; must be in the future. Null: never.</summary>
    public Instant? ExpiresAt { get; init; }
}

/// <summary>Creates an invoice.</summary>
/// <param name="Amount">The amount due: positive, at most <see cref="AmountLimit.Max"/>, within the asset's decimal places.</param>
/// <param name="Asset">The asset code; it must be payable on the merchant's chain.</param>
/// <param name="Description">What the invoice is for, 1–1000 characters.</param>
public sealed record CreateInvoiceRequest(decimal Amount, string Asset, string Description)
{
    /// <summary>The invoice number (1–64 characters), unique per merchant. Default: the invoice id.</summary>
    public string? Number { get; init; }

    /// <summary>
    /// The payment memo (1–28 characters: letters, digits and <c>- _ . : # /</c>), unique per merchant.
    /// Default: 12 random hex characters.
    /// </summary>
    public string? Memo { get; init; }

    /// <summary>The client billed; must be the merchant's.</summary>
    public ClientId? ClientId { get; init; }

    /// <summary>When the invoice expires. Default: now plus <see cref="InvoicingOptions.DefaultInvoiceLifetime"/>.</summary>
    public Instant? ExpiresAt { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500). Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>Makes retries safe: the same key with the same request returns the first invoice.</summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>Creates a payment link.</summary>
/// <param name="Title">The title shown to payers, 1–200 characters.</param>
/// <param name="Amount">The price of one use: positive, at most <see cref="AmountLimit.Max"/>, within the asset's decimal places.</param>
/// <param name="Asset">The asset code; it must be payable on the merchant's chain.</param>
public sealed record CreatePaymentLinkRequest(string Title, decimal Amount, string Asset)
{
    /// <summary>The slug (3–64 lower-case letters, digits and dashes), globally unique. Default: random.</summary>
    public string? Slug { get; init; }

    /// <summary>An optional description, up to 1000 characters.</summary>
    public string? Description { get; init; }

    /// <summary>When the link stops accepting payments; must be in the future. Null: never.</summary>
    public Instant? ExpiresAt { get; init; }

    /// <summary>The most payments the link accepts (at least 1). Null: unlimited.</summary>
    public int? MaxUses { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500). Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>Makes retries safe: the same key with the same request returns the first link.</summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>
/// Submits a transaction that paid the merchant. The chain is the merchant's; the transaction is read
/// from it and must be final. Name at most one target: an invoice, a payment link, or neither to match
/// an invoice by the transaction's memo.
/// </summary>
/// <param name="TransactionHash">The transaction hash.</param>
public sealed record SubmitPaymentRequest(string TransactionHash)
{
    /// <summary>The invoice the transaction pays (the invoice reference).</summary>
    public InvoiceId? InvoiceId { get; init; }

    /// <summary>The slug of the payment link the transaction pays.</summary>
    public string? LinkSlug { get; init; }
}

/// <summary>
/// Records a refund the merchant sent the payer from its own wallet: for an invoice that owes money back
/// (<see cref="Invoice.RefundDue"/>), or of a payment's money kept for review (<see cref="Payment.HeldUnapplied"/>) or a payment
/// link payment's excess (<see cref="Payment.ExcessDue"/>).
/// PaymentsKit neither sends nor verifies it: it books what the merchant reports.
/// </summary>
/// <param name="Amount">
/// What was sent back: positive, within the asset's decimal places, at most <see cref="Invoice.RefundDue"/> (or what the payment
/// holds unapplied or, for a payment link payment's excess, owes back in the asset).
/// </param>
/// <param name="Asset">The asset code; it must be the invoice's asset (or one the payment holds unapplied).</param>
public sealed record RecordRefundRequest(decimal Amount, string Asset)
{
    /// <summary>The hash of the transaction that sent the refund, if the merchant has it (up to 256 characters); kept as given.</summary>
    public string? TransactionHash { get; init; }

    /// <summary>Makes retries safe: the same key with the same request (and invoice or payment) returns the first refund.</summary>
    public string? IdempotencyKey { get; init; }
}
