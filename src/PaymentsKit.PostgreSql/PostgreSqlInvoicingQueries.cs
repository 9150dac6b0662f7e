using System.Globalization;
using System.Text;
using System.Text.Json;
using NodaTime;
using Npgsql;
using PaymentsKit.Invoicing;
using PaymentsKit.Storage;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The invoicing queries of seed 000 computed in SQL over the seed tables (0008_invoicing_tables) and, for the refunds the
/// revenue queries report, the refund tables (0029_invoice_refunds_table; 0031_payment_refunds_table for link payments' excess), and for what invoices closing unfulfilled moved
/// out of revenue, the invoices' refundable and closed_at_ticks columns (0030_invoices_closed_refundable):
/// filters, joins, ordering, keyset paging and aggregation run in PostgreSQL on indexed generated
/// columns, one round trip per call. Results equal <see cref="InMemoryInvoicingQueries"/>'s: instants
/// compare as exact 100-ns ticks (the resolution of the query cursors), ids in PostgreSQL's uuid
/// order (<see cref="GuidOrder"/>), months as NodaTime computes them in the requested zone.
/// </summary>
internal sealed class PostgreSqlInvoicingQueries(PostgreSqlStore store, AssetRegistry assets) : IInvoicingQueries
{
    /// <summary>How many months of boundaries the monthly query sends beyond <c>since</c> at first (the last 12 and this one).</summary>
    private const int MonthlyBuckets = 13;

    private const string ConfirmedPaymentsOfInvoice =
        "(SELECT coalesce(jsonb_agg(p.data ORDER BY p.created_at_ticks DESC, p.id DESC), '[]'::jsonb) FROM payments p "
        + "WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.id AND p.status = 'CONFIRMED')";

    /// <summary>What a payment paid beyond what was due when it was recorded (<see cref="Payment.Excess"/>, absent when none).</summary>
    private const string Excess = "coalesce((p.data -> 'excess' ->> 'amount')::numeric, 0)";

    /// <summary>
    /// What a payment credited to overpayments for good: its excess, or all of it when its invoice closed unfulfilled with
    /// <see cref="Invoice.Refundable"/> set (such an invoice was pending, so the payment had no excess). Revenue is the amount
    /// less it, as <see cref="InvoicingLedger"/> books it all told. The excess is read from the record, as the seed's tables
    /// have no column for it; <see cref="WithInvoice"/> joins the invoice as <c>i</c> (its <c>refundable</c>: migration 0030).
    /// </summary>
    private const string NotRevenue = "CASE WHEN i.refundable IS NOT NULL THEN p.amount ELSE " + Excess + " END";

    private const string WithInvoice = "FROM payments p LEFT JOIN invoices i ON i.tenant_id = p.tenant_id AND i.id = p.invoice_id ";

    private static readonly string RefundTable = InvoicingCollections.InvoiceRefunds.Table;

    private static readonly string PaymentRefundTable = InvoicingCollections.PaymentRefunds.Table;

    /// <summary>
    /// The refunds of payment link payments' excess, out of overpayments: a payment refund in the asset of a confirmed
    /// payment, which holds nothing unapplied in it (its other assets' refunds leave the unapplied account). Joined as
    /// <c>r</c> (the refund) and <c>p</c> (its payment); the caller adds the tenant and, for a period, the ticks.
    /// </summary>
    private static readonly string ExcessRefunds =
        $"FROM {PaymentRefundTable} r JOIN payments p ON p.tenant_id = r.tenant_id AND p.id = r.payment_id AND p.status = 'CONFIRMED' AND p.asset = r.asset ";

    private const string AllPaymentsOfInvoice =
        "(SELECT coalesce(jsonb_agg(p.data ORDER BY p.created_at_ticks DESC, p.id DESC), '[]'::jsonb) FROM payments p "
        + "WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.id)";

