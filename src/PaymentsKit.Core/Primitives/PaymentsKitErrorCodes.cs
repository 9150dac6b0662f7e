namespace PaymentsKit;

/// <summary>
/// The stable error codes carried by <see cref="PaymentsKitException.Code"/>. Codes are part of the
/// public contract: hosts may switch on them and map them to HTTP responses, so a code is never
/// renamed once released.
/// </summary>
public static class PaymentsKitErrorCodes
{
    /// <summary>An argument was null, empty, too long, malformed or out of range.</summary>
    public const string InvalidArgument = "invalid_argument";

    /// <summary>An amount has more decimal places than its asset's scale allows.</summary>
    public const string AmountPrecision = "amount_precision";

    /// <summary>An amount is outside the range the operation accepts (zero, negative or too large).</summary>
    public const string AmountOutOfRange = "amount_out_of_range";

    /// <summary>Arithmetic overflowed the range of the amount type, or its exact result needs more digits than the type holds.</summary>
    public const string ArithmeticOverflow = "arithmetic_overflow";

    /// <summary>Two amounts in different assets were combined.</summary>
    public const string AssetMismatch = "asset_mismatch";

    /// <summary>An asset code is not registered.</summary>
    public const string UnknownAsset = "unknown_asset";

    /// <summary>An asset with the same code but a different definition is already registered.</summary>
    public const string AssetConflict = "asset_conflict";

    /// <summary>A typed identifier could not be parsed.</summary>
    public const string MalformedId = "malformed_id";

    /// <summary>A state machine was asked for a transition its table does not allow.</summary>
    public const string InvalidTransition = "invalid_transition";

    /// <summary>A record changed between read and write (optimistic concurrency lost the race).</summary>
    public const string ConcurrencyConflict = "concurrency_conflict";

    /// <summary>A unique key (idempotency key, transaction hash, email …) is already taken.</summary>
    public const string DuplicateKey = "duplicate_key";

    /// <summary>A record that was expected to exist does not (or belongs to another tenant).</summary>
    public const string NotFound = "not_found";

    /// <summary>An idempotency key was reused with different parameters.</summary>
    public const string IdempotencyConflict = "idempotency_conflict";

    /// <summary>The partner is deactivated (<c>is_active = false</c>) and may not make calls.</summary>
    public const string PartnerInactive = "partner_inactive";

    /// <summary>The partner is soft-deleted and may not make calls.</summary>
    public const string PartnerDeleted = "partner_deleted";

    /// <summary>The caller exceeded its request rate; see the <c>retry_after_ms</c> context value.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>A currency code is not in the currencies lookup, or is inactive.</summary>
    public const string UnknownCurrency = "unknown_currency";

    /// <summary>A payment method code is not in the payment methods lookup, or is inactive.</summary>
    public const string UnknownPaymentMethod = "unknown_payment_method";

    /// <summary>A payment provider name is not one of the known providers, or no provider of that name is configured.</summary>
    public const string UnknownProvider = "unknown_provider";

    /// <summary>A refund was asked for a transaction that is not completed or partially refunded.</summary>
    public const string NotRefundable = "not_refundable";

    /// <summary>A refund is larger than what remains of the transaction after completed and in-flight refunds.</summary>
    public const string RefundExceedsRemaining = "refund_exceeds_remaining";

    /// <summary>The operation needs a settled provider outcome, but a provider call for the record is still in flight.</summary>
    public const string TransactionInFlight = "transaction_in_flight";

    /// <summary>A provider webhook's signature is missing, stale or does not verify.</summary>
    public const string InvalidSignature = "invalid_signature";

    /// <summary>There are not enough funds for the operation.</summary>
    public const string InsufficientFunds = "insufficient_funds";

    /// <summary>The object (quote, invoice, link, reservation …) has expired.</summary>
    public const string Expired = "expired";

    /// <summary>An address is not valid for the chain.</summary>
    public const string InvalidAddress = "invalid_address";

    /// <summary>A chain's RPC endpoint failed; see <see cref="PaymentsKitException.IsTransient"/>.</summary>
    public const string ChainUnavailable = "chain_unavailable";

    /// <summary>A transaction was rejected by the chain.</summary>
    public const string TransactionRejected = "transaction_rejected";

