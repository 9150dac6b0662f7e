using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Routing;

/// <summary>
/// A payment the router carries to one chain (seed 001 <c>payment_intents</c>): from a quote, through a
/// treasury reservation and broadcast attempts, to settlement or failure (<see cref="PaymentIntentLifecycle"/>).
/// </summary>
/// <param name="Id">The intent id.</param>
/// <param name="MerchantId">The merchant that created it (its tenant).</param>
/// <param name="QuoteId">The quote it was priced by.</param>
/// <param name="IdempotencyKey">The merchant's key: the same key and request return this intent.</param>
/// <param name="RequestFingerprint">The fingerprint of the creating request, to tell a retry from a conflicting reuse.</param>
/// <param name="Amount">The payment, in the settlement asset.</param>
/// <param name="SelectedChain">The chain it goes (or will go) over.</param>
/// <param name="DestinationAddress">The recipient on <paramref name="SelectedChain"/>.</param>
/// <param name="Status">Where it stands.</param>
/// <param name="Reservation">The treasury hold while one is open; null before route selection and once final.</param>
/// <param name="AttemptIds">Its broadcast attempts, oldest first.</param>
/// <param name="AttemptBudget">How many attempts it may make before manual review.</param>
/// <param name="NextAttemptAt">While retrying: when the next attempt is due.</param>
/// <param name="LastError">Why the last attempt or step failed.</param>
/// <param name="TxId">The transaction that settled it.</param>
/// <param name="ActualFee">The fee it cost, in the settlement asset, once settled or failed on chain.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="UpdatedAt">When it last changed.</param>
public sealed record PaymentIntent(
    PaymentIntentId Id,
    MerchantId MerchantId,
    QuoteId QuoteId,
    string IdempotencyKey,
    string RequestFingerprint,
    Money Amount,
    [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId SelectedChain,
    string DestinationAddress,
    PaymentIntentStatus Status,
    TreasuryReservation? Reservation,
    IReadOnlyList<PaymentAttemptId> AttemptIds,
    [property: JsonPropertyOrder(1)] int AttemptBudget,
    [property: JsonPropertyOrder(1)] Instant? NextAttemptAt,
    [property: JsonPropertyOrder(1)] string? LastError,
    [property: JsonPropertyOrder(1)] string? TxId,
    [property: JsonPropertyOrder(1)] Money? ActualFee,
    [property: JsonPropertyOrder(1)] Instant CreatedAt,
    [property: JsonPropertyOrder(1)] Instant UpdatedAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueList<PaymentAttemptId> _attemptIds = ValueList<PaymentAttemptId>.Of(AttemptIds);

    /// <summary>Its broadcast attempts, oldest first. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<PaymentAttemptId> AttemptIds
    {
        get => _attemptIds;
        init => _attemptIds = ValueList<PaymentAttemptId>.Of(value);
    }

    /// <summary>
    /// When a sweeper (<see cref="IPaymentIntentService.AdvanceDueAsync"/>) should next move it: while
    /// <c>created</c> or <c>quoted</c>, when its quote expires (it then expires); once routed, at once (broadcast);
    /// while <c>broadcasting</c>, when the broadcast timeout passes (recovery); while <c>broadcasted</c> or
    /// <c>pending_confirmation</c>, at once and on every sweep until final (confirmation polling); while
    /// <c>retrying</c>, at its next attempt; once <c>settled</c> or <c>failed</c> after more than one attempt, or
    /// <c>failed</c> by an operator, at once until its transactions that may still land are booked or outwaited (those on
    /// chains it was re-routed away from, and a failed intent's sent ones on its own chain); null otherwise once final,
    /// and in manual review.
    /// </summary>
    [JsonPropertyOrder(1)]
    public Instant? DueAt { get; init; }
}

/// <summary>Creates a payment intent from a quote.</summary>
/// <param name="QuoteId">An unexpired quote of the merchant.</param>
/// <param name="IdempotencyKey">1–255 characters, unique per merchant (Stripe semantics).</param>
public sealed record CreatePaymentIntentRequest(QuoteId QuoteId, string IdempotencyKey)
{
    /// <summary>An eligible chain of the quote to use instead of its recommendation.</summary>
    public ChainId? Chain { get; init; }
}

/// <summary>Where a broadcast attempt stands (seed 001 <c>payment_attempts.status</c>).</summary>
public enum PaymentAttemptStatus
{
    /// <summary>Signed, being submitted.</summary>
    Pending,

    /// <summary>Accepted by the chain.</summary>
    Broadcasted,

    /// <summary>Final on chain.</summary>
    Confirmed,

    /// <summary>Did not (or will not) complete; see <see cref="PaymentAttempt.Failure"/>.</summary>
    Failed,
}

/// <summary>Why an attempt failed.</summary>
public enum AttemptFailure
{
    /// <summary>The RPC provider failed (transient); the same signed transaction may be resent.</summary>
    RpcError,

    /// <summary>The chain refused the transaction; nothing moved.</summary>
    Rejected,

    /// <summary>The chain never included it (or lost it in a reorg) within the drop timeout.</summary>
    Dropped,

    /// <summary>Included but failed (reverted); the fee was paid, nothing else moved.</summary>
    Reverted,
}

/// <summary>One broadcast of a payment intent (seed 001 <c>payment_attempts</c>).</summary>
/// <param name="Id">The attempt id.</param>
/// <param name="MerchantId">The intent's merchant (its tenant).</param>
/// <param name="PaymentIntentId">The intent.</param>
/// <param name="Number">1 for the intent's first attempt.</param>
/// <param name="Chain">The chain.</param>
/// <param name="RpcProvider">The provider it was sent through.</param>
/// <param name="EstimatedFee">The fee held for it, in the settlement asset.</param>
/// <param name="MaxFeeNative">The most it may pay, in the chain's fee asset.</param>
/// <param name="TxId">The transaction hash.</param>
/// <param name="SignedTransaction">The signed transaction, base64, kept so it can be resent unchanged.</param>
/// <param name="ActualFeeNative">The fee the chain charged, in its fee asset.</param>
/// <param name="ActualFee">That fee in the settlement asset.</param>
/// <param name="Confirmations">Confirmations last seen.</param>
/// <param name="Status">Where it stands.</param>
/// <param name="Failure">Why it failed.</param>
/// <param name="FailureReason">The failure in words.</param>
/// <param name="CreatedAt">When it was made.</param>
/// <param name="BroadcastAt">When the chain accepted it.</param>
/// <param name="ConfirmedAt">When it was seen final.</param>
/// <param name="UpdatedAt">When it last changed.</param>
public sealed record PaymentAttempt(
    PaymentAttemptId Id,
    MerchantId MerchantId,
    PaymentIntentId PaymentIntentId,
    int Number,
    [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId Chain,
    string RpcProvider,
    Money EstimatedFee,
    Money MaxFeeNative,
    string? TxId,
    string SignedTransaction,
    Money? ActualFeeNative,
    Money? ActualFee,
    long Confirmations,
    PaymentAttemptStatus Status,
    AttemptFailure? Failure,
    string? FailureReason,
    Instant CreatedAt,
    Instant? BroadcastAt,
    Instant? ConfirmedAt,
    Instant UpdatedAt)
{
    /// <summary>
    /// When a poll last found the transaction known to the chain (pending or included), recorded at most once per half
    /// <see cref="RoutingOptions.DropTimeout"/>; null until first recorded. The drop timeout runs from the later of this
    /// and <see cref="BroadcastAt"/>.
    /// </summary>
    public Instant? LastSeenAt { get; init; }

    /// <summary>
    /// When the chain refused a resend of the transaction through this attempt (a retry's, or the takeover of a broadcast
    /// whose worker died) while not knowing it, although an earlier send — the dead worker's, or an RPC call that failed —
    /// may have reached it; null otherwise (a transaction refused on its first send never reached the chain). It counts as a
    /// send: the drop timeout, an operator's Fail and the watch of a failed intent's transactions run from it.
    /// </summary>
    public Instant? ResendRefusedAt { get; init; }
}

/// <summary>What an operator decides for an intent in manual review.</summary>
public enum ManualReviewResolution
{
    /// <summary>Try again with a fresh retry budget.</summary>
    Retry,

    /// <summary>
    /// Nothing moved: fail it and release its reservation (refused while one of its transactions may still be on chain). The
    /// fee of a transaction of it that reverted on chain is booked on the wallet that paid it, the rest released.
    /// </summary>
    Fail,

    /// <summary>Settle it after checking on chain that one of its transactions is final.</summary>
    Settle,

    /// <summary>
    /// Fail it and release its reservation without asking the chain, on the operator's word that none of its transactions
    /// can move money: for a chain that cannot be asked (unreachable for good, or no longer registered), where
    /// <see cref="Fail"/> is refused. The operator must have checked elsewhere (a block explorer, another node): a
    /// transaction that lands after it is paid from a released hold. The failed intent keeps watching its transactions (see
    /// <see cref="PaymentIntent.DueAt"/>), so one that lands while its chain still knows it, or within the finality timeout
    /// of its last send or sighting, is booked then; one landing later, or with no known hash, shows in the books only as a
    /// discrepancy.
    /// </summary>
    FailUnverified,
}

/// <summary>The <c>data</c> of a <c>payment_intent.*</c> webhook: the intent as the merchant sees it, with the change.</summary>
/// <param name="Id">The intent id.</param>
/// <param name="QuoteId">Its quote.</param>
/// <param name="Amount">The payment.</param>
/// <param name="SelectedChain">The chain.</param>
/// <param name="DestinationAddress">The recipient.</param>
/// <param name="Status">The status it moved to (seed name).</param>
/// <param name="PreviousStatus">The status it left; null on creation.</param>
/// <param name="Reason">Why, when it failed, retried, expired or went to review.</param>
/// <param name="TxId">The settling transaction; in <c>payment_intent.paid_after_failure</c> and <c>payment_intent.paid_after_settlement</c>, the one that paid after the intent finished (with <paramref name="SelectedChain"/> and <paramref name="DestinationAddress"/> where it paid).</param>
/// <param name="ActualFee">The fee paid.</param>
/// <param name="Attempts">How many attempts it made.</param>
/// <param name="UpdatedAt">When the change happened.</param>
public sealed record PaymentIntentEventData(
    PaymentIntentId Id,
    QuoteId QuoteId,
    Money Amount,
    [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId SelectedChain,
    string DestinationAddress,
    string Status,
    string? PreviousStatus,
    string? Reason,
    string? TxId,
    Money? ActualFee,
    int Attempts,
    Instant UpdatedAt);

/// <summary>Payment intents: idempotent creation from a quote, route selection, one-step advancing, cancellation, review.</summary>
public interface IPaymentIntentService
{
    /// <summary>
    /// Creates an intent from an unexpired quote (status <c>created</c>), or returns the intent the same key
    /// created before with the same request.
    /// </summary>
    /// <exception cref="PaymentsKitException">
    /// <c>not_found</c> (quote), <c>expired</c> (quote), <c>invalid_argument</c> (key, or a chain the quote excluded),
    /// <c>idempotency_conflict</c> (the key was used with another request).
    /// </exception>
    ValueTask<PaymentIntent> CreateAsync(MerchantId merchantId, CreatePaymentIntentRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads an intent of the merchant.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>.</exception>
    ValueTask<PaymentIntent> GetAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken = default);

    /// <summary>The intent's attempts, oldest first.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>.</exception>
    ValueTask<IReadOnlyList<PaymentAttempt>> ListAttemptsAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken = default);

    /// <summary>Re-prices an intent not yet routed with a new quote of the same amount (status <c>quoted</c>).</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>expired</c>, <c>invalid_argument</c> (other amount), <c>invalid_transition</c>.</exception>
    ValueTask<PaymentIntent> RequoteAsync(MerchantId merchantId, PaymentIntentId intentId, QuoteId quoteId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reserves amount + fee on the selected chain's wallet (or, if it cannot, the quote's next eligible healthy
    /// chain) and moves the intent to <c>route_selected</c>. If the quote expired, the intent becomes <c>expired</c>
    /// and <c>expired</c> is thrown.
    /// </summary>
    /// <exception cref="PaymentsKitException">
    /// <c>not_found</c>, <c>expired</c>, <c>insufficient_funds</c> (no wallet can cover it; nothing changes), <c>invalid_transition</c>.
    /// </exception>
    ValueTask<PaymentIntent> SelectRouteAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves an intent one step (for the Hosting worker): selects its route, broadcasts an attempt, polls its
    /// confirmations, settles or fails it, retries on another provider or chain, or sends it to manual review; once it
    /// finished, books what its transactions that may still land did since: those on chains it was re-routed away from, and a
    /// failed intent's on its own chain (see <see cref="PaymentIntent.DueAt"/>).
    /// Returns the intent unchanged when nothing is due. Safe to call concurrently and repeatedly.
    /// </summary>
    /// <exception cref="PaymentsKitException">
    /// <c>not_found</c>; <c>concurrency_conflict</c> (transient) when it kept losing races; <c>insufficient_funds</c> when the books
    /// of a wallet that paid for a transaction that landed after the intent finished cannot cover it.
    /// </exception>
    ValueTask<PaymentIntent> AdvanceAsync(PaymentIntentId intentId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Advances every intent due at <paramref name="now"/> one step (at most <paramref name="limit"/>, oldest due
    /// first, across merchants): polls the confirmations of broadcast intents, runs retries whose backoff has passed,
    /// recovers stalled broadcasts, broadcasts routed intents and expires intents whose quote expired. Safe to run on
    /// several hosts at once: each intent is claimed by one sweeper at a time and every step applies once. An intent
    /// it found nothing to do for yet is not claimed again before <see cref="RoutingOptions.SweepPollInterval"/> has
    /// passed since the pass ended. An intent whose step fails is logged and counted, and the pass goes on.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> when <paramref name="limit"/> is outside 1–1000.</exception>
    ValueTask<PaymentIntentSweepResult> AdvanceDueAsync(Instant now, int limit = 100, CancellationToken cancellationToken = default);

    /// <summary>Cancels an intent before anything was broadcast, releasing its reservation.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>invalid_transition</c>.</exception>
    ValueTask<PaymentIntent> CancelAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken = default);

    /// <summary>Applies an operator's decision to an intent in <c>manual_review</c>.</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>not_found</c>, <c>invalid_transition</c> (not in review), <c>invalid_argument</c> (settle: no transaction of it is final on
    /// chain; fail: one of its transactions is pending or included on chain, or was broadcast, sent through a failed RPC call,
    /// resent and refused (<see cref="PaymentAttempt.ResendRefusedAt"/>) or last seen less than
    /// <see cref="RoutingOptions.DropTimeout"/> ago), <c>chain_unavailable</c> (fail, transient: no RPC provider of a chain it
    /// sent a transaction on answers, so the transaction may still move the money),
    /// <c>insufficient_funds</c> (settle or fail: the books of a wallet that paid for a transaction on a chain the intent was
    /// re-routed away from cannot cover it).
    /// </exception>
    ValueTask<PaymentIntent> ResolveManualReviewAsync(PaymentIntentId intentId, ManualReviewResolution resolution, CancellationToken cancellationToken = default);
}
