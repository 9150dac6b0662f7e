using System.Text.Json;
using NodaTime;
using NodaTime.Text;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Storage;
using PaymentsKit.Webhooks;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The <see cref="IWebhookDeliveryQueue"/> on PostgreSQL (migrations <c>0006_webhook_delivery</c>,
/// <c>0014_webhook_unscheduled</c>). Scheduling takes unscheduled outbox events (narrow rows a trigger writes with
/// each event) in insert order with <c>FOR UPDATE SKIP LOCKED</c>, so several schedulers take disjoint events,
/// inserts their deliveries idempotently and deletes the rows in the same transaction; it may claim the new unordered
/// deliveries as it inserts them. Claiming is one statement: <c>FOR UPDATE SKIP LOCKED</c> over due, unleased pending
/// deliveries, each leased with a fresh token, so any number of dispatchers on any number of hosts never attempt one
/// delivery at once; a lease that expires (its dispatcher died) makes the delivery claimable again. A delivery with an
/// ordering key waits while an earlier event of its resource is unscheduled or has a pending delivery to the same
/// endpoint. Completing checks the lease token and writes the delivery, its attempt log and the outbox event's summary
/// in one round trip.
/// </summary>
public sealed class PostgreSqlWebhookDeliveryQueue : IWebhookDeliveryQueue
{
    private const string DeliveryColumns =
        "d.id, d.tenant_id, d.event_id, d.endpoint_id, d.event_type, d.ordering_key, d.status, d.attempts, d.next_attempt_at, "
        + "d.last_attempt_at, d.last_status_code, d.last_error, d.created_at, d.completed_at";

    private const string ClaimSql =
        "WITH due AS ("
        + " SELECT d.id FROM webhook_deliveries d"
        + " WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $1)"
        + " AND (d.ordering_key IS NULL OR (NOT EXISTS (SELECT 1 FROM webhook_deliveries p"
        + "  WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key AND p.status = 'pending' AND p.seq < d.seq)"
        + "  AND NOT EXISTS (SELECT 1 FROM webhook_events_unscheduled w"
        + "  WHERE w.tenant_id = d.tenant_id AND w.resource_key = d.ordering_key AND w.dispatch_seq < d.seq)))"
        + " ORDER BY d.next_attempt_at, d.seq LIMIT $3 FOR UPDATE SKIP LOCKED)"
        + " UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = $1, lease_token = gen_random_uuid(), lease_expires_at = $2"
        + " FROM due WHERE d.id = due.id"
        + " RETURNING " + DeliveryColumns + ", d.lease_token,"
        + " (SELECT (e.data -> 'payload')::text FROM webhook_events e WHERE e.collection = 'webhook_event' AND e.id = d.event_id)";

    // Locks the events first, in id order, so completions of deliveries of one event serialise (the last sees the
    // others' states) and concurrent batches cannot deadlock. One primary key probe per event (a LATERAL is never planned as a scan): with the statistics of a freshly filled
    // outbox, `id = ANY ($1)` was planned as a scan of every event of the collection, ~0.1 s a batch at 100,000 events.
    // Only events with delivery rows can have completions in two batches: an event without one is a first attempt leased
    // on its unscheduled row, which only the lease holder completes (a scheduler that retakes it holds that row's lock and
    // leaves the late completion nothing to write), so locking it would only cost a tuple lock write per delivery. Such a
    // completion is known by its lease token (see IsFirstAttemptToken), so the caller passes only the other events and
    // the statement is left out when there are none.
    private const string LockEventsSql =
        "SELECT 1 FROM (SELECT DISTINCT k.id FROM unnest($1::uuid[]) AS k(id) ORDER BY k.id) k"
        + " CROSS JOIN LATERAL (SELECT 1 FROM webhook_events e WHERE e.collection = 'webhook_event' AND e.id = k.id FOR UPDATE) l";

    // A batch's deliveries and events are a few hundred rows of tables that grow by a row per delivery: probe their
    // primary keys. Left to its cost model, the planner scans the whole deliveries table (it prefers that up to tens
    // of thousands of rows: a cost that grows with the table, 12-16 ms a batch at 20,000 deliveries).
    private const string IndexProbesOnlySql = "SET LOCAL enable_seqscan = off";

    // A delivery is either a row leased by ClaimAsync or an insert (updated here), or a first attempt leased on its event's
    // unscheduled row (written here: the row deleted, the delivery inserted in its final state). The row is deleted only
    // under its lease token, which also serialises this with a scheduler retaking the event after the lease expired. A
    // row is leased once at most (a retaken event gets delivery rows), and each lease has its own token.
    // The row is found by primary key probes on the dispatch_seq its lease token carries (see LeaseToken), not a join: the
    // planner's row estimates for these fast-changing tables are stale, and it joined the whole batch against every
    // candidate row. Each completion probes only the table its token can match: a first attempt's token ($16, the seqs)
    // the unscheduled rows, any other ($23) the deliveries.
    // A completion not sent (its lease too short for its timeout) takes back the attempt its claim counted, and is neither
    // logged nor summed into its event.
    // Attempts are recorded as they finish, not as they start: an event keeps its latest attempt time when one that started
    // earlier (a slower receiver) is recorded after a later one.
    // An event whose only delivery is a first attempt has no other delivery row (it had one plan and was not retaken), and
    // the rows this statement inserts are not visible to its own subqueries: its summary needs no look for undelivered
    // deliveries.
    private const string CompleteSql =
        "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::integer[], $6::text[], $7::timestamptz[],"
        + " $8::uuid[], $9::integer[], $10::timestamptz[], $11::interval[], $12::text[], $13::text[], $14::text[],"
        + " $17::uuid[], $18::uuid[], $19::uuid[], $20::text[], $21::timestamptz[], $22::timestamptz[], $24::boolean[])"
        + " AS i(id, token, status, next_at, code, error, completed_at, attempt_id, number, started_at, duration, outcome, excerpt, last_at,"
        + " tenant_id, event_id, endpoint_id, event_type, created_at, claimed_at, not_sent)),"
        + " updated AS (UPDATE webhook_deliveries d SET status = i.status, attempts = d.attempts - i.not_sent::integer, next_attempt_at = COALESCE(i.next_at, d.next_attempt_at),"
        + " last_status_code = i.code, last_error = i.error, completed_at = i.completed_at, lease_token = NULL, lease_expires_at = NULL"
        + " FROM input i WHERE d.id = ANY ($23::uuid[]) AND d.id = i.id AND d.lease_token = i.token RETURNING d.id, d.tenant_id, d.event_id, d.endpoint_id, false AS first_attempt),"
        + " taken AS (DELETE FROM webhook_events_unscheduled u WHERE u.dispatch_seq = ANY ($16::bigint[]) AND u.lease_token = ANY ($2)"
        + " RETURNING u.event_id, u.lease_token, u.dispatch_seq),"
        + " inserted AS (INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, event_type, seq, status, attempts, next_attempt_at,"
        + " last_attempt_at, last_status_code, last_error, created_at, completed_at)"
        + " SELECT i.id, i.tenant_id, i.event_id, i.endpoint_id, i.event_type, t.dispatch_seq, i.status, i.number - i.not_sent::integer, COALESCE(i.next_at, i.created_at),"
        + " i.claimed_at, i.code, i.error, i.created_at, i.completed_at FROM taken t JOIN input i ON i.event_id = t.event_id AND i.token = t.lease_token"
        + " RETURNING id, tenant_id, event_id, endpoint_id, true AS first_attempt),"
        + " done AS (SELECT * FROM updated UNION ALL SELECT * FROM inserted),"
        + " logged AS (INSERT INTO webhook_delivery_attempts"
        + " (id, tenant_id, delivery_id, event_id, endpoint_id, number, started_at, duration, outcome, status_code, response_excerpt, error)"
        + " SELECT i.attempt_id, done.tenant_id, done.id, done.event_id, done.endpoint_id, i.number, i.started_at, i.duration, i.outcome, i.code, i.excerpt, i.error"
        + " FROM done JOIN input i ON i.id = done.id WHERE NOT i.not_sent),"
        + " summary AS (UPDATE webhook_events e SET version = e.version + 1, updated_at = $15, data = e.data || jsonb_build_object("
        + " 'attempts', COALESCE((e.data ->> 'attempts')::integer, 0) + s.n,"
        + " 'last_attempt_at', CASE WHEN e.last_attempt_at > s.started_at THEN e.data -> 'last_attempt_at' ELSE to_jsonb(s.last_at) END,"
        + " 'delivered', s.all_delivered AND (s.first_only OR NOT EXISTS (SELECT 1 FROM webhook_deliveries x"
        + "  WHERE x.event_id = s.event_id AND x.status <> 'delivered' AND NOT (x.id = ANY (s.ids)))))"
        + " FROM (SELECT done.event_id, count(*)::integer AS n, (array_agg(i.last_at ORDER BY i.started_at DESC))[1] AS last_at, max(i.started_at) AS started_at, bool_and(i.status = 'delivered') AS all_delivered,"
        + "  bool_and(done.first_attempt) AS first_only, array_agg(done.id) AS ids FROM done JOIN input i ON i.id = done.id WHERE NOT i.not_sent GROUP BY done.event_id) s"
        + " WHERE e.collection = 'webhook_event' AND e.id = s.event_id)"
        + " SELECT id FROM done";

    private const string ReplaySql =
        "UPDATE webhook_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = $3, completed_at = NULL, lease_token = NULL, lease_expires_at = NULL"
        + " WHERE d.id = $1 AND d.tenant_id = $2 AND d.status <> 'pending' AND ($4::text IS NULL OR d.status = $4::text) RETURNING " + DeliveryColumns;

    private readonly PostgreSqlStore _store;

    /// <summary>Creates the queue over the store's database.</summary>
    public PostgreSqlWebhookDeliveryQueue(PostgreSqlStore store)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
    }

    /// <inheritdoc />
    public async ValueTask<int> ScheduleAsync(WebhookDeliveryPlanner planner, Instant now, int limit, CancellationToken cancellationToken = default) =>
        (await ScheduleAsync(planner, now, null, limit, cancellationToken).ConfigureAwait(false)).Scheduled;

    /// <inheritdoc />
    public ValueTask<WebhookScheduleResult> ScheduleAndClaimAsync(
        WebhookDeliveryPlanner planner, Instant now, Duration lease, int limit, CancellationToken cancellationToken = default)
    {
        if (lease <= Duration.Zero)
        {
            throw PaymentsKitException.InvalidArgument("lease", lease, "must be positive");
        }

        return ScheduleAsync(planner, now, lease, limit, cancellationToken);
    }

    /// <summary>Schedules, claiming the new unordered deliveries (up to the limit) when a lease is given.</summary>
    private async ValueTask<WebhookScheduleResult> ScheduleAsync(
        WebhookDeliveryPlanner planner, Instant now, Duration? lease, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(planner);
        InMemoryWebhookDeliveryQueue.CheckLimit(limit);
        await _store.EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
        var nothing = new WebhookScheduleResult(0, []);
        try
        {
            var connection = await _store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var events = await ReadUnscheduledAsync(connection, transaction, now, limit, cancellationToken).ConfigureAwait(false);
                    if (events.Count == 0)
                    {
                        return nothing;
                    }

                    var plans = WithLostAttempts(await planner([.. events.Values.Select(e => e.Event)], cancellationToken).ConfigureAwait(false), events);
                    var claims = new List<WebhookClaim>();
                    var split = Split(plans, events, now, lease, limit);
                    var batch = new NpgsqlBatch(connection, transaction);
                    await using (batch.ConfigureAwait(false))
                    {
                        if (split.Inserted.Count > 0)
                        {
                            batch.BatchCommands.Add(InsertDeliveries(split, events, now));
                        }

                        if (split.Leased.Count > 0)
                        {
                            batch.BatchCommands.Add(LeaseFirstAttempts(split, events));
                        }

                        var taken = new NpgsqlBatchCommand("DELETE FROM webhook_events_unscheduled WHERE dispatch_seq = ANY($1)");
                        taken.Parameters.Add(new NpgsqlParameter { Value = split.Done.ToArray() });
                        batch.BatchCommands.Add(taken);
                        await batch.PrepareAsync(cancellationToken).ConfigureAwait(false);
                        var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                        await using (reader.ConfigureAwait(false))
                        {
                            while (split.Inserted.Count > 0 && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                            {
                                if (!reader.IsDBNull(14))
                                {
                                    var delivery = ReadDelivery(reader);
                                    claims.Add(new WebhookClaim(delivery, events[delivery.EventId].Payload, reader.GetGuid(14), split.LeaseUntil));
                                }
                            }
                        }
                    }

                    foreach (var delivery in split.Leased)
                    {
                        claims.Add(new WebhookClaim(delivery, events[delivery.EventId].Payload, split.LeaseToken(events[delivery.EventId].Seq), split.LeaseUntil));
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    SortOldestFirst(claims);
                    return new WebhookScheduleResult(events.Count, claims);
                }
            }
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, "scheduling webhook events");
        }
    }

    private async ValueTask<Dictionary<WebhookEventId, UnscheduledEvent>> ReadUnscheduledAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Instant now, int limit, CancellationToken cancellationToken)
    {
        // Insertion-ordered, so the planner sees events in dispatch_seq order.
        var events = new Dictionary<WebhookEventId, UnscheduledEvent>();
        // Concurrent schedulers take disjoint events; ordering does not need them serialised (see ClaimSql).
        // The record's generated columns rather than its whole document: less for PostgreSQL to print and for us to parse.
        // Index probes only, for the whole scheduling transaction: the queue tables change faster than their statistics,
        // and a scan planned for a small table reads every unscheduled row (or every event) once the outbox has grown.
        await using var select = new NpgsqlBatch(connection, transaction);
        select.BatchCommands.Add(new NpgsqlBatchCommand(IndexProbesOnlySql));
        // The rows are locked before their events are read, so a row another scheduler holds costs no event read; each
        // event is read by its own probe (a LATERAL with LIMIT is never turned into a join the stale estimates would plan
        // as a scan of every event).
        var read = new NpgsqlBatchCommand(
            "WITH taken AS MATERIALIZED (SELECT u.dispatch_seq, u.event_id, u.lease_endpoint_id FROM webhook_events_unscheduled u"
            + " WHERE u.lease_expires_at IS NULL OR u.lease_expires_at <= $2 ORDER BY u.dispatch_seq LIMIT $1 FOR UPDATE SKIP LOCKED)"
            + " SELECT u.dispatch_seq, e.id, e.tenant_id, e.resource_type, e.resource_id, e.event_type, e.delivered, e.attempts,"
            + " e.last_attempt_at, e.created_at, e.payload, u.lease_endpoint_id FROM taken u"
            + " CROSS JOIN LATERAL (SELECT e.id, e.tenant_id, e.resource_type, e.resource_id, e.event_type, e.delivered, e.attempts,"
            + " e.data ->> 'last_attempt_at' AS last_attempt_at, e.data ->> 'created_at' AS created_at, (e.data -> 'payload')::text AS payload"
            + " FROM webhook_events e WHERE e.collection = 'webhook_event' AND e.id = u.event_id LIMIT 1) e ORDER BY u.dispatch_seq");
        read.Parameters.Add(new NpgsqlParameter { Value = limit });
        read.Parameters.Add(new NpgsqlParameter { Value = now.ToDateTimeUtc() });
        select.BatchCommands.Add(read);

        // Prepared once per pooled connection (Npgsql keeps it across uses): not parsed and planned per pass.
        await select.PrepareAsync(cancellationToken).ConfigureAwait(false);
        var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // The same text ClaimAsync sends, so a retry carries the first attempt's exact body.
                var payload = Payload(reader, 10);
                JsonElement body;
                using (var document = JsonDocument.Parse(payload))
                {
                    body = document.RootElement.Clone();
                }

                var e = new WebhookEvent(
                    new WebhookEventId(reader.GetGuid(1)),
                    reader.GetGuid(2),
                    reader.GetString(3),
                    reader.GetString(4),
                    reader.GetString(5),
                    body,
                    reader.GetBoolean(6),
                    reader.GetInt32(7),
                    reader.IsDBNull(8) ? null : InstantPattern.ExtendedIso.Parse(reader.GetString(8)).Value,
                    InstantPattern.ExtendedIso.Parse(reader.GetString(9)).Value);
                events.Add(e.Id, new UnscheduledEvent(e, reader.GetInt64(0), payload, reader.IsDBNull(11) ? null : new WebhookEndpointId(reader.GetGuid(11))));
            }
        }

        return events;
    }

    /// <summary>
    /// The plans, plus a delivery for every lost first attempt the planner no longer plans (its endpoint was disabled,
    /// removed or refiltered meanwhile): the attempt was made, so its delivery is written with it counted and goes on to
    /// be retried or dead-lettered (and can be replayed) like any other, as the in-memory queue's leased row does.
    /// </summary>
    private static IReadOnlyList<WebhookDeliveryPlan> WithLostAttempts(IReadOnlyList<WebhookDeliveryPlan> plans, Dictionary<WebhookEventId, UnscheduledEvent> events)
    {
        List<WebhookDeliveryPlan>? added = null;
        foreach (var e in events.Values)
        {
            if (e.LostEndpoint is { } lost && !plans.Any(p => p.EventId == e.Event.Id && p.EndpointId == lost))
            {
                (added ??= [.. plans]).Add(new WebhookDeliveryPlan(e.Event.Id, e.Event.TenantId, lost, e.Event.EventType, null));
            }
        }

        return added ?? plans;
    }

    /// <summary>
    /// Decides how each plan is written. A claimed plan that is its event's only delivery (and not a retake of a lost first
    /// attempt) is leased on the event's unscheduled row and written once, when it completes; the rest are inserted, the
    /// unordered ones claimed up to the limit.
    /// </summary>
    private static ScheduleSplit Split(
        IReadOnlyList<WebhookDeliveryPlan> plans, Dictionary<WebhookEventId, UnscheduledEvent> events, Instant now, Duration? lease, int limit)
    {
        // The database keeps microseconds: a leased delivery reads back as an inserted one would.
        var at = Instant.FromUnixTimeTicks(now.ToUnixTimeTicks() / 10 * 10);
        var split = new ScheduleSplit(now + (lease ?? Duration.Zero));
        var perEvent = new Dictionary<WebhookEventId, int>();
        foreach (var plan in plans)
        {
            perEvent[plan.EventId] = perEvent.GetValueOrDefault(plan.EventId) + 1;
        }

        var leased = new HashSet<WebhookEventId>();
        var left = lease is null ? 0 : limit;
        foreach (var plan in plans)
        {
            var claim = left > 0 && plan.OrderingKey is null;
            left -= claim ? 1 : 0;
            if (claim && perEvent[plan.EventId] == 1 && events[plan.EventId].LostEndpoint is null)
            {
                leased.Add(plan.EventId);
                split.Leased.Add(new WebhookDelivery(
                    new WebhookDeliveryId(Guid.CreateVersion7(now.ToDateTimeOffset())),
                    plan.TenantId,
                    plan.EventId,
                    plan.EndpointId,
                    plan.EventType,
                    null,
                    WebhookDeliveryStatus.Pending,
                    1,
                    at,
                    at,
                    null,
                    null,
                    at,
                    null));
            }
            else
            {
                split.Inserted.Add(plan);
                split.Claimed.Add(claim);
            }
        }

        foreach (var e in events.Values)
        {
            if (!leased.Contains(e.Event.Id))
            {
                split.Done.Add(e.Seq);
            }
        }

        return split;
    }

    private static NpgsqlBatchCommand InsertDeliveries(ScheduleSplit split, Dictionary<WebhookEventId, UnscheduledEvent> events, Instant now)
    {
        // A retaken event's lost first attempt counts (the delivery's attempts say how many were started).
        var insert = new NpgsqlBatchCommand(
            "INSERT INTO webhook_deliveries AS d (id, tenant_id, event_id, endpoint_id, event_type, ordering_key, seq, status, attempts, next_attempt_at, created_at,"
            + " last_attempt_at, lease_token, lease_expires_at)"
            + " SELECT id, tenant_id, event_id, endpoint_id, event_type, ordering_key, seq, 'pending', CASE WHEN claim THEN 1 ELSE 0 END + CASE WHEN lost THEN 1 ELSE 0 END, $8, $8,"
            + " CASE WHEN claim THEN $8 END, CASE WHEN claim THEN gen_random_uuid() END, CASE WHEN claim THEN $10::timestamptz END"
            + " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::bigint[], $9::boolean[], $11::boolean[])"
            + " AS p(id, tenant_id, event_id, endpoint_id, event_type, ordering_key, seq, claim, lost)"
            + " ON CONFLICT (event_id, endpoint_id) DO NOTHING"
            + " RETURNING " + DeliveryColumns + ", d.lease_token");
        var plans = split.Inserted;
        insert.Parameters.Add(new NpgsqlParameter { Value = plans.Select(_ => Guid.CreateVersion7(now.ToDateTimeOffset())).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = plans.Select(p => p.TenantId).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = plans.Select(p => p.EventId.Value).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = plans.Select(p => p.EndpointId.Value).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = plans.Select(p => p.EventType).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = plans.Select(p => p.OrderingKey).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        insert.Parameters.Add(new NpgsqlParameter { Value = plans.Select(p => events[p.EventId].Seq).ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = now.ToDateTimeUtc() });
        insert.Parameters.Add(new NpgsqlParameter { Value = split.Claimed.ToArray() });
        insert.Parameters.Add(new NpgsqlParameter { Value = split.LeaseUntil.ToDateTimeUtc() });
        insert.Parameters.Add(new NpgsqlParameter { Value = plans.Select(p => events[p.EventId].LostEndpoint == p.EndpointId).ToArray() });
        return insert;
    }

    /// <summary>Leases the first attempts on their events' unscheduled rows (unindexed columns: a HOT update of a narrow row).</summary>
    private static NpgsqlBatchCommand LeaseFirstAttempts(ScheduleSplit split, Dictionary<WebhookEventId, UnscheduledEvent> events)
    {
        var lease = new NpgsqlBatchCommand(
            "UPDATE webhook_events_unscheduled u SET lease_token = l.token, lease_expires_at = $4, lease_endpoint_id = l.endpoint_id"
            + " FROM unnest($1::bigint[], $2::uuid[], $3::uuid[]) AS l(seq, endpoint_id, token) WHERE u.dispatch_seq = ANY ($1) AND u.dispatch_seq = l.seq");
        var seqs = new long[split.Leased.Count];
        var endpoints = new Guid[seqs.Length];
        var tokens = new Guid[seqs.Length];
        for (var i = 0; i < seqs.Length; i++)
        {
            seqs[i] = events[split.Leased[i].EventId].Seq;
            endpoints[i] = split.Leased[i].EndpointId.Value;
            tokens[i] = split.LeaseToken(seqs[i]);
        }

        lease.Parameters.Add(new NpgsqlParameter { Value = seqs });
        lease.Parameters.Add(new NpgsqlParameter { Value = endpoints });
        lease.Parameters.Add(new NpgsqlParameter { Value = tokens });
        lease.Parameters.Add(new NpgsqlParameter { Value = split.LeaseUntil.ToDateTimeUtc() });
        return lease;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<WebhookClaim>> ClaimAsync(Instant now, Duration lease, int limit, CancellationToken cancellationToken = default)
    {
        InMemoryWebhookDeliveryQueue.CheckLimit(limit);
        if (lease <= Duration.Zero)
        {
            throw PaymentsKitException.InvalidArgument("lease", lease, "must be positive");
        }

        await _store.EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var command = _store.DataSource.CreateCommand(ClaimSql);
            await using (command.ConfigureAwait(false))
            {
                var leaseUntil = now + lease;
                command.Parameters.Add(new NpgsqlParameter { Value = now.ToDateTimeUtc() });
                command.Parameters.Add(new NpgsqlParameter { Value = leaseUntil.ToDateTimeUtc() });
                command.Parameters.Add(new NpgsqlParameter { Value = limit });
                var claims = new List<WebhookClaim>();
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        claims.Add(new WebhookClaim(ReadDelivery(reader), Payload(reader, 15), reader.GetGuid(14), leaseUntil));
                    }
                }

                SortOldestFirst(claims);
                return claims;
            }
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, "claiming webhook deliveries");
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlySet<WebhookDeliveryId>> CompleteAsync(IReadOnlyList<WebhookDeliveryCompletion> completions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(completions);
        var completed = new HashSet<WebhookDeliveryId>();
        if (completions.Count == 0)
        {
            return completed;
        }

        try
        {
            var connection = await _store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var connectionScope = connection.ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var transactionScope = transaction.ConfigureAwait(false);
            var batch = new NpgsqlBatch(connection, transaction);
            await using (batch.ConfigureAwait(false))
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(IndexProbesOnlySql));
                var columns = new CompletionColumns(completions);
                if (columns.LockedEventIds.Length > 0)
                {
                    var lockEvents = new NpgsqlBatchCommand(LockEventsSql);
                    lockEvents.Parameters.Add(new NpgsqlParameter { Value = columns.LockedEventIds });
                    batch.BatchCommands.Add(lockEvents);
                }

                var complete = new NpgsqlBatchCommand(CompleteSql);
                columns.AddTo(complete.Parameters);
                batch.BatchCommands.Add(complete);

                // Prepared once per pooled connection (Npgsql keeps it across uses): the statement is not parsed and planned per batch.
                await batch.PrepareAsync(cancellationToken).ConfigureAwait(false);
                var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    // The SET returns no result; the lock's rows (when it runs) come first.
                    if (columns.LockedEventIds.Length > 0)
                    {
                        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                    }

                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        completed.Add(new WebhookDeliveryId(reader.GetGuid(0)));
                    }
                }
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, $"completing {completions.Count} webhook deliveries");
        }

        return completed;
    }

    /// <inheritdoc />
    public async ValueTask<WebhookDelivery?> GetAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default)
    {
        var found = await QueryAsync(
            $"SELECT {DeliveryColumns} FROM webhook_deliveries d WHERE d.id = $1 AND d.tenant_id = $2",
            [deliveryId.Value, tenantId],
            cancellationToken).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    /// <inheritdoc />
    public async ValueTask<Page<WebhookDelivery>> ListAsync(Guid tenantId, WebhookDeliveryFilter filter, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        InMemoryWebhookDeliveryQueue.CheckLimit(limit);
        var after = InMemoryWebhookDeliveryQueue.DecodeCursor(cursor);
        var found = await QueryAsync(
            $"SELECT {DeliveryColumns} FROM webhook_deliveries d WHERE d.tenant_id = $1 AND ($2::text IS NULL OR d.status = $2)"
            + " AND ($3::uuid IS NULL OR d.event_id = $3) AND ($4::uuid IS NULL OR d.endpoint_id = $4) AND ($5::uuid IS NULL OR d.id > $5)"
            + " ORDER BY d.id LIMIT $6",
            [
                tenantId,
                Typed(filter.Status is { } status ? StatusText(status) : null, NpgsqlDbType.Text),
                Typed(filter.EventId?.Value, NpgsqlDbType.Uuid),
                Typed(filter.EndpointId?.Value, NpgsqlDbType.Uuid),
                Typed(after, NpgsqlDbType.Uuid),
                limit + 1,
            ],
            cancellationToken).ConfigureAwait(false);
        var items = found.Take(limit).ToList();
        return new Page<WebhookDelivery>(items, found.Count > limit ? items[^1].Id.Value.ToString("N") : null);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<WebhookDeliveryAttempt>> ListAttemptsAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default)
    {
        await _store.EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var command = _store.DataSource.CreateCommand(
                "SELECT id, tenant_id, delivery_id, event_id, endpoint_id, number, started_at, duration, outcome, status_code, response_excerpt, error"
                + " FROM webhook_delivery_attempts WHERE delivery_id = $1 AND tenant_id = $2 ORDER BY started_at, number, id");
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = deliveryId.Value });
                command.Parameters.Add(new NpgsqlParameter { Value = tenantId });
                var attempts = new List<WebhookDeliveryAttempt>();
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        attempts.Add(new WebhookDeliveryAttempt(
                            reader.GetGuid(0),
                            reader.GetGuid(1),
                            new WebhookDeliveryId(reader.GetGuid(2)),
                            new WebhookEventId(reader.GetGuid(3)),
                            new WebhookEndpointId(reader.GetGuid(4)),
                            reader.GetInt32(5),
                            At(reader, 6),
                            Duration.FromTimeSpan(reader.GetFieldValue<TimeSpan>(7)),
                            Enum.Parse<WebhookAttemptOutcome>(reader.GetString(8).Replace("_", string.Empty, StringComparison.Ordinal), ignoreCase: true),
                            reader.IsDBNull(9) ? null : reader.GetInt32(9),
                            reader.IsDBNull(10) ? null : reader.GetString(10),
                            reader.IsDBNull(11) ? null : reader.GetString(11)));
                    }
                }

                return attempts;
            }
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, $"listing the attempts of webhook delivery {deliveryId}");
        }
    }

    /// <inheritdoc />
    public ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, CancellationToken cancellationToken = default) =>
        ReplayAsync(tenantId, deliveryId, now, (WebhookDeliveryStatus?)null, cancellationToken);

    /// <inheritdoc />
    public ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, WebhookDeliveryStatus from, CancellationToken cancellationToken = default) =>
        ReplayAsync(tenantId, deliveryId, now, (WebhookDeliveryStatus?)from, cancellationToken);

    private async ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, WebhookDeliveryStatus? from, CancellationToken cancellationToken)
    {
        var expected = Typed(from is { } status ? StatusText(status) : null, NpgsqlDbType.Text);
        var replayed = await QueryAsync(ReplaySql, [deliveryId.Value, tenantId, now.ToDateTimeUtc(), expected], cancellationToken).ConfigureAwait(false);
        if (replayed.Count == 1)
        {
            return replayed[0];
        }

        return await GetAsync(tenantId, deliveryId, cancellationToken).ConfigureAwait(false) is { } current
            ? throw InMemoryWebhookDeliveryQueue.NotReplayable(deliveryId, current.Status)
            : null;
    }

    /// <summary>
    /// A first attempt's lease token: 8 random bytes (one draw per scheduling pass) and the leased row's dispatch_seq, so
    /// completion deletes the row by primary key instead of reading its event first to find it. The random half keeps a
    /// token unguessable and the seq keeps tokens of one pass distinct; completion still requires the whole token to match.
    /// The token is an RFC 9562 version 8 UUID (version and variant bits set over the random half and the seq's two top
    /// bits, which a bigint sequence never uses), so a completion tells it from a delivery row's version 4 token
    /// (<c>gen_random_uuid()</c>) without a look at either table (see <see cref="IsFirstAttemptToken"/>).
    /// </summary>
    internal static Guid LeaseToken(long random, long seq)
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes, random);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes[8..], seq);
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    /// <summary>Whether <paramref name="token"/> is a first attempt's <see cref="LeaseToken"/> (a lease on an unscheduled row, not on a delivery row).</summary>
    internal static bool IsFirstAttemptToken(Guid token) => token.Version == 8 && (token.Variant & 0xC) == 0x8;

    /// <summary>The dispatch_seq a first attempt's <see cref="LeaseToken"/> carries.</summary>
    internal static long LeasedSeq(Guid token)
    {
        Span<byte> bytes = stackalloc byte[16];
        token.TryWriteBytes(bytes, bigEndian: true, out _);
        return System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(bytes[8..]) & (long.MaxValue >> 1);
    }

    // Statements return rows in no particular order; attempt the oldest first.
    private static void SortOldestFirst(List<WebhookClaim> claims) =>
        claims.Sort((a, b) => a.Delivery.NextAttemptAt != b.Delivery.NextAttemptAt
            ? a.Delivery.NextAttemptAt.CompareTo(b.Delivery.NextAttemptAt)
            : GuidOrder.Instance.Compare(a.Delivery.Id.Value, b.Delivery.Id.Value));

    private static byte[] Payload(NpgsqlDataReader reader, int ordinal) =>
        System.Text.Encoding.UTF8.GetBytes(reader.IsDBNull(ordinal) ? "null" : reader.GetString(ordinal));

    private static NpgsqlParameter Typed(object? value, NpgsqlDbType type) => new() { Value = value ?? DBNull.Value, NpgsqlDbType = type };

    private static string StatusText(WebhookDeliveryStatus status) => status switch
    {
        WebhookDeliveryStatus.Pending => "pending",
        WebhookDeliveryStatus.Delivered => "delivered",
        _ => "dead_lettered",
    };

    private static WebhookDeliveryStatus ParseStatus(string text) => text switch
    {
        "pending" => WebhookDeliveryStatus.Pending,
        "delivered" => WebhookDeliveryStatus.Delivered,
        _ => WebhookDeliveryStatus.DeadLettered,
    };

    private static Instant At(NpgsqlDataReader reader, int ordinal) =>
        Instant.FromDateTimeUtc(DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc));

    private static Instant? OptionalAt(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : At(reader, ordinal);

    private static WebhookDelivery ReadDelivery(NpgsqlDataReader reader) => new(
        new WebhookDeliveryId(reader.GetGuid(0)),
        reader.GetGuid(1),
        new WebhookEventId(reader.GetGuid(2)),
        new WebhookEndpointId(reader.GetGuid(3)),
        reader.GetString(4),
        reader.IsDBNull(5) ? null : reader.GetString(5),
        ParseStatus(reader.GetString(6)),
        reader.GetInt32(7),
        At(reader, 8),
        OptionalAt(reader, 9),
        reader.IsDBNull(10) ? null : reader.GetInt32(10),
        reader.IsDBNull(11) ? null : reader.GetString(11),
        At(reader, 12),
        OptionalAt(reader, 13));

    private async ValueTask<List<WebhookDelivery>> QueryAsync(string sql, object[] parameters, CancellationToken cancellationToken)
    {
        await _store.EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var command = _store.DataSource.CreateCommand(sql);
            await using (command.ConfigureAwait(false))
            {
                foreach (var parameter in parameters)
                {
                    command.Parameters.Add(parameter as NpgsqlParameter ?? new NpgsqlParameter { Value = parameter });
                }

                var found = new List<WebhookDelivery>();
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        found.Add(ReadDelivery(reader));
                    }
                }

                return found;
            }
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, "reading webhook deliveries");
        }
    }

    /// <summary>The completion statement's parameter arrays, filled in one pass over the batch.</summary>
    private sealed class CompletionColumns
    {
        private readonly Guid[] _ids, _tokens, _attemptIds, _tenants, _events, _endpoints;
        private readonly string[] _statuses, _outcomes, _lastAt, _eventTypes;
        private readonly string?[] _errors, _excerpts;
        private readonly DateTime?[] _nextAt, _completedAt, _claimedAt;
        private readonly DateTime[] _startedAt, _createdAt;
        private readonly int?[] _codes;
        private readonly int[] _numbers;
        private readonly bool[] _notSent;
        private readonly TimeSpan[] _durations;
        private readonly List<long> _leasedSeqs = [];
        private readonly List<Guid> _rowIds = [];
        private readonly DateTime _updatedAt;

        public CompletionColumns(IReadOnlyList<WebhookDeliveryCompletion> completions)
        {
            var n = completions.Count;
            (_ids, _tokens, _attemptIds, _tenants, _events, _endpoints) = (new Guid[n], new Guid[n], new Guid[n], new Guid[n], new Guid[n], new Guid[n]);
            (_statuses, _outcomes, _lastAt, _eventTypes) = (new string[n], new string[n], new string[n], new string[n]);
            (_errors, _excerpts) = (new string?[n], new string?[n]);
            (_nextAt, _completedAt, _claimedAt) = (new DateTime?[n], new DateTime?[n], new DateTime?[n]);
            (_startedAt, _createdAt) = (new DateTime[n], new DateTime[n]);
            (_codes, _numbers, _durations, _notSent) = (new int?[n], new int[n], new TimeSpan[n], new bool[n]);
            var lockedEvents = new HashSet<Guid>();
            var latest = Instant.MinValue;
            for (var i = 0; i < n; i++)
            {
                var c = completions[i];
                var delivery = c.Claim.Delivery;
                var attempt = c.Attempt;
                _ids[i] = delivery.Id.Value;
                _tokens[i] = c.Claim.LeaseToken;
                _statuses[i] = StatusText(c.Status);
                _nextAt[i] = c.NextAttemptAt?.ToDateTimeUtc();
                _codes[i] = attempt.StatusCode;
                _errors[i] = WebhookDeliveryAttempt.Storable(attempt.Error);
                _completedAt[i] = c.Status == WebhookDeliveryStatus.Pending ? null : (attempt.StartedAt + attempt.Duration).ToDateTimeUtc();
                _attemptIds[i] = attempt.Id;
                _numbers[i] = attempt.Number;
                _notSent[i] = c.NotSent;
                _startedAt[i] = attempt.StartedAt.ToDateTimeUtc();
                _durations[i] = attempt.Duration.ToTimeSpan();
                _outcomes[i] = SnakeCaseNames<WebhookAttemptOutcome>.Of(attempt.Outcome);
                _excerpts[i] = WebhookDeliveryAttempt.Storable(attempt.ResponseExcerpt);

                // The event record's own text form of an instant (its JSON converter's pattern).
                _lastAt[i] = InstantPattern.ExtendedIso.Format(attempt.StartedAt);
                if (IsFirstAttemptToken(c.Claim.LeaseToken))
                {
                    _leasedSeqs.Add(LeasedSeq(c.Claim.LeaseToken));
                }
                else
                {
                    _rowIds.Add(delivery.Id.Value);
                    lockedEvents.Add(delivery.EventId.Value);
                }

                _tenants[i] = delivery.TenantId;
                _events[i] = delivery.EventId.Value;
                _endpoints[i] = delivery.EndpointId.Value;
                _eventTypes[i] = delivery.EventType;
                _createdAt[i] = delivery.CreatedAt.ToDateTimeUtc();
                _claimedAt[i] = delivery.LastAttemptAt?.ToDateTimeUtc();
                latest = attempt.StartedAt > latest ? attempt.StartedAt : latest;
            }

            LockedEventIds = [.. lockedEvents];
            _updatedAt = latest.ToDateTimeUtc();
        }

        /// <summary>The distinct events of the batch's completions of delivery rows (not of first attempts leased on unscheduled rows).</summary>
        public Guid[] LockedEventIds { get; }

        /// <summary>Adds $1-$24 of the completion statement.</summary>
        public void AddTo(NpgsqlParameterCollection parameters)
        {
            parameters.Add(new NpgsqlParameter { Value = _ids });
            parameters.Add(new NpgsqlParameter { Value = _tokens });
            parameters.Add(new NpgsqlParameter { Value = _statuses });
            parameters.Add(new NpgsqlParameter { Value = _nextAt, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            parameters.Add(new NpgsqlParameter { Value = _codes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
            parameters.Add(new NpgsqlParameter { Value = _errors, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            parameters.Add(new NpgsqlParameter { Value = _completedAt, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            parameters.Add(new NpgsqlParameter { Value = _attemptIds });
            parameters.Add(new NpgsqlParameter { Value = _numbers });
            parameters.Add(new NpgsqlParameter { Value = _startedAt });
            parameters.Add(new NpgsqlParameter { Value = _durations });
            parameters.Add(new NpgsqlParameter { Value = _outcomes });
            parameters.Add(new NpgsqlParameter { Value = _excerpts, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            parameters.Add(new NpgsqlParameter { Value = _lastAt });
            parameters.Add(new NpgsqlParameter { Value = _updatedAt });
            parameters.Add(new NpgsqlParameter { Value = _leasedSeqs.ToArray() });
            parameters.Add(new NpgsqlParameter { Value = _tenants });
            parameters.Add(new NpgsqlParameter { Value = _events });
            parameters.Add(new NpgsqlParameter { Value = _endpoints });
            parameters.Add(new NpgsqlParameter { Value = _eventTypes });
            parameters.Add(new NpgsqlParameter { Value = _createdAt });
            parameters.Add(new NpgsqlParameter { Value = _claimedAt, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
            parameters.Add(new NpgsqlParameter { Value = _rowIds.ToArray() });
            parameters.Add(new NpgsqlParameter { Value = _notSent });
        }
    }

    /// <summary>An event taken for scheduling; <see cref="LostEndpoint"/> is the endpoint of a first attempt whose lease expired (its dispatcher died).</summary>
    private sealed record UnscheduledEvent(WebhookEvent Event, long Seq, byte[] Payload, WebhookEndpointId? LostEndpoint);

    /// <summary>How one scheduling pass writes its plans.</summary>
    private sealed class ScheduleSplit(Instant leaseUntil)
    {
        /// <summary>Plans inserted as delivery rows (claimed as they are inserted where <see cref="Claimed"/> says so).</summary>
        public List<WebhookDeliveryPlan> Inserted { get; } = [];

        public List<bool> Claimed { get; } = [];

        /// <summary>First attempts claimed as a lease on their event's unscheduled row; their rows are written when they complete.</summary>
        public List<WebhookDelivery> Leased { get; } = [];

        /// <summary>The unscheduled rows this pass deletes (every event but the leased ones).</summary>
        public List<long> Done { get; } = [];

        // One random half per pass; see LeaseToken.
        private readonly long _random = BitConverter.ToInt64(Guid.NewGuid().ToByteArray());

        /// <summary>The lease token of the first attempt leased on the row <paramref name="seq"/>: see <see cref="PostgreSqlWebhookDeliveryQueue.LeaseToken"/>.</summary>
        public Guid LeaseToken(long seq) => PostgreSqlWebhookDeliveryQueue.LeaseToken(_random, seq);

        public Instant LeaseUntil { get; } = leaseUntil;
    }
}
