using NodaTime;
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

    protected override async Task<IReadOnlyList<Guid>> HeldLeasesAsync(IDuePaymentIntentQueue queue)
    {
        await using var command = ((PostgreSqlStore)Router.Store).DataSource.CreateCommand("SELECT intent_id FROM payment_intent_leases");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<Guid>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetGuid(0));
        }

        return [.. rows.Order()];
    }
}
