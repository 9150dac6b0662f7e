using NodaTime;
using PaymentsKit.Routing;
using PaymentsKit.Storage;

namespace PaymentsKit.Orchestration;

/// <summary>A transaction a sync pass claimed because it is due a sync (see <see cref="IDueTransactionQueue"/>).</summary>
/// <param name="PartnerId">Its partner.</param>
/// <param name="Id">The transaction.</param>
/// <param name="LeasedUntil">When the claim's lease runs out; it also identifies the claim when it is released or deferred.</param>
public readonly record struct DueTransaction(PartnerId PartnerId, TransactionId Id, Instant LeasedUntil);

/// <summary>What one <see cref="ITransactionService.SyncDueAsync"/> pass did.</summary>
/// <param name="Claimed">Due transactions it claimed (at most the limit; equal to it when more may be due).</param>
/// <param name="Synced">Transactions it synced (<see cref="ITransactionService.SyncAsync"/> returned, resolved or not).</param>
/// <param name="Failed">Transactions whose sync failed with an error (logged; they are tried again after <see cref="OrchestrationOptions.SyncRetryInterval"/>).</param>
public readonly record struct TransactionSyncResult(int Claimed, int Synced, int Failed);

/// <summary>
/// Finds the transactions due a sync across partners and hands each to one sync pass at a time. Due means: a provider
/// call awaits its outcome (processing, other than an authorization standing with nothing in flight), a create that asked
/// to confirm left it pending past <see cref="OrchestrationOptions.UnsentPaymentGracePeriod"/> and its partner is active
/// and not deleted (to send it) or was deleted at least <see cref="OrchestrationOptions.DropTimeout"/> ago (to cancel it:
/// nothing is sent for a deleted partner; so is a deleted partner's pending transaction made with <c>Confirm = false</c>,
/// which it can no longer confirm; or a deleted partner's authorization standing with nothing in flight, past the same drop
/// timeout and unchanged since, which the sync voids), or a refund of it is pending or processing (a reserved refund amount; while its partner is suspended,
/// only when one is processing, as a pending one waits for the partner); never a deleted one. A claim leases the transaction until it is
/// released, deferred, or the lease runs out (a pass that dies loses nothing). Transactions never synced come first, then
/// those whose deferral ended longest ago, so one the provider keeps answering "unknown" waits its deferral and then queues
/// behind the others instead of starving them. On PostgreSQL it reads a partial index of the transactions that can be due
/// (migration <c>0028_transaction_sync</c>), claims with <c>FOR UPDATE SKIP LOCKED</c> and keeps a lease row per
/// transaction; the default scans every partner's transactions through <see cref="IPaymentsStore"/> and leases in process
/// memory.
/// </summary>
/// <remarks>
/// A lease only saves duplicate work and provider calls: every change the sync makes re-checks the transaction's version
/// when it commits, and every provider call is keyed by the transaction or refund id.
/// </remarks>
public interface IDueTransactionQueue
{
    /// <summary>
    /// Claims up to <paramref name="limit"/> transactions due a sync at <paramref name="now"/>, skipping those another pass
    /// holds (or deferred past <paramref name="now"/>), and leases each until <paramref name="now"/> + <paramref name="lease"/>.
    /// </summary>
    /// <param name="now">The time the pass runs at.</param>
    /// <param name="unsentCreatedBefore">A pending transaction whose create asked to confirm it is due once created at or before this.</param>
    /// <param name="partnerDeletedBefore">
    /// Such a pending transaction of a deleted partner is due only once its partner was deleted at or before this (the drop
    /// timeout has passed since the deletion), when the sync cancels it.
    /// </param>
    /// <param name="lease">How long the pass holds each claimed transaction.</param>
    /// <param name="limit">The most transactions claimed, 1–1000.</param>
    /// <param name="cancellationToken">Cancels the claim.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a limit out of range or a lease that is not positive.</exception>
    ValueTask<IReadOnlyList<DueTransaction>> ClaimDueAsync(
        Instant now, Instant unsentCreatedBefore, Instant partnerDeletedBefore, Duration lease, int limit, CancellationToken cancellationToken = default);

    /// <summary>Ends the leases of <paramref name="claims"/>; a lease that ran out and was taken by another pass is left alone.</summary>
    ValueTask ReleaseAsync(IReadOnlyList<DueTransaction> claims, CancellationToken cancellationToken = default);

    /// <summary>
    /// Extends the leases of <paramref name="claims"/> to <paramref name="until"/> (transactions still unresolved, or whose
    /// sync failed), so no pass syncs them again before then; a lease taken by another pass is left alone.
    /// </summary>
    ValueTask DeferAsync(IReadOnlyList<DueTransaction> claims, Instant until, CancellationToken cancellationToken = default);
}

