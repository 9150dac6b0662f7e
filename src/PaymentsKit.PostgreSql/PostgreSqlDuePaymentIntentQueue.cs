using NodaTime;
using PaymentsKit.Routing;
using PaymentsKit.Storage;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The <see cref="IDuePaymentIntentQueue"/> on PostgreSQL (migration <c>0013_payment_intent_sweep</c>). A claim is one
/// statement: the oldest due intents (partial index <c>idx_pi_due</c>) that no live lease holds, locked
/// <c>FOR UPDATE SKIP LOCKED</c> so concurrent claimers pass over each other's picks, then leased by an upsert that
/// only replaces an expired lease, which is what finally decides between two claimers that read the same intent. The same
/// statement deletes expired lease rows of intents that are no longer due, so the table holds only current leases.
/// </summary>
internal sealed class PostgreSqlDuePaymentIntentQueue(PostgreSqlStore store) : IDuePaymentIntentQueue
{
    // swept: the expired lease rows of intents no longer due (cancelled or advanced while deferred, or held by a sweeper
    // that died), which no claim would replace; each claim deletes as many as it can lease, so they never pile up.
    // Disjoint from due's intents, so the statement never touches one row twice; an expired row holds nothing back.
    private const string ClaimSql =
        "WITH swept AS (DELETE FROM payment_intent_leases WHERE intent_id IN ("
        + " SELECT s.intent_id FROM payment_intent_leases s WHERE s.leased_until <= $1"
        + " AND NOT EXISTS (SELECT 1 FROM payment_intents i WHERE i.collection = 'payment_intent' AND i.id = s.intent_id AND i.due_at <= $1)"
        + " LIMIT $3 FOR UPDATE SKIP LOCKED)),"
        + " due AS ("
        + " SELECT i.id, i.tenant_id, i.due_at FROM payment_intents i"
        + " WHERE i.collection = 'payment_intent' AND i.due_at <= $1"
        + " AND NOT EXISTS (SELECT 1 FROM payment_intent_leases l WHERE l.intent_id = i.id AND l.leased_until > $1)"
        + " ORDER BY i.due_at, i.id LIMIT $3 FOR UPDATE SKIP LOCKED),"
        + " leased AS (INSERT INTO payment_intent_leases AS l (intent_id, leased_until) SELECT id, $2 FROM due"
        + " ON CONFLICT (intent_id) DO UPDATE SET leased_until = excluded.leased_until WHERE l.leased_until <= $1"
        + " RETURNING l.intent_id)"
        + " SELECT due.tenant_id, due.id, due.due_at FROM due JOIN leased ON leased.intent_id = due.id ORDER BY due.due_at, due.id";

    private const string ReleaseSql = "DELETE FROM payment_intent_leases WHERE intent_id = ANY($1) AND leased_until = $2";

    private const string DeferSql = "UPDATE payment_intent_leases SET leased_until = $3 WHERE intent_id = ANY($1) AND leased_until = $2";

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DuePaymentIntent>> ClaimDueAsync(Instant now, Duration lease, int limit, CancellationToken cancellationToken = default)
    {
        DueLimits.Check(lease, limit);
        var leasedUntil = now + lease;
        return PostgreSqlLeaseStatements.ClaimAsync(
            store,
            ClaimSql,
            [now.ToDateTimeUtc(), leasedUntil.ToDateTimeUtc(), limit],
            reader => new DuePaymentIntent(
                new MerchantId(reader.GetGuid(0)),
                new PaymentIntentId(reader.GetGuid(1)),
                Instant.FromDateTimeUtc(DateTime.SpecifyKind(reader.GetDateTime(2), DateTimeKind.Utc)),
                leasedUntil),
            "claiming due payment intents",
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(IReadOnlyList<DuePaymentIntent> claims, CancellationToken cancellationToken = default) =>
        EndAsync(ReleaseSql, store, claims, null, "releasing claimed payment intents", cancellationToken);

    /// <inheritdoc />
    public ValueTask DeferAsync(IReadOnlyList<DuePaymentIntent> claims, Instant until, CancellationToken cancellationToken = default) =>
        EndAsync(DeferSql, store, claims, until, "deferring claimed payment intents", cancellationToken);

    private static ValueTask EndAsync(string sql, PostgreSqlStore store, IReadOnlyList<DuePaymentIntent> claims, Instant? until, string what, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claims);
        return PostgreSqlLeaseStatements.RunAsync(store, sql, claims.Select(c => (c.Id.Value, c.LeasedUntil)), until, what, cancellationToken);
    }
}
