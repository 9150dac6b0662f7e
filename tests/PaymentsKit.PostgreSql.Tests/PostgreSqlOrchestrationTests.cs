using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Orchestration;

namespace PaymentsKit.PostgreSql.Tests;

// The orchestration tests (tests/PaymentsKit.Core.Tests/Orchestration) on PostgreSQL's record store,
// one database per class: the same behaviour, including the concurrency cases, on a real database.

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlPartnerServiceTests(PostgresServerFixture postgres, ClassStore shared) : PartnerServiceTests, IClassFixture<ClassStore>
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlTransactionServiceTests(PostgresServerFixture postgres, ClassStore shared) : TransactionServiceTests, IClassFixture<ClassStore>
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlRefundServiceTests(PostgresServerFixture postgres, ClassStore shared) : RefundServiceTests, IClassFixture<ClassStore>
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlOrchestrationPropertyTests(PostgresServerFixture postgres, ClassStore shared) : OrchestrationPropertyTests, IClassFixture<ClassStore>
{
    protected override int PropertyIterations => 10;

    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
}
