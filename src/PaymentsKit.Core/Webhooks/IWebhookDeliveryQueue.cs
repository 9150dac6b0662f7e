using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Webhooks;

/// <summary>
/// Plans how the outbox's new events fan out to endpoints: given events, the deliveries to create (none for an
/// event no endpoint wants).
/// </summary>
public delegate ValueTask<IReadOnlyList<WebhookDeliveryPlan>> WebhookDeliveryPlanner(IReadOnlyList<WebhookEvent> events, CancellationToken cancellationToken);

/// <summary>
/// The store seam of webhook delivery: turns outbox events into deliveries, hands due deliveries out under
/// leases so that several dispatchers (in one process or many hosts) never attempt one delivery at the same
/// time, and records each attempt's outcome. A dispatcher that dies holding a lease loses nothing: once the
/// lease expires the delivery is claimed again.
/// </summary>
public interface IWebhookDeliveryQueue
{
    /// <summary>
    /// Takes up to <paramref name="limit"/> outbox events not yet scheduled, oldest first, asks
    /// <paramref name="planner"/> which deliveries they need, and creates them, due at <paramref name="now"/>.
    /// Each event is scheduled exactly once, whatever the concurrency, and ordered endpoints see events of one
    /// resource in the order they were written (by serialising schedulers, or by holding a delivery back while an
    /// earlier event of its resource is unscheduled).
    /// </summary>
    /// <returns>How many events were scheduled.</returns>
    ValueTask<int> ScheduleAsync(WebhookDeliveryPlanner planner, Instant now, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Schedules like <see cref="ScheduleAsync"/> and may claim, in the same step, up to <paramref name="limit"/> of the
    /// deliveries it creates that have no ordering key, exactly as <see cref="ClaimAsync"/> would (an attempt counted,
    /// leased until <paramref name="now"/> + <paramref name="lease"/>): one round trip and one write per delivery less
    /// than scheduling and claiming apart. A queue that does not combine the two claims nothing here; the deliveries are
    /// then claimed by <see cref="ClaimAsync"/>.
    /// </summary>
    /// <returns>How many events were scheduled, and the deliveries claimed.</returns>
    async ValueTask<WebhookScheduleResult> ScheduleAndClaimAsync(
        WebhookDeliveryPlanner planner, Instant now, Duration lease, int limit, CancellationToken cancellationToken = default) =>
        new(await ScheduleAsync(planner, now, limit, cancellationToken).ConfigureAwait(false), []);

    /// <summary>
    /// Claims up to <paramref name="limit"/> pending deliveries due at <paramref name="now"/> whose lease (if any)
    /// has expired, counting an attempt on each and leasing it until <paramref name="now"/> + <paramref name="lease"/>.
    /// A delivery with an ordering key is claimed only while no earlier delivery to the same endpoint with the same
    /// key is pending.
    /// </summary>
    ValueTask<IReadOnlyList<WebhookClaim>> ClaimAsync(Instant now, Duration lease, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records claimed attempts' outcomes and their deliveries' next states, and updates each outbox event's
    /// <c>attempts</c>, <c>last_attempt_at</c> and <c>delivered</c> (true once all its deliveries are delivered);
    /// all in one round trip where the store allows. A completion whose lease was lost (expired, and perhaps claimed
    /// by another dispatcher) writes nothing.
    /// </summary>
    /// <returns>The deliveries whose completion was recorded.</returns>
    ValueTask<IReadOnlySet<WebhookDeliveryId>> CompleteAsync(IReadOnlyList<WebhookDeliveryCompletion> completions, CancellationToken cancellationToken = default);

    /// <summary>Reads a delivery of a tenant; null if absent or another tenant's.</summary>
    ValueTask<WebhookDelivery?> GetAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default);

    /// <summary>A tenant's deliveries in creation order, a page at a time.</summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="filter">Narrows the listing.</param>
    /// <param name="cursor">The previous page's cursor, or null.</param>
    /// <param name="limit">1–1000.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<Page<WebhookDelivery>> ListAsync(Guid tenantId, WebhookDeliveryFilter filter, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>A delivery's attempts, oldest first; empty when it is absent or another tenant's.</summary>
    ValueTask<IReadOnlyList<WebhookDeliveryAttempt>> ListAttemptsAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes a dead-lettered or delivered delivery pending again, due at <paramref name="now"/>, with a fresh
    /// attempt budget; its attempt log is kept.
    /// </summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="deliveryId">The delivery.</param>
    /// <param name="now">When it becomes due.</param>
    /// <param name="cancellationToken">Cancels the change.</param>
    /// <returns>The delivery as it now is; null when absent or another tenant's.</returns>
    /// <exception cref="PaymentsKitException"><c>invalid_transition</c> when it is still pending.</exception>
    ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes a delivery pending again as <see cref="ReplayAsync(Guid, WebhookDeliveryId, Instant, CancellationToken)"/> does,
    /// only if it still has the status <paramref name="from"/> as it is changed: a bulk replay of dead letters passes
    /// <see cref="WebhookDeliveryStatus.DeadLettered"/>, so one replayed and delivered since it was listed is not sent again.
    /// </summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="deliveryId">The delivery.</param>
    /// <param name="now">When it becomes due.</param>
    /// <param name="from">The status the delivery must still have.</param>
    /// <param name="cancellationToken">Cancels the change.</param>
    /// <returns>The delivery as it now is; null when absent or another tenant's.</returns>
    /// <exception cref="PaymentsKitException"><c>invalid_transition</c> when it is pending or not in <paramref name="from"/>.</exception>
    /// <remarks>
    /// The built-in queues check the status in the same step as the change. This default, for queues written before the
    /// overload existed, reads the status first and then replays: a replay and delivery between the two can still send one
    /// delivery twice.
    /// </remarks>
    async ValueTask<WebhookDelivery?> ReplayAsync(
        Guid tenantId, WebhookDeliveryId deliveryId, Instant now, WebhookDeliveryStatus from, CancellationToken cancellationToken = default)
    {
        var current = await GetAsync(tenantId, deliveryId, cancellationToken).ConfigureAwait(false);
        if (current is null)
        {
            return null;
        }

        return current.Status != from
            ? throw InMemoryWebhookDeliveryQueue.NotReplayable(deliveryId, current.Status)
            : await ReplayAsync(tenantId, deliveryId, now, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>What <see cref="IWebhookDeliveryQueue.ScheduleAndClaimAsync"/> did.</summary>
/// <param name="Scheduled">How many outbox events were scheduled.</param>
/// <param name="Claims">The new deliveries claimed with them, oldest first.</param>
public sealed record WebhookScheduleResult(int Scheduled, IReadOnlyList<WebhookClaim> Claims)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueList<WebhookClaim> _claims = ValueList<WebhookClaim>.Of(Claims);

    /// <summary>The new deliveries claimed with them, oldest first. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<WebhookClaim> Claims
    {
        get => _claims;
        init => _claims = ValueList<WebhookClaim>.Of(value);
    }
}
