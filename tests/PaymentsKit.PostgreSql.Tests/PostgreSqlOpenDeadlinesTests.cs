using NodaTime;
using Npgsql;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// Deadline records live in paymentskit_deadlines (migration 0032), whose partial index holds the open ones only: the
/// sweep's list reads those rows and none of the closed ones, and deadlines written before 0032 move there.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlOpenDeadlinesTests(PostgresServerFixture postgres)
{
    private const int Closed = 300;
    private const int Open = 3;

    private readonly ManualClock _clock = new();
    private readonly MerchantId _tenant = MerchantId.FromGuid(Guid.CreateVersion7());

    [Fact]
    public async Task The_Sweep_List_Reads_Only_The_Open_Deadline_Rows_Through_The_Partial_Index()
    {
        var connectionString = await postgres.CreateDatabaseAsync("opendeadlines");
        await using (var store = TestStores.Create(connectionString))
        {
            var ledger = new LedgerService(store, _clock, new AssetRegistry());
            await ReserveAsync(ledger, Closed, Duration.FromSeconds(10));
            await ReserveAsync(ledger, Open, Duration.FromDays(1));
            _clock.Advance(Duration.FromHours(1));
            Assert.Equal(Closed, (await ledger.ExpireDueAsync(_clock.GetCurrentInstant())).Count);
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var connection = await dataSource.OpenConnectionAsync();

        // Closing a deadline leaves a dead entry in the partial index until vacuum removes it, as for any updated row.
        await using (var vacuum = new NpgsqlCommand("VACUUM ANALYZE paymentskit_deadlines", connection))
        {
            await vacuum.ExecuteNonQueryAsync();
        }

        // A table this small is cheapest to read whole; priced out, the plain index scans are left, and the open index is
        // the one that reads just the open rows, already in id order (the primary key would read and filter every row).
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off; SET enable_bitmapscan = off", connection))
        {
            await off.ExecuteNonQueryAsync();
        }

        var sql = new PostgreSqlStore.TableSql(DeadlineRecords.Table);

        // The store's statements are prepared, so the generic plan is the one that runs from the sixth call on.
        foreach (var mode in new[] { "auto", "force_generic_plan" })
        {
            await using (var set = new NpgsqlCommand($"SET plan_cache_mode = {mode}", connection))
            {
                await set.ExecuteNonQueryAsync();
            }

            var plan = await ExplainAsync(
                connection, sql.ListBy(DeadlineRecords.OpenIndex, after: false), LedgerCollections.TransferTimeouts.Name, Guid.Empty, 257, DeadlineRecords.Open);
            Assert.True(plan.Contains("Index Scan using paymentskit_deadlines_open_idx on paymentskit_deadlines", StringComparison.Ordinal), plan);
            Assert.Contains($"rows={Open} ", plan, StringComparison.Ordinal);
            Assert.DoesNotContain("Sort", plan, StringComparison.Ordinal);
            Assert.DoesNotContain("Rows Removed by Filter", plan, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Deadlines_Written_Before_0032_Move_To_Their_Table_And_The_Open_Ones_Are_Still_Acted_On()
    {
        var connectionString = await postgres.CreateDatabaseAsync("deadlines0032");
        List<LedgerTransfer> open;
        await using (var before = TestStores.Create(connectionString))
        {
            var ledger = new LedgerService(before, _clock, new AssetRegistry());
            await ReserveAsync(ledger, Closed, Duration.FromSeconds(10));
            open = await ReserveAsync(ledger, Open, Duration.FromHours(2));
            _clock.Advance(Duration.FromHours(1));
            Assert.Equal(Closed, (await ledger.ExpireDueAsync(_clock.GetCurrentInstant())).Count);
        }

        // The schema as it was before 0032: deadlines in the shared record table.
        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
        await using (var back = dataSource.CreateCommand("""
            INSERT INTO paymentskit_records (collection, id, tenant_id, version, data, created_at, updated_at)
                SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_deadlines;
            DROP TABLE paymentskit_deadlines;
            DELETE FROM paymentskit_migrations WHERE version >= 32;
            """))
        {
            await back.ExecuteNonQueryAsync();
        }

        // A new store applies 0032 on first use, as an upgraded host does.
        await using var after = TestStores.Create(connectionString);
        var upgraded = new LedgerService(after, _clock, new AssetRegistry());
        _clock.Advance(Duration.FromHours(2));
        Assert.Equal(open.Select(t => t.Id), (await upgraded.ExpireDueAsync(_clock.GetCurrentInstant())).Select(t => t.Id));

        await using var rows = NpgsqlDataSource.Create(connectionString);
        await using var counts = rows.CreateCommand(
            "SELECT (SELECT count(*) FROM paymentskit_deadlines WHERE open_key IS NULL), (SELECT count(*) FROM paymentskit_records WHERE collection = 'ledger_transfer_timeout')");
        await using var reader = await counts.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((Closed + Open, 0L), (reader.GetInt64(0), reader.GetInt64(1)));
    }

    private async Task<List<LedgerTransfer>> ReserveAsync(LedgerService ledger, int count, Duration timeout)
    {
        var payer = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest($"payer-{timeout}", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payee = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest($"payee-{timeout}", "Payee", AssetRegistry.Usdc, LedgerSide.Credit));
        var reserved = new List<LedgerTransfer>();
        for (var i = 0; i < count; i++)
        {
            // A millisecond apart: deadlines list in id order, and ids made in one millisecond are in no particular order.
            reserved.Add(await ledger.ReserveAsync(
                _tenant, new ReserveLedgerTransferRequest(payer.Id, payee.Id, Money.Of(1, AssetRegistry.Usdc)) { Timeout = timeout + Duration.FromMilliseconds(i) }));
        }

        return reserved;
    }

    private static async Task<string> ExplainAsync(NpgsqlConnection connection, string sql, params object[] parameters)
    {
        await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, connection);
        foreach (var value in parameters)
        {
            explain.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        var plan = new List<string>();
        await using var reader = await explain.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            plan.Add(reader.GetString(0));
        }

        return string.Join("\n", plan);
    }
}
