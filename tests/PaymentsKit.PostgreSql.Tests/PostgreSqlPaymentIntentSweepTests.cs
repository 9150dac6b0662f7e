using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Routing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// The due-intent sweep (tests/PaymentsKit.Core.Tests/Routing) on PostgreSQL: a database per test, and every sweeper a
/// queue of its own, as separate hosts would have, coordinating through the database only.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlPaymentIntentSweepTests(PostgresServerFixture postgres) : PaymentIntentSweepSpecification
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() => TestStores.Create(await postgres.CreateDatabaseAsync("sweep"));

    protected override IDuePaymentIntentQueue CreateDueQueue(IPaymentsStore store) => new PostgreSqlDuePaymentIntentQueue((PostgreSqlStore)store);
}
