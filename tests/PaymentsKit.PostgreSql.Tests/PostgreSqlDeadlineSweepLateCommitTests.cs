using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Storage;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The deadline sweep late commit specification (tests/PaymentsKit.Core.Tests/Storage) on PostgreSQL, a database per test.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlDeadlineSweepLateCommitTests(PostgresServerFixture postgres) : DeadlineSweepLateCommitSpecification
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() => TestStores.Create(await postgres.CreateDatabaseAsync("latedeadlines"));
}