/// <summary>Which transactions are due a sync; the PostgreSQL queue's SQL states the same rule.</summary>
internal static class TransactionSyncRule
{
    /// <summary>
    /// The error code of a call the provider has not received once nothing could be on its way to it any more (see
    /// <see cref="OrchestrationOptions.DropTimeout"/>); a suspended partner's processing transaction holding it waits for
    /// the partner (<see cref="MayWaitForPartner"/>).
    /// </summary>
    public const string NotReceivedByProvider = "not_received_by_provider";

    /// <param name="tx">The transaction.</param>
    /// <param name="unsentCreatedBefore">A pending transaction is due once created at or before this.</param>
    /// <param name="settlesUnsent">
    /// Whether the sync would settle it if it is pending, never sent (<see cref="SettlesUnsent"/>). One it would not is left
    /// out: it would only be claimed and put off every retry interval.
    /// </param>
    public static bool IsDue(PaymentTransaction tx, Instant unsentCreatedBefore, bool settlesUnsent) =>
        tx is { Status: TransactionStatus.Pending, DeletedAt: null } && tx.ReservedRefundAmount.IsZero
            ? tx.CreatedAt <= unsentCreatedBefore && settlesUnsent
            : CanBeDue(tx);

    /// <summary>
    /// Whether the sync settles <paramref name="tx"/>, pending and never sent, of <paramref name="partner"/>: it sends a
    /// confirmed create for an active partner, and cancels any pending transaction (confirmed create or one made with
    /// <c>Confirm = false</c>) of a partner deleted at or before <paramref name="partnerDeletedBefore"/> (the drop timeout
    /// ago), which will never be sent or confirmed. A suspended partner's waits until it is active again, as does an active
    /// partner's unconfirmed one (for its <see cref="ITransactionService.ConfirmAsync"/>).
    /// </summary>
    public static bool SettlesUnsent(PaymentTransaction tx, Partner partner, Instant partnerDeletedBefore) =>
        partner.DeletedAt <= partnerDeletedBefore || (tx.ConfirmOnCreate && PartnerGate.MayCall(partner));

    /// <summary>
    /// Whether a transaction <see cref="IsDue"/> counts as due may instead wait for its partner: the partner is suspended
    /// (not deleted) and either the transaction has no payment in flight, so what makes it due is its refunds, or its call
    /// in flight is one the provider still had not received <see cref="OrchestrationOptions.DropTimeout"/> after the
    /// suspension (<see cref="NotReceivedByProvider"/>), which polling again cannot change while nothing is sent. Unless a
    /// refund is processing (a call already sent, which is polled) what it waits for is sent only once the partner is active
    /// again (a processing refund held as not received, <see cref="NotReceivedByProvider"/>, waits too): claimed, it would
    /// only be put off every retry interval. A deleted partner's never waits: its refunds are
    /// polled until they settle or are dropped (<see cref="OrchestrationOptions.DropTimeout"/>).
    /// </summary>
    public static bool MayWaitForPartner(PaymentTransaction tx, Partner partner) =>
        partner is { IsActive: false, DeletedAt: null } && (tx.Status != TransactionStatus.Processing || tx.ErrorCode == NotReceivedByProvider);

    /// <summary>
    /// Whether <paramref name="tx"/> is due a sync or may become due by time or by its partner alone (a pending create
    /// that asked to confirm); PostgreSQL's partial index <c>idx_transactions_sync_due</c> holds exactly these.
    /// </summary>
    public static bool CanBeDue(PaymentTransaction tx) =>
        tx.DeletedAt is null
        && ((tx.Status == TransactionStatus.Processing && (tx.InFlightAction is not null || tx.AuthorizedAt is null))
            || tx is { Status: TransactionStatus.Pending, ConfirmOnCreate: true }
            || !tx.ReservedRefundAmount.IsZero);

    /// <summary>
    /// Whether <paramref name="tx"/> is at rest: deleted, or sent and not <see cref="CanBeDue(PaymentTransaction)"/> (completed
    /// or partially refunded with no refund in flight, refunded, failed, cancelled, or an authorization standing with nothing
    /// in flight). The sync pass does not sync it again until a call changes it (a refund, a capture or cancel), so nothing
    /// the pass kept about it as it is now can matter again. A pending one may still be sent or cancelled by the pass.
    /// </summary>
    public static bool IsAtRest(PaymentTransaction tx) =>
        tx.DeletedAt is not null || (tx.Status != TransactionStatus.Pending && !CanBeDue(tx));

    /// <summary>
    /// <see cref="CanBeDue(PaymentTransaction)"/>, or a deleted partner's pending transaction made with <c>Confirm = false</c>,
    /// which the drop timeout makes due (to cancel it), or its authorization standing with nothing in flight, which it may
    /// make due (to void it, <see cref="VoidsStanding"/>). The partial index leaves those out (it
    /// knows no partner): the PostgreSQL claim finds them through the deleted partners instead.
    /// </summary>
    public static bool CanBeDue(PaymentTransaction tx, Partner partner) =>
        CanBeDue(tx)
        || (tx is { Status: TransactionStatus.Pending, DeletedAt: null } && partner.DeletedAt is not null)
        || (IsStanding(tx) && partner.DeletedAt is not null);

