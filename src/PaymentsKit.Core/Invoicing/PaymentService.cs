using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Storage;
using static PaymentsKit.Invoicing.InvoicingCollections;

namespace PaymentsKit.Invoicing;

/// <summary>
/// The store-backed <see cref="IPaymentService"/>. A submission reads the transaction from the chain
/// first (outside any unit of work, as it may be retried), then records the payment, applies it to its
/// invoice or link (whose version it bumps, so concurrent payments serialise) and posts it to the
/// ledger in one unit of work. The transaction's unique key makes a replay impossible.
/// </summary>
internal sealed partial class PaymentService(
    InvoicingContext context,
    IInvoicingQueries queries,
    InvoicingLedger ledger,
    ILogger<PaymentService>? logger = null) : IPaymentService
{
    public const int DefaultTopClients = 10;
    public const int MaxTopClients = 100;

    /// <summary>
    /// How far a chain's inclusion time may run behind this host's clock and still count as after an invoice's or link's
    /// creation: a transaction included earlier than that cannot have paid it (anyone can submit any hash from a public
    /// ledger).
    /// </summary>
    private static readonly Duration ChainClockSkew = Duration.FromMinutes(5);

    private readonly ILogger _logger = logger ?? NullLogger<PaymentService>.Instance;

    public async ValueTask<PaymentResult> SubmitPaymentAsync(MerchantId merchant, SubmitPaymentRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        Guard.Text(request.TransactionHash, "transactionHash", 256);
        if (request.InvoiceId is not null && request.LinkSlug is not null)
        {
            throw PaymentsKitException.InvalidArgument("linkSlug", request.LinkSlug, "cannot be given together with invoiceId");
        }

        if (request.LinkSlug is not null)
        {
            InvoicingValidation.Slug(request.LinkSlug);
        }

        var owner = await context.RequireMerchantAsync(merchant, cancellationToken).ConfigureAwait(false);
        var adapter = context.Chains.Get(owner.Chain);
        var transaction = await VerifiedAsync(adapter, owner, request.TransactionHash, cancellationToken).ConfigureAwait(false);
        var received = ReceivedBy(adapter, owner, transaction);
        var accounts = new Dictionary<Asset, ReceiptAccounts>();
        foreach (var group in received)
        {
            if (IsRegistered(group.Asset))
            {
                accounts[group.Asset] = await ledger.EnsureAccountsAsync(merchant, group.Asset, cancellationToken).ConfigureAwait(false);
            }
        }

        PaymentResult result;
        try
        {
            result = await context.Store.ExecuteAsync(
                (unit, ct) => RecordAsync(unit, owner, transaction, received, accounts, request, ct),
                cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (InvoicingContext.DuplicateKeyOf(ex) == TransactionKey)
        {
            // A concurrent submission of the same transaction committed first: answer as a replay would.
            var unit = await context.Store.BeginAsync(cancellationToken).ConfigureAwait(false);
            await using (unit.ConfigureAwait(false))
            {
                result = await ExistingAsync(unit, owner, transaction.Hash, request, cancellationToken).ConfigureAwait(false)
                    ?? throw AlreadyRecorded(transaction.Hash, "by another merchant");
            }
        }

        if (result.Created)
        {
            var payment = result.Payment;
            LogRecorded(merchant, payment.Id, payment.TransactionHash, payment.Amount, payment.Status, payment.ReviewCode);
        }

        return result;
    }

    public async ValueTask<InvoiceRefund> RecordRefundAsync(MerchantId merchant, InvoiceId invoice, RecordRefundRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var hash = Guard.OptionalText(request.TransactionHash, "transactionHash", 256);

        // The invoice's asset never changes, so its accounts can be opened before the unit: they exist already whenever
        // anything is owed back (the payments that made it so were booked to them), and are harmless otherwise.
        var seen = await context.GetAsync(Invoices, merchant, invoice.Value, "invoice", invoice, cancellationToken).ConfigureAwait(false);
        var books = await ledger.EnsureAccountsAsync(merchant, seen.Asset, cancellationToken).ConfigureAwait(false);
        var refund = await context.CreateAsync(
            InvoiceRefunds,
            merchant,
            new RefundFingerprint(invoice, request with { Amount = Idempotency.CanonicalAmount(request.Amount) }),
            metadata: null,
            (r, _) => r,
            request.IdempotencyKey,
            r => r.RequestFingerprint,
            async (unit, idempotencyKey, fingerprint, ct) =>
            {
                var stored = await unit.GetAsync(Invoices, merchant.Value, invoice.Value, ct).ConfigureAwait(false)
                    ?? throw InvoicingValidation.NotFound("invoice", invoice);
                var current = stored.Value;
                var amount = RefundAmount(current, request);
                var now = context.Clock.GetCurrentInstant();
                var recorded = new InvoiceRefund(InvoiceRefundId.New(context.Clock), merchant, invoice, amount, hash, idempotencyKey, fingerprint, now);

                // Writing the invoice (a new version) in the refund's unit is what keeps concurrent refunds within what it owes.
                var refunded = current with { Refunded = (current.Refunded ?? Money.Zero(current.Asset)) + amount, UpdatedAt = now };
                unit.Update(Invoices, refunded, stored.Version);
                unit.Insert(InvoiceRefunds, recorded);
                var description = hash is null ? $"Refund of {amount} for invoice {current.Number}" : $"Refund of {amount} for invoice {current.Number} ({hash})";
                await ledger.PostRefundAsync(unit, merchant, books.Overpayments, books.Wallet, recorded.Id.ToString(), amount, description, ct).ConfigureAwait(false);
                return recorded;
            },
            cancellationToken).ConfigureAwait(false);
        LogRefunded(merchant, refund.Id, invoice, refund.Amount);
        return refund;
    }

    public ValueTask<InvoiceRefund> GetRefundAsync(MerchantId merchant, InvoiceRefundId refund, CancellationToken cancellationToken = default) =>
        context.GetAsync(InvoiceRefunds, merchant, refund.Value, "refund", refund, cancellationToken);

    public ValueTask<Page<InvoiceRefund>> ListRefundsAsync(MerchantId merchant, InvoiceId invoice, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        ListRefundsOfAsync(merchant, Invoices, "invoice", invoice, invoice.Value, InvoiceRefunds, InvoiceIndex, cursor, limit, cancellationToken);

    public async ValueTask<PaymentRefund> RecordRefundAsync(MerchantId merchant, PaymentId payment, RecordRefundRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var hash = Guard.OptionalText(request.TransactionHash, "transactionHash", 256);

        // What a payment brought never changes, so the asset is checked, and its accounts opened, before the unit: they exist
        // already whenever the payment holds anything unapplied in it (its receipt was booked to them).
        var seen = await context.GetAsync(Payments, merchant, payment.Value, "payment", payment, cancellationToken).ConfigureAwait(false);
        var asset = context.Assets.Get(request.Asset);
        if (!seen.Asset.Equals(asset) && seen.Unapplied?.Any(m => m.Asset.Equals(asset)) != true)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"Payment {payment} brought no {asset.Code}; a refund of it cannot be in {asset.Code}.",
                new Dictionary<string, object?> { ["field"] = "asset", ["value"] = asset.Code, ["expected"] = seen.Asset.Code });
        }

        var books = await ledger.EnsureAccountsAsync(merchant, asset, cancellationToken).ConfigureAwait(false);
        var refund = await context.CreateAsync(
            PaymentRefunds,
            merchant,
            new PaymentRefundFingerprint(payment, request with { Amount = Idempotency.CanonicalAmount(request.Amount) }),
            metadata: null,
            (r, _) => r,
            request.IdempotencyKey,
            r => r.RequestFingerprint,
            async (unit, idempotencyKey, fingerprint, ct) =>
            {
                var stored = await unit.GetAsync(Payments, merchant.Value, payment.Value, ct).ConfigureAwait(false)
                    ?? throw InvoicingValidation.NotFound("payment", payment);
                var current = stored.Value;
                var refunded = (current.Refunded ?? []).Where(m => m.Asset.Equals(asset)).Select(m => (Money?)m).FirstOrDefault();

                // A link payment's excess is owed back by the payment (a link has no invoice to owe it); it was booked to
                // overpayments. Everything else a payment can pay back is what it holds unapplied, in its other assets when applied.
                var excessDue = asset.Equals(current.Asset) ? current.ExcessDue : null;
                var held = excessDue ?? current.HeldUnapplied.Where(m => m.Asset.Equals(asset)).DefaultIfEmpty(Money.Zero(asset)).First();
                var amount = CappedRefund(
                    InvoicingValidation.RefundAmount(request.Amount, asset, "amount"),
                    request.Amount,
                    held,
                    excessDue is not null
                        ? $"payment {payment} owes back {held} of its excess {current.Excess} over payment link {current.LinkId}'s price (refunded {refunded?.ToString() ?? "nothing"})"
                        : $"payment {payment} holds {held} unapplied ({(current.Status == PaymentStatus.Confirmed ? "it was applied: only its other assets are held" : $"kept for review: {current.ReviewCode}")}, refunded {refunded?.ToString() ?? "nothing"})");
                var recorded = new PaymentRefund(PaymentRefundId.New(context.Clock), merchant, payment, amount, hash, idempotencyKey, fingerprint, context.Clock.GetCurrentInstant());

                // Writing the payment (a new version) in the refund's unit is what keeps concurrent refunds within what it holds.
                List<Money> totals = [.. current.Refunded ?? []];
                var index = totals.FindIndex(m => m.Asset.Equals(asset));
                if (index < 0)
                {
                    totals.Add(amount);
                }
                else
                {
                    totals[index] += amount;
                }

                unit.Update(Payments, current with { Refunded = totals }, stored.Version);
                unit.Insert(PaymentRefunds, recorded);
                var description = $"Refund of {amount} {(excessDue is null ? "unapplied" : "overpaid")} from payment {current.TransactionHash}" + (hash is null ? string.Empty : $" ({hash})");
                await ledger.PostRefundAsync(unit, merchant, excessDue is null ? books.Unapplied : books.Overpayments, books.Wallet, recorded.Id.ToString(), amount, description, ct).ConfigureAwait(false);
                return recorded;
            },
            cancellationToken).ConfigureAwait(false);
        LogPaymentRefunded(merchant, refund.Id, payment, refund.Amount);
        return refund;
    }

    public ValueTask<PaymentRefund> GetRefundAsync(MerchantId merchant, PaymentRefundId refund, CancellationToken cancellationToken = default) =>
        context.GetAsync(PaymentRefunds, merchant, refund.Value, "refund", refund, cancellationToken);

    public ValueTask<Page<PaymentRefund>> ListRefundsAsync(MerchantId merchant, PaymentId payment, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        ListRefundsOfAsync(merchant, Payments, "payment", payment, payment.Value, PaymentRefunds, PaymentIndex, cursor, limit, cancellationToken);

    /// <summary>A page of the refunds recorded against one invoice or payment (its owner), read through their index by owner.</summary>
    private async ValueTask<Page<TRefund>> ListRefundsOfAsync<TOwner, TRefund>(
        MerchantId merchant,
        RecordCollection<TOwner> owners,
        string ownerName,
        object ownerId,
        Guid ownerKey,
        RecordCollection<TRefund> refunds,
        string index,
        string? cursor,
        int? limit,
        CancellationToken cancellationToken)
        where TOwner : class
        where TRefund : class
    {
        var size = context.PageSize(limit);
        var unit = await context.Store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            _ = await unit.GetAsync(owners, merchant.Value, ownerKey, cancellationToken).ConfigureAwait(false)
                ?? throw InvoicingValidation.NotFound(ownerName, ownerId);
            var page = await unit.ListByAsync(refunds, merchant.Value, index, ownerKey, cursor, size, cancellationToken).ConfigureAwait(false);
            return new Page<TRefund>([.. page.Items.Select(v => v.Value)], page.NextCursor);
        }
    }

    public ValueTask<Payment> GetPaymentAsync(MerchantId merchant, PaymentId payment, CancellationToken cancellationToken = default) =>
        context.GetAsync(Payments, merchant, payment.Value, "payment", payment, cancellationToken);

    public async ValueTask<Payment?> FindPaymentByTransactionAsync(MerchantId merchant, string transactionHash, CancellationToken cancellationToken = default)
    {
        Guard.Text(transactionHash, "transactionHash", 256);
        var unit = await context.Store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var owner = await InvoicingContext.RequireMerchantAsync(unit, merchant, cancellationToken).ConfigureAwait(false);

            // Recorded under the hash as the adapter reports it, whatever spelling was submitted.
            var hash = context.Chains.Get(owner.Chain).NormalizeTransactionHash(transactionHash);
            return (await unit.FindAsync(Payments, merchant.Value, TransactionKey, Transaction(owner.Chain, hash), cancellationToken).ConfigureAwait(false))?.Value;
        }
    }

    public ValueTask<Page<Payment>> ListPaymentsAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        context.ListAsync(Payments, merchant, cursor, limit, cancellationToken);

    public ValueTask<Page<PaymentHistoryItem>> ListPaymentHistoryAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        queries.PaymentHistoryAsync(merchant, cursor, context.PageSize(limit), cancellationToken);

    public ValueTask<IReadOnlyList<AssetRevenue>> GetRevenueByAssetAsync(MerchantId merchant, CancellationToken cancellationToken = default) =>
        queries.RevenueByAssetAsync(merchant, cancellationToken);

    public ValueTask<IReadOnlyList<MonthlyRevenue>> GetMonthlyRevenueAsync(MerchantId merchant, DateTimeZone? zone = null, CancellationToken cancellationToken = default)
    {
        var inZone = zone ?? DateTimeZone.Utc;
        var today = context.Clock.GetCurrentInstant().InZone(inZone).Date;
        var since = new LocalDate(today.Year, today.Month, 1).PlusMonths(-11).AtStartOfDayInZone(inZone).ToInstant();
        return queries.MonthlyRevenueAsync(merchant, since, inZone, cancellationToken);
    }

    public ValueTask<IReadOnlyList<ClientVolume>> GetTopClientsAsync(MerchantId merchant, string asset, int? limit = null, CancellationToken cancellationToken = default)
    {
        var resolved = context.Assets.Get(asset);
        var size = InvoicingValidation.Limit(limit, DefaultTopClients, MaxTopClients);
        return queries.TopClientsAsync(merchant, resolved, size, cancellationToken);
    }

    /// <summary>The amount of a refund of <paramref name="invoice"/>, checked against the invoice and what it still owes back.</summary>
    private Money RefundAmount(Invoice invoice, RecordRefundRequest request)
    {
        var asset = context.Assets.Get(request.Asset);
        if (!asset.Equals(invoice.Asset))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"Invoice {invoice.Number} is paid in {invoice.Asset.Code}; a refund of it cannot be in {asset.Code}.",
                new Dictionary<string, object?> { ["field"] = "asset", ["value"] = asset.Code, ["expected"] = invoice.Asset.Code });
        }

        // Bad input is refused as such before the invoice's state is looked at.
        var amount = InvoicingValidation.RefundAmount(request.Amount, asset, "amount");
        if (invoice.Status == InvoiceStatus.Pending)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidTransition,
                $"Invoice {invoice.Number} is pending: it owes nothing back until it is paid, cancelled or expired.",
                new Dictionary<string, object?> { ["invoice"] = invoice.Id.ToString(), ["status"] = invoice.Status.ToString() });
        }

        var due = invoice.RefundDue;
        return CappedRefund(
            amount,
            request.Amount,
            due,
            $"invoice {invoice.Number} owes back {due} (overpaid {invoice.Overpaid}, refundable {invoice.Refundable?.ToString() ?? "none"}, refunded {invoice.Refunded?.ToString() ?? "nothing"})");
    }

    /// <summary>
    /// The refund's <paramref name="amount"/> (already validated; <paramref name="requested"/> as asked), if it is at most
    /// <paramref name="due"/>, what the refunded invoice or payment can still pay back (<paramref name="dueText"/> says it).
    /// </summary>
    private static Money CappedRefund(Money amount, decimal requested, Money due, string dueText) =>
        amount <= due
            ? amount
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                $"A refund of {amount} is more than {dueText}.",
                new Dictionary<string, object?> { ["field"] = "amount", ["value"] = requested, ["asset"] = amount.Asset.Code, ["refundDue"] = due.Amount });

    /// <summary>Reads the transaction and requires it to be final and successful.</summary>
    private static async ValueTask<ChainTransaction> VerifiedAsync(IChainAdapter adapter, Merchant owner, string hash, CancellationToken cancellationToken)
    {
        var transaction = await adapter.GetTransactionAsync(hash, cancellationToken).ConfigureAwait(false)
            ?? throw new PaymentsKitException(
                PaymentsKitErrorCodes.TransactionNotFound,
                $"Transaction {hash} is not known on {owner.Chain}.",
                new Dictionary<string, object?> { ["transactionHash"] = hash, ["chain"] = owner.Chain.Value });
        if (transaction.Status == ChainTransactionStatus.Failed)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.TransactionFailed,
                $"Transaction {hash} failed on {owner.Chain} and moved no value.",
                new Dictionary<string, object?> { ["transactionHash"] = hash, ["chain"] = owner.Chain.Value });
        }

        if (transaction.Status != ChainTransactionStatus.Succeeded || !transaction.IsFinal)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.TransactionNotFinal,
                string.Create(CultureInfo.InvariantCulture, $"Transaction {hash} is not final on {owner.Chain} yet ({transaction.Confirmations} confirmations); submit it again later."),
                new Dictionary<string, object?> { ["transactionHash"] = hash, ["chain"] = owner.Chain.Value, ["confirmations"] = transaction.Confirmations },
                isTransient: true);
        }

        return transaction;
    }

    /// <summary>What the transaction paid into the merchant's wallet, per asset, in transfer order.</summary>
    private static List<Received> ReceivedBy(IChainAdapter adapter, Merchant owner, ChainTransaction transaction)
    {
        var groups = new List<Received>();
        foreach (var transfer in transaction.Transfers)
        {
            if (!adapter.IsReceivedBy(transfer.To, owner.WalletAddress))
            {
                continue;
            }

            var index = groups.FindIndex(g => g.Asset.Equals(transfer.Amount.Asset));
            if (index < 0)
            {
                groups.Add(new Received(transfer.Amount.Asset, transfer.Amount, transfer.From));
            }
            else
            {
                groups[index] = groups[index] with { Amount = groups[index].Amount + transfer.Amount };
            }
        }

        var recipients = string.Join(", ", transaction.Transfers.Select(t => t.To).Distinct());
        return groups.Count > 0
            ? groups
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.DestinationMismatch,
                $"Transaction {transaction.Hash} paid {(recipients.Length > 0 ? recipients : "nobody")}, not merchant wallet {owner.WalletAddress}.",
                new Dictionary<string, object?> { ["transactionHash"] = transaction.Hash, ["expected"] = owner.WalletAddress });
    }

    private async ValueTask<PaymentResult> RecordAsync(
        IUnitOfWork unit,
        Merchant owner,
        ChainTransaction transaction,
        List<Received> received,
        Dictionary<Asset, ReceiptAccounts> accounts,
        SubmitPaymentRequest request,
        CancellationToken cancellationToken)
    {
        if (await ExistingAsync(unit, owner, transaction.Hash, request, cancellationToken).ConfigureAwait(false) is { } replay)
        {
            return replay;
        }

        var merchant = owner.Id;
        Versioned<Invoice>? invoice = null;
        Versioned<PaymentLink>? link = null;

        // A chain memo is anyone's text: kept as every store can hold it (an invoice memo never has a NUL, so none is lost).
        var memo = transaction.Memo is null ? null : Guard.Storable(transaction.Memo);
        if (request.InvoiceId is { } invoiceId)
        {
            invoice = await unit.GetAsync(Invoices, merchant.Value, invoiceId.Value, cancellationToken).ConfigureAwait(false)
                ?? throw InvoicingValidation.NotFound("invoice", invoiceId);
        }
        else if (request.LinkSlug is { } slug)
        {
            link = await unit.FindAsync(PaymentLinks, merchant.Value, SlugKey, slug, cancellationToken).ConfigureAwait(false)
                ?? throw InvoicingValidation.NotFound("payment link", slug);
        }
        else if (memo is not null)
        {
            invoice = await InvoiceByMemoAsync(memo).ConfigureAwait(false);
        }

        var expected = invoice?.Value.Asset ?? link?.Value.Asset;
        var paid = received.Find(g => g.Asset.Equals(expected)) ?? received[0];

        // One payment per transaction (its hash is unique): money in the other assets rides on it, booked as unapplied.
        List<Money> unapplied = [.. received.Where(g => !ReferenceEquals(g, paid)).Select(g => g.Amount)];
        var now = context.Clock.GetCurrentInstant();
        var payment = new Payment(
            PaymentId.New(context.Clock),
            merchant,
            owner.Chain,
            transaction.Hash,
            invoice?.Value.Id,
            link?.Value.Id,
            invoice?.Value.ClientId,
            paid.Amount,
            paid.From,
            owner.WalletAddress,
            memo,
            transaction.Confirmations,
            transaction.Timestamp,
            PaymentStatus.Confirmed,
            ReviewCode: null,
            ReviewReason: null,
            Excess: null,
            now)
        {
            Unapplied = unapplied.Count > 0 ? unapplied : null,
            BookedUnapplied = unapplied.Exists(m => accounts.ContainsKey(m.Asset)) ? [.. unapplied.Where(m => accounts.ContainsKey(m.Asset))] : null,
        };
        var paidAt = transaction.Timestamp ?? now;
        if (!IsRegistered(paid.Asset))
        {
            payment = Review(payment, PaymentsKitErrorCodes.UnknownAsset, $"Asset {paid.Asset.Code} is not registered with this host, so it cannot be applied or booked.");
        }
        else if (invoice is not null)
        {
            payment = await ApplyToInvoiceAsync(unit, invoice, payment, accounts, paidAt, now, cancellationToken).ConfigureAwait(false);
        }
        else if (link is not null)
        {
            var memoInvoice = memo is null ? null : (await InvoiceByMemoAsync(memo).ConfigureAwait(false))?.Value;
            payment = ApplyToLink(unit, link, payment, memoInvoice, paidAt, now);
        }
        else
        {
            payment = Review(
                payment,
                PaymentsKitErrorCodes.UnmatchedPayment,
                memo is null ? "The transaction has no memo and named no invoice or payment link." : $"Memo '{memo}' matches no invoice of this merchant.");
        }

        unit.Insert(Payments, payment);
        await ledger.PostReceiptAsync(unit, accounts, payment, cancellationToken).ConfigureAwait(false);

        return new PaymentResult(payment, Created: true);

        // The invoice a memo names: the payment's when it names nothing else, and one no payment link may take.
        ValueTask<Versioned<Invoice>?> InvoiceByMemoAsync(string named) =>
            unit.FindAsync(Invoices, merchant.Value, MemoKey, Scoped(merchant, named), cancellationToken);
    }

    private async ValueTask<Payment> ApplyToInvoiceAsync(
        IUnitOfWork unit,
        Versioned<Invoice> stored,
        Payment payment,
        Dictionary<Asset, ReceiptAccounts> accounts,
        Instant paidAt,
        Instant now,
        CancellationToken cancellationToken)
    {
        var invoice = stored.Value;
        if (!payment.Asset.Equals(invoice.Asset))
        {
            return Review(payment, PaymentsKitErrorCodes.AssetMismatch, $"Paid {payment.Amount}, but invoice {invoice.Number} is payable in {invoice.Asset.Code}.");
        }

        if (payment.Memo is { } memo && memo != invoice.Memo)
        {
            return Review(payment, PaymentsKitErrorCodes.MemoMismatch, $"The transaction's memo '{memo}' is not invoice {invoice.Number}'s memo '{invoice.Memo}'.");
        }

        if (IncludedBefore(payment, paidAt, invoice.CreatedAt, $"invoice {invoice.Number}") is { } tooOld)
        {
            return tooOld;
        }

        switch (invoice.Status)
        {
            case InvoiceStatus.Cancelled:
                return Review(payment, PaymentsKitErrorCodes.InvoiceCancelled, $"Invoice {invoice.Number} was cancelled.");
            case InvoiceStatus.Expired:
                // Expired is final (the seed's lifecycle): a payment included before the expiry but submitted after the sweep
                // expired the invoice is kept for review too, and says so.
                unit.Update(Invoices, invoice with { PaidLate = true, UpdatedAt = now }, stored.Version);
                return Review(
                    payment,
                    PaymentsKitErrorCodes.PaidLate,
                    paidAt < invoice.ExpiresAt
                        ? $"Invoice {invoice.Number} was expired by the sweep before this payment, included at {paidAt} (before the expiry at {invoice.ExpiresAt}), was submitted."
                        : $"Invoice {invoice.Number} expired at {invoice.ExpiresAt}; the payment arrived at {paidAt}.");
            case InvoiceStatus.Pending when paidAt >= invoice.ExpiresAt:
                var expired = InvoiceService.Move(invoice, InvoiceStatus.Expired, now, payment.Id.ToString(), $"payment {payment.TransactionHash} arrived at {paidAt}, after the expiry at {invoice.ExpiresAt}");

                // The payment is in the invoice's asset, which is registered (checked before), so its accounts are open.
                expired = await ledger.PostRefundableAsync(unit, accounts[invoice.Asset], expired, cancellationToken).ConfigureAwait(false);
                unit.Update(Invoices, expired with { PaidLate = true }, stored.Version);
                return Review(payment, PaymentsKitErrorCodes.PaidLate, $"Invoice {invoice.Number} expired at {invoice.ExpiresAt}; the payment arrived at {paidAt}.");
            case InvoiceStatus.Paid:
                // Money arriving after settlement is applied (as BTCPay does). What takes the total past the amount is excess;
                // a top-up of an invoice settled within the underpayment tolerance is still part of the price.
                var total = invoice.AmountPaid + payment.Amount;
                var over = Money.Max(total - invoice.Amount, Money.Zero(invoice.Asset));
                unit.Update(Invoices, invoice with { AmountPaid = total, Overpaid = over, UpdatedAt = now }, stored.Version);
                var extra = over - invoice.Overpaid;
                return payment with { Excess = extra.IsPositive ? extra : null };
            default:
                var amountPaid = invoice.AmountPaid + payment.Amount;
                var updated = invoice with { AmountPaid = amountPaid, UpdatedAt = now };
                Money? excess = null;
                if (amountPaid >= context.Required(invoice.Amount))
                {
                    var overpaid = Money.Max(amountPaid - invoice.Amount, Money.Zero(invoice.Asset));
                    updated = InvoiceService.Move(updated, InvoiceStatus.Paid, now, payment.Id.ToString(), $"paid {amountPaid} of {invoice.Amount}") with
                    {
                        PaidAt = now,
                        Overpaid = overpaid,
                    };
                    excess = overpaid.IsPositive ? overpaid : null;
                }

                unit.Update(Invoices, updated, stored.Version);
                return payment with { Excess = excess };
        }
    }

    /// <summary>The payment kept for review when its transaction was included before its target existed; null otherwise.</summary>
    private static Payment? IncludedBefore(Payment payment, Instant paidAt, Instant createdAt, string target) =>
        paidAt < createdAt - ChainClockSkew
            ? Review(payment, PaymentsKitErrorCodes.UnmatchedPayment, $"The transaction was included at {paidAt}, before {target} was created at {createdAt}: it cannot have paid it.")
            : null;

    /// <summary>
    /// Applies a payment submitted for a link. <paramref name="memoInvoice"/> is the merchant's invoice whose memo the
    /// transaction carries, if any: such a transaction was sent for that invoice, and anyone can submit a public hash.
    /// </summary>
    private Payment ApplyToLink(IUnitOfWork unit, Versioned<PaymentLink> stored, Payment payment, Invoice? memoInvoice, Instant paidAt, Instant now)
    {
        var link = stored.Value;
        if (!payment.Asset.Equals(link.Asset))
        {
            return Review(payment, PaymentsKitErrorCodes.AssetMismatch, $"Paid {payment.Amount}, but payment link {link.Slug} is payable in {link.Asset.Code}.");
        }

        if (memoInvoice is not null)
        {
            return Review(payment, PaymentsKitErrorCodes.MemoMismatch, $"The transaction's memo '{payment.Memo}' is invoice {memoInvoice.Number}'s memo, not a payment to link {link.Slug}.");
        }

        if (IncludedBefore(payment, paidAt, link.CreatedAt, $"payment link {link.Slug}") is { } tooOld)
        {
            return tooOld;
        }

        // Expiry first: a late payment is `expired` whether or not the sweep has deactivated the link since.
        if (link.ExpiresAt is { } expiresAt && paidAt >= expiresAt)
        {
            return Review(payment, PaymentsKitErrorCodes.Expired, $"Payment link {link.Slug} expired at {expiresAt}; the payment arrived at {paidAt}.");
        }

        if (!link.Active)
        {
            return Review(payment, PaymentsKitErrorCodes.LinkInactive, $"Payment link {link.Slug} is not active.");
        }

        if (link.MaxUses is { } maxUses && link.CurrentUses >= maxUses)
        {
            return Review(payment, PaymentsKitErrorCodes.LinkUsedUp, string.Create(CultureInfo.InvariantCulture, $"Payment link {link.Slug} has been used {link.CurrentUses} of {maxUses} times."));
        }

        if (payment.Amount < context.Required(link.Amount))
        {
            return Review(payment, PaymentsKitErrorCodes.AmountMismatch, $"Paid {payment.Amount}, but payment link {link.Slug} costs {link.Amount}.");
        }

        // Writing the link (a new version) in the payment's unit is what makes the use count exact under concurrency.
        unit.Update(PaymentLinks, link with { CurrentUses = checked(link.CurrentUses + 1), UpdatedAt = now }, stored.Version);
        var excess = payment.Amount - link.Amount;
        return payment with { Excess = excess.IsPositive ? excess : null };
    }

    /// <summary>
    /// The result for a transaction the merchant already recorded: a replay when it was for the same
    /// target, <c>duplicate_key</c> when it is now claimed for another. Null when the merchant has none.
    /// </summary>
    private static async ValueTask<PaymentResult?> ExistingAsync(IUnitOfWork unit, Merchant owner, string hash, SubmitPaymentRequest request, CancellationToken cancellationToken)
    {
        var existing = (await unit.FindAsync(Payments, owner.Id.Value, TransactionKey, Transaction(owner.Chain, hash), cancellationToken).ConfigureAwait(false))?.Value;
        if (existing is null)
        {
            return null;
        }

        var sameTarget = request switch
        {
            { InvoiceId: { } invoice } => existing.InvoiceId == invoice,
            { LinkSlug: { } slug } => existing.LinkId is { } linkId
                && (await unit.GetAsync(PaymentLinks, owner.Id.Value, linkId.Value, cancellationToken).ConfigureAwait(false))?.Value.Slug == slug,
            _ => true,
        };
        return sameTarget
            ? new PaymentResult(existing, Created: false)
            : throw AlreadyRecorded(hash, existing.InvoiceId is { } i ? $"for invoice {i}" : existing.LinkId is { } l ? $"for payment link {l}" : "unmatched, for review");
    }

    private bool IsRegistered(Asset asset) => context.Assets.TryGet(asset.Code, out var known) && known.Equals(asset);

    private static Payment Review(Payment payment, string code, string reason) =>
        payment with { Status = PaymentStatus.NeedsReview, ReviewCode = code, ReviewReason = reason, Excess = null };

    private static PaymentsKitException AlreadyRecorded(string hash, string where) =>
        new(PaymentsKitErrorCodes.DuplicateKey,
            $"Transaction {hash} is already recorded {where}; a transaction pays once.",
            new Dictionary<string, object?> { ["field"] = "transactionHash", ["value"] = hash });

    [LoggerMessage(EventId = 4121, Level = LogLevel.Information, Message = "Payment {PaymentId} ({TransactionHash}, {Amount}) recorded for merchant {MerchantId}: {Status} {ReviewCode}")]
    private partial void LogRecorded(MerchantId merchantId, PaymentId paymentId, string transactionHash, Money amount, PaymentStatus status, string? reviewCode);

    [LoggerMessage(EventId = 4122, Level = LogLevel.Information, Message = "Refund {RefundId} of {Amount} recorded for invoice {InvoiceId} of merchant {MerchantId}")]
    private partial void LogRefunded(MerchantId merchantId, InvoiceRefundId refundId, InvoiceId invoiceId, Money amount);

    [LoggerMessage(EventId = 4123, Level = LogLevel.Information, Message = "Refund {RefundId} of {Amount} recorded from unapplied payment {PaymentId} of merchant {MerchantId}")]
    private partial void LogPaymentRefunded(MerchantId merchantId, PaymentRefundId refundId, PaymentId paymentId, Money amount);

    /// <summary>What identifies a refund request for its idempotency key: the invoice it names and the request.</summary>
    private sealed record RefundFingerprint(InvoiceId InvoiceId, RecordRefundRequest Request);

    /// <summary>What identifies a refund request of a payment's unapplied money for its idempotency key: the payment and the request.</summary>
    private sealed record PaymentRefundFingerprint(PaymentId PaymentId, RecordRefundRequest Request);

    /// <summary>What one transaction paid the merchant in one asset.</summary>
    private sealed record Received(Asset Asset, Money Amount, string From);
}