    /// <summary>No chain adapter is registered for the chain asked for.</summary>
    public const string UnknownChain = "unknown_chain";

    /// <summary>A presented API key is malformed, unknown, revoked or does not match its stored hash.</summary>
    public const string InvalidApiKey = "invalid_api_key";

    /// <summary>An asset cannot be paid on the chain the merchant's wallet is on.</summary>
    public const string UnsupportedAsset = "unsupported_asset";

    /// <summary>The chain does not know the transaction hash (yet).</summary>
    public const string TransactionNotFound = "transaction_not_found";

    /// <summary>The transaction is not final on its chain yet; retry later (transient).</summary>
    public const string TransactionNotFinal = "transaction_not_final";

    /// <summary>The transaction failed on its chain and moved no value.</summary>
    public const string TransactionFailed = "transaction_failed";

    /// <summary>The transaction did not pay the merchant's wallet.</summary>
    public const string DestinationMismatch = "destination_mismatch";

    /// <summary>A payment's amount is less than what it was for (a payment link's price).</summary>
    public const string AmountMismatch = "amount_mismatch";

    /// <summary>A payment's memo differs from the memo of the invoice it was submitted for, or is an invoice's memo on a payment submitted for a payment link.</summary>
    public const string MemoMismatch = "memo_mismatch";

    /// <summary>A payment's memo matches no invoice of the merchant; it is kept for review.</summary>
    public const string UnmatchedPayment = "unmatched_payment";

    /// <summary>A payment arrived after its invoice expired; it is kept for review (BTCPay's "paid late").</summary>
    public const string PaidLate = "paid_late";

    /// <summary>A payment arrived for a cancelled invoice; it is kept for review.</summary>
    public const string InvoiceCancelled = "invoice_cancelled";

    /// <summary>A payment link is deactivated.</summary>
    public const string LinkInactive = "link_inactive";

    /// <summary>A payment link has reached its maximum number of uses.</summary>
    public const string LinkUsedUp = "link_used_up";

    /// <summary>The storage backend failed; see <see cref="PaymentsKitException.IsTransient"/>.</summary>
    public const string StorageFailure = "storage_failure";

    /// <summary>The unit of work was used after it was committed, rolled back or disposed.</summary>
    public const string UnitOfWorkClosed = "unit_of_work_closed";

    /// <summary>A ledger transaction's debits and credits differ for some asset.</summary>
    public const string UnbalancedTransaction = "unbalanced_transaction";

    /// <summary>A pending transfer was posted for more than it reserved.</summary>
    public const string ExceedsPendingAmount = "exceeds_pending_amount";

    /// <summary>A pending transfer was already posted or voided; it resolves only once.</summary>
    public const string AlreadyResolved = "already_resolved";

    /// <summary>A ledger transaction was already reversed; it reverses only once.</summary>
    public const string AlreadyReversed = "already_reversed";

    /// <summary>
    /// A received webhook failed Standard Webhooks verification: a header is missing, the timestamp is malformed
    /// or outside the tolerance, or no signature matches the raw body.
    /// </summary>
    public const string WebhookVerificationFailed = "webhook_verification_failed";

    /// <summary>
    /// A webhook endpoint URL is not allowed: not HTTPS, or it resolves to a loopback, private, link-local or
    /// otherwise non-public address (SSRF guard).
    /// </summary>
    public const string WebhookEndpointRejected = "webhook_endpoint_rejected";


    /// <summary>A distribution cannot run yet: no holder snapshot was imported for it and no snapshot source is registered.</summary>
    public const string SnapshotRequired = "snapshot_required";

    /// <summary>A SCHEDULED or RECURRING distribution was asked to run before its scheduled time.</summary>
    public const string NotDue = "not_due";

    /// <summary>A payout executor returned no verdict for a batch (accounts it names that the batch does not pay are noted on the batch record, not refused).</summary>
    public const string PayoutResultInvalid = "payout_result_invalid";

    /// <summary>
    /// No chain can carry a payment: every candidate of a quote is unhealthy, short of treasury funds or without
    /// recent health data (the exception's context lists each chain's reason).
    /// </summary>
    public const string NoRoute = "no_route";
}
