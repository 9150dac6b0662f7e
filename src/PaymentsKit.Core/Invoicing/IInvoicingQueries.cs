using System.Globalization;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Invoicing;

/// <summary>
/// The seed's read queries, behind one seam: <see cref="InMemoryInvoicingQueries"/> computes them over
/// the store's records; a PostgreSQL implementation computes them in SQL. Every query except the
/// expiry scan is scoped to one merchant.
/// </summary>
internal interface IInvoicingQueries
{
    /// <summary>Pending invoices not expired at <paramref name="now"/>, newest first, with client and confirmed payments.</summary>
    ValueTask<Page<PendingInvoice>> PendingInvoicesAsync(MerchantId merchant, Instant now, string? cursor, int limit, CancellationToken cancellationToken);

    /// <summary>An invoice with merchant, client and every payment attached to it; null if not the merchant's.</summary>
    ValueTask<InvoiceDetails?> InvoiceDetailsAsync(MerchantId merchant, InvoiceId invoice, CancellationToken cancellationToken);

    /// <summary>
    /// Pending invoices with <paramref name="after"/> &lt; expiry ≤ <paramref name="upTo"/>, soonest first,
    /// of one merchant or (null) of all.
    /// </summary>
    ValueTask<Page<ExpiringInvoice>> ExpiringInvoicesAsync(
        MerchantId? merchant, Instant? after, Instant upTo, string? cursor, int limit, CancellationToken cancellationToken);

    /// <summary>Confirmed payments, newest first, with what they paid for.</summary>
    ValueTask<Page<PaymentHistoryItem>> PaymentHistoryAsync(MerchantId merchant, string? cursor, int limit, CancellationToken cancellationToken);

    /// <summary>Confirmed revenue (what was applied, as the ledger books it), overpayments and recorded refunds per asset, by asset code.</summary>
    ValueTask<IReadOnlyList<AssetRevenue>> RevenueByAssetAsync(MerchantId merchant, CancellationToken cancellationToken);

    /// <summary>
    /// Confirmed revenue and overpayments by the month of the payments, and refunds by the month they were recorded (in
    /// <paramref name="zone"/>), per asset since <paramref name="since"/>; newest month first, then asset code.
    /// </summary>
    ValueTask<IReadOnlyList<MonthlyRevenue>> MonthlyRevenueAsync(MerchantId merchant, Instant since, DateTimeZone zone, CancellationToken cancellationToken);

    /// <summary>The clients with the largest confirmed volume in <paramref name="asset"/>, largest first.</summary>
    ValueTask<IReadOnlyList<ClientVolume>> TopClientsAsync(MerchantId merchant, Asset asset, int limit, CancellationToken cancellationToken);
}

/// <summary>Keyset cursors over (instant, id) for the query pages: opaque to callers, stable under inserts.</summary>
internal static class QueryCursor
{
    public static string Encode(Instant at, Guid id) =>
        string.Create(CultureInfo.InvariantCulture, $"{at.ToUnixTimeTicks()}.{id:N}");

    public static (Instant At, Guid Id)? Decode(string? cursor)
    {
        if (cursor is null)
        {
            return null;
        }

        var dot = cursor.IndexOf('.', StringComparison.Ordinal);
        return dot > 0
            && long.TryParse(cursor.AsSpan(0, dot), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ticks)
            && Guid.TryParseExact(cursor.AsSpan(dot + 1), "N", out var id)
            && ticks >= Instant.MinValue.ToUnixTimeTicks() && ticks <= Instant.MaxValue.ToUnixTimeTicks()
                ? (Instant.FromUnixTimeTicks(ticks), id)
                : throw PaymentsKitException.InvalidArgument("cursor", cursor, "is not a cursor returned by a previous page");
    }

    /// <summary>Orders by instant, then id in <see cref="GuidOrder"/>.</summary>
    public static int Compare(Instant leftAt, Guid leftId, Instant rightAt, Guid rightId)
    {
        var byTime = leftAt.CompareTo(rightAt);
        return byTime != 0 ? byTime : GuidOrder.Instance.Compare(leftId, rightId);
    }
}
