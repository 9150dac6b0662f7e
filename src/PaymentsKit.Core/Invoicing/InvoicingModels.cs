using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Invoicing;

/// <summary>
/// A merchant using invoicing (the seed's <c>User</c>): identified by the wallet that receives its
/// payments, with an optional unique email.
/// </summary>
/// <param name="Id">The merchant id; the tenant of every invoicing record it owns.</param>
/// <param name="Chain">The chain the wallet is on; invoices and links are paid there.</param>
/// <param name="WalletAddress">The receiving wallet, in the chain's canonical form; unique per chain.</param>
/// <param name="Email">An optional contact email, unique across merchants (compared case-insensitively).</param>
/// <param name="Name">An optional display name.</param>
/// <param name="EmailVerified">Whether the host verified the email.</param>
/// <param name="CreatedAt">When the merchant registered.</param>
/// <param name="UpdatedAt">When the record last changed.</param>
public sealed record Merchant(
    MerchantId Id,
    [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId Chain,
    string WalletAddress,
    string? Email,
    string? Name,
    bool EmailVerified,
    Instant CreatedAt,
    Instant UpdatedAt);

/// <summary>A merchant's customer (payer); unique per merchant by email.</summary>
/// <param name="Id">The client id.</param>
/// <param name="MerchantId">The merchant the client belongs to.</param>
/// <param name="Name">The client's name.</param>
/// <param name="Email">An optional email, unique within the merchant (compared case-insensitively).</param>
/// <param name="WalletAddress">An optional wallet on the merchant's chain, canonical form.</param>
/// <param name="Metadata">Host-defined key/value pairs.</param>
/// <param name="CreatedAt">When the client was created.</param>
/// <param name="UpdatedAt">When the record last changed.</param>
public sealed record Client(
    ClientId Id,
    MerchantId MerchantId,
    string Name,
    string? Email,
    string? WalletAddress,
    IReadOnlyDictionary<string, string> Metadata,
    [property: JsonPropertyOrder(1)] Instant CreatedAt,
    [property: JsonPropertyOrder(1)] Instant UpdatedAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueDictionary<string, string> _metadata = ValueDictionary<string, string>.Of(Metadata);

    /// <summary>Host-defined key/value pairs. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string> Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }
}

/// <summary>
/// A merchant API key as stored: only its visible prefix and keyed hash, never the key itself.
/// </summary>
/// <param name="Id">The key id.</param>
/// <param name="MerchantId">The merchant the key acts for.</param>
/// <param name="Name">What the merchant calls the key.</param>
/// <param name="Prefix">The visible, non-secret prefix (e.g. <c>sk_Ab3dE6gH</c>) used to find the key.</param>
/// <param name="Hash">The keyed hash of the full key.</param>
/// <param name="ExpiresAt">When the key stops working, if ever.</param>
/// <param name="LastUsedAt">When the key last authenticated a call, to the resolution of <see cref="InvoicingOptions.ApiKeyLastUsedResolution"/>.</param>
/// <param name="RevokedAt">When the key was revoked, if it was.</param>
/// <param name="CreatedAt">When the key was created.</param>
public sealed record ApiKey(
    ApiKeyId Id,
    MerchantId MerchantId,
    string Name,
    string Prefix,
    string Hash,
    Instant? ExpiresAt,
    Instant? LastUsedAt,
    Instant? RevokedAt,
    Instant CreatedAt)
{
    /// <summary>Whether the key authenticates at <paramref name="now"/>.</summary>
    public bool IsUsableAt(Instant now) => RevokedAt is null && (ExpiresAt is null || now < ExpiresAt);

    /// <summary>Shows the prefix only.</summary>
    public override string ToString() => $"ApiKey {Id} {Prefix}…";
}

/// <summary>A freshly created API key. <see cref="Key"/> is shown to the merchant once and cannot be read again.</summary>
/// <param name="ApiKey">The stored record.</param>
/// <param name="Key">The full secret key.</param>
public sealed record CreatedApiKey(ApiKey ApiKey, string Key)
{
    /// <summary>Never prints the key itself.</summary>
    public override string ToString() => ApiKey.ToString();
}

/// <summary>Where an invoice is in its lifecycle (see <see cref="InvoiceLifecycle"/>).</summary>
public enum InvoiceStatus
{
    /// <summary>Awaiting payment; may be partially paid.</summary>
    Pending = 1,

    /// <summary>Paid in full (or within the configured tolerance), possibly overpaid.</summary>
    Paid = 2,

    /// <summary>
    /// Expired before being paid; later payments are kept for review as paid late. What it had received is
    /// <see cref="Invoice.Refundable"/>.
    /// </summary>
    Expired = 3,

    /// <summary>Cancelled by the merchant. What it had received is <see cref="Invoice.Refundable"/>.</summary>
    Cancelled = 4,
}

/// <summary>One accepted transition of an invoice: who moved it, when, from where to where, and why.</summary>
/// <param name="From">The status before.</param>
/// <param name="To">The status after.</param>
/// <param name="At">When it happened.</param>
/// <param name="Actor">Who did it: <c>merchant</c>, <c>expiry_sweep</c> or the payment id.</param>
/// <param name="Reason">Why.</param>
public sealed record InvoiceTransition(InvoiceStatus From, InvoiceStatus To, Instant At, string Actor, string Reason);

/// <summary>
/// A payment request. Payments are matched to it by its <see cref="Memo"/> or by its id. Partial
/// payments keep it <see cref="InvoiceStatus.Pending"/> with <see cref="AmountPaid"/> growing; a
/// payment that covers it marks it <see cref="InvoiceStatus.Paid"/> and records any excess in
/// <see cref="Overpaid"/>.
/// </summary>
/// <param name="Id">The invoice id.</param>
/// <param name="MerchantId">The merchant the invoice is payable to.</param>
/// <param name="ClientId">The client billed, if any.</param>
/// <param name="Number">The invoice number, unique per merchant.</param>
/// <param name="Amount">The amount due, in the asset to pay with.</param>
/// <param name="Description">What the invoice is for.</param>
/// <param name="Memo">The payment memo, unique per merchant; payers put it on the transaction.</param>
/// <param name="Status">The lifecycle status.</param>
/// <param name="ExpiresAt">The first instant at which the invoice is no longer payable.</param>
/// <param name="PaidAt">When it became paid.</param>
/// <param name="AmountPaid">The sum of its confirmed payments.</param>
/// <param name="Overpaid">What was paid beyond <paramref name="Amount"/>.</param>
/// <param name="PaidLate">Whether a payment arrived after it expired (kept for review).</param>
/// <param name="Metadata">Host-defined key/value pairs.</param>
/// <param name="Transitions">Every accepted status change, oldest first.</param>
/// <param name="IdempotencyKey">The creating request's scoped idempotency key, if it had one.</param>
/// <param name="RequestFingerprint">The creating request's fingerprint, if it had an idempotency key.</param>
/// <param name="CreatedAt">When the invoice was created.</param>
/// <param name="UpdatedAt">When the record last changed.</param>
public sealed record Invoice(
    InvoiceId Id,
    MerchantId MerchantId,
    ClientId? ClientId,
    string Number,
    Money Amount,
    string Description,
    string Memo,
    InvoiceStatus Status,
    Instant ExpiresAt,
    Instant? PaidAt,
    Money AmountPaid,
    Money Overpaid,
    bool PaidLate,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<InvoiceTransition> Transitions,
    [property: JsonPropertyOrder(1)] string? IdempotencyKey,
    [property: JsonPropertyOrder(1)] string? RequestFingerprint,
    [property: JsonPropertyOrder(1)] Instant CreatedAt,
    [property: JsonPropertyOrder(1)] Instant UpdatedAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueDictionary<string, string> _metadata = ValueDictionary<string, string>.Of(Metadata);

    private readonly ValueList<InvoiceTransition> _transitions = ValueList<InvoiceTransition>.Of(Transitions);

    /// <summary>Host-defined key/value pairs. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string> Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>Every accepted status change, oldest first. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<InvoiceTransition> Transitions
    {
        get => _transitions;
        init => _transitions = ValueList<InvoiceTransition>.Of(value);
    }

    /// <summary>The asset the invoice is paid in.</summary>
    [JsonIgnore]
    public Asset Asset => Amount.Asset;

    /// <summary>What is still owed (zero once paid or overpaid).</summary>
    [JsonIgnore]
    public Money AmountDue => Money.Max(Amount - AmountPaid, Money.Zero(Amount.Asset));

    /// <summary>Whether it is pending with some payment received (BTCPay's "paid partial").</summary>
    [JsonIgnore]
    public bool IsPartiallyPaid => Status == InvoiceStatus.Pending && AmountPaid.IsPositive;

    /// <summary>
    /// What the merchant owes back to the payer because the invoice will not be fulfilled: when a partly paid invoice is
    /// cancelled or expires, everything its confirmed payments applied (<see cref="AmountPaid"/> at that moment), which
    /// leaves <see cref="InvoicingLedgerAccounts.Revenue"/> for <see cref="InvoicingLedgerAccounts.Overpayments"/> in the
    /// same unit of work. Null when nothing is owed back this way: unpaid or paid invoices (a paid invoice's excess is
    /// <see cref="Overpaid"/>), and invoices cancelled or expired before PaymentsKit booked this. Payments arriving after
    /// the invoice closed are not part of it: they are kept for review and booked as unapplied.
    /// The merchant sends the refund from its own wallet and records it with <see cref="IPaymentService.RecordRefundAsync(MerchantId, InvoiceId, RecordRefundRequest, CancellationToken)"/>.
    /// </summary>
    [JsonPropertyOrder(1)]
    public Money? Refundable { get; init; }

    /// <summary>
    /// What the merchant recorded as sent back to the payer (<see cref="IPaymentService.RecordRefundAsync(MerchantId, InvoiceId, RecordRefundRequest, CancellationToken)"/>), in total; null
    /// until the first refund. Never more than <see cref="Overpaid"/> plus <see cref="Refundable"/>.
    /// </summary>
    [JsonPropertyOrder(1)]
    public Money? Refunded { get; init; }

    /// <summary>
    /// What the merchant still owes back to the payer: <see cref="Overpaid"/> plus <see cref="Refundable"/>, less
    /// <see cref="Refunded"/>. The most a refund can record now.
    /// </summary>
    [JsonIgnore]
    public Money RefundDue => Overpaid + (Refundable ?? Money.Zero(Asset)) - (Refunded ?? Money.Zero(Asset));
}

/// <summary>
/// A refund the merchant sent a payer from its own wallet for an invoice, as recorded by
/// <see cref="IPaymentService.RecordRefundAsync(MerchantId, InvoiceId, RecordRefundRequest, CancellationToken)"/>: booked from <see cref="InvoicingLedgerAccounts.Overpayments"/> to
/// <see cref="InvoicingLedgerAccounts.Wallet"/> and added to the invoice's <see cref="Invoice.Refunded"/>.
/// </summary>
/// <param name="Id">The refund id; the reference of its ledger transaction.</param>
/// <param name="MerchantId">The merchant who sent it.</param>
/// <param name="InvoiceId">The invoice it refunds.</param>
/// <param name="Amount">What was sent back, in the invoice's asset.</param>
/// <param name="TransactionHash">The refund's transaction hash as the merchant gave it, if any.</param>
/// <param name="IdempotencyKey">The recording request's scoped idempotency key, if it had one.</param>
/// <param name="RequestFingerprint">The recording request's fingerprint, if it had an idempotency key.</param>
/// <param name="CreatedAt">When it was recorded.</param>
public sealed record InvoiceRefund(
    InvoiceRefundId Id,
    MerchantId MerchantId,
    InvoiceId InvoiceId,
    Money Amount,
    string? TransactionHash,
    string? IdempotencyKey,
    string? RequestFingerprint,
    Instant CreatedAt);

/// <summary>
/// A refund the merchant sent a payer from its own wallet of money a payment brought that was kept for review instead of
/// applied (<see cref="Payment.HeldUnapplied"/>), as recorded by <see cref="IPaymentService.RecordRefundAsync(MerchantId, PaymentId, RecordRefundRequest, CancellationToken)"/>:
/// booked from <see cref="InvoicingLedgerAccounts.Unapplied"/> to <see cref="InvoicingLedgerAccounts.Wallet"/> and added to
/// the payment's <see cref="Payment.Refunded"/>. A refund of a payment link payment's excess (<see cref="Payment.ExcessDue"/>)
/// is one too, booked from <see cref="InvoicingLedgerAccounts.Overpayments"/> instead, where the excess was.
/// </summary>
/// <param name="Id">The refund id; the reference of its ledger transaction.</param>
/// <param name="MerchantId">The merchant who sent it.</param>
/// <param name="PaymentId">The payment whose unapplied money or excess it returns.</param>
/// <param name="Amount">What was sent back, in one of the assets the payment holds unapplied, or in its own asset for its excess.</param>
/// <param name="TransactionHash">The refund's transaction hash as the merchant gave it, if any.</param>
/// <param name="IdempotencyKey">The recording request's scoped idempotency key, if it had one.</param>
/// <param name="RequestFingerprint">The recording request's fingerprint, if it had an idempotency key.</param>
/// <param name="CreatedAt">When it was recorded.</param>
public sealed record PaymentRefund(
    PaymentRefundId Id,
    MerchantId MerchantId,
    PaymentId PaymentId,
    Money Amount,
    string? TransactionHash,
    string? IdempotencyKey,
    string? RequestFingerprint,
    Instant CreatedAt);

/// <summary>A reusable payment link (like Stripe Payment Links) with an optional use limit.</summary>
/// <param name="Id">The link id.</param>
/// <param name="MerchantId">The merchant the link pays.</param>
/// <param name="Slug">The URL-friendly identifier, globally unique.</param>
/// <param name="Title">The title shown to payers.</param>
/// <param name="Description">An optional description.</param>
/// <param name="Amount">The price of one use.</param>
/// <param name="Active">Whether the link accepts payments.</param>
/// <param name="ExpiresAt">The first instant at which the link no longer accepts payments, if any.</param>
/// <param name="MaxUses">The most payments the link accepts, if limited.</param>
/// <param name="CurrentUses">How many confirmed payments it accepted; never exceeds <paramref name="MaxUses"/>.</param>
/// <param name="Metadata">Host-defined key/value pairs.</param>
/// <param name="IdempotencyKey">The creating request's scoped idempotency key, if it had one.</param>
/// <param name="RequestFingerprint">The creating request's fingerprint, if it had an idempotency key.</param>
/// <param name="CreatedAt">When the link was created.</param>
/// <param name="UpdatedAt">When the record last changed.</param>
public sealed record PaymentLink(
    PaymentLinkId Id,
    MerchantId MerchantId,
    string Slug,
    string Title,
    string? Description,
    Money Amount,
    bool Active,
    Instant? ExpiresAt,
    int? MaxUses,
    int CurrentUses,
    IReadOnlyDictionary<string, string> Metadata,
    [property: JsonPropertyOrder(1)] string? IdempotencyKey,
    [property: JsonPropertyOrder(1)] string? RequestFingerprint,
    [property: JsonPropertyOrder(1)] Instant CreatedAt,
    [property: JsonPropertyOrder(1)] Instant UpdatedAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueDictionary<string, string> _metadata = ValueDictionary<string, string>.Of(Metadata);

    /// <summary>Host-defined key/value pairs. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string> Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>The asset the link is paid in.</summary>
    [JsonIgnore]
    public Asset Asset => Amount.Asset;

    /// <summary>How many uses are left; null when unlimited.</summary>
    [JsonIgnore]
    public int? RemainingUses => MaxUses is { } max ? max - CurrentUses : null;
}

/// <summary>What became of a recorded payment.</summary>
public enum PaymentStatus
{
    /// <summary>Verified on chain and applied to its invoice or link.</summary>
    Confirmed = 1,

    /// <summary>
    /// Verified on chain (the money reached the merchant) but not applied: see
    /// <see cref="Payment.ReviewCode"/>. Kept so the merchant can refund or apply it by hand.
    /// </summary>
    NeedsReview = 2,
}

/// <summary>A transaction that paid a merchant, as verified on its chain.</summary>
/// <param name="Id">The payment id.</param>
/// <param name="MerchantId">The merchant whose wallet received it.</param>
/// <param name="Chain">The chain.</param>
/// <param name="TransactionHash">The transaction hash as the chain reports it; unique per chain (double-spend guard).</param>
/// <param name="InvoiceId">The invoice it is attached to, if any (never together with <paramref name="LinkId"/>).</param>
/// <param name="LinkId">The payment link it is attached to, if any.</param>
/// <param name="ClientId">The paying client, when known from the invoice.</param>
/// <param name="Amount">What reached the merchant's wallet.</param>
/// <param name="From">The paying address.</param>
/// <param name="To">The merchant's receiving address.</param>
/// <param name="Memo">The transaction's memo, if any.</param>
/// <param name="Confirmations">Confirmations when it was verified.</param>
/// <param name="ChainTimestamp">When the chain included it, if reported.</param>
/// <param name="Status">Confirmed, or kept for review.</param>
/// <param name="ReviewCode">Why it needs review: a stable code from <see cref="PaymentsKitErrorCodes"/>.</param>
/// <param name="ReviewReason">A sentence explaining <paramref name="ReviewCode"/>.</param>
/// <param name="Excess">The part of this payment beyond what was due, if any.</param>
/// <param name="CreatedAt">When it was recorded.</param>
public sealed record Payment(
    PaymentId Id,
    MerchantId MerchantId,
    [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId Chain,
    string TransactionHash,
    InvoiceId? InvoiceId,
    PaymentLinkId? LinkId,
    ClientId? ClientId,
    Money Amount,
    string From,
    string To,
    string? Memo,
    long Confirmations,
    Instant? ChainTimestamp,
    PaymentStatus Status,
    string? ReviewCode,
    string? ReviewReason,
    Money? Excess,
    Instant CreatedAt)
{
    // The record's generated equality compares fields: these ones' type compares by content, where the properties' would not.
    private readonly ValueList<Money>? _unapplied;

    private readonly ValueList<Money>? _bookedUnapplied;

    private readonly ValueList<Money>? _refunded;

    /// <summary>The asset paid.</summary>
    [JsonIgnore]
    public Asset Asset => Amount.Asset;

    /// <summary>
    /// What the same transaction paid the merchant's wallet in other assets than <see cref="Amount"/>'s, one amount per
    /// asset: applied to nothing and booked as unapplied (<see cref="InvoicingLedgerAccounts.Unapplied"/>, unless the asset
    /// was not registered when the payment was recorded: see <see cref="BookedUnapplied"/>), for the merchant to refund or
    /// apply by hand. Null when the transaction paid one asset.
    /// Kept as an immutable copy that compares by its amounts, so payments with the same amounts are equal.
    /// </summary>
    public IReadOnlyList<Money>? Unapplied
    {
        get => _unapplied;
        init => _unapplied = ValueList<Money>.Of(value);
    }

    /// <summary>
    /// The amounts of <see cref="Unapplied"/> that were booked to <see cref="InvoicingLedgerAccounts.Unapplied"/> when the
    /// payment was recorded (their assets were registered then), in the same order; null when none was. An amount left out
    /// stays out of the books, and so out of <see cref="HeldUnapplied"/>, even if the host registers its asset later.
    /// Kept as an immutable copy that compares by its amounts.
    /// </summary>
    public IReadOnlyList<Money>? BookedUnapplied
    {
        get => _bookedUnapplied;
        init => _bookedUnapplied = ValueList<Money>.Of(value);
    }

    /// <summary>
    /// What the merchant recorded as sent back to the payer out of this payment's unapplied money
    /// (<see cref="IPaymentService.RecordRefundAsync(MerchantId, PaymentId, RecordRefundRequest, CancellationToken)"/>), one
    /// total per asset in the order first refunded; null until the first refund. Never more, in an asset, than the payment
    /// booked as unapplied in it or, in a payment link payment's own asset, than its <see cref="Excess"/>. Kept as an immutable copy that compares by its amounts.
    /// </summary>
    public IReadOnlyList<Money>? Refunded
    {
        get => _refunded;
        init => _refunded = ValueList<Money>.Of(value);
    }

    /// <summary>
    /// What of a payment link payment's <see cref="Excess"/> is still owed back to its payer: the excess, less what
    /// <see cref="Refunded"/> holds in its asset. A link has no invoice to owe it, so the payment does, and a refund naming the
    /// payment pays it out of <see cref="InvoicingLedgerAccounts.Overpayments"/>, where the excess was booked. Null for a
    /// payment without excess and for an invoice's payment (its excess is the invoice's <see cref="Invoice.Overpaid"/>,
    /// refunded by naming the invoice).
    /// </summary>
    [JsonIgnore]
    public Money? ExcessDue =>
        Status == PaymentStatus.Confirmed && InvoiceId is null && Excess is { } excess
            ? excess - (Refunded ?? []).Where(m => m.Asset.Equals(excess.Asset)).DefaultIfEmpty(Money.Zero(excess.Asset)).First()
            : null;

    /// <summary>
    /// What of this payment is still booked as unapplied (<see cref="InvoicingLedgerAccounts.Unapplied"/>), one positive
    /// amount per asset: its <see cref="Amount"/> when it was kept for review (unless its asset is not registered, so was
    /// never booked), and its <see cref="BookedUnapplied"/> amounts, less <see cref="Refunded"/>. The most a refund of the
    /// payment can record now, per asset. Empty when nothing is held.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<Money> HeldUnapplied
    {
        get
        {
            // Unapplied never holds the asset of Amount (it lists the transaction's other assets), so one amount per asset.
            List<Money> held = Status == PaymentStatus.NeedsReview && ReviewCode != PaymentsKitErrorCodes.UnknownAsset ? [Amount] : [];
            held.AddRange(BookedUnapplied ?? []);
            foreach (var refund in Refunded ?? [])
            {
                var index = held.FindIndex(m => m.Asset.Equals(refund.Asset));
                if (index >= 0)
                {
                    held[index] -= refund;
                }
            }

            return [.. held.Where(m => m.IsPositive)];
        }
    }
}

/// <summary>The outcome of submitting a transaction.</summary>
/// <param name="Payment">The payment as recorded.</param>
/// <param name="Created">False when the same transaction was already recorded for the same target.</param>
public sealed record PaymentResult(Payment Payment, bool Created);
