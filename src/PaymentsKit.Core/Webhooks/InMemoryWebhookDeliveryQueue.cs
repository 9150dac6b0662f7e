using System.Text.Json;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Webhooks;

/// <summary>A tenant that has (or had) a webhook endpoint: lets stores without cross-tenant queries find outbox events.</summary>
/// <param name="Id">The tenant id.</param>
/// <param name="RegisteredAt">When its first endpoint was registered.</param>
public sealed record WebhookTenant(Guid Id, Instant RegisteredAt)
{
    /// <summary>The collection, in the shared (<see cref="Guid.Empty"/>) scope.</summary>
    public static RecordCollection<WebhookTenant> Collection { get; } = new("webhook_tenant", t => t.Id, _ => Guid.Empty);
}

/// <summary>
/// The embedded <see cref="IWebhookDeliveryQueue"/>: deliveries and leases in process memory (lost with the
/// process, like the in-memory store it reads the outbox from). Finds new events by reading the outbox of every
/// tenant that registered an endpoint, so a scheduling pass is linear in those tenants' events: fine for
/// development and tests; use PostgreSQL in production. Every delivery is kept (for listing and replay), but a claim
/// walks only the pending ones and a completion reads only its event's, so neither slows down as delivered and
/// dead-lettered deliveries pile up.
/// </summary>
public sealed class InMemoryWebhookDeliveryQueue : IWebhookDeliveryQueue
{
    private readonly IPaymentsStore _store;
    private readonly IClock _clock;
    private readonly SemaphoreSlim _scheduleGate = new(1, 1);
    private readonly Lock _lock = new();
    private readonly HashSet<Guid> _scheduled = [];
    private readonly List<Entry> _entries = [];
    private readonly Dictionary<Guid, Entry> _byId = [];

    // The pending deliveries in creation order (their index in _entries): all that a claim looks at.
    private readonly SortedDictionary<int, Entry> _pending = [];
    private readonly Dictionary<WebhookEventId, List<Entry>> _byEvent = [];

