using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Ledger;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The ledger specification (tests/PaymentsKit.Core.Tests/Ledger) on PostgreSQL, one database for the class.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlLedgerTests(PostgresServerFixture postgres, ClassStore shared) : LedgerSpecification, IClassFixture<ClassStore>
{
    protected override int PropertyIterations => 30;

    protected override int ConcurrentPropertyIterations => 8;

    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
}
