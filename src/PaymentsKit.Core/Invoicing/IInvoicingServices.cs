using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Invoicing;

/// <summary>
/// Merchants and their clients. Every call that takes a <see cref="MerchantId"/> acts within that
/// merchant only: another merchant's records behave as if absent (<c>not_found</c>).
/// </summary>
/// <remarks>
/// Errors: <c>invalid_argument</c>, <c>unknown_chain</c>, <c>invalid_address</c> (a wallet that is not
/// valid on the chain), <c>duplicate_key</c> (a wallet, merchant email or client email already in use),
/// <c>not_found</c>.
/// </remarks>
public interface IMerchantService
{
    /// <summary>Registers a merchant with its receiving wallet, validated by the chain's adapter.</summary>
    ValueTask<Merchant> RegisterMerchantAsync(RegisterMerchantRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a merchant.</summary>
    ValueTask<Merchant> GetMerchantAsync(MerchantId merchant, CancellationToken cancellationToken = default);

    /// <summary>Finds the merchant owning a wallet (wallet sign-in); null if none.</summary>
    ValueTask<Merchant?> FindMerchantByWalletAsync(string chain, string walletAddress, CancellationToken cancellationToken = default);

    /// <summary>Records that the host verified the merchant's email.</summary>
    ValueTask<Merchant> MarkEmailVerifiedAsync(MerchantId merchant, CancellationToken cancellationToken = default);

    /// <summary>Creates a client; its email, if any, must be new within the merchant.</summary>
    ValueTask<Client> CreateClientAsync(MerchantId merchant, CreateClientRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a client.</summary>
    ValueTask<Client> GetClientAsync(MerchantId merchant, ClientId client, CancellationToken cancellationToken = default);

    /// <summary>Lists clients in creation order, a page at a time (limit 1–1000, default from options).</summary>
    ValueTask<Page<Client>> ListClientsAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);
}

/// <summary>
/// Merchant API keys: generated with a visible prefix, stored only as a keyed hash, verified in
/// constant time, with expiry, revocation and last-used tracking. The full key is returned once, by
/// <see cref="CreateApiKeyAsync"/>, and never stored or logged.
/// </summary>
/// <remarks>Errors: <c>invalid_argument</c>, <c>not_found</c>, <c>invalid_api_key</c>, <c>expired</c>.</remarks>
public interface IApiKeyService
{
    /// <summary>Creates a key; the result's <see cref="CreatedApiKey.Key"/> is the only time the key is shown.</summary>
    ValueTask<CreatedApiKey> CreateApiKeyAsync(MerchantId merchant, CreateApiKeyRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks a presented key and returns its record (whose <see cref="ApiKey.MerchantId"/> is the caller).
    /// Fails with <c>invalid_api_key</c> for a malformed, unknown, revoked or non-matching key and with
    /// <c>expired</c> for an expired one.
    /// </summary>
    ValueTask<ApiKey> AuthenticateAsync(string? presentedKey, CancellationToken cancellationToken = default);

    /// <summary>Revokes a key at once; revoking a revoked key changes nothing.</summary>
    ValueTask<ApiKey> RevokeApiKeyAsync(MerchantId merchant, ApiKeyId apiKey, CancellationToken cancellationToken = default);

    /// <summary>Lists keys (prefixes, never secrets) in creation order, a page at a time.</summary>
    ValueTask<Page<ApiKey>> ListApiKeysAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);
}

/// <summary>Invoices: creation, cancellation, the expiry sweep and the seed's invoice queries.</summary>
/// <remarks>
/// Errors: <c>invalid_argument</c>, <c>unknown_asset</c>, <c>unsupported_asset</c> (not payable on the
/// merchant's chain), <c>amount_precision</c>, <c>amount_out_of_range</c>, <c>duplicate_key</c> (number or
/// memo in use), <c>idempotency_conflict</c>, <c>not_found</c>, <c>invalid_transition</c>, <c>expired</c>.
/// </remarks>
public interface IInvoiceService
{
    /// <summary>Creates a pending invoice.</summary>
    ValueTask<Invoice> CreateInvoiceAsync(MerchantId merchant, CreateInvoiceRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads an invoice.</summary>
    ValueTask<Invoice> GetInvoiceAsync(MerchantId merchant, InvoiceId invoice, CancellationToken cancellationToken = default);

    /// <summary>Reads an invoice with its merchant, client and full payment history (newest first).</summary>
    ValueTask<InvoiceDetails> GetInvoiceDetailsAsync(MerchantId merchant, InvoiceId invoice, CancellationToken cancellationToken = default);

    /// <summary>Lists invoices in creation order, a page at a time.</summary>
    ValueTask<Page<Invoice>> ListInvoicesAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);

