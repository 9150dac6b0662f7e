using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using Npgsql;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Invoicing;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Invoicing;

namespace PaymentsKit.PostgreSql.Tests;

// The invoicing tests (tests/PaymentsKit.Core.Tests/Invoicing) on PostgreSQL through UsePostgreSql, so
// the seed tables, their constraints and triggers, and the SQL queries are all under test. Like the
// in-memory runs, every harness starts on an empty store: the class's database, emptied.

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlInvoiceServiceTests(PostgresServerFixture postgres) : InvoiceServiceTests
{
    protected override async Task UseStoreAsync(PaymentsKitBuilder kit) => kit.WithTestSecret().UsePostgreSql(await EmptyDatabase.ForAsync(postgres, GetType()));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlInvoicingConcurrencyTests(PostgresServerFixture postgres) : InvoicingConcurrencyTests
{
    protected override async Task UseStoreAsync(PaymentsKitBuilder kit) => kit.WithTestSecret().UsePostgreSql(await EmptyDatabase.ForAsync(postgres, GetType()));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlMerchantServiceTests(PostgresServerFixture postgres) : MerchantServiceTests
{
    protected override async Task UseStoreAsync(PaymentsKitBuilder kit) => kit.WithTestSecret().UsePostgreSql(await EmptyDatabase.ForAsync(postgres, GetType()));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlPaymentServiceTests(PostgresServerFixture postgres) : PaymentServiceTests
{
    protected override async Task UseStoreAsync(PaymentsKitBuilder kit) => kit.WithTestSecret().UsePostgreSql(await EmptyDatabase.ForAsync(postgres, GetType()));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlTenantIsolationTests(PostgresServerFixture postgres) : TenantIsolationTests
{
    protected override int PropertyIterations => 12;

    protected override async Task UseStoreAsync(PaymentsKitBuilder kit) => kit.WithTestSecret().UsePostgreSql(await EmptyDatabase.ForAsync(postgres, GetType()));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlInvoicingPropertyTests(PostgresServerFixture postgres) : InvoicingPropertyTests
{
    protected override int PropertyIterations => 10;

    protected override async Task UseStoreAsync(PaymentsKitBuilder kit) => kit.WithTestSecret().UsePostgreSql(await EmptyDatabase.ForAsync(postgres, GetType()));
}

/// <summary>How PostgreSQL reads an invoice's refunds: the store's own list statements, as it runs them.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlInvoiceRefundTests(PostgresServerFixture postgres)
{
    [Fact]
    public async Task Listing_An_Invoices_Refunds_Reads_Only_Its_Rows_Through_The_Invoice_Index_In_Id_Order()
    {
        var connectionString = await EmptyDatabase.ForAsync(postgres, GetType());
        using var kit = await InvoicingHarness.CreateAsync(k =>
        {
            k.WithTestSecret().UsePostgreSql(connectionString);
            return Task.CompletedTask;
        });
        var merchant = await kit.MerchantAsync();
        var invoices = new List<Invoice>();
        for (var i = 0; i < 10; i++)
        {
            invoices.Add(await kit.PaidInvoiceAsync(merchant, 100m, 200m));
        }

        var refunds = new List<InvoiceRefund>();
        for (var round = 0; round < 4; round++)
        {
            foreach (var invoice in invoices)
            {
                kit.Clock.Advance(Duration.FromSeconds(1));
                refunds.Add(await kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(1m, "XLM")));
            }
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var connection = await dataSource.OpenConnectionAsync();
        await using (var analyze = new NpgsqlCommand("ANALYZE invoice_refunds", connection))
        {
            await analyze.ExecuteNonQueryAsync();
        }

        // A table this small is cheapest to read whole (or by bitmap, then sorted); priced out, the plain index scans are left,
        // and the invoice index is the one that reads just the invoice's rows, already in id order (the tenant index would
        // read and filter all the merchant's rows).
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off; SET enable_bitmapscan = off", connection))
        {
            await off.ExecuteNonQueryAsync();
        }

        var sql = new PostgreSqlStore.TableSql(InvoicingCollections.InvoiceRefunds.Table);
        var target = invoices[3];
        foreach (var after in new Guid?[] { null, refunds.First(r => r.InvoiceId == target.Id).Id.Value })
        {
            await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql.ListBy(InvoicingCollections.InvoiceIndex, after is not null), connection);
            foreach (var value in new object?[] { InvoicingCollections.InvoiceRefunds.Name, merchant.Id.Value, 101, target.Id.Value, after })
            {
                if (value is not null)
                {
                    explain.Parameters.Add(new NpgsqlParameter { Value = value });
                }
            }

            var plan = new List<string>();
            await using (var reader = await explain.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    plan.Add(reader.GetString(0));
                }
            }

            var text = string.Join("\n", plan);
            Assert.True(text.Contains("Index Scan using invoice_refunds_invoice_idx on invoice_refunds", StringComparison.Ordinal), text);
            Assert.DoesNotContain("Sort", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Rows Removed by Filter", text, StringComparison.Ordinal);
            Assert.Contains(after is null ? "rows=4" : "rows=3", plan.First(line => line.Contains("invoice_refunds_invoice_idx", StringComparison.Ordinal)), StringComparison.Ordinal);
        }
    }
}

/// <summary>Migrations 0029–0031 on a database that already holds invoicing records.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlInvoiceRefundMigrationTests(PostgresServerFixture postgres)
{
    // The schema as it was before 0029: refunds (and, before 0032, deadlines) in the shared record table, no
    // payment_refunds, no invoices.refundable.
    private const string BackToMigration28 = """
        INSERT INTO paymentskit_records (collection, id, tenant_id, version, data, created_at, updated_at)
            SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM invoice_refunds
            UNION ALL SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_deadlines;
        DROP TABLE invoice_refunds;
        DROP TABLE paymentskit_deadlines;
        DROP TABLE payment_refunds;
        ALTER TABLE invoices DROP COLUMN refundable, DROP COLUMN closed_at_ticks;
        DELETE FROM paymentskit_migrations WHERE version >= 29;
        """;

    [Fact]
    public async Task Refunds_Recorded_Before_0029_Move_To_Invoice_Refunds_And_Read_Back_Listed_Replayed_And_Reported_As_Before()
    {
        var connectionString = await EmptyDatabase.ForAsync(postgres, GetType());
        Merchant merchant;
        Invoice invoice;
        Invoice cancelled;
        List<InvoiceRefund> recorded = [];
        using (var before = await InvoicingHarness.CreateAsync(k =>
        {
            k.WithTestSecret().UsePostgreSql(connectionString);
            return Task.CompletedTask;
        }))
        {
            merchant = await before.MerchantAsync();
            invoice = await before.PaidInvoiceAsync(merchant, 100m, 130m);
            cancelled = await before.PaidInvoiceAsync(merchant, 100m, 40m);
            await before.Invoices.CancelInvoiceAsync(merchant.Id, cancelled.Id);
            // A second apart: refunds list in id order, and ids made in one millisecond are in no particular order.
            foreach (var (target, request) in new[] { (invoice.Id, new RecordRefundRequest(10m, "XLM") { IdempotencyKey = "r-1" }), (invoice.Id, new RecordRefundRequest(5m, "XLM")), (cancelled.Id, new RecordRefundRequest(40m, "XLM")) })
            {
                before.Clock.Advance(Duration.FromSeconds(1));
                recorded.Add(await before.Payments.RecordRefundAsync(merchant.Id, target, request));
            }
        }

        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
        await using (var command = dataSource.CreateCommand(BackToMigration28))
        {
            await command.ExecuteNonQueryAsync();
        }

        // A new store applies 0029-0031 on first use, as an upgraded host does.
        using var after = await InvoicingHarness.CreateAsync(k =>
        {
            k.WithTestSecret().UsePostgreSql(connectionString);
            return Task.CompletedTask;
        });

        Assert.Equal(recorded[..2], (await after.Payments.ListRefundsAsync(merchant.Id, invoice.Id)).Items);
        Assert.Equal(recorded[2..], (await after.Payments.ListRefundsAsync(merchant.Id, cancelled.Id)).Items);
        Assert.Equal(recorded[2], await after.Payments.GetRefundAsync(merchant.Id, recorded[2].Id));
        Assert.Equal(recorded[0], await after.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(10m, "XLM") { IdempotencyKey = "r-1" }));
        Assert.Equal(
            [new AssetRevenue(Money.Of(100m, InvoicingHarness.Xlm), 2, Money.Of(70m, InvoicingHarness.Xlm), Money.Of(55m, InvoicingHarness.Xlm))],
            await after.Payments.GetRevenueByAssetAsync(merchant.Id));
        var month = Assert.Single(await after.Payments.GetMonthlyRevenueAsync(merchant.Id));
        Assert.Equal((Money.Of(100m, InvoicingHarness.Xlm), 2, Money.Of(70m, InvoicingHarness.Xlm), Money.Of(55m, InvoicingHarness.Xlm)), (month.Total, month.PaymentCount, month.Overpayments, month.Refunded));
        await using var rows = NpgsqlDataSource.Create(connectionString);
        await using var left = rows.CreateCommand("SELECT count(*) FROM paymentskit_records WHERE collection = 'invoicing_invoice_refund'");
        Assert.Equal(0L, await left.ExecuteScalarAsync());
    }
}

/// <summary>A test class's database, migrated, with every PaymentsKit row removed: as empty as a new in-memory store.</summary>
internal static class EmptyDatabase
{
    // The seed lookups (currencies, payment_methods) are reference data the migrations insert, not records.
    private const string Truncate = """
        DO $$
        BEGIN
            EXECUTE (SELECT 'TRUNCATE ' || string_agg(format('%I', tablename), ', ')
                     FROM pg_tables
                     WHERE schemaname = 'public' AND tablename NOT IN ('paymentskit_migrations', 'currencies', 'payment_methods'));
        END
        $$
        """;

    public static async Task<string> ForAsync(PostgresServerFixture postgres, Type testClass)
    {
        var connectionString = await postgres.DatabaseForClassAsync(testClass);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await new PostgreSqlMigrator(dataSource, "public", PostgreSqlMigrator.Embedded).MigrateAsync();
        await using var command = dataSource.CreateCommand(Truncate);
        await command.ExecuteNonQueryAsync();
        return connectionString;
    }
}
