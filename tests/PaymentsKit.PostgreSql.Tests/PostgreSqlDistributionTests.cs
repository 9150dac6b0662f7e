using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using Npgsql;
using PaymentsKit.Payouts;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Payouts;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>One record store and one payouts store per test class, on the class's database.</summary>
public sealed class PayoutStores : IAsyncLifetime
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private (PostgreSqlStore Records, PostgreSqlPayoutsStore Payouts, string ConnectionString)? _stores;

    public async Task<(PostgreSqlStore Records, PostgreSqlPayoutsStore Payouts, string ConnectionString)> GetAsync(Func<Task<string>> database)
    {
        await _gate.WaitAsync();
        try
        {
            if (_stores is null)
            {
                var connectionString = await database();
                var options = new PostgreSqlStoreOptions { ConnectionString = connectionString };
                var records = new PostgreSqlStore(options, TestStores.Json, SystemClockForRows.Instance);
                _stores = (records, new PostgreSqlPayoutsStore(records, options), connectionString);
            }

            return _stores.Value;
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_stores is { } stores)
        {
            await stores.Payouts.DisposeAsync();
            await stores.Records.DisposeAsync();
        }

        _gate.Dispose();
    }

    /// <summary>Row timestamps only; the services under test stamp records with their own manual clock.</summary>
    private sealed class SystemClockForRows : IClock
    {
        public static SystemClockForRows Instance { get; } = new();

        public Instant GetCurrentInstant() => Instant.FromUtc(2026, 1, 1, 0, 0);
    }
}

