using NodaTime;
using PaymentsKit.Orchestration;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The <see cref="IDueTransactionQueue"/> on PostgreSQL (migration <c>0028_transaction_sync</c>). A claim is one statement:
/// the transactions due a sync (partial index <c>idx_transactions_sync_due</c>, plus the grace period of pending creates
/// and, for them, an active partner or one deleted past the drop timeout: one primary-key lookup per pending candidate, no new index or column;
/// plus, found through the partners deleted past the drop timeout and <c>idx_transactions_partner_status_created</c>, their
/// pending transactions made with <c>Confirm = false</c>, which the index leaves out; and for a
/// suspended partner's transaction with refunds in flight, a processing one among them, through the refunds'
/// <c>(transaction_id, sequence)</c> key: its pending ones wait for the partner, as does a call in flight held for it;
/// and, found the same way, a deleted partner's authorizations standing since before the drop timeout ran out, to void)
/// that no live lease or deferral holds, never synced first and then by when their last lease ended, locked
/// <c>FOR UPDATE SKIP LOCKED</c> so concurrent claimers pass over each other's picks, then leased by an upsert that only
/// replaces an expired lease, which is what finally decides between two claimers that read the same transaction. The same
/// statement deletes expired lease rows of transactions that can no longer be due, so the table holds only the rows of
/// transactions still due or held.
/// </summary>
internal sealed class PostgreSqlDueTransactionQueue(PostgreSqlStore store) : IDueTransactionQueue
{
    // The index's predicate word for word, so the planner can use it.
    private const string CanBeDue =
        "t.deleted_at IS NULL"
        + " AND ((t.status = 'processing' AND (t.data ->> 'in_flight_action' IS NOT NULL OR t.data ->> 'authorized_at' IS NULL))"
        + " OR (t.status = 'pending' AND t.data ->> 'confirm_on_create' = 'true')"
        + " OR t.reserved_refund_amount > 0)";

    // What the partial index cannot hold, as it knows no partner: a deleted partner's pending transaction whose create did
    // not ask to confirm it (TransactionSyncRule.CanBeDue with the partner), due once the drop timeout has passed to be
    // cancelled. Found through the deleted partners and idx_transactions_partner_status_created.
    private const string UnconfirmedOfDeletedPartner =
        "u.deleted_at IS NULL AND u.status = 'pending' AND u.data ->> 'confirm_on_create' IS DISTINCT FROM 'true'";

    // Nor a deleted partner's authorization standing with nothing in flight (TransactionSyncRule.VoidsStanding), due to be
    // voided once the drop timeout has passed, if it has not changed since the timeout ran out ($1 - $5 is the timeout):
    // the void is sent once. Found the same way, through the partner's processing transactions.
    private const string StandingOfDeletedPartner =
        "u.deleted_at IS NULL AND u.status = 'processing' AND u.data ->> 'in_flight_action' IS NULL AND u.data ->> 'authorized_at' IS NOT NULL";

    private const string StandingUnchangedSinceDropTimeout =
        StandingOfDeletedPartner + " AND paymentskit_instant(u.data ->> 'updated_at') < dp.deleted_at + ($1 - $5)";

