using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Streaming;

/// <summary>
/// Streaming payments (seed 002, StreamPay). Every operation is one unit of work that changes the stream,
/// posts its money movements to the <see cref="Ledger.ILedger"/> and appends its <see cref="StreamEvent"/>s:
/// all of it or nothing. Every operation is scoped to a tenant; another tenant's streams behave as absent.
/// </summary>
/// <remarks>
/// <para>Money flows through two ledger accounts the stream opens for itself: creation moves the total from
/// the payer's funding account into the stream's escrow; settlements move what accrued (exactly, see
/// <see cref="StreamAccrual"/>) from escrow to the recipient's balance; withdrawals move settled funds from
/// there to the payout account; cancellation settles what accrued and returns the rest to the funding
/// account (Sablier's rule); completion settles the last amount and returns any remainder.</para>
/// <para>An active stream whose completion instant has passed is completed first by whatever operation
/// touches it, and by <see cref="CompleteDueAsync"/>. Operations that change the state follow
/// <see cref="StreamLifecycle.Machine"/>; anything else is <c>invalid_transition</c>.</para>
/// <para>A funding account that refuses a stream's refund credit (flag <c>credits_must_not_exceed_debits</c>)
/// refuses the stream's closing with <c>insufficient_funds</c> naming <c>funding_account_id</c>, writing nothing; a
/// due stream then stays active and due until the account can take the credit, while withdrawals and settlements
/// still pay the recipient everything that streamed. A payout account that refuses a withdrawal's credit is
/// <c>insufficient_funds</c> naming <c>payout_account_id</c>.</para>
/// <para>Errors (<see cref="PaymentsKitException.Code"/>): <c>invalid_argument</c>, <c>amount_out_of_range</c>,
/// <c>amount_precision</c>, <c>asset_mismatch</c>, <c>unknown_asset</c>, <c>asset_conflict</c>,
/// <c>invalid_address</c>, <c>not_found</c>, <c>insufficient_funds</c>, <c>invalid_transition</c>,
/// <c>idempotency_conflict</c>, <c>duplicate_key</c> (transaction hash taken), <c>concurrency_conflict</c>
/// (only after repeated lost races).</para>
/// </remarks>
public interface IStreamService
{
    /// <summary>Creates a stream and moves its total into escrow; an end already past completes it at once.</summary>
    ValueTask<StreamOperationResult> CreateAsync(MerchantId tenantId, CreateStreamRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a stream.</summary>
    ValueTask<PaymentStream> GetAsync(MerchantId tenantId, StreamId streamId, CancellationToken cancellationToken = default);

    /// <summary>Lists the tenant's streams in creation order, a page at a time.</summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>, or null for the first page.</param>
    /// <param name="limit">1–1000 streams.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<Page<PaymentStream>> ListAsync(MerchantId tenantId, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>A stream's balances now, or at <paramref name="at"/>; nothing is written.</summary>
    ValueTask<StreamStatement> GetStatementAsync(MerchantId tenantId, StreamId streamId, Instant? at = null, CancellationToken cancellationToken = default);

    /// <summary>A stream's events, oldest first, a page at a time.</summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="streamId">The stream.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>, or null for the first page.</param>
    /// <param name="limit">1–1000 events.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<Page<StreamEvent>> ListEventsAsync(MerchantId tenantId, StreamId streamId, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>Settles what accrued so far, then pauses: nothing accrues until it is resumed (active → paused).</summary>
    ValueTask<StreamOperationResult> PauseAsync(MerchantId tenantId, StreamId streamId, StreamAction action, CancellationToken cancellationToken = default);

    /// <summary>Resumes a paused stream (paused → active); if its end passed while paused it completes at once.</summary>
    ValueTask<StreamOperationResult> ResumeAsync(MerchantId tenantId, StreamId streamId, StreamAction action, CancellationToken cancellationToken = default);

    /// <summary>Moves accrued − settled to the recipient's balance and sets <see cref="PaymentStream.LastSettledAt"/> (active or paused streams).</summary>
    ValueTask<StreamOperationResult> SettleAsync(MerchantId tenantId, StreamId streamId, StreamAction action, CancellationToken cancellationToken = default);

    /// <summary>
    /// Settles, then takes settled funds out to the payout account (in any state). With an
    /// <see cref="WithdrawStreamRequest.IdempotencyKey"/>, a repeat returns the original withdrawal's result and moves nothing.
    /// </summary>
    ValueTask<StreamOperationResult> WithdrawAsync(MerchantId tenantId, StreamId streamId, WithdrawStreamRequest request, CancellationToken cancellationToken = default);

    /// <summary>Cancels (active | paused → cancelled): the recipient keeps everything accrued, the payer gets the rest back.</summary>
    ValueTask<StreamOperationResult> CancelAsync(MerchantId tenantId, StreamId streamId, StreamAction action, CancellationToken cancellationToken = default);

    /// <summary>
    /// Completes every active stream, of any tenant, whose completion instant is at or before
    /// <paramref name="now"/> and the service's clock: settles its last amount, refunds any remainder, each in its own
    /// unit of work. Safe to run concurrently and repeatedly (the Hosting worker's sweep). A stream whose completion was
    /// scheduled by a unit of work that committed more than about a minute after that instant may be left to a later
    /// call, within about 10 minutes by the clock (docs/streaming.md).
    /// </summary>
    /// <param name="now">The sweep's notion of now (usually the clock's); a later one than the clock's counts as the clock's, so nothing completes before it has streamed.</param>
    /// <param name="limit">The most streams to complete in this call (1–100,000).</param>
    /// <param name="cancellationToken">Cancels the sweep between streams.</param>
    /// <returns>The streams this call completed.</returns>
    ValueTask<IReadOnlyList<PaymentStream>> CompleteDueAsync(Instant now, int limit = 1000, CancellationToken cancellationToken = default);
}
