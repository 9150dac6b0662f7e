using NodaTime;
using PaymentsKit.Diagnostics;
using PaymentsKit.Storage;

namespace PaymentsKit.Webhooks;

/// <summary>The operator's view of webhook delivery: deliveries, their attempt logs, dead letters and replay.</summary>
public interface IWebhookDeliveryService
{
    /// <summary>Reads a delivery.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c> when absent or another tenant's.</exception>
    ValueTask<WebhookDelivery> GetAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default);

    /// <summary>A tenant's deliveries in creation order (e.g. its dead letters), a page at a time.</summary>
    ValueTask<Page<WebhookDelivery>> ListAsync(Guid tenantId, WebhookDeliveryFilter filter, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>A delivery's attempts (status, duration, response excerpt), oldest first.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c> when absent or another tenant's.</exception>
    ValueTask<IReadOnlyList<WebhookDeliveryAttempt>> ListAttemptsAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Sends a dead-lettered (or delivered) delivery again, now, with a fresh attempt budget.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>; <c>invalid_transition</c> while it is still pending.</exception>
    ValueTask<WebhookDelivery> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default);

    /// <summary>Replays every dead-lettered delivery of a tenant, or of one of its endpoints.</summary>
    /// <returns>How many were replayed.</returns>
    ValueTask<int> ReplayDeadLettersAsync(Guid tenantId, WebhookEndpointId? endpointId = null, CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IWebhookDeliveryService"/> over the <see cref="IWebhookDeliveryQueue"/>.</summary>
public sealed class WebhookDeliveryService : IWebhookDeliveryService
{
    private readonly IWebhookDeliveryQueue _queue;
    private readonly IClock _clock;

    /// <summary>Creates the service.</summary>
    public WebhookDeliveryService(IWebhookDeliveryQueue queue, IClock clock)
    {
        _queue = queue ?? throw new ArgumentNullException(nameof(queue));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
    }

    /// <inheritdoc />
    public async ValueTask<WebhookDelivery> GetAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default) =>
        await _queue.GetAsync(tenantId, deliveryId, cancellationToken).ConfigureAwait(false) ?? throw NotFound(deliveryId);

    /// <inheritdoc />
    public ValueTask<Page<WebhookDelivery>> ListAsync(Guid tenantId, WebhookDeliveryFilter filter, string? cursor, int limit, CancellationToken cancellationToken = default) =>
        _queue.ListAsync(tenantId, Guard.NotNull(filter, "filter"), cursor, limit, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<WebhookDeliveryAttempt>> ListAttemptsAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default)
    {
        await GetAsync(tenantId, deliveryId, cancellationToken).ConfigureAwait(false);
        return await _queue.ListAttemptsAsync(tenantId, deliveryId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<WebhookDelivery> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default)
    {
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.replay");
        activity?.SetTag("paymentskit.webhook_delivery", deliveryId.ToString());
        return await _queue.ReplayAsync(tenantId, deliveryId, _clock.GetCurrentInstant(), cancellationToken).ConfigureAwait(false) ?? throw NotFound(deliveryId);
    }

    /// <inheritdoc />
    public async ValueTask<int> ReplayDeadLettersAsync(Guid tenantId, WebhookEndpointId? endpointId = null, CancellationToken cancellationToken = default)
    {
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.replay_dead_letters");
        var filter = new WebhookDeliveryFilter(WebhookDeliveryStatus.DeadLettered, EndpointId: endpointId);
        var dead = new List<WebhookDeliveryId>();
        string? cursor = null;
        do
        {
            var page = await _queue.ListAsync(tenantId, filter, cursor, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
            dead.AddRange(page.Items.Select(d => d.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        var replayed = 0;
        foreach (var id in dead)
        {
            try
            {
                // Only if still dead-lettered: one replayed by someone else since it was listed may be delivered by now.
                replayed += await _queue.ReplayAsync(tenantId, id, _clock.GetCurrentInstant(), WebhookDeliveryStatus.DeadLettered, cancellationToken).ConfigureAwait(false) is null ? 0 : 1;
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidTransition)
            {
                // Replayed by someone else since it was listed.
            }
        }

        activity?.SetTag("paymentskit.webhooks.replayed", replayed);
        return replayed;
    }

    private static PaymentsKitException NotFound(WebhookDeliveryId deliveryId) =>
        new(PaymentsKitErrorCodes.NotFound,
            $"Webhook delivery {deliveryId} does not exist.",
            new Dictionary<string, object?> { ["field"] = "delivery_id", ["value"] = deliveryId.ToString() });
}
