using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Orchestration;

/// <summary>
/// Manages partners: creation with a one-time API key, authentication by API key, updates, key
/// rotation and soft deletion. Every mutating call is audited, rejected ones included.
/// </summary>
public interface IPartnerService
{
    /// <summary>Creates a partner and its API key (returned once, stored only as a keyed hash).</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c>; <c>duplicate_key</c> for a taken email.</exception>
    ValueTask<PartnerWithApiKey> CreateAsync(CreatePartnerRequest request, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Finds the partner an API key belongs to (by its prefix, verified in constant time) and checks it may make calls.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_api_key</c>, <c>partner_inactive</c>, <c>partner_deleted</c>.</exception>
    ValueTask<Partner> AuthenticateAsync(string? apiKey, CancellationToken cancellationToken = default);

    /// <summary>Reads a partner, deleted or not.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>.</exception>
    ValueTask<Partner> GetAsync(PartnerId partnerId, CancellationToken cancellationToken = default);

    /// <summary>Changes a partner's name, active flag, rate limit, webhook URL or metadata.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>partner_deleted</c>, <c>invalid_argument</c>.</exception>
    ValueTask<Partner> UpdateAsync(PartnerId partnerId, UpdatePartnerRequest request, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Replaces the partner's API key; the old one stops working at once.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>partner_deleted</c>.</exception>
    ValueTask<PartnerWithApiKey> RotateApiKeyAsync(PartnerId partnerId, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Soft-deletes the partner: it can no longer authenticate or make calls; its records stay.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>partner_deleted</c>.</exception>
    ValueTask<Partner> DeleteAsync(PartnerId partnerId, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>The partner's audit log in id order (creation order to the millisecond; UUIDv7), a page at a time.</summary>
    ValueTask<Page<AuditLogEntry>> ListAuditLogAsync(PartnerId partnerId, string? cursor, int limit, CancellationToken cancellationToken = default);
}

/// <summary>
/// Orchestrates payments for partners: creation (idempotent per partner and key), provider calls,
/// capture, cancellation, provider webhooks and status polls, history. Every call is scoped to the
/// partner: another partner's transactions behave as if absent.
/// </summary>
public interface ITransactionService
{
    /// <summary>
    /// Creates a transaction, or returns the one an earlier call with the same idempotency key created
    /// (its current state). Unless <see cref="CreateTransactionRequest.Confirm"/> is false the payment
    /// is sent to the provider at once: the result is completed, failed, or processing (authorized, or
    /// the provider's answer did not arrive — a webhook or <see cref="SyncAsync"/> resolves it). A replay of a confirmed
    /// create whose payment an earlier call left unsent or with an unknown outcome sends it (or polls it and sends it
    /// again), keyed by the transaction id so the provider charges once, and returns the result.
    /// </summary>
    /// <exception cref="PaymentsKitException">
    /// <c>partner_inactive</c>, <c>partner_deleted</c>, <c>not_found</c> (partner), <c>amount_out_of_range</c>,
    /// <c>amount_precision</c>, <c>unknown_currency</c>, <c>unknown_payment_method</c>, <c>unknown_provider</c>,
    /// <c>invalid_argument</c>, <c>idempotency_conflict</c>. Nothing but the audit entry is written.
    /// </exception>
    ValueTask<PaymentTransaction> CreateAsync(PartnerId partnerId, CreateTransactionRequest request, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Sends a pending transaction to its provider.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>invalid_transition</c> unless pending.</exception>
    ValueTask<PaymentTransaction> ConfirmAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Captures an authorized (authorize-only) transaction in full.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>invalid_transition</c>, <c>transaction_in_flight</c>.</exception>
    ValueTask<PaymentTransaction> CaptureAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Cancels a pending transaction, or voids an authorized one at the provider.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>invalid_transition</c>, <c>transaction_in_flight</c>.</exception>
    ValueTask<PaymentTransaction> CancelAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Soft-deletes a transaction with no provider call in flight; it then behaves as absent.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>transaction_in_flight</c>.</exception>
    ValueTask<PaymentTransaction> DeleteAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>
    /// Polls the provider for a processing payment and for refunds whose outcome is unknown, and
    /// applies what it reports (each outcome exactly once, however often this and webhooks race). A
    /// call the provider shows it has not acted on (a payment or refund it does not know, a capture or
    /// cancel while it still reports the authorization) is sent again, keyed by the same id. A pending
    /// transaction whose create asked to confirm it (<see cref="PaymentTransaction.ConfirmOnCreate"/>) and is older than
    /// <see cref="OrchestrationOptions.UnsentPaymentGracePeriod"/> (its create died before sending it) is claimed and
    /// sent, as a replay of the create would; one created with <c>Confirm = false</c> is never sent here.
    /// </summary>
    ValueTask<PaymentTransaction> SyncAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs <see cref="SyncAsync"/>, across partners, for up to <paramref name="limit"/> transactions due a sync (see
    /// <see cref="IDueTransactionQueue"/>): payments and refunds whose outcome is unknown, and confirmed creates left pending
    /// past <see cref="OrchestrationOptions.UnsentPaymentGracePeriod"/>. Each is claimed for one pass at a time, so concurrent
    /// passes (on any number of hosts) sync different transactions. For a partner that is suspended or deleted it resolves
    /// only the calls already sent (polls them and records their outcome) and sends nothing new: a suspended partner's wait
    /// until it is active again (what only waits for it is not claimed meanwhile, also a call the provider still has not
    /// received <see cref="OrchestrationOptions.DropTimeout"/> after the suspension, which is held, not failed); for a deleted partner, a call the provider
    /// still shows it has not received <see cref="OrchestrationOptions.DropTimeout"/> after the deletion is given up
    /// (<c>not_received_by_provider</c>: a payment or refund fails, a capture or cancel is refused), and a transaction left
    /// pending, never sent (a confirmed create, or one made with <c>Confirm = false</c>, which it can no longer confirm), is
    /// cancelled with that code (not claimed before then), and an authorization left standing is voided once (the one call
    /// sent for a deleted partner: it releases the customer's funds and moves none). A transaction still
    /// unresolved afterwards, or whose sync failed (logged; the provider's client threw, the store refused), is not synced
    /// again before
    /// <see cref="OrchestrationOptions.SyncRetryInterval"/> has passed since the pass ended, and a failure never stops the others. A sync
    /// that changed something is audited with <see cref="RequestContext.Internal"/> (one that changed nothing, not at all), and the events they write name the system as their actor
    /// (<see cref="TransactionEvent.CreatedBy"/> <c>system</c>). The hosting job <c>transactions.sync_due</c> runs it.
    /// </summary>
    /// <param name="now">The time the pass runs at (the grace period and the leases are measured from it).</param>
    /// <param name="limit">The most transactions synced, 1–1000.</param>
    /// <param name="cancellationToken">Stops the pass; transactions not yet synced stay due.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a limit out of range.</exception>
    ValueTask<TransactionSyncResult> SyncDueAsync(Instant now, int limit = 100, CancellationToken cancellationToken = default);

    /// <summary>Verifies and applies a provider webhook (payment or refund outcome); repeated deliveries change nothing.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_signature</c>, <c>invalid_argument</c>, <c>unknown_provider</c>, <c>not_found</c>.</exception>
    ValueTask<ProviderWebhookResult> HandleProviderWebhookAsync(
        PaymentProvider provider, string payload, IReadOnlyDictionary<string, string> headers, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Reads a transaction.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c> (also for deleted and other partners' transactions).</exception>
    ValueTask<PaymentTransaction> GetAsync(PartnerId partnerId, TransactionId transactionId, CancellationToken cancellationToken = default);

    /// <summary>Lists the partner's transactions in creation order, a page at a time (deleted ones omitted).</summary>
    ValueTask<Page<PaymentTransaction>> ListAsync(PartnerId partnerId, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>The transaction's events, newest first.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>.</exception>
    ValueTask<IReadOnlyList<TransactionEvent>> GetEventsAsync(PartnerId partnerId, TransactionId transactionId, CancellationToken cancellationToken = default);
}

/// <summary>
/// Refunds transactions, partially or fully. The sum of completed and in-flight refunds never
/// exceeds the transaction's amount, under any concurrency: each refund reserves its amount on the
/// transaction record in the unit of work that creates it.
/// </summary>
public interface IRefundService
{
    /// <summary>
    /// Refunds (part of) a completed or partially refunded transaction. A replay with the same idempotency key returns the
    /// same refund, first sending it again (or polling it and sending it again) if its outcome is still unknown, keyed by
    /// the refund id so the provider refunds once.
    /// </summary>
    /// <returns>The refund: completed, failed, or processing when the provider's answer did not arrive.</returns>
    /// <exception cref="PaymentsKitException">
    /// <c>not_found</c>, <c>not_refundable</c>, <c>refund_exceeds_remaining</c>, <c>amount_out_of_range</c>,
    /// <c>amount_precision</c>, <c>invalid_argument</c>, <c>idempotency_conflict</c>, <c>partner_inactive</c>,
    /// <c>partner_deleted</c>. Nothing but the audit entry is written.
    /// </exception>
    ValueTask<Refund> RefundAsync(PartnerId partnerId, TransactionId transactionId, CreateRefundRequest request, RequestContext context, CancellationToken cancellationToken = default);

    /// <summary>Reads a refund; a refund of a deleted transaction is gone with it.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, also for a refund of a deleted transaction.</exception>
    ValueTask<Refund> GetRefundAsync(PartnerId partnerId, RefundId refundId, CancellationToken cancellationToken = default);

    /// <summary>A transaction's refunds, newest first.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>.</exception>
    ValueTask<IReadOnlyList<Refund>> ListRefundsAsync(PartnerId partnerId, TransactionId transactionId, CancellationToken cancellationToken = default);
}

/// <summary>What a provider webhook changed.</summary>
/// <param name="Event">The verified webhook.</param>
/// <param name="Transaction">The transaction it concerns, as it is now.</param>
/// <param name="Refund">The refund it concerns, as it is now, for a refund webhook.</param>
public sealed record ProviderWebhookResult(ProviderWebhookEvent Event, PaymentTransaction Transaction, Refund? Refund);
