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
        foreach (var value in new object[] { now, now, now, 100 })
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

    [Fact]
    public async Task Lease_Rows_Of_Transactions_Resolved_Outside_The_Queue_Are_Deleted_By_Later_Claims()
    {
        var store = (PostgreSqlStore)await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(store, due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var timedOut = new List<PaymentTransaction>();
        for (var i = 0; i < 3; i++)
        {
            timedOut.Add(await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request($"timeout-{i}", email: "bob+timeout@example.com"), Context));
        }

        // A pass claims all three, defers two (one stays unresolved, one is settled while deferred) and dies holding the third.
        var queue = CreateDueQueue(store);
        var now = h.Clock.GetCurrentInstant();
        var claims = await queue.ClaimDueAsync(now, now, NodaTime.Duration.FromMinutes(1), 100);
        Assert.Equal(3, claims.Count);
        var (stillDue, settledWhileDeferred, settledWhileLeased) = (timedOut[0].Id.Value, timedOut[1].Id.Value, timedOut[2].Id.Value);
        await queue.DeferAsync(claims.Where(c => c.Id.Value != settledWhileLeased).ToList(), now + NodaTime.Duration.FromMinutes(10));
        foreach (var settled in timedOut.Skip(1))
        {
            Assert.Equal(TransactionStatus.Completed, (await h.Transactions.SyncAsync(partner.Id, settled.Id, Context)).Status);
        }

        // Once its lease ran out, the next claim deletes the settled transaction's row; the deferrals still hold.
        Assert.Empty(await queue.ClaimDueAsync(now + NodaTime.Duration.FromMinutes(2), now, NodaTime.Duration.FromMinutes(1), 100));
        Assert.Equal(new[] { stillDue, settledWhileDeferred }.Order(), await LeaseRowsAsync(store));

        // Once the deferral is over, the transaction still due is claimed and the settled one's row goes.
        var later = await queue.ClaimDueAsync(now + NodaTime.Duration.FromMinutes(10), now, NodaTime.Duration.FromMinutes(1), 100);
        Assert.Equal(stillDue, Assert.Single(later).Id.Value);
        Assert.Equal([stillDue], await LeaseRowsAsync(store));
    }

    private static async Task<List<Guid>> LeaseRowsAsync(PostgreSqlStore store)
    {
        await using var command = store.DataSource.CreateCommand("SELECT transaction_id FROM transaction_sync_leases");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<Guid>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetGuid(0));
        }

        return rows.Order().ToList();
    }
}
