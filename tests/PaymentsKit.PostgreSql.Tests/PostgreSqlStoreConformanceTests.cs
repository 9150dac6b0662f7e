using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// One store per test class, disposed with the class: a new store per test would pay for a new pool
/// and Npgsql's type loading every time. The tests' fresh tenants and keys keep them independent.
/// </summary>
public sealed class ClassStore : IAsyncLifetime
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private PostgreSqlStore? _store;

    public async Task<PostgreSqlStore> GetAsync(Func<Task<PostgreSqlStore>> create)
    {
        await _gate.WaitAsync();
        try
        {
            return _store ??= await create();
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // IAsyncLifetime rather than IAsyncDisposable: xunit 2 only calls the former on fixtures.
    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _gate.Dispose();
    }
}

/// <summary>The storage conformance suite against PostgreSQL in the default schema (one database for the class).</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlStoreConformanceTests(PostgresServerFixture postgres, ClassStore shared) : StoreConformanceTests, IClassFixture<ClassStore>
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));

    protected override Task ReleaseStoreAsync(IPaymentsStore store) => Task.CompletedTask;
}

/// <summary>The storage conformance suite against PostgreSQL in a schema of its own, created by the migrations.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlStoreInCustomSchemaConformanceTests(PostgresServerFixture postgres, ClassStore shared) : StoreConformanceTests, IClassFixture<ClassStore>
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType()), o => o.Schema = "payments_kit"));

    protected override Task ReleaseStoreAsync(IPaymentsStore store) => Task.CompletedTask;
}

/// <summary>
/// The storage conformance suite against PostgreSQL with every transaction SERIALIZABLE, where lost
/// races surface as serialization failures (40001) that the store retries and then reports as conflicts.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlStoreSerializableConformanceTests(PostgresServerFixture postgres, ClassStore shared) : StoreConformanceTests, IClassFixture<ClassStore>
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType()) + ";Options=-c default_transaction_isolation=serializable"));

    protected override Task ReleaseStoreAsync(IPaymentsStore store) => Task.CompletedTask;
}
