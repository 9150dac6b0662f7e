using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Storage;
using static PaymentsKit.Invoicing.InvoicingCollections;

namespace PaymentsKit.Invoicing;

/// <summary>The store-backed <see cref="IInvoiceService"/>.</summary>
internal sealed partial class InvoiceService(
    InvoicingContext context,
    IInvoicingQueries queries,
    InvoicingLedger ledger,
    ILogger<InvoiceService>? logger = null) : IInvoiceService
{
    /// <summary>Who the expiry sweep's transitions name as their actor.</summary>
    public const string SweepActor = "expiry_sweep";

    /// <summary>Who a merchant's own transitions name as their actor.</summary>
    public const string MerchantActor = "merchant";

    // Pages of the expiry scan; each invoice then expires in its own unit of work.
    private const int SweepPageSize = 500;

    private readonly ILogger _logger = logger ?? NullLogger<InvoiceService>.Instance;

    // Invoices whose expiry failed: passed over by the sweep until their backoff has passed.
    private readonly FailingItems<InvoiceId, InvoiceId> _failingExpiries = new();

    public async ValueTask<Invoice> CreateInvoiceAsync(MerchantId merchant, CreateInvoiceRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var description = Guard.Prose(request.Description, "description", 1000);
        var number = Guard.OptionalText(request.Number, "number", 64);
        var memo = request.Memo is null ? null : InvoicingValidation.Memo(request.Memo);
        var metadata = InvoicingValidation.Metadata(request.Metadata);
        Invoice? attempted = null;
        try
        {
            return await context.CreateAsync(
                Invoices,
                merchant,
                request with { Amount = Idempotency.CanonicalAmount(request.Amount) },
                request.Metadata,
                (r, ordered) => r with { Metadata = ordered },
                request.IdempotencyKey,
                i => i.RequestFingerprint,
                async (unit, idempotencyKey, fingerprint, ct) =>
                {
                    var owner = await InvoicingContext.RequireMerchantAsync(unit, merchant, ct).ConfigureAwait(false);
                    var amount = InvoicingValidation.Amount(request.Amount, context.PayableAsset(owner, request.Asset), "amount");
                    var now = context.Clock.GetCurrentInstant();
                    var expiresAt = context.InvoiceExpiry(request.ExpiresAt, now);
                    if (request.ClientId is { } clientId
                        && await unit.GetAsync(Clients, merchant.Value, clientId.Value, ct).ConfigureAwait(false) is null)
                    {
                        throw InvoicingValidation.NotFound("client", clientId);
                    }

                    var id = InvoiceId.New(context.Clock);
                    var invoice = new Invoice(
                        id,
                        merchant,
                        request.ClientId,
                        number ?? id.ToString(),
                        amount,
                        description,
                        memo ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)),
                        InvoiceStatus.Pending,
                        expiresAt,
                        PaidAt: null,
                        AmountPaid: Money.Zero(amount.Asset),
                        Overpaid: Money.Zero(amount.Asset),
                        PaidLate: false,
                        metadata,
                        [],
                        idempotencyKey,
                        fingerprint,
                        now,
                        now);
                    if (await unit.FindAsync(Invoices, merchant.Value, NumberKey, Scoped(merchant, invoice.Number), ct).ConfigureAwait(false) is not null)
                    {
                        throw DuplicateNumber(invoice.Number);
                    }

                    if (await unit.FindAsync(Invoices, merchant.Value, MemoKey, Scoped(merchant, invoice.Memo), ct).ConfigureAwait(false) is not null)
                    {
                        throw DuplicateMemo(invoice.Memo);
                    }

                    unit.Insert(Invoices, invoice);
                    attempted = invoice;
                    return invoice;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (InvoicingContext.DuplicateKeyOf(ex) is NumberKey or MemoKey)
        {
            // A concurrent creation took the number or memo between the check and the commit.
            throw InvoicingContext.DuplicateKeyOf(ex) == NumberKey ? DuplicateNumber(attempted!.Number) : DuplicateMemo(attempted!.Memo);
        }
    }

    public ValueTask<Invoice> GetInvoiceAsync(MerchantId merchant, InvoiceId invoice, CancellationToken cancellationToken = default) =>
        context.GetAsync(Invoices, merchant, invoice.Value, "invoice", invoice, cancellationToken);

    public async ValueTask<InvoiceDetails> GetInvoiceDetailsAsync(MerchantId merchant, InvoiceId invoice, CancellationToken cancellationToken = default) =>
        await queries.InvoiceDetailsAsync(merchant, invoice, cancellationToken).ConfigureAwait(false)
            ?? throw InvoicingValidation.NotFound("invoice", invoice);

    public ValueTask<Page<Invoice>> ListInvoicesAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        context.ListAsync(Invoices, merchant, cursor, limit, cancellationToken);

    public ValueTask<Page<PendingInvoice>> ListPendingInvoicesAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        queries.PendingInvoicesAsync(merchant, context.Clock.GetCurrentInstant(), cursor, context.PageSize(limit), cancellationToken);

    public ValueTask<Page<ExpiringInvoice>> ListExpiringInvoicesAsync(
        Duration window, MerchantId? merchant = null, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default)
    {
        // No invoice expires further ahead than the longest lifetime, so a longer window finds nothing more; a window reaching
        // past the last instant (an unlimited longest lifetime allows one) ends there.
        if (window <= Duration.Zero || window > context.Options.MaxInvoiceLifetime)
        {
            throw PaymentsKitException.InvalidArgument("window", window, $"must be positive and at most the longest invoice lifetime, {context.Options.MaxInvoiceLifetime}");
        }

        var now = context.Clock.GetCurrentInstant();
        return queries.ExpiringInvoicesAsync(merchant, now, InvoicingContext.Later(now, window), cursor, context.PageSize(limit), cancellationToken);
    }

    public async ValueTask<Invoice> CancelInvoiceAsync(MerchantId merchant, InvoiceId invoice, string? reason = null, CancellationToken cancellationToken = default)
    {
        var why = Guard.OptionalProse(reason, "reason", 500) ?? "cancelled by the merchant";
        var cancelled = await CloseAsync(
            merchant,
            invoice,
            seen: null,
            (current, now) =>
            {
                if (current is null)
                {
                    throw InvoicingValidation.NotFound("invoice", invoice);
                }

                // Past its expiry the answer is `expired` whether or not a sweep has moved it yet: the same request gets
                // the same answer however the sweep is scheduled.
                if (current.Status == InvoiceStatus.Expired || (current.Status == InvoiceStatus.Pending && current.ExpiresAt <= now))
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.Expired,
                        $"Invoice {invoice} expired at {current.ExpiresAt} and can no longer be cancelled.",
                        new Dictionary<string, object?> { ["invoice"] = invoice.ToString(), ["expiresAt"] = current.ExpiresAt });
                }

                InvoiceLifecycle.Machine.Transition(current.Status, InvoiceStatus.Cancelled);
                return Move(current, InvoiceStatus.Cancelled, now, MerchantActor, why);
            },
            cancellationToken).ConfigureAwait(false);
        LogTransition(merchant, invoice, InvoiceStatus.Pending, InvoiceStatus.Cancelled, MerchantActor);
        return cancelled!;
    }

    public async ValueTask<int> ExpireDueAsync(CancellationToken cancellationToken = default)
    {
        var now = context.Clock.GetCurrentInstant();
        var expired = 0;
        string? cursor = null;
        do
        {
            var page = await queries.ExpiringInvoicesAsync(null, null, now, cursor, SweepPageSize, cancellationToken).ConfigureAwait(false);
            foreach (var due in page.Items)
            {
                var invoice = due.Invoice;
                if (_failingExpiries.IsWaiting(invoice.Id, now))
                {
                    continue;
                }

                bool moved;
                try
                {
                    moved = await ExpireOneAsync(invoice, now, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
                {
                    // One invoice that cannot be expired (a record the code refuses, a posting the ledger refuses, a conflict
                    // that outlasted the retries) must not keep every invoice behind it pending past its expiry on every
                    // sweep, nor be tried (and logged) on each: it stays due and is tried again after a backoff.
                    _failingExpiries.Failed(invoice.Id, invoice.Id, now);
                    LogExpiryFailure(invoice.Id.ToString(), invoice.MerchantId.ToString(), (ex as PaymentsKitException)?.Code ?? ex.GetType().Name, ex);
                    continue;
                }

                _failingExpiries.Forget(invoice.Id);
                if (moved)
                {
                    expired++;
                    LogTransition(invoice.MerchantId, invoice.Id, InvoiceStatus.Pending, InvoiceStatus.Expired, SweepActor);
                }
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return expired;
    }

    /// <summary>Applies a transition, recording who, when, from, to and why.</summary>
    internal static Invoice Move(Invoice invoice, InvoiceStatus to, Instant at, string actor, string reason) =>
        invoice with
        {
            Status = InvoiceLifecycle.Machine.Transition(invoice.Status, to),
            Transitions = [.. invoice.Transitions, new InvoiceTransition(invoice.Status, to, at, actor, reason)],
            UpdatedAt = at,
        };

    // Re-read in the unit: a payment, a cancellation or another sweep may have moved it since the scan.
    private async ValueTask<bool> ExpireOneAsync(Invoice due, Instant now, CancellationToken cancellationToken) =>
        await CloseAsync(
            due.MerchantId,
            due.Id,
            due,
            (current, _) => current is null || current.Status != InvoiceStatus.Pending || current.ExpiresAt > now
                ? null
                : Move(current, InvoiceStatus.Expired, now, SweepActor, $"not paid by {current.ExpiresAt}"),
            cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Closes a pending invoice unfulfilled (cancelled or expired) in one unit of work with the ledger posting that takes
    /// what it applied out of revenue (<see cref="InvoicingLedger.PostRefundableAsync"/>). <paramref name="close"/> gets the
    /// stored invoice (null if absent) and the current instant, and returns it moved, null to leave it, or throws.
    /// </summary>
    /// <remarks>
    /// The posting needs the merchant's accounts, which are opened outside any unit and only for an invoice that received
    /// money (<paramref name="seen"/> says so when the caller read it already), so an unpaid one opens none. When the unit
    /// finds a payment it was not told about, it writes nothing and runs again once the accounts are open.
    /// </remarks>
    private async ValueTask<Invoice?> CloseAsync(
        MerchantId merchant,
        InvoiceId invoice,
        Invoice? seen,
        Func<Invoice?, Instant, Invoice?> close,
        CancellationToken cancellationToken,
        [CallerMemberName] string operationName = "")
    {
        var books = seen is { AmountPaid.IsPositive: true }
            ? await ledger.EnsureAccountsAsync(merchant, seen.Asset, cancellationToken).ConfigureAwait(false)
            : null;
        while (true)
        {
            var (closed, unbooked) = await context.Store.ExecuteAsync<(Invoice? Closed, Asset? Unbooked)>(
                async (unit, ct) =>
                {
                    var stored = await unit.GetAsync(Invoices, merchant.Value, invoice.Value, ct).ConfigureAwait(false);
                    if (close(stored?.Value, context.Clock.GetCurrentInstant()) is not { } moved)
                    {
                        return (null, null);
                    }

                    if (moved.AmountPaid.IsPositive && books is null)
                    {
                        return (null, moved.Asset);
                    }

                    if (books is not null)
                    {
                        moved = await ledger.PostRefundableAsync(unit, books, moved, ct).ConfigureAwait(false);
                    }

                    unit.Update(Invoices, moved, stored!.Version);
                    return (moved, null);
                },
                cancellationToken,
                operationName).ConfigureAwait(false);
            if (unbooked is null)
            {
                return closed;
            }

            books = await ledger.EnsureAccountsAsync(merchant, unbooked, cancellationToken).ConfigureAwait(false);
        }
    }

    private static PaymentsKitException DuplicateNumber(string number) =>
        InvoicingValidation.Duplicate("number", number, "by another invoice of this merchant");

    private static PaymentsKitException DuplicateMemo(string memo) =>
        InvoicingValidation.Duplicate("memo", memo, "by another invoice of this merchant");

    [LoggerMessage(EventId = 4111, Level = LogLevel.Information, Message = "Invoice {InvoiceId} of merchant {MerchantId} moved from {From} to {To} by {Actor}")]
    private partial void LogTransition(MerchantId merchantId, InvoiceId invoiceId, InvoiceStatus from, InvoiceStatus to, string actor);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "Invoice {InvoiceId} of merchant {MerchantId} could not be expired ({Code}); it stays due and is tried again after a backoff")]
    private partial void LogExpiryFailure(string invoiceId, string merchantId, string code, Exception exception);
}
