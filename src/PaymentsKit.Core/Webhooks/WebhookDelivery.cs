using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Webhooks;

/// <summary>Identifies the delivery of one event to one endpoint: <c>whd_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<WebhookDeliveryId>))]
public readonly record struct WebhookDeliveryId(Guid Value) : ITypedId<WebhookDeliveryId>
{
    /// <inheritdoc />
    public static string Prefix => "whd";

    /// <inheritdoc />
    public static WebhookDeliveryId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static WebhookDeliveryId New(IClock clock) => TypedId.New<WebhookDeliveryId>(clock);

    /// <summary>Parses <c>whd_…</c>.</summary>
    public static WebhookDeliveryId Parse(string? text) => TypedId.Parse<WebhookDeliveryId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Where a delivery stands.</summary>
public enum WebhookDeliveryStatus
{
    /// <summary>Waiting for its next attempt (or being attempted under a lease).</summary>
    Pending,

    /// <summary>The endpoint answered 2xx.</summary>
    Delivered,

    /// <summary>Given up: the last scheduled attempt failed, the endpoint is gone (410) or disabled. An operator can replay it.</summary>
    DeadLettered,
}

/// <summary>How one delivery attempt ended.</summary>
public enum WebhookAttemptOutcome
{
    /// <summary>2xx.</summary>
    Delivered,

    /// <summary>Any other status, a refused or dropped connection, or a redirect.</summary>
    Failed,

    /// <summary>No answer within the timeout.</summary>
    TimedOut,

    /// <summary>410 Gone: the endpoint was disabled.</summary>
    Gone,

    /// <summary>The SSRF guard refused the URL or the addresses its host resolved to; nothing was sent.</summary>
    Rejected,

    /// <summary>The endpoint was disabled or removed; nothing was sent.</summary>
    EndpointDisabled,
}

/// <summary>The delivery of one outbox event to one endpoint, with its retry state.</summary>
/// <param name="Id">The delivery id.</param>
/// <param name="TenantId">The tenant the event belongs to.</param>
/// <param name="EventId">The event (its id is the <c>webhook-id</c>).</param>
/// <param name="EndpointId">The endpoint.</param>
/// <param name="EventType">The event's type.</param>
/// <param name="OrderingKey"><c>resource_type:resource_id</c> when the endpoint asks for ordered delivery, else null.</param>
/// <param name="Status">Where it stands.</param>
/// <param name="Attempts">Attempts started so far (an attempt whose dispatcher died counts too).</param>
/// <param name="NextAttemptAt">When it is due (pending only).</param>
/// <param name="LastAttemptAt">When the last attempt started.</param>
/// <param name="LastStatusCode">The last HTTP status received.</param>
/// <param name="LastError">What went wrong last.</param>
/// <param name="CreatedAt">When it was scheduled.</param>
/// <param name="CompletedAt">When it was delivered or dead-lettered.</param>
public sealed record WebhookDelivery(
    WebhookDeliveryId Id,
    Guid TenantId,
    WebhookEventId EventId,
    WebhookEndpointId EndpointId,
    string EventType,
    string? OrderingKey,
    WebhookDeliveryStatus Status,
    int Attempts,
    Instant NextAttemptAt,
    Instant? LastAttemptAt,
    int? LastStatusCode,
    string? LastError,
    Instant CreatedAt,
    Instant? CompletedAt);

/// <summary>The log of one delivery attempt.</summary>
/// <param name="Id">The attempt's id (UUIDv7).</param>
/// <param name="TenantId">The tenant.</param>
/// <param name="DeliveryId">The delivery.</param>
/// <param name="EventId">The event.</param>
/// <param name="EndpointId">The endpoint.</param>
/// <param name="Number">1 for the first attempt.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="Duration">How long the HTTP exchange took.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="StatusCode">The HTTP status, when one was received.</param>
/// <param name="ResponseExcerpt">The start of the response body (at most 1 KiB, decoded as UTF-8, without NUL characters).</param>
/// <param name="Error">What went wrong, when it did (without NUL characters).</param>
public sealed record WebhookDeliveryAttempt(
    Guid Id,
    Guid TenantId,
    WebhookDeliveryId DeliveryId,
    WebhookEventId EventId,
    WebhookEndpointId EndpointId,
    int Number,
    Instant StartedAt,
    Duration Duration,
    WebhookAttemptOutcome Outcome,
    int? StatusCode,
    string? ResponseExcerpt,
    string? Error)
{
    /// <summary>
    /// <paramref name="text"/> without U+0000, which PostgreSQL text cannot hold: a receiver's body or a malformed answer
    /// HttpClient quotes in its error may carry it, and stored as it came it would fail the completion of a whole batch.
    /// </summary>
    internal static string? Storable(string? text) => text?.Replace("\0", string.Empty, StringComparison.Ordinal);
}

/// <summary>One delivery to create when an event is scheduled.</summary>
/// <param name="EventId">The event.</param>
/// <param name="TenantId">Its tenant.</param>
/// <param name="EndpointId">The endpoint that wants it.</param>
/// <param name="EventType">The event's type.</param>
/// <param name="OrderingKey">Set when the endpoint asks for ordered delivery.</param>
public sealed record WebhookDeliveryPlan(WebhookEventId EventId, Guid TenantId, WebhookEndpointId EndpointId, string EventType, string? OrderingKey);

/// <summary>A delivery claimed for one attempt: nobody else attempts it until the lease expires.</summary>
/// <param name="Delivery">The delivery, with <see cref="WebhookDelivery.Attempts"/> already counting this attempt.</param>
/// <param name="Payload">The event's JSON body, exactly as it will be sent and signed.</param>
/// <param name="LeaseToken">Proves the lease when completing.</param>
/// <param name="LeaseExpiresAt">When another dispatcher may take it over.</param>
public sealed record WebhookClaim(WebhookDelivery Delivery, ReadOnlyMemory<byte> Payload, Guid LeaseToken, Instant LeaseExpiresAt);

/// <summary>How a claimed attempt ended and what happens next.</summary>
/// <param name="Claim">The claim the attempt was made under.</param>
/// <param name="Status">Delivered, pending (to retry at <paramref name="NextAttemptAt"/>) or dead-lettered.</param>
/// <param name="NextAttemptAt">When to retry (pending only).</param>
/// <param name="Attempt">The attempt's log.</param>
public sealed record WebhookDeliveryCompletion(WebhookClaim Claim, WebhookDeliveryStatus Status, Instant? NextAttemptAt, WebhookDeliveryAttempt Attempt)
{
    /// <summary>
    /// The claimed attempt was never sent (its lease would have ended before its timeout): the delivery goes back pending
    /// with the attempt its claim counted taken back, and nothing is added to the attempt log or the event's summary;
    /// only <see cref="WebhookDelivery.LastError"/> says why it waits. An attempt budget counts attempts made, not claims.
    /// </summary>
    public bool NotSent { get; init; }
}

/// <summary>Narrows a delivery listing; null fields match everything.</summary>
/// <param name="Status">Only deliveries in this status.</param>
/// <param name="EventId">Only deliveries of this event.</param>
/// <param name="EndpointId">Only deliveries to this endpoint.</param>
public sealed record WebhookDeliveryFilter(WebhookDeliveryStatus? Status = null, WebhookEventId? EventId = null, WebhookEndpointId? EndpointId = null);