    public async ValueTask<Page<PendingInvoice>> PendingInvoicesAsync(MerchantId merchant, Instant now, string? cursor, int limit, CancellationToken cancellationToken)
    {
        var after = QueryCursor.Decode(cursor);
        var query = new Query(
            "SELECT i.data, c.id, c.name, c.email, " + ConfirmedPaymentsOfInvoice + " FROM invoices i "
            + "LEFT JOIN clients c ON c.tenant_id = i.tenant_id AND c.id = i.client_id ");
        query.Where("i.tenant_id = {0}", merchant.Value)
            .Where("i.status = 'PENDING'")
            .Where("i.expires_at_ticks > {0}", now.ToUnixTimeTicks());
        if (after is { } position)
        {
            query.Where("(i.created_at_ticks, i.id) < ({0}, {1})", position.At.ToUnixTimeTicks(), position.Id);
        }

        query.Append(" ORDER BY i.created_at_ticks DESC, i.id DESC").Limit(limit + 1);
        var rows = await ListAsync(
            query,
            reader => new PendingInvoice(
                Record<Invoice>(reader, 0),
                reader.IsDBNull(1) ? null : new ClientSummary(new ClientId(reader.GetGuid(1)), reader.GetString(2), NullableString(reader, 3)),
                Record<List<Payment>>(reader, 4)),
            "listing pending invoices",
            cancellationToken).ConfigureAwait(false);
        return Paged(rows, limit, p => QueryCursor.Encode(p.Invoice.CreatedAt, p.Invoice.Id.Value));
    }

