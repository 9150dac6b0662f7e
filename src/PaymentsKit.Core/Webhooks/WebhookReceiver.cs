using NodaTime;
using PaymentsKit.Diagnostics;
using PaymentsKit.Storage;

namespace PaymentsKit.Webhooks;

/// <summary>A webhook id a receiver has accepted: the deduplication record of <see cref="WebhookReceiver"/>.</summary>
/// <param name="Id">The record id (UUIDv7).</param>
/// <param name="TenantId">The tenant that received it (<see cref="Guid.Empty"/> for host-wide sources).</param>
/// <param name="Source">Who sent it, e.g. a provider's name.</param>
/// <param name="WebhookId">The sender's <c>webhook-id</c>.</param>
/// <param name="ReceivedAt">When it was accepted.</param>
public sealed record WebhookReceipt(Guid Id, Guid TenantId, string Source, string WebhookId, Instant ReceivedAt)
{
    /// <summary>The unique key value of a received id.</summary>
    internal static string Key(Guid tenantId, string source, string webhookId) => $"{tenantId:N}:{source}:{webhookId}";
}

/// <summary>What happened to a received webhook.</summary>
public enum WebhookReceiveOutcome
{
    /// <summary>Verified and seen for the first time: process it.</summary>
    Accepted,

    /// <summary>Verified, but its <c>webhook-id</c> was already accepted: acknowledge it (2xx) and do nothing.</summary>
    Duplicate,
}

/// <summary>
/// The receiving side of Standard Webhooks (our own deliveries, or inbound provider webhooks): verifies the
/// signature and timestamp over the raw body, then deduplicates on <c>webhook-id</c> with a uniquely keyed record
/// in the <see cref="IPaymentsStore"/>, so a redelivery is processed once even across host instances.
/// </summary>
/// <remarks>
/// To process exactly once, call <see cref="TryRecordAsync"/> inside the unit of work that applies the webhook's
/// effects: the receipt then commits with them, and a concurrent duplicate fails its commit with <c>duplicate_key</c>.
/// </remarks>
public sealed class WebhookReceiver
{
    /// <summary>The longest source name.</summary>
    public const int MaxSourceLength = 64;

    private readonly IPaymentsStore _store;
    private readonly WebhookVerifier _verifier;
    private readonly IClock _clock;

    /// <summary>Creates a receiver.</summary>
    /// <param name="store">Keeps the receipts.</param>
    /// <param name="verifier">Checks signatures with the sender's secrets.</param>
    /// <param name="clock">Stamps receipts.</param>
    /// <param name="source">Names the sender, so ids of different senders never collide: 1–64 characters without ':' or control characters.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a blank, over-long or malformed source.</exception>
    public WebhookReceiver(IPaymentsStore store, WebhookVerifier verifier, IClock clock, string source)
    {
        _store = Guard.NotNull(store, "store");
        _verifier = Guard.NotNull(verifier, "verifier");
        _clock = Guard.NotNull(clock, "clock");
        Source = Guard.Text(source, "source", MaxSourceLength);

        // A receipt's unique key is "{tenant}:{source}:{id}", and PostgreSQL keeps it in that form for every receipt
        // already stored: a ':' in the source is what would let source "a:b" with id "c" collide with source "a" with id
        // "b:c", so it is refused here rather than changing the key of existing receipts.
        if (Source.Contains(':', StringComparison.Ordinal))
        {
            throw PaymentsKitException.InvalidArgument("source", Source, "must not contain ':'");
        }
    }

    /// <summary>Who the webhooks come from.</summary>
    public string Source { get; }

    /// <summary>Verifies a received webhook and records its id in a unit of work of its own.</summary>
    /// <param name="tenantId">The receiving tenant, or <see cref="Guid.Empty"/>.</param>
    /// <param name="id">The <c>webhook-id</c> header.</param>
    /// <param name="timestamp">The <c>webhook-timestamp</c> header.</param>
    /// <param name="signature">The <c>webhook-signature</c> header.</param>
    /// <param name="body">The raw body bytes as received.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <exception cref="PaymentsKitException"><c>webhook_verification_failed</c> with the reason in its context.</exception>
    public async ValueTask<WebhookReceiveOutcome> ReceiveAsync(
        Guid tenantId, string? id, string? timestamp, string? signature, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.receive");
        _verifier.Verify(id, timestamp, signature, body.Span);
        try
        {
            return await _store.ExecuteAsync(
                async (unit, ct) => await TryRecordAsync(unit, tenantId, id!, ct).ConfigureAwait(false) ? WebhookReceiveOutcome.Accepted : WebhookReceiveOutcome.Duplicate,
                cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
        {
            // A concurrent receipt of the same id committed first.
            return WebhookReceiveOutcome.Duplicate;
        }
    }

    /// <summary>Verifies a received webhook, throwing when it is not valid.</summary>
    /// <exception cref="PaymentsKitException"><c>webhook_verification_failed</c> with the reason in its context.</exception>
    public void Verify(string? id, string? timestamp, string? signature, ReadOnlySpan<byte> body) =>
        _verifier.Verify(id, timestamp, signature, body);

    /// <summary>
    /// Buffers the receipt of <paramref name="webhookId"/> in the caller's unit of work, unless it was already
    /// received. Call it after <see cref="Verify"/>, in the unit that applies the webhook's effects.
    /// </summary>
    /// <returns>False when the id was already received (do nothing); true when the receipt is buffered.</returns>
    /// <exception cref="PaymentsKitException">
    /// <c>invalid_argument</c> for an id <see cref="Verify"/> would refuse: 1–256 printable ASCII characters without '.', ',' or spaces.
    /// </exception>
    public async ValueTask<bool> TryRecordAsync(IUnitOfWork unit, Guid tenantId, string webhookId, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(unit, "unit");
        WebhookSigner.CheckId(webhookId);
        var key = WebhookReceipt.Key(tenantId, Source, webhookId);
        if (await unit.FindAsync(WebhookDeliveryCollections.Receipts, tenantId, "webhook_id", key, cancellationToken).ConfigureAwait(false) is not null)
        {
            return false;
        }

        unit.Insert(WebhookDeliveryCollections.Receipts, new WebhookReceipt(Guid.CreateVersion7(_clock.GetCurrentInstant().ToDateTimeOffset()), tenantId, Source, webhookId, _clock.GetCurrentInstant()));
        return true;
    }
}