    /// <summary>Creates a queue over the outbox in <paramref name="store"/>.</summary>
    public InMemoryWebhookDeliveryQueue(IPaymentsStore store, IClock clock)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
    }

    /// <summary>How many deliveries <see cref="ClaimAsync"/> has looked at, in all: lets tests see which ones a claim walks.</summary>
    internal long ClaimVisits { get; private set; }

    /// <inheritdoc />
    public async ValueTask<int> ScheduleAsync(WebhookDeliveryPlanner planner, Instant now, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(planner);
        CheckLimit(limit);
        await _scheduleGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var fresh = new List<WebhookEvent>();
            var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
            await using (unit.ConfigureAwait(false))
            {
                foreach (var tenant in await AllAsync(unit, WebhookTenant.Collection, Guid.Empty, cancellationToken).ConfigureAwait(false))
                {
                    foreach (var e in await AllAsync(unit, WebhookCollections.Events, tenant.Id, cancellationToken).ConfigureAwait(false))
                    {
                        if (!_scheduled.Contains(e.Id.Value))
                        {
                            fresh.Add(e);
                        }
                    }
                }
            }

            var batch = fresh
                .OrderBy(e => e.CreatedAt)
                .ThenBy(e => e.Id.Value, GuidOrder.Instance)
                .Take(limit)
                .ToList();
            if (batch.Count == 0)
            {
                return 0;
            }

            var plans = await planner(batch, cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                foreach (var e in batch)
                {
                    var payload = JsonSerializer.SerializeToUtf8Bytes(e.Payload);
                    foreach (var plan in plans.Where(p => p.EventId == e.Id))
                    {
                        var delivery = new WebhookDelivery(
                            WebhookDeliveryId.New(_clock), plan.TenantId, plan.EventId, plan.EndpointId, plan.EventType, plan.OrderingKey,
                            WebhookDeliveryStatus.Pending, 0, now, null, null, null, now, null);
                        var entry = new Entry(_entries.Count, delivery, payload);
                        _entries.Add(entry);
                        _byId.Add(delivery.Id.Value, entry);
                        _pending.Add(entry.Sequence, entry);
                        if (!_byEvent.TryGetValue(delivery.EventId, out var ofEvent))
                        {
                            _byEvent.Add(delivery.EventId, ofEvent = []);
                        }

                        ofEvent.Add(entry);
                    }

                    _scheduled.Add(e.Id.Value);
                }
            }

            return batch.Count;
        }
        finally
        {
            _scheduleGate.Release();
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<WebhookClaim>> ClaimAsync(Instant now, Duration lease, int limit, CancellationToken cancellationToken = default)
    {
        CheckLimit(limit);
        if (lease <= Duration.Zero)
        {
            throw PaymentsKitException.InvalidArgument("lease", lease, "must be positive");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var claims = new List<WebhookClaim>();
        lock (_lock)
        {
            var heads = new HashSet<(WebhookEndpointId, string)>();
            foreach (var entry in _pending.Values)
            {
                if (claims.Count == limit)
                {
                    break;
                }

                ClaimVisits++;
                var d = entry.Delivery;

                // Only the oldest pending delivery of an ordered resource may go out.
                if (d.OrderingKey is { } key && !heads.Add((d.EndpointId, key)))
                {
                    continue;
                }

                if (d.NextAttemptAt > now || entry.LeaseUntil > now)
                {
                    continue;
                }

                entry.LeaseToken = Guid.NewGuid();
                entry.LeaseUntil = now + lease;
                entry.Delivery = d with { Attempts = d.Attempts + 1, LastAttemptAt = now };
                claims.Add(new WebhookClaim(entry.Delivery, entry.Payload, entry.LeaseToken.Value, entry.LeaseUntil.Value));
            }
        }

        return ValueTask.FromResult<IReadOnlyList<WebhookClaim>>(claims);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlySet<WebhookDeliveryId>> CompleteAsync(IReadOnlyList<WebhookDeliveryCompletion> completions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(completions);
        var completed = new HashSet<WebhookDeliveryId>();
        var summaries = new Dictionary<(Guid Tenant, WebhookEventId Event), (int Attempts, Instant Last)>();
        lock (_lock)
        {
            foreach (var completion in completions)
            {
                var claim = completion.Claim;
                if (!_byId.TryGetValue(claim.Delivery.Id.Value, out var entry) || entry.LeaseToken != claim.LeaseToken)
                {
                    continue;
                }

                entry.LeaseToken = null;
                entry.LeaseUntil = null;
                var applied = Apply(entry.Delivery, completion);
                Set(entry, completion.NotSent ? applied with { Attempts = applied.Attempts - 1 } : applied);
                completed.Add(claim.Delivery.Id);
                if (completion.NotSent)
                {
                    continue;
                }

                entry.Attempts.Add(completion.Attempt);
                var key = (claim.Delivery.TenantId, claim.Delivery.EventId);
                var previous = summaries.GetValueOrDefault(key);
                summaries[key] = (previous.Attempts + 1, Instant.Max(previous.Last, completion.Attempt.StartedAt));
            }
        }

        foreach (var ((tenant, eventId), summary) in summaries)
        {
            await _store.ExecuteAsync(
                async (unit, ct) =>
                {
                    var stored = await unit.GetAsync(WebhookCollections.Events, tenant, eventId.Value, ct).ConfigureAwait(false);
                    if (stored is not null)
                    {
                        // Whether every delivery of the event is delivered is read as this unit writes, not when the completion
                        // was applied: two dispatchers completing an event's deliveries at once would otherwise let the one
                        // that saw the other's still pending write false after the other wrote true. A unit that loses the
                        // version race runs again and reads it again.
                        bool delivered;
                        lock (_lock)
                        {
                            delivered = _byEvent[eventId].All(e => e.Delivery.Status == WebhookDeliveryStatus.Delivered);
                        }

                        // Attempts are recorded as they finish, not as they start: one that started earlier (a slower receiver)
                        // can be recorded after a later one, and must not move the latest attempt time back.
                        var last = stored.Value.LastAttemptAt is { } previous ? Instant.Max(previous, summary.Last) : summary.Last;
                        unit.Update(
                            WebhookCollections.Events,
                            stored.Value with { Attempts = stored.Value.Attempts + summary.Attempts, LastAttemptAt = last, Delivered = delivered },
                            stored.Version);
                    }

                    return true;
                },
                cancellationToken).ConfigureAwait(false);
        }

        return completed;
    }

    /// <inheritdoc />
    public ValueTask<WebhookDelivery?> GetAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_byId.TryGetValue(deliveryId.Value, out var entry) && entry.Delivery.TenantId == tenantId ? entry.Delivery : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<Page<WebhookDelivery>> ListAsync(Guid tenantId, WebhookDeliveryFilter filter, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        CheckLimit(limit);
        var after = DecodeCursor(cursor);
        List<WebhookDelivery> matching;
        lock (_lock)
        {
            matching = [.. _entries
                .Select(e => e.Delivery)
                .Where(d => d.TenantId == tenantId && Matches(d, filter))
                .Where(d => after is null || GuidOrder.Instance.Compare(d.Id.Value, after.Value) > 0)
                .OrderBy(d => d.Id.Value, GuidOrder.Instance)
                .Take(limit + 1)];
        }

        var items = matching.Take(limit).ToList();
        return ValueTask.FromResult(new Page<WebhookDelivery>(items, matching.Count > limit ? items[^1].Id.Value.ToString("N") : null));
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<WebhookDeliveryAttempt>> ListAttemptsAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return ValueTask.FromResult<IReadOnlyList<WebhookDeliveryAttempt>>(
                _byId.TryGetValue(deliveryId.Value, out var entry) && entry.Delivery.TenantId == tenantId ? [.. entry.Attempts] : []);
        }
    }

    /// <inheritdoc />
    public ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, CancellationToken cancellationToken = default) =>
        Replay(tenantId, deliveryId, now, null);

    /// <inheritdoc />
    public ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, WebhookDeliveryStatus from, CancellationToken cancellationToken = default) =>
        Replay(tenantId, deliveryId, now, from);

    private ValueTask<WebhookDelivery?> Replay(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, WebhookDeliveryStatus? from)
    {
        lock (_lock)
        {
            if (!_byId.TryGetValue(deliveryId.Value, out var entry) || entry.Delivery.TenantId != tenantId)
            {
                return ValueTask.FromResult<WebhookDelivery?>(null);
            }

            if (entry.Delivery.Status == WebhookDeliveryStatus.Pending || (from is { } expected && entry.Delivery.Status != expected))
            {
                throw NotReplayable(deliveryId, entry.Delivery.Status);
            }

            Set(entry, Replayed(entry.Delivery, now));
            return ValueTask.FromResult<WebhookDelivery?>(entry.Delivery);
        }
    }

    /// <summary>Gives a delivery its next state, keeping <see cref="_pending"/> to the pending ones. Called under <see cref="_lock"/>.</summary>
    private void Set(Entry entry, WebhookDelivery next)
    {
        var wasPending = entry.Delivery.Status == WebhookDeliveryStatus.Pending;
        entry.Delivery = next;
        if (next.Status == WebhookDeliveryStatus.Pending)
        {
            if (!wasPending)
            {
                _pending.Add(entry.Sequence, entry);
            }
        }
        else if (wasPending)
        {
            _pending.Remove(entry.Sequence);
        }
    }

    /// <summary>The delivery after a completed attempt.</summary>
    internal static WebhookDelivery Apply(WebhookDelivery delivery, WebhookDeliveryCompletion completion) => delivery with
    {
        Status = completion.Status,
        NextAttemptAt = completion.NextAttemptAt ?? delivery.NextAttemptAt,
        LastStatusCode = completion.Attempt.StatusCode,
        LastError = completion.Attempt.Error,
        CompletedAt = completion.Status == WebhookDeliveryStatus.Pending ? null : completion.Attempt.StartedAt + completion.Attempt.Duration,
    };

    /// <summary>The delivery made pending again by a replay.</summary>
    internal static WebhookDelivery Replayed(WebhookDelivery delivery, Instant now) =>
        delivery with { Status = WebhookDeliveryStatus.Pending, Attempts = 0, NextAttemptAt = now, CompletedAt = null };

    /// <summary>The error for replaying a delivery that is still pending, or no longer in the status the replay expected.</summary>
    internal static PaymentsKitException NotReplayable(WebhookDeliveryId deliveryId, WebhookDeliveryStatus status)
    {
        var from = status switch
        {
            WebhookDeliveryStatus.Pending => "pending",
            WebhookDeliveryStatus.Delivered => "delivered",
            _ => "dead_lettered",
        };
        var message = status == WebhookDeliveryStatus.Pending
            ? $"Webhook delivery {deliveryId} is still pending; only delivered or dead-lettered deliveries can be replayed."
            : $"Webhook delivery {deliveryId} is {from} now, not in the status the replay expected.";
        return new(PaymentsKitErrorCodes.InvalidTransition, message,
            new Dictionary<string, object?> { ["field"] = "delivery_id", ["value"] = deliveryId.ToString(), ["from"] = from, ["to"] = "pending" });
    }

    /// <summary>Whether a delivery passes a filter.</summary>
    internal static bool Matches(WebhookDelivery delivery, WebhookDeliveryFilter filter) =>
        (filter.Status is null || delivery.Status == filter.Status)
        && (filter.EventId is null || delivery.EventId == filter.EventId)
        && (filter.EndpointId is null || delivery.EndpointId == filter.EndpointId);

    /// <summary>Checks a page size or batch limit.</summary>
    internal static void CheckLimit(int limit)
    {
        if (limit is < 1 or > BufferedUnitOfWork.MaxPageSize)
        {
            throw PaymentsKitException.InvalidArgument("limit", limit, $"must be between 1 and {BufferedUnitOfWork.MaxPageSize}");
        }
    }

    /// <summary>Decodes a listing cursor (the last delivery id of the previous page).</summary>
    internal static Guid? DecodeCursor(string? cursor) =>
        cursor is null ? null
        : Guid.TryParseExact(cursor, "N", out var after) ? after
        : throw PaymentsKitException.InvalidArgument("cursor", cursor, "is not a cursor returned by a previous page");

    private static async ValueTask<List<T>> AllAsync<T>(IUnitOfWork unit, RecordCollection<T> collection, Guid tenantId, CancellationToken cancellationToken)
        where T : class
    {
        var all = new List<T>();
        string? cursor = null;
        do
        {
            var page = await unit.ListAsync(collection, tenantId, cursor, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
            all.AddRange(page.Items.Select(i => i.Value));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return all;
    }

    private sealed class Entry(int sequence, WebhookDelivery delivery, byte[] payload)
    {
        /// <summary>The delivery's place in creation order, which claims keep.</summary>
        public int Sequence { get; } = sequence;

        public WebhookDelivery Delivery { get; set; } = delivery;

        public byte[] Payload { get; } = payload;

        public Guid? LeaseToken { get; set; }

        public Instant? LeaseUntil { get; set; }

        public List<WebhookDeliveryAttempt> Attempts { get; } = [];
    }
}
