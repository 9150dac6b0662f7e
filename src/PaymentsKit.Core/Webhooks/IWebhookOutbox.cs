using System.Text.Json;
using System.Text.RegularExpressions;
using NodaTime;
using PaymentsKit.Json;
using PaymentsKit.Storage;

namespace PaymentsKit.Webhooks;

/// <summary>
/// The transactional outbox for webhooks: any module enqueues an event inside the unit of work that
/// makes the change, so the event commits with the change or not at all. A dispatcher (Hosting) reads
/// undelivered events and delivers them.
/// </summary>
public interface IWebhookOutbox
{
    /// <summary>
    /// Buffers an event in <paramref name="unit"/>. The payload is <c>{"type", "timestamp", "data"}</c> with
    /// <paramref name="data"/> serialized by the PaymentsKit JSON settings.
    /// </summary>
    /// <typeparam name="TData">The resource's type.</typeparam>
    /// <param name="unit">The unit of work making the change.</param>
    /// <param name="tenantId">The merchant (or partner) to notify.</param>
    /// <param name="resourceType">Lower-case snake_case, e.g. <c>payment_intent</c>.</param>
    /// <param name="resourceId">The resource's id (1–128 characters).</param>
    /// <param name="eventType"><c>{resourceType}.{action}</c>, e.g. <c>payment_intent.settled</c>.</param>
    /// <param name="data">The resource as it is after the change.</param>
    /// <returns>The event as it will be stored.</returns>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> naming a malformed field.</exception>
    WebhookEvent Enqueue<TData>(IUnitOfWork unit, Guid tenantId, string resourceType, string resourceId, string eventType, TData data);

    /// <summary>Reads an event of a tenant.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c> when absent or another tenant's.</exception>
    ValueTask<WebhookEvent> GetAsync(Guid tenantId, WebhookEventId eventId, CancellationToken cancellationToken = default);

    /// <summary>A tenant's events in creation order, a page at a time.</summary>
    ValueTask<Page<WebhookEvent>> ListAsync(Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default);
}

/// <summary>The record collection of the outbox.</summary>
public static class WebhookCollections
{
    /// <summary>Outbound events; on PostgreSQL in the <c>webhook_events</c> table.</summary>
    public static RecordCollection<WebhookEvent> Events { get; } = new(
        "webhook_event",
        e => e.Id.Value,
        e => e.TenantId,
        table: "webhook_events");
}

/// <summary>The <see cref="IWebhookOutbox"/> over the <see cref="IPaymentsStore"/>.</summary>
public sealed partial class WebhookOutbox : IWebhookOutbox
{
    private const int MaxResourceIdLength = 128;

    private const int SequenceBits = 74;

    private readonly IPaymentsStore _store;
    private readonly IClock _clock;
    private readonly JsonSerializerOptions _json;
    private readonly Lock _idLock = new();
    private long _lastMilliseconds = long.MinValue;
    private UInt128 _sequence;

    /// <summary>Creates the outbox.</summary>
    public WebhookOutbox(IPaymentsStore store, IClock clock, PaymentsKitJsonOptions json)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _json = (json ?? throw new ArgumentNullException(nameof(json))).Options;
    }

    /// <inheritdoc />
    public WebhookEvent Enqueue<TData>(IUnitOfWork unit, Guid tenantId, string resourceType, string resourceId, string eventType, TData data)
    {
        ArgumentNullException.ThrowIfNull(unit);
        if (tenantId == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("tenant_id", tenantId, "must not be empty");
        }

        if (!ResourceTypePattern().IsMatch(resourceType ?? string.Empty))
        {
            throw PaymentsKitException.InvalidArgument("resource_type", resourceType, "must be lower-case snake_case (letters, digits, underscores), at most 64 characters");
        }

        Guard.Text(resourceId, "resource_id", MaxResourceIdLength);
        if (eventType is null || !eventType.StartsWith(resourceType + ".", StringComparison.Ordinal)
            || !ActionPattern().IsMatch(eventType.AsSpan(resourceType!.Length + 1)))
        {
            throw PaymentsKitException.InvalidArgument("event_type", eventType, $"must be '{resourceType}.<action>' with a lower-case snake_case action");
        }

        var now = _clock.GetCurrentInstant();
        var payload = new WebhookPayload<TData>(eventType, now, data);
        var record = new WebhookEvent(
            NextId(now),
            tenantId,
            resourceType,
            resourceId,
            eventType,
            JsonSerializer.SerializeToElement(payload, _json),
            Delivered: false,
            Attempts: 0,
            LastAttemptAt: null,
            CreatedAt: now);
        unit.Insert(WebhookCollections.Events, record);
        return record;
    }

    /// <inheritdoc />
    public async ValueTask<WebhookEvent> GetAsync(Guid tenantId, WebhookEventId eventId, CancellationToken cancellationToken = default)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var found = await unit.GetAsync(WebhookCollections.Events, tenantId, eventId.Value, cancellationToken).ConfigureAwait(false);
            return found?.Value ?? throw new PaymentsKitException(
                PaymentsKitErrorCodes.NotFound,
                $"Webhook event {eventId} does not exist.",
                new Dictionary<string, object?> { ["field"] = "event_id", ["value"] = eventId.ToString() });
        }
    }

    /// <inheritdoc />
    public async ValueTask<Page<WebhookEvent>> ListAsync(Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(WebhookCollections.Events, tenantId, cursor, limit, cancellationToken).ConfigureAwait(false);
            return new Page<WebhookEvent>([.. page.Items.Select(i => i.Value)], page.NextCursor);
        }
    }

    /// <summary>
    /// A UUIDv7 strictly greater than every earlier one of this outbox (RFC 9562 §6.2, method 2: the 74 random bits
    /// count up within a millisecond), so events of one process list in the order they were enqueued even when the
    /// clock has not moved between them.
    /// </summary>
    private WebhookEventId NextId(Instant now)
    {
        long milliseconds;
        UInt128 sequence;
        lock (_idLock)
        {
            var current = now.ToUnixTimeMilliseconds();
            if (current > _lastMilliseconds)
            {
                // A fresh random start with the top bit clear leaves room to count up within the millisecond.
                _lastMilliseconds = current;
                _sequence = ((UInt128)(ulong)Random.Shared.NextInt64(1L << 11) << 62) | ((ulong)Random.Shared.NextInt64() & ((1UL << 62) - 1));
            }
            else if (++_sequence >> SequenceBits != 0)
            {
                _lastMilliseconds++;
                _sequence = 0;
            }

            milliseconds = _lastMilliseconds;
            sequence = _sequence;
        }

        Span<byte> bytes = stackalloc byte[16];
        var randA = (ushort)((sequence >> 62) & 0xFFF);
        var randB = (ulong)(sequence & ((UInt128.One << 62) - 1));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, unchecked((ulong)milliseconds << 16));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], randB | (2UL << 62));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(bytes[6..], (ushort)(0x7000 | randA));
        return WebhookEventId.FromGuid(new Guid(bytes, bigEndian: true));
    }

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex ResourceTypePattern();

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex ActionPattern();

    /// <summary>The delivered body.</summary>
    private sealed record WebhookPayload<TData>(string Type, Instant Timestamp, TData Data);
}
