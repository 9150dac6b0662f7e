using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Storage;
using static PaymentsKit.Invoicing.InvoicingCollections;

namespace PaymentsKit.Invoicing;

/// <summary>The store-backed <see cref="IPaymentLinkService"/>.</summary>
internal sealed partial class PaymentLinkService(InvoicingContext context, ILogger<PaymentLinkService>? logger = null) : IPaymentLinkService
{
    private const string SlugAlphabet = "abcdefghijkmnpqrstuvwxyz23456789";
    private const int GeneratedSlugLength = 12;
    private const int MaxSweepLimit = 100_000;

    private readonly DeadlineSweep<PaymentLinkDeadline> _expirySweep = new(
        context.Store,
        context.Clock,
        LinkDeadlines,
        d => d.DueAt,
        (d, ex, code) => LogExpiryFailure(logger ?? (ILogger)NullLogger.Instance, ex, d.LinkId.ToString(), d.MerchantId.ToString(), code));

    public async ValueTask<PaymentLink> CreatePaymentLinkAsync(MerchantId merchant, CreatePaymentLinkRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var title = Guard.Text(request.Title, "title", 200);
        var description = Guard.OptionalProse(request.Description, "description", 1000);
        var slug = request.Slug is null ? RandomSlug() : InvoicingValidation.Slug(request.Slug);
        var metadata = InvoicingValidation.Metadata(request.Metadata);
        if (request.MaxUses is < 1)
        {
            throw PaymentsKitException.InvalidArgument("maxUses", request.MaxUses, "must be at least 1 (or null for unlimited)");
        }

        try
        {
            return await context.CreateAsync(
                PaymentLinks,
                merchant,
                request with { Amount = Idempotency.CanonicalAmount(request.Amount) },
                request.Metadata,
                (r, ordered) => r with { Metadata = ordered },
                request.IdempotencyKey,
                l => l.RequestFingerprint,
                async (unit, idempotencyKey, fingerprint, ct) =>
                {
                    var owner = await InvoicingContext.RequireMerchantAsync(unit, merchant, ct).ConfigureAwait(false);
                    var amount = InvoicingValidation.Amount(request.Amount, context.PayableAsset(owner, request.Asset), "amount");
                    var now = context.Clock.GetCurrentInstant();
                    var expiresAt = InvoicingValidation.Future(request.ExpiresAt, now, "expiresAt");

                    // The slug is global, so the check cannot see another merchant's link; the commit's key check can.
                    if (await unit.FindAsync(PaymentLinks, merchant.Value, SlugKey, slug, ct).ConfigureAwait(false) is not null)
                    {
                        throw DuplicateSlug(slug);
                    }

                    var link = new PaymentLink(
                        PaymentLinkId.New(context.Clock), merchant, slug, title, description, amount, Active: true, expiresAt,
                        request.MaxUses, CurrentUses: 0, metadata, idempotencyKey, fingerprint, now, now);
                    unit.Insert(PaymentLinks, link);
                    if (expiresAt is { } due)
                    {
                        unit.Insert(LinkDeadlines, new PaymentLinkDeadline(Guid.CreateVersion7(due.ToDateTimeOffset()), merchant, link.Id, due, Closed: false));
                    }

                    return link;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (InvoicingContext.DuplicateKeyOf(ex) == SlugKey)
        {
            throw DuplicateSlug(slug);
        }
    }

    public ValueTask<IReadOnlyList<PaymentLink>> ExpireDueAsync(Instant now, int limit = 1000, CancellationToken cancellationToken = default)
    {
        if (limit is < 1 or > MaxSweepLimit)
        {
            throw PaymentsKitException.InvalidArgument("limit", limit, $"must be between 1 and {MaxSweepLimit}");
        }

        return _expirySweep.RunAsync<PaymentLink>(now, limit, ExpireOneAsync, cancellationToken);
    }

    /// <summary>Deactivates the deadline's link if it is still active and past its expiry, and closes the deadline either way.</summary>
    private static async ValueTask<PaymentLink?> ExpireOneAsync(IUnitOfWork unit, PaymentLinkDeadline deadline, Instant now, CancellationToken cancellationToken)
    {
        // Re-read both: another host's sweep may have handled it since the scan.
        var current = await unit.GetAsync(LinkDeadlines, Guid.Empty, deadline.Id, cancellationToken).ConfigureAwait(false);
        if (current is null || current.Value.Closed)
        {
            return null;
        }

        unit.Update(LinkDeadlines, current.Value with { Closed = true }, current.Version);
        var stored = await unit.GetAsync(PaymentLinks, deadline.MerchantId.Value, deadline.LinkId.Value, cancellationToken).ConfigureAwait(false);
        if (stored is not { Value: { Active: true, ExpiresAt: { } expiresAt } link } || expiresAt > now)
        {
            return null;
        }

        var expired = link with { Active = false, UpdatedAt = now > link.UpdatedAt ? now : link.UpdatedAt };
        unit.Update(PaymentLinks, expired, stored.Version);
        return expired;
    }

    public ValueTask<PaymentLink> GetPaymentLinkAsync(MerchantId merchant, PaymentLinkId link, CancellationToken cancellationToken = default) =>
        context.GetAsync(PaymentLinks, merchant, link.Value, "payment link", link, cancellationToken);

    public async ValueTask<PaymentLink> GetPaymentLinkBySlugAsync(MerchantId merchant, string slug, CancellationToken cancellationToken = default)
    {
        InvoicingValidation.Slug(slug);
        var unit = await context.Store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await unit.FindAsync(PaymentLinks, merchant.Value, SlugKey, slug, cancellationToken).ConfigureAwait(false))?.Value
                ?? throw InvoicingValidation.NotFound("payment link", slug);
        }
    }

    public ValueTask<Page<PaymentLink>> ListPaymentLinksAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        context.ListAsync(PaymentLinks, merchant, cursor, limit, cancellationToken);

    public ValueTask<PaymentLink> SetPaymentLinkActiveAsync(MerchantId merchant, PaymentLinkId link, bool active, CancellationToken cancellationToken = default) =>
        context.Store.ExecuteAsync(
            async (unit, ct) =>
            {
                var stored = await unit.GetAsync(PaymentLinks, merchant.Value, link.Value, ct).ConfigureAwait(false)
                    ?? throw InvoicingValidation.NotFound("payment link", link);
                var now = context.Clock.GetCurrentInstant();

                // Past its expiry a link refuses every payment whatever its flag: shown active, it would take payers' money
                // only to keep it for review. The answer does not depend on whether the sweep has deactivated it yet.
                if (active && stored.Value.ExpiresAt is { } expiresAt && expiresAt <= now)
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.Expired,
                        $"Payment link {stored.Value.Slug} expired at {expiresAt} and can no longer be activated.",
                        new Dictionary<string, object?> { ["link"] = link.ToString(), ["expiresAt"] = expiresAt });
                }

                if (stored.Value.Active == active)
                {
                    return stored.Value;
                }

                var updated = stored.Value with { Active = active, UpdatedAt = now };
                unit.Update(PaymentLinks, updated, stored.Version);
                return updated;
            },
            cancellationToken);

    private static string RandomSlug() => RandomNumberGenerator.GetString(SlugAlphabet, GeneratedSlugLength);

    private static PaymentsKitException DuplicateSlug(string slug) =>
        InvoicingValidation.Duplicate("slug", slug, "by another payment link");

    [LoggerMessage(EventId = 4131, Level = LogLevel.Warning, Message = "Payment link {LinkId} of merchant {MerchantId} could not be expired ({Code}); it stays due and is tried again after a backoff")]
    private static partial void LogExpiryFailure(ILogger logger, Exception exception, string linkId, string merchantId, string code);
}
