using NodaTime;
using PaymentsKit.Storage;
using static PaymentsKit.Invoicing.InvoicingCollections;

namespace PaymentsKit.Invoicing;

/// <summary>
/// Computes the invoicing queries over any <see cref="IPaymentsStore"/> by reading a merchant's records
/// page by page and filtering, sorting and aggregating them in memory. Exact, but linear in the
/// merchant's records: the PostgreSQL store replaces it with SQL over indexed columns.
/// </summary>
internal sealed class InMemoryInvoicingQueries(IPaymentsStore store) : IInvoicingQueries
{
    public async ValueTask<Page<PendingInvoice>> PendingInvoicesAsync(MerchantId merchant, Instant now, string? cursor, int limit, CancellationToken cancellationToken)
    {
        var after = QueryCursor.Decode(cursor);
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var invoices = (await AllAsync(unit, Invoices, merchant.Value, cancellationToken).ConfigureAwait(false))
                .Where(i => i.Status == InvoiceStatus.Pending && i.ExpiresAt > now)
                .Where(i => after is null || QueryCursor.Compare(i.CreatedAt, i.Id.Value, after.Value.At, after.Value.Id) < 0)
                .OrderByDescending(i => i, ByTimeThenId<Invoice>.By(i => i.CreatedAt, i => i.Id.Value))
                .Take(limit + 1)
                .ToList();
            var payments = await PaymentsByInvoiceAsync(unit, merchant, cancellationToken).ConfigureAwait(false);
            var items = new List<PendingInvoice>(Math.Min(invoices.Count, limit));
            foreach (var invoice in invoices.Take(limit))
            {
                var client = await ClientAsync(unit, merchant, invoice.ClientId, cancellationToken).ConfigureAwait(false);
                var confirmed = payments.TryGetValue(invoice.Id, out var attached)
                    ? attached.Where(p => p.Status == PaymentStatus.Confirmed).ToList()
                    : [];
                items.Add(new PendingInvoice(invoice, client is null ? null : ClientSummary.Of(client), confirmed));
            }

            return new Page<PendingInvoice>(items, invoices.Count > limit ? QueryCursor.Encode(items[^1].Invoice.CreatedAt, items[^1].Invoice.Id.Value) : null);
        }
    }

    public async ValueTask<InvoiceDetails?> InvoiceDetailsAsync(MerchantId merchant, InvoiceId invoice, CancellationToken cancellationToken)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var found = await unit.GetAsync(Invoices, merchant.Value, invoice.Value, cancellationToken).ConfigureAwait(false);
            var owner = await unit.GetAsync(Merchants, Guid.Empty, merchant.Value, cancellationToken).ConfigureAwait(false);
            if (found is null || owner is null)
            {
                return null;
            }

            var payments = await PaymentsByInvoiceAsync(unit, merchant, cancellationToken).ConfigureAwait(false);
            var client = await ClientAsync(unit, merchant, found.Value.ClientId, cancellationToken).ConfigureAwait(false);
            return new InvoiceDetails(found.Value, MerchantSummary.Of(owner.Value), client, payments.GetValueOrDefault(invoice) ?? []);
        }
    }

    public async ValueTask<Page<ExpiringInvoice>> ExpiringInvoicesAsync(
        MerchantId? merchant, Instant? after, Instant upTo, string? cursor, int limit, CancellationToken cancellationToken)
    {
        var position = QueryCursor.Decode(cursor);
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var merchants = new List<Merchant>();
            if (merchant is { } one)
            {
                if (await unit.GetAsync(Merchants, Guid.Empty, one.Value, cancellationToken).ConfigureAwait(false) is { } found)
                {
                    merchants.Add(found.Value);
                }
            }
            else
            {
                merchants.AddRange(await AllAsync(unit, Merchants, Guid.Empty, cancellationToken).ConfigureAwait(false));
            }

            var due = new List<ExpiringInvoice>();
            foreach (var owner in merchants)
            {
                var summary = MerchantSummary.Of(owner);
                foreach (var invoice in await AllAsync(unit, Invoices, owner.Id.Value, cancellationToken).ConfigureAwait(false))
                {
                    if (invoice.Status == InvoiceStatus.Pending && (after is null || invoice.ExpiresAt > after) && invoice.ExpiresAt <= upTo
                        && (position is null || QueryCursor.Compare(invoice.ExpiresAt, invoice.Id.Value, position.Value.At, position.Value.Id) > 0))
                    {
                        due.Add(new ExpiringInvoice(invoice, summary));
                    }
                }
            }

            due.Sort((x, y) => QueryCursor.Compare(x.Invoice.ExpiresAt, x.Invoice.Id.Value, y.Invoice.ExpiresAt, y.Invoice.Id.Value));
            var items = due.Take(limit).ToList();
            return new Page<ExpiringInvoice>(items, due.Count > limit ? QueryCursor.Encode(items[^1].Invoice.ExpiresAt, items[^1].Invoice.Id.Value) : null);
        }
    }

    public async ValueTask<Page<PaymentHistoryItem>> PaymentHistoryAsync(MerchantId merchant, string? cursor, int limit, CancellationToken cancellationToken)
    {
        var after = QueryCursor.Decode(cursor);
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var payments = (await ConfirmedAsync(unit, merchant, cancellationToken).ConfigureAwait(false))
                .Where(p => after is null || QueryCursor.Compare(p.CreatedAt, p.Id.Value, after.Value.At, after.Value.Id) < 0)
                .OrderByDescending(p => p, ByTimeThenId<Payment>.By(p => p.CreatedAt, p => p.Id.Value))
                .Take(limit + 1)
                .ToList();
            var items = new List<PaymentHistoryItem>(Math.Min(payments.Count, limit));
            foreach (var payment in payments.Take(limit))
            {
                var invoice = payment.InvoiceId is { } invoiceId
                    ? (await unit.GetAsync(Invoices, merchant.Value, invoiceId.Value, cancellationToken).ConfigureAwait(false))?.Value
                    : null;
                var link = payment.LinkId is { } linkId
                    ? (await unit.GetAsync(PaymentLinks, merchant.Value, linkId.Value, cancellationToken).ConfigureAwait(false))?.Value
                    : null;
                var client = await ClientAsync(unit, merchant, payment.ClientId, cancellationToken).ConfigureAwait(false);
                items.Add(new PaymentHistoryItem(payment, invoice?.Number, invoice?.Description, link?.Title, client is null ? null : ClientSummary.Of(client)));
            }

            return new Page<PaymentHistoryItem>(items, payments.Count > limit ? QueryCursor.Encode(items[^1].Payment.CreatedAt, items[^1].Payment.Id.Value) : null);
        }
    }

    public async ValueTask<IReadOnlyList<AssetRevenue>> RevenueByAssetAsync(MerchantId merchant, CancellationToken cancellationToken)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var refundable = await RefundableInvoicesAsync(unit, merchant, cancellationToken).ConfigureAwait(false);
            var paid = (await ConfirmedAsync(unit, merchant, cancellationToken).ConfigureAwait(false)).ToLookup(p => p.Asset);
            var refunded = (await OverpaymentRefundsAsync(unit, merchant, cancellationToken).ConfigureAwait(false)).ToLookup(r => r.Amount.Asset);
            return [.. paid.Select(g => g.Key).Union(refunded.Select(g => g.Key))
                .Select(asset =>
                {
                    var notRevenue = NotRevenue(paid[asset], asset, refundable);
                    return new AssetRevenue(Sum(paid[asset], asset) - notRevenue, paid[asset].Count(), notRevenue, Refunded(refunded[asset], asset));
                })
                .OrderBy(r => r.Total.Asset.Code, StringComparer.Ordinal)];
        }
    }

    public async ValueTask<IReadOnlyList<MonthlyRevenue>> MonthlyRevenueAsync(MerchantId merchant, Instant since, DateTimeZone zone, CancellationToken cancellationToken)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var paid = (await ConfirmedAsync(unit, merchant, cancellationToken).ConfigureAwait(false))
                .Where(p => p.CreatedAt >= since)
                .ToLookup(p => (Month: p.CreatedAt.InZone(zone).Date.ToYearMonth(), p.Asset));
            var refunded = (await OverpaymentRefundsAsync(unit, merchant, cancellationToken).ConfigureAwait(false))
                .Where(r => r.CreatedAt >= since)
                .ToLookup(r => (Month: r.CreatedAt.InZone(zone).Date.ToYearMonth(), r.Amount.Asset));

            // The ledger moves a closed invoice's payments out of revenue as it closes, so a month keeps its payments as
            // they were booked then and the move counts in the month of the cancellation or expiry.
            var closed = (await AllAsync(unit, Invoices, merchant.Value, cancellationToken).ConfigureAwait(false))
                .Where(i => i.Refundable is not null && ClosedAt(i) >= since)
                .ToLookup(i => (Month: ClosedAt(i).InZone(zone).Date.ToYearMonth(), i.Asset));
            return [.. paid.Select(g => g.Key).Union(refunded.Select(g => g.Key)).Union(closed.Select(g => g.Key))
                .Select(key =>
                {
                    var notRevenue = Excess(paid[key], key.Asset) + Moved(closed[key], key.Asset);
                    return new MonthlyRevenue(key.Month, Sum(paid[key], key.Asset) - notRevenue, paid[key].Count(), notRevenue, Refunded(refunded[key], key.Asset));
                })
                .OrderByDescending(r => r.Month)
                .ThenBy(r => r.Total.Asset.Code, StringComparer.Ordinal)];
        }
    }

    public async ValueTask<IReadOnlyList<ClientVolume>> TopClientsAsync(MerchantId merchant, Asset asset, int limit, CancellationToken cancellationToken)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var ranked = (await ConfirmedAsync(unit, merchant, cancellationToken).ConfigureAwait(false))
                .Where(p => p.ClientId is not null && p.Asset.Equals(asset))
                .GroupBy(p => p.ClientId!.Value)
                .Select(g => (Client: g.Key, Total: Sum(g, asset), Count: g.Count()))
                .OrderByDescending(c => c.Total.Amount)
                .ThenByDescending(c => c.Count)
                .ThenBy(c => c.Client.Value, GuidOrder.Instance)
                .Take(limit)
                .ToList();
            var result = new List<ClientVolume>(ranked.Count);
            foreach (var (clientId, total, count) in ranked)
            {
                if (await ClientAsync(unit, merchant, clientId, cancellationToken).ConfigureAwait(false) is { } client)
                {
                    result.Add(new ClientVolume(client, total, count));
                }
            }

            return result;
        }
    }

    private static async ValueTask<List<T>> AllAsync<T>(IUnitOfWork unit, RecordCollection<T> collection, Guid tenant, CancellationToken cancellationToken)
        where T : class
    {
        var all = new List<T>();
        string? cursor = null;
        do
        {
            var page = await unit.ListAsync(collection, tenant, cursor, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
            all.AddRange(page.Items.Select(v => v.Value));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return all;
    }

    private static async ValueTask<List<Payment>> ConfirmedAsync(IUnitOfWork unit, MerchantId merchant, CancellationToken cancellationToken) =>
        [.. (await AllAsync(unit, Payments, merchant.Value, cancellationToken).ConfigureAwait(false)).Where(p => p.Status == PaymentStatus.Confirmed)];

    private static async ValueTask<Dictionary<InvoiceId, List<Payment>>> PaymentsByInvoiceAsync(IUnitOfWork unit, MerchantId merchant, CancellationToken cancellationToken) =>
        (await AllAsync(unit, Payments, merchant.Value, cancellationToken).ConfigureAwait(false))
            .Where(p => p.InvoiceId is not null)
            .GroupBy(p => p.InvoiceId!.Value)
            .ToDictionary(g => g.Key, g => g.OrderByDescending(p => p, ByTimeThenId<Payment>.By(p => p.CreatedAt, p => p.Id.Value)).ToList());

    private static async ValueTask<Client?> ClientAsync(IUnitOfWork unit, MerchantId merchant, ClientId? client, CancellationToken cancellationToken) =>
        client is { } id ? (await unit.GetAsync(Clients, merchant.Value, id.Value, cancellationToken).ConfigureAwait(false))?.Value : null;

    private static Money Sum(IEnumerable<Payment> payments, Asset asset) =>
        payments.Aggregate(Money.Zero(asset), (total, p) => total + p.Amount);

    /// <summary>The merchant's invoices whose applied payments left revenue as they closed unfulfilled (<see cref="Invoice.Refundable"/>).</summary>
    private static async ValueTask<HashSet<InvoiceId>> RefundableInvoicesAsync(IUnitOfWork unit, MerchantId merchant, CancellationToken cancellationToken) =>
        [.. (await AllAsync(unit, Invoices, merchant.Value, cancellationToken).ConfigureAwait(false)).Where(i => i.Refundable is not null).Select(i => i.Id)];

    /// <summary>
    /// What the payments credited to overpayments: their excess, and all of a payment to an invoice whose applied
    /// payments moved there as it closed unfulfilled (such an invoice was pending, so its payments had no excess).
    /// </summary>
    private static Money NotRevenue(IEnumerable<Payment> payments, Asset asset, HashSet<InvoiceId> refundable)
    {
        var moved = payments.ToLookup(p => p.InvoiceId is { } invoice && refundable.Contains(invoice));
        return Sum(moved[true], asset) + Excess(moved[false], asset);
    }

    /// <summary>What the payments paid beyond what was due when they were recorded: what they credited to overpayments then.</summary>
    private static Money Excess(IEnumerable<Payment> payments, Asset asset) =>
        payments.Aggregate(Money.Zero(asset), (total, p) => p.Excess is { } excess ? total + excess : total);

    /// <summary>What the invoices, closing unfulfilled, moved from revenue to overpayments (their <see cref="Invoice.Refundable"/>).</summary>
    private static Money Moved(IEnumerable<Invoice> invoices, Asset asset) =>
        invoices.Aggregate(Money.Zero(asset), (total, i) => total + i.Refundable!.Value);

    /// <summary>
    /// When a cancelled or expired invoice closed, which is when the ledger moved its <see cref="Invoice.Refundable"/>: its
    /// last transition, as both statuses are terminal.
    /// </summary>
    private static Instant ClosedAt(Invoice invoice) => invoice.Transitions[^1].At;

    /// <summary>
    /// The refunds recorded out of overpayments: every invoice's, and those of payment link payments' excess (a payment refund
    /// in the asset of a confirmed payment, which holds nothing unapplied in it).
    /// </summary>
    private static async ValueTask<List<(Money Amount, Instant CreatedAt)>> OverpaymentRefundsAsync(IUnitOfWork unit, MerchantId merchant, CancellationToken cancellationToken)
    {
        List<(Money Amount, Instant CreatedAt)> refunds =
            [.. (await AllAsync(unit, InvoiceRefunds, merchant.Value, cancellationToken).ConfigureAwait(false)).Select(r => (r.Amount, r.CreatedAt))];
        var confirmed = (await ConfirmedAsync(unit, merchant, cancellationToken).ConfigureAwait(false)).ToDictionary(p => p.Id);
        refunds.AddRange((await AllAsync(unit, PaymentRefunds, merchant.Value, cancellationToken).ConfigureAwait(false))
            .Where(r => confirmed.TryGetValue(r.PaymentId, out var payment) && payment.Asset.Equals(r.Amount.Asset))
            .Select(r => (r.Amount, r.CreatedAt)));
        return refunds;
    }

    /// <summary>What the refunds sent back: what they debited from overpayments.</summary>
    private static Money Refunded(IEnumerable<(Money Amount, Instant CreatedAt)> refunds, Asset asset) =>
        refunds.Aggregate(Money.Zero(asset), (total, r) => total + r.Amount);

    /// <summary>Compares by (instant, id) ascending; used with OrderByDescending for newest-first lists.</summary>
    private sealed class ByTimeThenId<T>(Func<T, Instant> at, Func<T, Guid> id) : IComparer<T>
    {
        public static ByTimeThenId<T> By(Func<T, Instant> at, Func<T, Guid> id) => new(at, id);

        public int Compare(T? x, T? y) => QueryCursor.Compare(at(x!), id(x!), at(y!), id(y!));
    }
}