    public async ValueTask<InvoiceDetails?> InvoiceDetailsAsync(MerchantId merchant, InvoiceId invoice, CancellationToken cancellationToken)
    {
        var query = new Query(
            "SELECT i.data, u.wallet_address, u.name, u.email, c.data, " + AllPaymentsOfInvoice + " FROM invoices i "
            + "JOIN users u ON u.id = i.tenant_id "
            + "LEFT JOIN clients c ON c.tenant_id = i.tenant_id AND c.id = i.client_id ");
        query.Where("i.tenant_id = {0}", merchant.Value).Where("i.id = {0}", invoice.Value);
        var rows = await ListAsync(
            query,
            reader => new InvoiceDetails(
                Record<Invoice>(reader, 0),
                new MerchantSummary(merchant, reader.GetString(1), NullableString(reader, 2), NullableString(reader, 3)),
                reader.IsDBNull(4) ? null : Record<Client>(reader, 4),
                Record<List<Payment>>(reader, 5)),
            "reading invoice details",
            cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    public async ValueTask<Page<ExpiringInvoice>> ExpiringInvoicesAsync(
        MerchantId? merchant, Instant? after, Instant upTo, string? cursor, int limit, CancellationToken cancellationToken)
    {
        var position = QueryCursor.Decode(cursor);
        var query = new Query("SELECT i.data, u.id, u.wallet_address, u.name, u.email FROM invoices i JOIN users u ON u.id = i.tenant_id ");
        query.Where("i.status = 'PENDING'").Where("i.expires_at_ticks <= {0}", upTo.ToUnixTimeTicks());
        if (merchant is { } one)
        {
            query.Where("i.tenant_id = {0}", one.Value);
        }

        if (after is { } from)
        {
            query.Where("i.expires_at_ticks > {0}", from.ToUnixTimeTicks());
        }

        if (position is { } last)
        {
            query.Where("(i.expires_at_ticks, i.id) > ({0}, {1})", last.At.ToUnixTimeTicks(), last.Id);
        }

        query.Append(" ORDER BY i.expires_at_ticks, i.id").Limit(limit + 1);
        var rows = await ListAsync(
            query,
            reader => new ExpiringInvoice(
                Record<Invoice>(reader, 0),
                new MerchantSummary(new MerchantId(reader.GetGuid(1)), reader.GetString(2), NullableString(reader, 3), NullableString(reader, 4))),
            "listing expiring invoices",
            cancellationToken).ConfigureAwait(false);
        return Paged(rows, limit, e => QueryCursor.Encode(e.Invoice.ExpiresAt, e.Invoice.Id.Value));
    }

    public async ValueTask<Page<PaymentHistoryItem>> PaymentHistoryAsync(MerchantId merchant, string? cursor, int limit, CancellationToken cancellationToken)
    {
        var after = QueryCursor.Decode(cursor);
        var query = new Query(
            "SELECT p.data, i.invoice_number, i.description, l.title, c.id, c.name, c.email FROM payments p "
            + "LEFT JOIN invoices i ON i.tenant_id = p.tenant_id AND i.id = p.invoice_id "
            + "LEFT JOIN payment_links l ON l.tenant_id = p.tenant_id AND l.id = p.link_id "
            + "LEFT JOIN clients c ON c.tenant_id = p.tenant_id AND c.id = p.client_id ");
        query.Where("p.tenant_id = {0}", merchant.Value).Where("p.status = 'CONFIRMED'");
        if (after is { } position)
        {
            query.Where("(p.created_at_ticks, p.id) < ({0}, {1})", position.At.ToUnixTimeTicks(), position.Id);
        }

        query.Append(" ORDER BY p.created_at_ticks DESC, p.id DESC").Limit(limit + 1);
        var rows = await ListAsync(
            query,
            reader => new PaymentHistoryItem(
                Record<Payment>(reader, 0),
                NullableString(reader, 1),
                NullableString(reader, 2),
                NullableString(reader, 3),
                reader.IsDBNull(4) ? null : new ClientSummary(new ClientId(reader.GetGuid(4)), reader.GetString(5), NullableString(reader, 6))),
            "listing payment history",
            cancellationToken).ConfigureAwait(false);
        return Paged(rows, limit, h => QueryCursor.Encode(h.Payment.CreatedAt, h.Payment.Id.Value));
    }

    public async ValueTask<IReadOnlyList<AssetRevenue>> RevenueByAssetAsync(MerchantId merchant, CancellationToken cancellationToken)
    {
        var query = new Query(
            "SELECT asset, sum(total), sum(payment_count), sum(overpaid), sum(refunded) FROM ("
            + $"SELECT p.asset, p.amount - {NotRevenue} AS total, 1 AS payment_count, {NotRevenue} AS overpaid, 0 AS refunded {WithInvoice}"
            + "WHERE p.tenant_id = {0} AND p.status = 'CONFIRMED' "
            + $"UNION ALL SELECT r.asset, 0, 0, 0, r.amount FROM {RefundTable} r WHERE r.tenant_id = {{0}} "
            + $"UNION ALL SELECT r.asset, 0, 0, 0, r.amount {ExcessRefunds}WHERE r.tenant_id = {{0}}"
            + ") x GROUP BY asset",
            merchant.Value);
        var rows = await ListAsync(
            query,
            reader => new AssetRevenue(
                Total(reader.GetString(0), reader.GetDecimal(1)), Count(reader, 2), Total(reader.GetString(0), reader.GetDecimal(3)), Total(reader.GetString(0), reader.GetDecimal(4))),
            "summing revenue per asset",
            cancellationToken).ConfigureAwait(false);
        return [.. rows.OrderBy(r => r.Total.Asset.Code, StringComparer.Ordinal)];
    }

    public async ValueTask<IReadOnlyList<MonthlyRevenue>> MonthlyRevenueAsync(MerchantId merchant, Instant since, DateTimeZone zone, CancellationToken cancellationToken)
    {
        // Months are cut in C# (NodaTime's tz database, which may differ from the server's) and sent as
        // boundaries: bucket k of width_bucket is the k-th month after the one `since` falls in. A payment,
        // refund or closing at or beyond the last boundary (a clock at a month's turn) sends the query again with more months.
        // A closed invoice's payments stay in their months as booked then; what the ledger moved out of revenue as the
        // invoice closed (refundable) counts in the month it closed (closed_at_ticks, migration 0030).
        var first = since.InZone(zone).Date.ToYearMonth();
        for (var months = MonthlyBuckets; ; months *= 2)
        {
            var boundaries = Enumerable.Range(1, months)
                .Select(k => first.OnDayOfMonth(1).PlusMonths(k).AtStartOfDayInZone(zone).ToInstant().ToUnixTimeTicks())
                .ToArray();
            var query = new Query(
                "SELECT width_bucket(ticks, {0}::bigint[]) AS bucket, asset, sum(total), sum(payment_count), sum(overpaid), sum(refunded) FROM ("
                + $"SELECT p.created_at_ticks AS ticks, p.asset, p.amount - {Excess} AS total, 1 AS payment_count, {Excess} AS overpaid, 0 AS refunded FROM payments p "
                + "WHERE p.tenant_id = {1} AND p.status = 'CONFIRMED' AND p.created_at_ticks >= {2} "
                + $"UNION ALL SELECT r.created_at_ticks, r.asset, 0, 0, 0, r.amount FROM {RefundTable} r "
                + "WHERE r.tenant_id = {1} AND r.created_at_ticks >= {2} "
                + $"UNION ALL SELECT r.created_at_ticks, r.asset, 0, 0, 0, r.amount {ExcessRefunds}"
                + "WHERE r.tenant_id = {1} AND r.created_at_ticks >= {2} "
                + "UNION ALL SELECT i.closed_at_ticks, i.asset, -i.refundable, 0, i.refundable, 0 FROM invoices i "
                + "WHERE i.tenant_id = {1} AND i.refundable IS NOT NULL AND i.closed_at_ticks >= {2}"
                + ") x GROUP BY bucket, asset",
                boundaries,
                merchant.Value,
                since.ToUnixTimeTicks());
            var rows = await ListAsync(
                query,
                reader => (Bucket: reader.GetInt32(0), Asset: reader.GetString(1), Total: reader.GetDecimal(2), Count: Count(reader, 3), Excess: reader.GetDecimal(4), Refunded: reader.GetDecimal(5)),
                "summing monthly revenue",
                cancellationToken).ConfigureAwait(false);
            if (rows.Any(r => r.Bucket >= months))
            {
                continue;
            }

            return [.. rows
                .Select(r => new MonthlyRevenue(
                    first.OnDayOfMonth(1).PlusMonths(r.Bucket).ToYearMonth(), Total(r.Asset, r.Total), r.Count, Total(r.Asset, r.Excess), Total(r.Asset, r.Refunded)))
                .OrderByDescending(r => r.Month)
                .ThenBy(r => r.Total.Asset.Code, StringComparer.Ordinal)];
        }
    }

    public async ValueTask<IReadOnlyList<ClientVolume>> TopClientsAsync(MerchantId merchant, Asset asset, int limit, CancellationToken cancellationToken)
    {
        // Ranked first, then joined, as the in-memory query does: a ranked client that no longer exists is left out.
        var query = new Query(
            "SELECT c.data, t.total, t.payment_count FROM (SELECT client_id, sum(amount) AS total, count(*) AS payment_count FROM payments "
            + "WHERE tenant_id = {0} AND status = 'CONFIRMED' AND asset = {1} AND client_id IS NOT NULL "
            + "GROUP BY client_id ORDER BY total DESC, payment_count DESC, client_id LIMIT {2}) t ",
            merchant.Value,
            asset.Code,
            limit);
        query.Append("JOIN clients c ON c.tenant_id = {0} AND c.id = t.client_id ORDER BY t.total DESC, t.payment_count DESC, t.client_id", merchant.Value);
        return await ListAsync(
            query,
            reader => new ClientVolume(Record<Client>(reader, 0), Money.Of(reader.GetDecimal(1), asset), Count(reader, 2)),
            "ranking clients by volume",
            cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<List<T>> ListAsync<T>(Query query, Func<NpgsqlDataReader, T> read, string what, CancellationToken cancellationToken)
    {
        await store.EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var command = store.DataSource.CreateCommand(query.Sql);
            await using (command.ConfigureAwait(false))
            {
                foreach (var value in query.Parameters)
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = value });
                }

                var rows = new List<T>();
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        rows.Add(read(reader));
                    }
                }

                return rows;
            }
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, what);
        }
    }

    private static Page<T> Paged<T>(List<T> rows, int limit, Func<T, string> cursorOf)
    {
        // The query reads one row more than the page: its presence says another page follows.
        if (rows.Count <= limit)
        {
            return new Page<T>(rows, null);
        }

        rows.RemoveAt(limit);
        return new Page<T>(rows, cursorOf(rows[^1]));
    }

    private T Record<T>(NpgsqlDataReader reader, int ordinal) =>
        JsonSerializer.Deserialize<T>(reader.GetString(ordinal), store.Json)
        ?? throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, $"A stored {typeof(T).Name} is JSON null.");

    private Money Total(string asset, decimal amount) => Money.Of(amount, assets.Get(asset));

    private static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static int Count(NpgsqlDataReader reader, int ordinal) => checked((int)reader.GetInt64(ordinal));

    /// <summary>SQL text with positional parameters: each <c>{n}</c> of a fragment becomes the next <c>$k</c>.</summary>
    private sealed class Query
    {
        private readonly StringBuilder _sql = new();
        private bool _hasWhere;

        public Query(string sql, params object[] values) => Append(sql, values);

        public string Sql => _sql.ToString();

        public List<object> Parameters { get; } = [];

        public Query Where(string condition, params object[] values)
        {
            _sql.Append(_hasWhere ? " AND " : " WHERE ");
            _hasWhere = true;
            return Append(condition, values);
        }

        public Query Limit(int limit) => Append(" LIMIT {0}", limit);

        public Query Append(string fragment, params object[] values)
        {
            var placeholders = new object[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                Parameters.Add(values[i]);
                placeholders[i] = "$" + Parameters.Count.ToString(CultureInfo.InvariantCulture);
            }

            _sql.Append(values.Length == 0 ? fragment : string.Format(CultureInfo.InvariantCulture, fragment, placeholders));
            return this;
        }
    }
}