    /// <summary>Pending invoices that have not expired, newest first, with client and confirmed payments.</summary>
    ValueTask<Page<PendingInvoice>> ListPendingInvoicesAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Pending invoices expiring within <paramref name="window"/> from now (not yet expired), soonest first,
    /// with the merchant to notify: of one merchant, or of every merchant when <paramref name="merchant"/> is
    /// null (the host's scheduled notifier).
    /// </summary>
    ValueTask<Page<ExpiringInvoice>> ListExpiringInvoicesAsync(
        Duration window, MerchantId? merchant = null, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Cancels a pending invoice (<c>invalid_transition</c> otherwise, a paid one included; <c>expired</c> once it is past its
    /// expiry). What a partly paid invoice received leaves revenue in the same unit of work and is shown as
    /// <see cref="Invoice.Refundable"/>, owed back to the payer.
    /// </summary>
    ValueTask<Invoice> CancelInvoiceAsync(MerchantId merchant, InvoiceId invoice, string? reason = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves every pending invoice past its expiry, of every merchant, to expired, each in its own unit of
    /// work, which also takes what a partly paid one received out of revenue (<see cref="Invoice.Refundable"/>).
    /// Safe to run concurrently and repeatedly: each invoice expires exactly once. An invoice that cannot be expired is
    /// logged (event 4112) and left pending; the sweep goes on with the others and tries it again after a backoff
    /// (1 minute, doubling with each further failure up to an hour).
    /// </summary>
    /// <returns>How many invoices this call expired.</returns>
    ValueTask<int> ExpireDueAsync(CancellationToken cancellationToken = default);
}

/// <summary>Reusable payment links with an optional, atomically enforced use limit.</summary>
/// <remarks>
/// Errors: <c>invalid_argument</c>, <c>unknown_asset</c>, <c>unsupported_asset</c>, <c>amount_precision</c>,
/// <c>amount_out_of_range</c>, <c>duplicate_key</c> (slug in use), <c>idempotency_conflict</c>, <c>not_found</c>.
/// </remarks>
public interface IPaymentLinkService
{
    /// <summary>Creates an active payment link.</summary>
    ValueTask<PaymentLink> CreatePaymentLinkAsync(MerchantId merchant, CreatePaymentLinkRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a link.</summary>
    ValueTask<PaymentLink> GetPaymentLinkAsync(MerchantId merchant, PaymentLinkId link, CancellationToken cancellationToken = default);

    /// <summary>Reads a link by slug.</summary>
    ValueTask<PaymentLink> GetPaymentLinkBySlugAsync(MerchantId merchant, string slug, CancellationToken cancellationToken = default);

    /// <summary>Lists links in creation order, a page at a time.</summary>
    ValueTask<Page<PaymentLink>> ListPaymentLinksAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Activates or deactivates a link. A link past its expiry cannot be activated (<c>expired</c>, whether or not the
    /// expiry sweep has deactivated it yet); deactivating one always succeeds.
    /// </summary>
    ValueTask<PaymentLink> SetPaymentLinkActiveAsync(MerchantId merchant, PaymentLinkId link, bool active, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deactivates every active link, of every merchant, whose expiry is at or before <paramref name="now"/> and the
    /// service's clock, each in its own unit of work (payments to an expired link are refused whether or not it was swept;
    /// the sweep makes listings show it inactive). Safe to run concurrently and repeatedly: each link is deactivated once.
    /// A link created by a unit of work that committed more than about a minute after its expiry may be left to a later
    /// call, within about 10 minutes by the clock (docs/invoicing.md).
    /// </summary>
    /// <param name="now">The sweep's notion of now (usually the clock's); a later one than the clock's counts as the clock's, so no link is deactivated before its expiry.</param>
    /// <param name="limit">The most links to deactivate in this call (1–100,000).</param>
    /// <param name="cancellationToken">Cancels the sweep between links.</param>
    /// <returns>The links this call deactivated.</returns>
    ValueTask<IReadOnlyList<PaymentLink>> ExpireDueAsync(Instant now, int limit = 1000, CancellationToken cancellationToken = default);
}

/// <summary>
/// Received payments: verified on the merchant's chain, recorded once per transaction, applied to an
/// invoice or payment link, posted to the ledger, and the seed's payment and revenue queries.
/// </summary>
/// <remarks>
/// <para>A submitted transaction is read through the chain adapter and must be final and pay the
/// merchant's wallet; otherwise nothing is recorded (<c>transaction_not_found</c>,
/// <c>transaction_not_final</c> (transient), <c>transaction_failed</c>, <c>destination_mismatch</c>). Once
/// money reached the merchant it is always recorded: applied (<see cref="PaymentStatus.Confirmed"/>), or
/// kept for review (<see cref="PaymentStatus.NeedsReview"/>) with a stable
/// <see cref="Payment.ReviewCode"/>: <c>asset_mismatch</c>, <c>memo_mismatch</c>, <c>amount_mismatch</c>,
/// <c>unmatched_payment</c>, <c>paid_late</c>, <c>invoice_cancelled</c>, <c>link_inactive</c>,
/// <c>link_used_up</c>, <c>expired</c> (link), <c>unknown_asset</c>. A transaction paying the wallet in
/// several assets is one payment in the target's asset; the others are its <see cref="Payment.Unapplied"/>.</para>
/// <para>Other errors: <c>invalid_argument</c>, <c>not_found</c> (an invoice or link that is not the
/// merchant's: nothing is recorded, so the transaction can be resubmitted correctly),
/// <c>duplicate_key</c> (the transaction is already recorded for another target or merchant).</para>
/// </remarks>
public interface IPaymentService
{
    /// <summary>Verifies and records a transaction that paid the merchant.</summary>
    ValueTask<PaymentResult> SubmitPaymentAsync(MerchantId merchant, SubmitPaymentRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records a refund the merchant sent the payer of <paramref name="invoice"/> from its own wallet (PaymentsKit does not
    /// send or verify it): in one unit of work it adds the amount to the invoice's <see cref="Invoice.Refunded"/> and posts one
    /// ledger transaction (reference: the refund id) debiting <see cref="InvoicingLedgerAccounts.Overpayments"/> and crediting
    /// <see cref="InvoicingLedgerAccounts.Wallet"/>. Concurrent refunds of one invoice serialise on it, so together they
    /// never exceed what it owed back.
    /// </summary>
    /// <remarks>
    /// Errors: <c>not_found</c> (not the merchant's invoice), <c>unknown_asset</c>, <c>asset_mismatch</c> (not the invoice's
    /// asset), <c>amount_precision</c>, <c>amount_out_of_range</c> (not positive, or more than <see cref="Invoice.RefundDue"/>),
    /// <c>invalid_transition</c> (the invoice is still pending: nothing is owed back until it is paid, cancelled or expired),
    /// <c>invalid_argument</c>, <c>idempotency_conflict</c> (the key was used for another amount, asset, transaction hash or
    /// invoice). With an idempotency key, the same request returns the first refund even once nothing is owed any more.
    /// </remarks>
    ValueTask<InvoiceRefund> RecordRefundAsync(MerchantId merchant, InvoiceId invoice, RecordRefundRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a recorded refund; <c>not_found</c> if it is not the merchant's.</summary>
    ValueTask<InvoiceRefund> GetRefundAsync(MerchantId merchant, InvoiceRefundId refund, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists the refunds recorded for <paramref name="invoice"/> in creation order, a page at a time; <c>not_found</c> if the
    /// invoice is not the merchant's.
    /// </summary>
    ValueTask<Page<InvoiceRefund>> ListRefundsAsync(MerchantId merchant, InvoiceId invoice, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records a refund the merchant sent the payer of <paramref name="payment"/> from its own wallet out of the payment's money
    /// kept for review instead of applied (<see cref="Payment.HeldUnapplied"/>: a payment that needs review, or the other
    /// assets of a transaction in <see cref="Payment.Unapplied"/>). PaymentsKit does not send or verify it: in one unit of
    /// work it adds the amount to the payment's <see cref="Payment.Refunded"/> and posts one ledger transaction (reference:
    /// the refund id) debiting <see cref="InvoicingLedgerAccounts.Unapplied"/> and crediting
    /// <see cref="InvoicingLedgerAccounts.Wallet"/>. A payment link payment's excess over the link's price
    /// (<see cref="Payment.ExcessDue"/>: a link has no invoice to owe it back) is refunded the same way in the payment's own
    /// asset, debiting <see cref="InvoicingLedgerAccounts.Overpayments"/>, where it was booked. The payment's status and
    /// review code do not change. Concurrent refunds of one payment serialise on it, so together they never exceed what it
    /// held or owed back.
    /// </summary>
    /// <remarks>
    /// Errors: <c>not_found</c> (not the merchant's payment), <c>unknown_asset</c>, <c>asset_mismatch</c> (the payment
    /// brought nothing in that asset), <c>amount_precision</c>, <c>amount_out_of_range</c> (not positive, or more than the
    /// payment holds unapplied in the asset, or than a link payment's <see cref="Payment.ExcessDue"/>; nothing for what it
    /// applied to its invoice or link), <c>invalid_argument</c>,
    /// <c>idempotency_conflict</c> (the key was used for a refund of another amount, asset, transaction hash or payment).
    /// With an idempotency key, the same request returns the first refund even once nothing is held any more. Idempotency
    /// keys of these refunds and of invoices' refunds are kept apart.
    /// </remarks>
    ValueTask<PaymentRefund> RecordRefundAsync(MerchantId merchant, PaymentId payment, RecordRefundRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a recorded refund of a payment's unapplied money; <c>not_found</c> if it is not the merchant's.</summary>
    ValueTask<PaymentRefund> GetRefundAsync(MerchantId merchant, PaymentRefundId refund, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists the refunds recorded of <paramref name="payment"/>'s unapplied money in creation order, a page at a time;
    /// <c>not_found</c> if the payment is not the merchant's.
    /// </summary>
    ValueTask<Page<PaymentRefund>> ListRefundsAsync(MerchantId merchant, PaymentId payment, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);

    /// <summary>Reads a payment.</summary>
    ValueTask<Payment> GetPaymentAsync(MerchantId merchant, PaymentId payment, CancellationToken cancellationToken = default);

    /// <summary>Finds the merchant's payment for a transaction hash on its chain; null if none.</summary>
    ValueTask<Payment?> FindPaymentByTransactionAsync(MerchantId merchant, string transactionHash, CancellationToken cancellationToken = default);

    /// <summary>Lists every payment (confirmed and kept for review) in creation order, a page at a time.</summary>
    ValueTask<Page<Payment>> ListPaymentsAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);

    /// <summary>The merchant's confirmed payments, newest first, with the invoice, link and client they belong to.</summary>
    ValueTask<Page<PaymentHistoryItem>> ListPaymentHistoryAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Total confirmed revenue per asset (invoices and links), by asset code: what the payments applied and kept, as the
    /// ledger books it, with what they paid beyond what was due, or to invoices cancelled or expired since
    /// (<see cref="Invoice.Refundable"/>), reported apart as <see cref="AssetRevenue.Overpayments"/>, and the refunds recorded as
    /// <see cref="AssetRevenue.Refunded"/>.
    /// </summary>
    ValueTask<IReadOnlyList<AssetRevenue>> GetRevenueByAssetAsync(MerchantId merchant, CancellationToken cancellationToken = default);

    /// <summary>
    /// Confirmed revenue (and, apart, overpayments and refunds) per calendar month and asset over the last 12 months (this
    /// month and the 11 before it) in <paramref name="zone"/> (UTC when null); newest month first, then asset code. Each month
    /// is what the ledger posted in it, so a month already reported does not change: payments count in the month they were
    /// recorded, refunds in the month they were recorded, and what an invoice cancelled or expired unfulfilled moved out of
    /// revenue (<see cref="Invoice.Refundable"/>) in the month it closed.
    /// </summary>
    ValueTask<IReadOnlyList<MonthlyRevenue>> GetMonthlyRevenueAsync(MerchantId merchant, DateTimeZone? zone = null, CancellationToken cancellationToken = default);

    /// <summary>The clients with the largest confirmed volume in <paramref name="asset"/>, largest first (limit 1–100, default 10).</summary>
    ValueTask<IReadOnlyList<ClientVolume>> GetTopClientsAsync(MerchantId merchant, string asset, int? limit = null, CancellationToken cancellationToken = default);
}
