using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Storage;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The deadline sweep failure specification (tests/PaymentsKit.Core.Tests/Storage) on PostgreSQL, a database per test.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlDeadlineSweepFailureTests(PostgresServerFixture postgres) : DeadlineSweepFailureSpecification
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() => TestStores.Create(await postgres.CreateDatabaseAsync("deadlines"));
}
