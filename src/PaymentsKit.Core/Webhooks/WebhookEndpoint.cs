using System.Text.Json.Serialization;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Webhooks;

/// <summary>Identifies a webhook endpoint: <c>we_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<WebhookEndpointId>))]
public readonly record struct WebhookEndpointId(Guid Value) : ITypedId<WebhookEndpointId>
{
    /// <inheritdoc />
    public static string Prefix => "we";

    /// <inheritdoc />
    public static WebhookEndpointId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static WebhookEndpointId New(IClock clock) => TypedId.New<WebhookEndpointId>(clock);

    /// <summary>Parses <c>we_…</c>.</summary>
    public static WebhookEndpointId Parse(string? text) => TypedId.Parse<WebhookEndpointId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Whether an endpoint receives deliveries.</summary>
public enum WebhookEndpointStatus
{
    /// <summary>Deliveries are sent.</summary>
    Enabled,

    /// <summary>
    /// No deliveries are sent (disabled by an operator, or automatically when the endpoint answered 410 Gone);
    /// deliveries claimed meanwhile are dead-lettered and can be replayed once it is enabled again.
    /// </summary>
    Disabled,
}

/// <summary>One signing secret of an endpoint.</summary>
/// <param name="Secret">The secret in its <c>whsec_</c> form (store the records encrypted at rest).</param>
/// <param name="CreatedAt">When it was made.</param>
/// <param name="ExpiresAt">When it stops being used (set by a rotation); null while it is current.</param>
public sealed record WebhookEndpointSecret(string Secret, Instant CreatedAt, Instant? ExpiresAt)
{
    /// <summary>Whether deliveries at <paramref name="now"/> are signed with it.</summary>
    public bool IsActiveAt(Instant now) => ExpiresAt is not { } expires || expires > now;

    /// <summary>Redacted: a record's generated <c>ToString</c> would print the secret into logs.</summary>
    public override string ToString() => $"WebhookEndpointSecret {{ Secret = {WebhookSecret.Prefix}…, CreatedAt = {CreatedAt}, ExpiresAt = {ExpiresAt} }}";
}

/// <summary>
/// Where a tenant receives its webhooks: an HTTPS URL (checked by the SSRF guard when registered and again before
/// every delivery), the secrets deliveries are signed with (several while a rotation overlaps), which event types it
/// wants and whether events of one resource must arrive in order.
/// </summary>
/// <param name="Id">The endpoint id.</param>
/// <param name="TenantId">The merchant (or partner) that owns it.</param>
/// <param name="Url">The absolute URL deliveries are POSTed to.</param>
/// <param name="Description">A note for operators.</param>
/// <param name="EventTypes">The event types it receives (<c>invoice.paid</c>, or <c>invoice.*</c> for every action of a resource); empty for all.</param>
/// <param name="Ordered">
/// Whether an event of a resource is delivered only after every earlier event of the same resource was delivered
/// or dead-lettered (head-of-line blocking per resource).
/// </param>
/// <param name="Status">Whether it receives deliveries.</param>
/// <param name="DisabledReason">Why it was disabled.</param>
/// <param name="Secrets">Its signing secrets, the current one first.</param>
/// <param name="CreatedAt">When it was registered.</param>
/// <param name="UpdatedAt">When it last changed.</param>
public sealed record WebhookEndpoint(
    WebhookEndpointId Id,
    Guid TenantId,
    string Url,
    string? Description,
    IReadOnlyList<string> EventTypes,
    [property: JsonPropertyOrder(2)] bool Ordered,
    [property: JsonPropertyOrder(2)] WebhookEndpointStatus Status,
    [property: JsonPropertyOrder(2)] string? DisabledReason,
    IReadOnlyList<WebhookEndpointSecret> Secrets,
    [property: JsonPropertyOrder(4)] Instant CreatedAt,
    [property: JsonPropertyOrder(4)] Instant UpdatedAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueList<string> _eventTypes = ValueList<string>.Of(EventTypes);

    private readonly ValueList<WebhookEndpointSecret> _secrets = ValueList<WebhookEndpointSecret>.Of(Secrets);

    /// <summary>The event types it receives (<c>invoice.paid</c>, or <c>invoice.*</c> for every action of a resource); empty for all. Kept as an immutable copy that compares by content.</summary>
    [JsonPropertyOrder(1)]
    public IReadOnlyList<string> EventTypes
    {
        get => _eventTypes;
        init => _eventTypes = ValueList<string>.Of(value);
    }

    /// <summary>Its signing secrets, the current one first. Kept as an immutable copy that compares by content.</summary>
    [JsonPropertyOrder(3)]
    public IReadOnlyList<WebhookEndpointSecret> Secrets
    {
        get => _secrets;
        init => _secrets = ValueList<WebhookEndpointSecret>.Of(value);
    }

    /// <summary>Whether this endpoint wants events of <paramref name="eventType"/>.</summary>
    public bool Accepts(string eventType)
    {
        ArgumentNullException.ThrowIfNull(eventType);
        if (EventTypes.Count == 0)
        {
            return true;
        }

        foreach (var filter in EventTypes)
        {
            if (filter.EndsWith(".*", StringComparison.Ordinal)
                ? eventType.Length > filter.Length - 1 && eventType.StartsWith(filter.AsSpan(0, filter.Length - 1), StringComparison.Ordinal)
                : string.Equals(filter, eventType, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The secrets deliveries at <paramref name="now"/> are signed with, the current one first.</summary>
    public IReadOnlyList<WebhookSecret> SigningSecrets(Instant now) =>
        [.. Secrets.Where(s => s.IsActiveAt(now)).Select(s => WebhookSecret.Parse(s.Secret))];
}

/// <summary>What <see cref="IWebhookEndpointService.RegisterAsync"/> needs.</summary>
public sealed record RegisterWebhookEndpoint
{
    /// <summary>The absolute HTTPS URL (plain http only for loopback when the host allows loopback). Required.</summary>
    public Uri? Url { get; init; }

    /// <summary>A note for operators, at most 256 characters.</summary>
    public string? Description { get; init; }

    private readonly ValueList<string>? _eventTypes;

    /// <summary>The event types to receive (<c>resource.action</c> or <c>resource.*</c>); empty or null for all. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<string>? EventTypes
    {
        get => _eventTypes;
        init => _eventTypes = ValueList<string>.Of(value);
    }

    /// <summary>Whether events of one resource must be delivered in order.</summary>
    public bool Ordered { get; init; }

    /// <summary>The signing secret to use; null to generate one.</summary>
    public WebhookSecret? Secret { get; init; }
}

/// <summary>A registered endpoint and its signing secret, shown once.</summary>
/// <param name="Endpoint">The endpoint.</param>
/// <param name="Secret">The signing secret; give <see cref="WebhookSecret.Reveal"/> to the receiver.</param>
public sealed record WebhookEndpointRegistration(WebhookEndpoint Endpoint, WebhookSecret Secret);

/// <summary>The record collections of webhook delivery.</summary>
public static class WebhookDeliveryCollections
{
    /// <summary>Endpoints, keyed by their tenant.</summary>
    public static RecordCollection<WebhookEndpoint> Endpoints { get; } = new(
        "webhook_endpoint",
        e => e.Id.Value,
        e => e.TenantId);

    /// <summary>Received webhook ids, for deduplication by <see cref="WebhookReceiver"/>.</summary>
    public static RecordCollection<WebhookReceipt> Receipts { get; } = new(
        "webhook_receipt",
        r => r.Id,
        r => r.TenantId,
        [new UniqueKey<WebhookReceipt>("webhook_id", r => WebhookReceipt.Key(r.TenantId, r.Source, r.WebhookId))]);
}
