using System.Text.Json;
using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Webhooks;

/// <summary>Identifies an outbound webhook event: <c>evt_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<WebhookEventId>))]
public readonly record struct WebhookEventId(Guid Value) : ITypedId<WebhookEventId>
{
    /// <inheritdoc />
    public static string Prefix => "evt";

    /// <inheritdoc />
    public static WebhookEventId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static WebhookEventId New(IClock clock) => TypedId.New<WebhookEventId>(clock);

    /// <summary>Parses <c>evt_…</c>.</summary>
    public static WebhookEventId Parse(string? text) => TypedId.Parse<WebhookEventId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>
/// One event waiting in the outbox for delivery to its tenant's webhook endpoint (seed 001
/// <c>webhook_events</c>). Written by the module whose state changed, in the same unit of work as the
/// change, so an event exists exactly when the change committed. The dispatcher updates the delivery
/// fields; everything else is immutable.
/// </summary>
/// <param name="Id">The event id, also the Standard Webhooks <c>webhook-id</c>.</param>
/// <param name="TenantId">The merchant (or partner) the event is for.</param>
/// <param name="ResourceType">What changed, e.g. <c>payment_intent</c>.</param>
/// <param name="ResourceId">The changed resource's id, e.g. <c>pi_…</c>.</param>
/// <param name="EventType">What happened, <c>resource.action</c>, e.g. <c>payment_intent.settled</c>.</param>
/// <param name="Payload">The JSON body to deliver: <c>{"type", "timestamp", "data"}</c>.</param>
/// <param name="Delivered">Whether an endpoint acknowledged it.</param>
/// <param name="Attempts">How many deliveries were tried.</param>
/// <param name="LastAttemptAt">When the last delivery was tried.</param>
/// <param name="CreatedAt">When the change happened.</param>
public sealed record WebhookEvent(
    WebhookEventId Id,
    Guid TenantId,
    string ResourceType,
    string ResourceId,
    string EventType,
    JsonElement Payload,
    bool Delivered,
    int Attempts,
    Instant? LastAttemptAt,
    Instant CreatedAt);