/// <summary>The mass payouts specification (tests/PaymentsKit.Core.Tests/Payouts) on PostgreSQL, plus what only PostgreSQL has.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlDistributionTests(PostgresServerFixture postgres, PayoutStores shared) : DistributionSpecification, IClassFixture<PayoutStores>
{
    protected override int PropertyIterations => 15;

    protected override int TenancyPropertyIterations => 10;

    protected override async Task<Stores> CreateStoresAsync()
    {
        var (records, payouts, _) = await shared.GetAsync(() => postgres.DatabaseForClassAsync(GetType()));
        return new Stores(records, payouts, payouts);
    }

    private async Task<string> ConnectionStringAsync() => (await shared.GetAsync(() => postgres.DatabaseForClassAsync(GetType()))).ConnectionString;

    private (PostgreSqlStore Records, PostgreSqlPayoutsStore Payouts)? _otherHost;

    protected override async Task<Stores> CreateOtherHostStoresAsync()
    {
        if (_otherHost is null)
        {
            var options = new PostgreSqlStoreOptions { ConnectionString = await ConnectionStringAsync() };
            var records = TestStores.Create(options.ConnectionString);
            _otherHost = (records, new PostgreSqlPayoutsStore(records, options));
        }

        return new Stores(_otherHost.Value.Records, _otherHost.Value.Payouts, _otherHost.Value.Payouts);
    }

    public override async Task DisposeAsync()
    {
        if (_otherHost is { } other)
        {
            await other.Payouts.DisposeAsync();
            await other.Records.DisposeAsync();
        }
    }

    [Fact]
    public async Task Records_Fill_The_Seeds_Columns_And_Holders_The_Holder_Table()
    {
        var service = Service();
        var asset = await AssetAsync(service, decimals: 2);
        var distribution = await service.CreateDistributionAsync(
            Tenant, Fixed(asset, 12.5m, DistributionExecution.Scheduled) with { ScheduledTime = new LocalDateTime(2026, 1, 1, 0, 0) });
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(3, 0, 1));
        await service.ExecuteAsync(Tenant, distribution.Id);

        await using var dataSource = NpgsqlDataSource.Create(await ConnectionStringAsync());
        await using (var command = dataSource.CreateCommand(
            "SELECT token_id, symbol, total_supply, decimals, payment_token_id, lifecycle_contract_id FROM asset WHERE id = $1"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = asset.Id.Value });
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal((asset.TokenId, "ACME", 1_000_000_000L, 2, "0.0.429274", "0.0.555"), (reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt32(3), reader.GetString(4), reader.GetString(5)));
        }

        await using (var command = dataSource.CreateCommand(
            "SELECT asset_id, type, execution_type, payout_type, amount, scheduled_time, status, executed_at FROM distribution WHERE id = $1"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = distribution.Id.Value });
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal(asset.Id.ToString(), reader.GetString(0));
            Assert.Equal(("DIVIDEND", "SCHEDULED", "FIXED", 12.5m), (reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetDecimal(4)));
            Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), reader.GetDateTime(5));
            Assert.Equal("COMPLETED", reader.GetString(6));
            Assert.Equal(Clock.GetCurrentInstant().ToDateTimeUtc(), reader.GetDateTime(7));
        }

        await using (var command = dataSource.CreateCommand(
            "SELECT account_id, balance, payment_amount, paid, state, batch_number, attempts FROM holder WHERE distribution_id = $1 ORDER BY account_id"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = distribution.Id.Value });
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<(string, long, long, bool, string, int?, int)>();
            while (await reader.ReadAsync())
            {
                rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetBoolean(3), reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetInt32(5), reader.GetInt32(6)));
            }

            Assert.Equal(
                [(Account(0), 3L, 9_375_000L, true, "PAID", 1, 1), (Account(1), 0L, 0L, false, "PENDING", null, 0), (Account(2), 1L, 3_125_000L, true, "PAID", 1, 1)],
                rows);
        }

        await using (var command = dataSource.CreateCommand(
            "SELECT batch_number, total_holders, successful_payments, failed_payments, status, transaction_id IS NOT NULL FROM batch_payout WHERE distribution_id = $1"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = distribution.Id.ToString() });
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal((1, 2, 2, 0, "COMPLETED", true), (reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetString(4), reader.GetBoolean(5)));
        }

        // The unique (asset, distribution, account) is the database's too.
        await using (var command = dataSource.CreateCommand(
            "INSERT INTO holder (id, tenant_id, asset_id, distribution_id, account_id, balance, payment_amount, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, 1, now(), now())"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = Guid.CreateVersion7() });
            command.Parameters.Add(new NpgsqlParameter { Value = Tenant.Value });
            command.Parameters.Add(new NpgsqlParameter { Value = asset.Id.Value });
            command.Parameters.Add(new NpgsqlParameter { Value = distribution.Id.Value });
            command.Parameters.Add(new NpgsqlParameter { Value = Account(0) });
            var ex = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.Equal(("23505", "idx_holder_unique"), (ex.SqlState, ex.ConstraintName));
        }
    }

    [Fact]
    public async Task The_Due_Query_Reads_The_Partial_Index_On_Pending_Scheduled_Times()
    {
        await using var dataSource = NpgsqlDataSource.Create(await ConnectionStringAsync());
        await using var connection = await dataSource.OpenConnectionAsync();
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection))
        {
            await off.ExecuteNonQueryAsync();
        }

        await using var explain = new NpgsqlCommand(
            "EXPLAIN SELECT tenant_id, id, scheduled_time FROM distribution WHERE status = 'PENDING' AND scheduled_time <= $1 ORDER BY scheduled_time, id LIMIT $2",
            connection);
        explain.Parameters.Add(new NpgsqlParameter { Value = Clock.GetCurrentInstant().ToDateTimeUtc() });
        explain.Parameters.Add(new NpgsqlParameter { Value = 100 });
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }

        Assert.Contains(plan, line => line.Contains("idx_distribution_scheduled", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Seventy_Thousand_Holders_Are_Copied_In_One_Transaction_With_Progress()
    {
        var service = Service();
        var asset = await AssetAsync(service, supply: long.MaxValue);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 1_000_000m));
        var holders = Enumerable.Range(0, 70_000).Select(i => new HolderBalance("0.0." + (7_000_000 - i).ToString(CultureInfo.InvariantCulture), 1 + (i % 97))).ToArray();
        var progress = new List<HolderImportProgress>();

        var info = await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, holders, new SyncProgress<HolderImportProgress>(progress.Add));

        Assert.Equal(70_000, info.Holders);
        Assert.Equal(Usd6(1_000_000m), info.Allocated);
        Assert.Equal([new HolderImportProgress(65_536, 70_000), new HolderImportProgress(70_000, 70_000)], progress);
        var totals = await service.GetHolderTotalsAsync(Tenant, distribution.Id);
        Assert.Equal((70_000, 70_000, 1_000_000_000_000L), (totals.Holders, totals.Pending, totals.AllocatedUnits));
        var plan = await service.PlanBatchesAsync(Tenant, distribution.Id);
        Assert.Equal(7_778, plan.Count);
        var first = await service.ListHoldersAsync(Tenant, distribution.Id, null, 2);
        Assert.Equal(["0.0.6930001", "0.0.6930002"], first.Select(h => h.AccountId));
    }

    [Fact]
    public void UsePostgreSql_Moves_Holders_And_The_Due_Query_To_PostgreSQL()
    {
        using var provider = new ServiceCollection().AddPaymentsKit().WithTestSecret().UsePostgreSql("Host=127.0.0.1;Database=unused").Services.BuildServiceProvider();

        var payouts = provider.GetRequiredService<PostgreSqlPayoutsStore>();
        Assert.Same(payouts, provider.GetRequiredService<IHolderSnapshotStore>());
        Assert.Same(payouts, provider.GetRequiredService<IDueDistributionIndex>());
        Assert.IsType<DistributionService>(provider.GetRequiredService<IDistributionService>());
    }
}