    // swept: the expired lease rows of transactions that can no longer be due (settled by a webhook or a direct sync while
    // deferred, cancelled, deleted, or held by a pass that died), which no claim would replace; each claim deletes as many
    // as it can lease, so they never pile up. A row of a transaction still due stays: it orders the claims. Disjoint from
    // due's transactions, so the statement never touches one row twice; an expired row holds nothing back.
    internal const string ClaimSql =
        "WITH swept AS (DELETE FROM transaction_sync_leases WHERE transaction_id IN ("
        + " SELECT s.transaction_id FROM transaction_sync_leases s WHERE s.leased_until <= $1"
        + " AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = s.transaction_id AND " + CanBeDue + ")"
        + " AND NOT EXISTS (SELECT 1 FROM transactions u JOIN partners dp ON dp.id = u.partner_id"
        + " WHERE u.id = s.transaction_id AND dp.deleted_at IS NOT NULL AND ((" + UnconfirmedOfDeletedPartner + ") OR (" + StandingOfDeletedPartner + ")))"
        + " LIMIT $4 FOR UPDATE SKIP LOCKED)),"
        + " due AS ("
        + " SELECT t.id, t.tenant_id, l.leased_until AS last_lease FROM ("
        + " SELECT t.id FROM transactions t WHERE " + CanBeDue
        + " UNION ALL SELECT u.id FROM partners dp JOIN transactions u ON u.partner_id = dp.id"
        + " WHERE dp.deleted_at <= $5 AND ((" + UnconfirmedOfDeletedPartner + ") OR (" + StandingUnchangedSinceDropTimeout + "))) c"
        + " JOIN transactions t ON t.id = c.id"
        + " JOIN partners p ON p.id = t.tenant_id"
        + " LEFT JOIN transaction_sync_leases l ON l.transaction_id = t.id"
        + " WHERE t.deleted_at IS NULL"
        + " AND (t.status <> 'pending' OR (paymentskit_instant(t.data ->> 'created_at') <= $2"
        + " AND ((p.is_active AND p.deleted_at IS NULL) OR p.deleted_at <= $5)))"
        + " AND (p.is_active OR p.deleted_at IS NOT NULL"
        + " OR (t.status = 'processing' AND t.data ->> 'error_code' IS DISTINCT FROM '" + TransactionSyncRule.NotReceivedByProvider + "')"
        + " OR EXISTS (SELECT 1 FROM refunds r WHERE r.transaction_id = t.id AND r.status = 'processing'"
        + " AND r.data ->> 'error_code' IS DISTINCT FROM '" + TransactionSyncRule.NotReceivedByProvider + "'))"
        + " AND (l.leased_until IS NULL OR l.leased_until <= $1)"
        + " ORDER BY l.leased_until NULLS FIRST, t.id LIMIT $4 FOR UPDATE OF t SKIP LOCKED),"
        + " leased AS (INSERT INTO transaction_sync_leases AS l (transaction_id, leased_until) SELECT id, $3 FROM due"
        + " ON CONFLICT (transaction_id) DO UPDATE SET leased_until = excluded.leased_until WHERE l.leased_until <= $1"
        + " RETURNING l.transaction_id)"
        + " SELECT due.tenant_id, due.id FROM due JOIN leased ON leased.transaction_id = due.id ORDER BY due.last_lease NULLS FIRST, due.id";

    private const string ReleaseSql = "DELETE FROM transaction_sync_leases WHERE transaction_id = ANY($1) AND leased_until = $2";

    private const string DeferSql = "UPDATE transaction_sync_leases SET leased_until = $3 WHERE transaction_id = ANY($1) AND leased_until = $2";

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DueTransaction>> ClaimDueAsync(
        Instant now, Instant unsentCreatedBefore, Instant partnerDeletedBefore, Duration lease, int limit, CancellationToken cancellationToken = default)
    {
        Routing.DueLimits.Check(lease, limit);
        var leasedUntil = now + lease;
        return PostgreSqlLeaseStatements.ClaimAsync(
            store,
            ClaimSql,
            [now.ToDateTimeUtc(), unsentCreatedBefore.ToDateTimeUtc(), leasedUntil.ToDateTimeUtc(), limit, partnerDeletedBefore.ToDateTimeUtc()],
            reader => new DueTransaction(new PartnerId(reader.GetGuid(0)), new TransactionId(reader.GetGuid(1)), leasedUntil),
            "claiming transactions due a sync",
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(IReadOnlyList<DueTransaction> claims, CancellationToken cancellationToken = default) =>
        EndAsync(ReleaseSql, store, claims, null, "releasing claimed transactions", cancellationToken);

    /// <inheritdoc />
    public ValueTask DeferAsync(IReadOnlyList<DueTransaction> claims, Instant until, CancellationToken cancellationToken = default) =>
        EndAsync(DeferSql, store, claims, until, "deferring claimed transactions", cancellationToken);

    private static ValueTask EndAsync(string sql, PostgreSqlStore store, IReadOnlyList<DueTransaction> claims, Instant? until, string what, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claims);
        return PostgreSqlLeaseStatements.RunAsync(store, sql, claims.Select(c => (c.Id.Value, c.LeasedUntil)), until, what, cancellationToken);
    }
}
