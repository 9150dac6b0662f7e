using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using PaymentsKit.DependencyInjection;
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
    protected override async Task UseStoreAsync(PaymentsKitBuilder kit) => kit.WithTestSecret().UsePostgreSql(await EmptyDatabase.ForAsync(postgres, GetType()));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlInvoicingPropertyTests(PostgresServerFixture postgres) : InvoicingPropertyTests
{
    protected override int PropertyIterations => 10;

    protected override async Task UseStoreAsync(PaymentsKitBuilder kit) => kit.WithTestSecret().UsePostgreSql(await EmptyDatabase.ForAsync(postgres, GetType()));
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
