using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using Npgsql;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>What only the PostgreSQL store has: its table layout, retries, connection failures and DI wiring.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlStoreTests(PostgresServerFixture postgres)
{
    private static readonly RecordCollection<Widget> Widgets = ConformanceCollections.Widgets;
    private readonly ManualClock _clock = new(Instant.FromUtc(2026, 5, 1, 9, 30));

    [Fact]
    public async Task Rows_Hold_Tenant_Version_Clock_Timestamps_And_The_Record_As_Snake_Case_Json()
    {
        var connectionString = await postgres.DatabaseForClassAsync(GetType());
        await using var store = TestStores.Create(connectionString, clock: _clock);
        var widget = NewWidget("sku-" + Guid.NewGuid().ToString("N"));
        var created = _clock.GetCurrentInstant();
        await InsertAsync(store, widget);
        _clock.Advance(Duration.FromMinutes(5));
        await using (var unit = await store.BeginAsync())
        {
            unit.Update(Widgets, widget with { Counter = 1 }, 1);
            await unit.CommitAsync();
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand(
            "SELECT tenant_id, version, created_at, updated_at, data->>'merchant_id', data->'price'->>'amount', data->>'status' "
            + "FROM paymentskit_records WHERE collection = $1 AND id = $2");
        command.Parameters.Add(new NpgsqlParameter { Value = Widgets.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = widget.Id.Value });
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(widget.MerchantId.Value, reader.GetGuid(0));
        Assert.Equal(2, reader.GetInt64(1));
        Assert.Equal(created, Instant.FromDateTimeUtc(reader.GetDateTime(2)));
        Assert.Equal(created + Duration.FromMinutes(5), Instant.FromDateTimeUtc(reader.GetDateTime(3)));
        Assert.Equal(widget.MerchantId.ToString(), reader.GetString(4));
        Assert.Equal("9.99", reader.GetString(5));
        Assert.Equal("draft", reader.GetString(6));
    }

    [Fact]
    public async Task A_Deadlocked_Commit_Is_Retried_And_Succeeds()
    {
        var connectionString = await postgres.DatabaseForClassAsync(GetType());
        using var logs = new RecordingLoggerFactory();
        await using var store = TestStores.Create(connectionString, o => o.MaxRetries = 3, _clock, logs);

        await DeadlockAsync(store, connectionString, async (commit, a, b) =>
        {
            await commit;
            Assert.Equal(2, (await GetAsync(store, a))?.Version);
            Assert.Equal(2, (await GetAsync(store, b))?.Version);
        });

        Assert.Contains(logs.Entries, e => e.Message.Contains("40P01", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_Deadlocked_Commit_Without_Retries_Is_A_Transient_Conflict_That_Wrote_Nothing()
    {
        var connectionString = await postgres.DatabaseForClassAsync(GetType());
        await using var store = TestStores.Create(connectionString, o => o.MaxRetries = 0, _clock);

        await DeadlockAsync(store, connectionString, async (commit, a, b) =>
        {
            var error = await Assert.ThrowsAsync<PaymentsKitException>(() => commit);
            Assert.Equal(PaymentsKitErrorCodes.ConcurrencyConflict, error.Code);
            Assert.True(error.IsTransient);
            Assert.Equal("40P01", error.Context["sqlState"]);
            Assert.Equal(1, (await GetAsync(store, a))?.Version);
            Assert.Equal(1, (await GetAsync(store, b))?.Version);
        });
    }

    [Fact]
    public async Task An_Unreachable_Server_Is_A_Transient_Storage_Failure()
    {
        var connectionString = $"Host=127.0.0.1;Port={ClosedPort()};Username=nobody;Timeout=5";
        await using (var migrating = TestStores.Create(connectionString))
        {
            var error = await Assert.ThrowsAsync<PaymentsKitException>(() => migrating.BeginAsync().AsTask());
            Assert.Equal(PaymentsKitErrorCodes.StorageFailure, error.Code);
            Assert.True(error.IsTransient);
        }

        await using var store = TestStores.Create(connectionString, o => o.ApplyMigrationsOnStartup = false);
        await using var unit = await store.BeginAsync();
        var read = await Assert.ThrowsAsync<PaymentsKitException>(() => unit.GetAsync(Widgets, Guid.NewGuid(), Guid.NewGuid()).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.StorageFailure, read.Code);
        Assert.True(read.IsTransient);
        unit.Insert(Widgets, NewWidget(null));
        var commit = await Assert.ThrowsAsync<PaymentsKitException>(() => unit.CommitAsync().AsTask());
        Assert.Equal(PaymentsKitErrorCodes.StorageFailure, commit.Code);
        Assert.True(commit.IsTransient);
    }

    [Fact]
    public async Task A_Failed_First_Migration_Is_Tried_Again_By_The_Next_Unit_Of_Work()
    {
        var connectionString = await postgres.CreateDatabaseAsync("retry_migration");
        await using var store = TestStores.Create(connectionString, o => o.Schema = "late");

        // A table where the migration wants its own makes the first attempt fail.
        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
        await using (var command = dataSource.CreateCommand("CREATE SCHEMA late; CREATE TABLE late.paymentskit_records (x int)"))
        {
            await command.ExecuteNonQueryAsync();
        }

        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => store.BeginAsync().AsTask());
        Assert.Equal(PaymentsKitErrorCodes.StorageFailure, error.Code);

        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
        await using (var command = dataSource.CreateCommand("DROP TABLE late.paymentskit_records"))
        {
            await command.ExecuteNonQueryAsync();
        }

        var widget = NewWidget(null);
        await InsertAsync(store, widget);
        Assert.Equal(1, (await GetAsync(store, widget))?.Version);
    }

    [Fact]
    public async Task AddPaymentsKit_UsePostgreSql_Runs_On_PostgreSQL_With_The_Hosts_Clock()
    {
        var connectionString = await postgres.DatabaseForClassAsync(GetType());
        var services = new ServiceCollection();
        services.AddPaymentsKit().UseClock(_clock).WithTestSecret().UsePostgreSql(connectionString);
        await using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IPaymentsStore>();
        var widget = NewWidget("sku-" + Guid.NewGuid().ToString("N"));

        await InsertAsync(store, widget);

        Assert.Equal(widget.Id, (await GetAsync(store, widget))?.Value.Id);
        Assert.Empty(await provider.GetRequiredService<IPaymentsKitMigrator>().MigrateAsync());
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand("SELECT created_at FROM paymentskit_records WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = widget.Id.Value });
        Assert.Equal(_clock.GetCurrentInstant().ToDateTimeUtc(), await command.ExecuteScalarAsync());
    }

    /// <summary>
    /// Makes a commit of updates to records A then B deadlock with another transaction that holds B
    /// and then asks for A. Each waiter checks for a deadlock once, deadlock_timeout (1 s by default)
    /// after it starts waiting, and the first to find the cycle aborts itself: the commit, which
    /// started waiting first and checks after the cycle formed.
    /// </summary>
    private async Task DeadlockAsync(PostgreSqlStore store, string connectionString, Func<Task, Widget, Widget, Task> verify)
    {
        var a = NewWidget(null);
        var b = NewWidget(null);
        await InsertAsync(store, a, b);

        // A data source of its own, so the connection is closed (not pooled) when the test ends.
        await using var blockerSource = NpgsqlDataSource.Create(connectionString);
        await using var blocker = await blockerSource.OpenConnectionAsync();

        // PostgreSQL aborts whichever waiter runs its deadlock check first; on a loaded machine that
        // could be the blocker. A long timeout on the blocker's session leaves the victim to the store.
        await using (var patience = new NpgsqlCommand("SET deadlock_timeout = '60s'", blocker))
        {
            await patience.ExecuteNonQueryAsync();
        }

        await using var transaction = await blocker.BeginTransactionAsync();
        await LockAsync(blocker, b);
        var blockerPid = blocker.ProcessID;

        var unit = await store.BeginAsync();
        unit.Update(Widgets, a with { Counter = 1 }, 1);
        unit.Update(Widgets, b with { Counter = 1 }, 1);
        var commit = unit.CommitAsync().AsTask();
        await WaitUntilBlockedByAsync(connectionString, blockerPid);

        await LockAsync(blocker, a);
        await transaction.CommitAsync();
        await verify(commit, a, b);
        await unit.DisposeAsync();
    }

    private static async Task LockAsync(NpgsqlConnection connection, Widget widget)
    {
        await using var command = new NpgsqlCommand("SELECT 1 FROM paymentskit_records WHERE collection = $1 AND id = $2 FOR UPDATE", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Widgets.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = widget.Id.Value });
        await command.ExecuteNonQueryAsync();
    }

    private static async Task WaitUntilBlockedByAsync(string connectionString, int blockerPid)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        for (var i = 0; i < 200; i++)
        {
            await using var command = dataSource.CreateCommand("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))");
            command.Parameters.Add(new NpgsqlParameter { Value = blockerPid });
            if ((long)(await command.ExecuteScalarAsync())! > 0)
            {
                return;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException("The commit never waited for the blocker's lock.");
    }

    private Widget NewWidget(string? sku)
    {
        _clock.Advance(Duration.FromMilliseconds(1));
        return new Widget(
            TypedId.New<WidgetId>(_clock), new MerchantId(Guid.NewGuid()), "widget", sku, Money.Of(9.99m, AssetRegistry.Usd), null,
            _clock.GetCurrentInstant(), null, WidgetStatus.Draft, new Dictionary<string, string>(), 0);
    }

    private static async Task InsertAsync(IPaymentsStore store, params Widget[] widgets)
    {
        await using var unit = await store.BeginAsync();
        foreach (var widget in widgets)
        {
            unit.Insert(Widgets, widget);
        }

        await unit.CommitAsync();
    }

    private static async Task<Versioned<Widget>?> GetAsync(IPaymentsStore store, Widget widget)
    {
        await using var unit = await store.BeginAsync();
        return await unit.GetAsync(Widgets, widget.MerchantId.Value, widget.Id.Value);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
