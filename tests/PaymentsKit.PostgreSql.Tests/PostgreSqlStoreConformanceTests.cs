using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The storage conformance suite against PostgreSQL in the default schema (one database for the class).</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlStoreConformanceTests(PostgresServerFixture postgres) : StoreConformanceTests
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        TestStores.Create(await postgres.DatabaseForClassAsync(GetType()));
}

/// <summary>The storage conformance suite against PostgreSQL in a schema of its own, created by the migrations.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlStoreInCustomSchemaConformanceTests(PostgresServerFixture postgres) : StoreConformanceTests
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        TestStores.Create(await postgres.DatabaseForClassAsync(GetType()), o => o.Schema = "payments_kit");
}

/// <summary>
/// The storage conformance suite against PostgreSQL with every transaction SERIALIZABLE, where lost
/// races surface as serialization failures (40001) that the store retries and then reports as conflicts.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlStoreSerializableConformanceTests(PostgresServerFixture postgres) : StoreConformanceTests
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        TestStores.Create(await postgres.DatabaseForClassAsync(GetType()) + ";Options=-c default_transaction_isolation=serializable");
}
