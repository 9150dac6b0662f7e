using System.Security.Cryptography;
using System.Text;
using Npgsql;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

[Collection(PostgresServerFixture.CollectionName)]
public sealed class MigrationTests(PostgresServerFixture postgres)
{
    private static readonly RecordCollection<Widget> Widgets = ConformanceCollections.Widgets;

    [Fact]
    public void Embedded_Migrations_Are_Numbered_From_1_Uniquely_And_Checksummed_With_Sha256()
    {
        var migrations = PostgreSqlMigrator.Embedded.OrderBy(m => m.Info.Version).ToList();

        // Modules own number ranges (invoicing and orchestration tables from 0020), so gaps are expected.
        Assert.NotEmpty(migrations);
        Assert.Equal(1, migrations[0].Info.Version);
        Assert.Equal(migrations.Count, migrations.Select(m => m.Info.Version).Distinct().Count());
        Assert.Equal("records", migrations[0].Info.Name);
        Assert.All(migrations, m =>
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(m.Sql))), m.Info.Checksum));
    }

    [Fact]
    public void A_Checksum_Ignores_Line_Endings_But_Not_Content()
    {
        var lf = Migration.Create(1, "x", "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n");
        var crlf = Migration.Create(1, "x", "CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n");
        var edited = Migration.Create(1, "x", "CREATE TABLE a (id int);\nCREATE TABLE c (id int);\n");

        Assert.Equal(lf.Info.Checksum, crlf.Info.Checksum);
        Assert.NotEqual(lf.Info.Checksum, edited.Info.Checksum);
        Assert.Matches("^[0-9a-f]{64}$", lf.Info.Checksum);
    }

    [Fact]
    public void Duplicate_Migration_Numbers_Are_Rejected()
    {
        using var dataSource = NpgsqlDataSource.Create("Host=127.0.0.1");
        var error = Assert.Throws<InvalidOperationException>(() => new PostgreSqlMigrator(
            dataSource, "public", [Migration.Create(1, "a", "SELECT 1"), Migration.Create(1, "b", "SELECT 2")]));
        Assert.Contains("0001_b", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MigrateAsync_Applies_Every_Migration_Once_And_Then_Nothing()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_once");
        await using var store = TestStores.Create(connectionString, o => o.ApplyMigrationsOnStartup = false);

        var first = await store.Migrator.MigrateAsync();
        var second = await store.Migrator.MigrateAsync();

        Assert.Equal(store.Migrator.Migrations, first);
        Assert.Empty(second);
        Assert.Equal(
            store.Migrator.Migrations.Select(m => (m.Version, m.Name, m.Checksum)),
            await HistoryAsync(connectionString, "public"));
    }

    [Fact]
    public async Task Concurrent_MigrateAsync_From_Four_Processes_Applies_Each_Migration_Once()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_race");
        var stores = Enumerable.Range(0, 4).Select(_ => TestStores.Create(connectionString, o => o.ApplyMigrationsOnStartup = false)).ToList();
        try
        {
            var start = new AsyncBarrier(stores.Count);
            var applied = await Task.WhenAll(stores.Select(s => Task.Run(async () =>
            {
                await start.SignalAndWaitAsync(TimeSpan.FromSeconds(30));
                return await s.Migrator.MigrateAsync();
            })));

            var all = applied.SelectMany(a => a).ToList();
            Assert.Equal(stores[0].Migrator.Migrations.Count, all.Count);
            Assert.Equal(stores[0].Migrator.Migrations, all.OrderBy(m => m.Version));
            Assert.Equal(stores[0].Migrator.Migrations.Count, (await HistoryAsync(connectionString, "public")).Count);
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task An_Applied_Migration_Whose_Recorded_Checksum_Differs_Is_An_Error()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_tampered");
        await using var store = TestStores.Create(connectionString, o => o.ApplyMigrationsOnStartup = false);
        await store.Migrator.MigrateAsync();
        await ExecuteAsync(connectionString, "UPDATE paymentskit_migrations SET checksum = 'feed' WHERE version = 1");

        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => store.Migrator.MigrateAsync().AsTask());

        Assert.Equal(PaymentsKitErrorCodes.StorageFailure, error.Code);
        Assert.False(error.IsTransient);
        Assert.Equal("0001_records", error.Context["migration"]);
        Assert.Equal("feed", error.Context["appliedChecksum"]);
        Assert.Equal(store.Migrator.Migrations[0].Checksum, error.Context["checksum"]);
        Assert.Contains("0001_records", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Shipped_Migration_Changed_After_It_Was_Applied_Is_An_Error()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_edited");
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var original = Migration.Create(1, "things", "CREATE TABLE things (id int PRIMARY KEY);");
        await new PostgreSqlMigrator(dataSource, "public", [original]).MigrateAsync();
        var edited = Migration.Create(1, "things", "CREATE TABLE things (id bigint PRIMARY KEY);");

        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => new PostgreSqlMigrator(dataSource, "public", [edited]).MigrateAsync().AsTask());

        Assert.Equal(PaymentsKitErrorCodes.StorageFailure, error.Code);
        Assert.Equal("0001_things", error.Context["migration"]);
    }

    [Fact]
    public async Task Later_Migrations_Apply_In_Number_Order_After_Those_Already_Applied()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_later");
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var first = Migration.Create(1, "log", "CREATE TABLE log (step text NOT NULL, at serial);");
        await new PostgreSqlMigrator(dataSource, "public", [first]).MigrateAsync();

        // Listed out of order on purpose: the number decides.
        IReadOnlyList<Migration> shipped =
        [
            Migration.Create(12, "third", "INSERT INTO log (step) VALUES ('12');"),
            first,
            Migration.Create(2, "second", "INSERT INTO log (step) VALUES ('2');"),
        ];
        var applied = await new PostgreSqlMigrator(dataSource, "public", shipped).MigrateAsync();

        Assert.Equal([2, 12], applied.Select(m => m.Version));
        await using var command = dataSource.CreateCommand("SELECT string_agg(step, ',' ORDER BY at) FROM log");
        Assert.Equal("2,12", await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_Failing_Migration_Keeps_Nothing_Of_Itself_And_Releases_The_Lock()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_failing");
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var good = Migration.Create(1, "good", "CREATE TABLE good (id int);");
        var bad = Migration.Create(2, "bad", "CREATE TABLE half_done (id int);\nSELECT 1 / 0;");

        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => new PostgreSqlMigrator(dataSource, "public", [good, bad]).MigrateAsync().AsTask());

        Assert.Equal(PaymentsKitErrorCodes.StorageFailure, error.Code);
        Assert.Equal("22012", error.Context["sqlState"]);
        Assert.Equal([(1, "good", good.Info.Checksum)], await HistoryAsync(connectionString, "public"));
        await using (var command = dataSource.CreateCommand("SELECT to_regclass('half_done') IS NULL"))
        {
            Assert.Equal(true, await command.ExecuteScalarAsync());
        }

        // The advisory lock went with the failure: a fixed release applies at once.
        var fixedBad = Migration.Create(2, "bad", "CREATE TABLE half_done (id int);");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var applied = await new PostgreSqlMigrator(dataSource, "public", [good, fixedBad]).MigrateAsync(timeout.Token);
        Assert.Equal([2], applied.Select(m => m.Version));
    }

    [Fact]
    public async Task MigrateAsync_Waits_For_The_Advisory_Lock_Held_By_Another_Migrator()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_locked");
        await using var store = TestStores.Create(connectionString, o => o.ApplyMigrationsOnStartup = false);
        await using var holderSource = NpgsqlDataSource.Create(connectionString);
        var holder = await holderSource.OpenConnectionAsync();
        await using (holder)
        {
            var key = LockKeyOf(store);
            await using (var command = new NpgsqlCommand("SELECT pg_advisory_lock($1)", holder) { Parameters = { new() { Value = key } } })
            {
                await command.ExecuteNonQueryAsync();
            }

            var migrating = store.Migrator.MigrateAsync().AsTask();
            await Task.Delay(300);
            Assert.False(migrating.IsCompleted);

            await using (var command = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", holder) { Parameters = { new() { Value = key } } })
            {
                await command.ExecuteNonQueryAsync();
            }

            Assert.Equal(store.Migrator.Migrations, await migrating.WaitAsync(TimeSpan.FromSeconds(10)));
        }
    }

    [Fact]
    public async Task The_Script_Holds_Every_Migration_And_Applying_It_Leaves_Nothing_For_MigrateAsync()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_script");
        await using var store = TestStores.Create(connectionString, o =>
        {
            o.Schema = "dba_applied";
            o.ApplyMigrationsOnStartup = false;
        });
        var script = store.Migrator.GetScript();

        foreach (var migration in PostgreSqlMigrator.Embedded)
        {
            Assert.Contains(migration.Sql.TrimEnd(), script, StringComparison.Ordinal);
            Assert.Contains(migration.Info.Checksum, script, StringComparison.Ordinal);
        }

        Assert.Contains("CREATE SCHEMA IF NOT EXISTS \"dba_applied\"", script, StringComparison.Ordinal);
        await ExecuteAsync(connectionString, script);

        Assert.Empty(await store.Migrator.MigrateAsync());
        var widget = new Widget(
            new WidgetId(Guid.CreateVersion7()), new MerchantId(Guid.NewGuid()), "w", "sku-script", Money.Of(1m, AssetRegistry.Usd), null,
            NodaTime.Instant.FromUtc(2026, 1, 1, 0, 0), null, WidgetStatus.Draft, new Dictionary<string, string>(), 0);
        await using (var unit = await store.BeginAsync())
        {
            unit.Insert(Widgets, widget);
            await unit.CommitAsync();
        }

        await using var reader = await store.BeginAsync();
        Assert.Equal(widget.Id, (await reader.FindAsync(Widgets, widget.MerchantId.Value, "sku", "sku-script"))?.Value.Id);
    }

    [Fact]
    public async Task The_Store_Migrates_Lazily_Once_On_First_Use_Even_When_Many_Units_Begin_At_Once()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_lazy");
        await using var store = TestStores.Create(connectionString, o => o.Schema = "lazy");
        Assert.Empty(await HistoryAsync(connectionString, "lazy"));

        var units = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () => await store.BeginAsync())));
        foreach (var unit in units)
        {
            await unit.DisposeAsync();
        }

        Assert.Equal(store.Migrator.Migrations.Count, (await HistoryAsync(connectionString, "lazy")).Count);
        Assert.Empty(await store.Migrator.MigrateAsync());
    }

    [Fact]
    public async Task Without_Migrations_On_Startup_The_Store_Leaves_The_Schema_Alone()
    {
        var connectionString = await postgres.CreateDatabaseAsync("migrate_off");
        await using var store = TestStores.Create(connectionString, o => o.ApplyMigrationsOnStartup = false);

        await using var unit = await store.BeginAsync();
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => unit.GetAsync(Widgets, Guid.NewGuid(), Guid.NewGuid()).AsTask());

        Assert.Equal(PaymentsKitErrorCodes.StorageFailure, error.Code);
        Assert.Equal("42P01", error.Context["sqlState"]);
        Assert.False(error.IsTransient);
    }

    private static async Task<List<(int Version, string Name, string Checksum)>> HistoryAsync(string connectionString, string schema)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var exists = dataSource.CreateCommand("SELECT to_regclass($1) IS NOT NULL");
        exists.Parameters.Add(new NpgsqlParameter { Value = schema + ".paymentskit_migrations" });
        if (await exists.ExecuteScalarAsync() is not true)
        {
            return [];
        }

        await using var command = dataSource.CreateCommand($"SELECT version, name, checksum FROM \"{schema}\".paymentskit_migrations ORDER BY version");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(int, string, string)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt32(0), reader.GetString(1), reader.GetString(2)));
        }

        return rows;
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    private static long LockKeyOf(PostgreSqlStore store)
    {
        // The script takes the same lock as MigrateAsync; read its key from there rather than re-deriving it.
        var line = store.Migrator.GetScript().Split('\n').Single(l => l.StartsWith("SELECT pg_advisory_xact_lock(", StringComparison.Ordinal));
        return long.Parse(line["SELECT pg_advisory_xact_lock(".Length..line.IndexOf(')', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
    }
}
