using Npgsql;
using PaymentsKit.Orchestration;
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
public sealed class PostgreSqlRefundServiceTests(PostgresServerFixture postgres, ClassStore shared) : RefundServiceTests, IClassFixture<ClassStore>, IAsyncLifetime
{
    private PostgreSqlStore? _otherHost;

    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));

    protected override async Task<IPaymentsStore> CreateOtherHostStoreAsync(IPaymentsStore store) =>
        _otherHost ??= TestStores.Create(await postgres.DatabaseForClassAsync(GetType()));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_otherHost is not null)
        {
            await _otherHost.DisposeAsync();
        }
    }
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlOrchestrationPropertyTests(PostgresServerFixture postgres, ClassStore shared) : OrchestrationPropertyTests, IClassFixture<ClassStore>
{
    protected override int PropertyIterations => 10;

    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
}

/// <summary>The sync of due transactions on PostgreSQL: a database per test, since a pass reads across all partners.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlTransactionSyncTests(PostgresServerFixture postgres) : TransactionSyncSpecification
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() => TestStores.Create(await postgres.CreateDatabaseAsync("txsync"));

    protected override IDueTransactionQueue CreateDueQueue(IPaymentsStore store) => new PostgreSqlDueTransactionQueue((PostgreSqlStore)store);

    [Fact]
    public async Task The_Claim_Reads_The_Partial_Index_Of_Transactions_That_Can_Be_Due()
    {
        var store = (PostgreSqlStore)await CreateStoreAsync();
        await store.EnsureReadyAsync(CancellationToken.None);
        await using var connection = await store.DataSource.OpenConnectionAsync();
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection))
        {
            await off.ExecuteNonQueryAsync();
        }

        await using var explain = new NpgsqlCommand("EXPLAIN " + PostgreSqlDueTransactionQueue.ClaimSql, connection);
        var now = NodaTime.Instant.FromUtc(2026, 6, 1, 0, 0).ToDateTimeUtc();
        foreach (var value in new object[] { now, now, now, 100, now })
        {
            explain.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }

        Assert.Contains(plan, line => line.Contains("idx_transactions_sync_due", StringComparison.Ordinal));
    }

    protected override async Task<IReadOnlyList<Guid>> HeldLeasesAsync(IPaymentsStore store, IDueTransactionQueue queue)
    {
        await using var command = ((PostgreSqlStore)store).DataSource.CreateCommand("SELECT transaction_id FROM transaction_sync_leases");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<Guid>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetGuid(0));
        }

        return [.. rows.Order()];
    }
}