    /// <summary>
    /// Whether the sync voids <paramref name="tx"/>, an authorization standing with nothing in flight, because its partner
    /// was deleted at or before <paramref name="partnerDeletedBefore"/> (<paramref name="dropTimeout"/> ago): no capture or
    /// cancel can come any more, and the customer's funds would stay held until the provider lets the authorization expire.
    /// Only one not changed since the drop timeout ran out, so the void is sent once: one the provider refused (or a capture
    /// or cancel given up past it, <see cref="NotReceivedByProvider"/>) stands, and expires at the provider.
    /// </summary>
    public static bool VoidsStanding(PaymentTransaction tx, Partner partner, Instant partnerDeletedBefore, Duration dropTimeout) =>
        IsStanding(tx) && partner.DeletedAt is { } deletedAt && deletedAt <= partnerDeletedBefore && tx.UpdatedAt < deletedAt + dropTimeout;

    private static bool IsStanding(PaymentTransaction tx) =>
        tx is { Status: TransactionStatus.Processing, InFlightAction: null, AuthorizedAt: not null, DeletedAt: null };
}

/// <summary>
/// The default <see cref="IDueTransactionQueue"/>: reads every partner's transactions through <see cref="IPaymentsStore"/>
/// (linear in them: for the in-memory store, development and tests) and keeps leases in process memory, so it coordinates
/// the sync passes of one process.
/// </summary>
/// <param name="store">The store the transactions are kept in.</param>
public sealed class StoreScanDueTransactionQueue(IPaymentsStore store) : IDueTransactionQueue
{
    private readonly LeaseTable _leases = new();

    /// <summary>The ids the queue keeps an entry for (live, expired or deferred), for tests that check it forgets resolved ones.</summary>
    internal List<Guid> HeldIds() => _leases.HeldIds();

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DueTransaction>> ClaimDueAsync(
        Instant now, Instant unsentCreatedBefore, Instant partnerDeletedBefore, Duration lease, int limit, CancellationToken cancellationToken = default)
    {
        DueLimits.Check(lease, limit);
        var due = new List<PaymentTransaction>();
        var canBeDue = new List<Guid>();
        var mayWait = new List<PaymentTransaction>();
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            await foreach (var (partner, tx) in TenantScan.AllAsync(unit, OrchestrationCollections.Partners, p => p.Id.Value, OrchestrationCollections.Transactions, cancellationToken).ConfigureAwait(false))
            {
                if (!TransactionSyncRule.CanBeDue(tx, partner))
                {
                    continue;
                }

                canBeDue.Add(tx.Id.Value);
                if (TransactionSyncRule.VoidsStanding(tx, partner, partnerDeletedBefore, now - partnerDeletedBefore))
                {
                    due.Add(tx);
                }
                else if (TransactionSyncRule.IsDue(tx, unsentCreatedBefore, TransactionSyncRule.SettlesUnsent(tx, partner, partnerDeletedBefore)))
                {
                    (TransactionSyncRule.MayWaitForPartner(tx, partner) ? mayWait : due).Add(tx);
                }
            }

            foreach (var tx in mayWait)
            {
                await foreach (var refund in OrchestrationCollections.RefundsNewestFirstAsync(unit, tx, cancellationToken).ConfigureAwait(false))
                {
                    if (refund is { Status: RefundStatus.Processing, ErrorCode: not TransactionSyncRule.NotReceivedByProvider })
                    {
                        due.Add(tx);
                        break;
                    }
                }
            }
        }

        var claimed = new List<DueTransaction>(Math.Min(limit, due.Count));
        lock (_leases.Gate)
        {
            // A transaction settled, cancelled or deleted while leased or deferred (or held by a pass that died) is never
            // claimed or released again, so its expired entry would stay for the life of the process. One that can still
            // be due keeps its entry: it orders the claims.
            _leases.DropExpired(now, canBeDue);

            // Never synced first (no lease), then the longest past its last lease or deferral.
            var ordered = due
                .Select(tx => (Tx: tx, Held: _leases.TryGet(tx.Id.Value, out var until) ? until : (Instant?)null))
                .Where(c => c.Held is not { } held || held <= now)
                .OrderBy(c => c.Held ?? Instant.MinValue)
                .ThenBy(c => c.Tx.Id.Value, GuidOrder.Instance);
            foreach (var (tx, _) in ordered)
            {
                if (claimed.Count == limit)
                {
                    break;
                }

                _leases.Lease(tx.Id.Value, now + lease);
                claimed.Add(new DueTransaction(tx.PartnerId, tx.Id, now + lease));
            }
        }

        return claimed;
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(IReadOnlyList<DueTransaction> claims, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(claims);
        _leases.Release(claims.Select(c => (c.Id.Value, c.LeasedUntil)));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DeferAsync(IReadOnlyList<DueTransaction> claims, Instant until, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(claims);
        _leases.Defer(claims.Select(c => (c.Id.Value, c.LeasedUntil)), until);
        return ValueTask.CompletedTask;
    }
}
