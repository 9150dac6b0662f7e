using NodaTime;
using Npgsql;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Streaming;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// The stream service specification (tests/PaymentsKit.Core.Tests/Streaming) on PostgreSQL, one database for
/// the class, plus the seed's <c>streams</c> table as the migration shapes it.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlStreamServiceTests(PostgresServerFixture postgres, ClassStore shared) : StreamServiceSpecification, IClassFixture<ClassStore>
{
    protected override int PropertyIterations => 25;

    protected override int ConcurrentPropertyIterations => 12;

    protected override int TenancyPropertyIterations => 10;

    [Fact]
    public async Task Streams_Live_In_The_Seed_Table_With_Every_Column_Generated_From_The_Record()
    {
        var parties = await PartiesAsync(100);
        var end = Now + Duration.FromDays(1);
        var created = await Streams.CreateAsync(
            Tenant,
            Request(parties, 10, 0.000115740m, Now, end) with
            {
                ContractAddress = "CCONTRACT",
                TransactionHash = "0x" + new string('f', 64),
                ChainId = "stellar-testnet",
                Metadata = new Dictionary<string, string> { ["order"] = "42" },
            });
        Clock.Advance(Duration.FromHours(12) + Duration.FromTicks(1234567));
        var stream = (await Streams.PauseAsync(Tenant, created.Stream.Id, By)).Stream;

        await using var dataSource = NpgsqlDataSource.Create(await ConnectionStringAsync());
        await using var command = dataSource.CreateCommand(
            "SELECT tenant_id, version, payer, recipient, status::text, rate_per_second, start_time, end_time, total_amount, settled_amount, "
            + "withdrawn_amount, refunded_amount, last_settled_at, chain_id, contract_address, transaction_hash, metadata "
            + "FROM streams WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = stream.Id.Value });
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(Tenant.Value, reader.GetGuid(0));
        Assert.Equal(2, reader.GetInt64(1));
        Assert.Equal(("payer-1", "recipient-1", "paused"), (reader.GetString(2), reader.GetString(3), reader.GetString(4)));
        Assert.Equal((0.000115740m, 10m, 4.999982m, 0m, 0m), (reader.GetDecimal(5), reader.GetDecimal(8), reader.GetDecimal(9), reader.GetDecimal(10), reader.GetDecimal(11)));
        Assert.Equal(stream.StartTime, Instant.FromDateTimeUtc(reader.GetDateTime(6)));
        Assert.Equal(end, Instant.FromDateTimeUtc(reader.GetDateTime(7)));
        Assert.Equal(stream.LastSettledAt, Instant.FromDateTimeUtc(reader.GetDateTime(12)));
        Assert.Equal(Now - Duration.FromTicks(7), stream.LastSettledAt);
        Assert.Equal(("stellar-testnet", "CCONTRACT", "0x" + new string('f', 64)), (reader.GetString(13), reader.GetString(14), reader.GetString(15)));
        Assert.Equal("{\"order\": \"42\"}", reader.GetString(16));
        Assert.False(await reader.ReadAsync());

        await using var elsewhere = dataSource.CreateCommand("SELECT count(*) FROM paymentskit_records WHERE collection = 'stream'");
        Assert.Equal(0L, await elsewhere.ExecuteScalarAsync());
    }

    [Fact]
    public async Task The_Streams_Table_Has_The_Seed_Enum_Column_Types_Defaults_And_Indexes()
    {
        await Streams.ListAsync(Tenant, null, 1);
        await using var dataSource = NpgsqlDataSource.Create(await ConnectionStringAsync());

        Assert.Equal(
            ["active", "paused", "cancelled", "completed"],
            await ListAsync(dataSource, "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'stream_status' ORDER BY e.enumsortorder"));
        Assert.Equal(
            ["streams_chain_id_idx", "streams_created_at_idx", "streams_payer_idx", "streams_pkey", "streams_recipient_idx", "streams_status_idx", "streams_tenant_idx"],
            await ListAsync(dataSource, "SELECT indexname FROM pg_indexes WHERE tablename = 'streams' ORDER BY indexname"));
        Assert.Equal(
            [
                "chain_id|character varying(50)|NO|ALWAYS|",
                "contract_address|character varying(255)|YES|ALWAYS|",
                "created_at|timestamp with time zone|NO|NEVER|now()",
                "end_time|timestamp with time zone|YES|ALWAYS|",
                "id|uuid|NO|NEVER|gen_random_uuid()",
                "last_settled_at|timestamp with time zone|NO|ALWAYS|",
                "metadata|text|YES|ALWAYS|",
                "payer|character varying(255)|NO|ALWAYS|",
                "rate_per_second|numeric(20,9)|NO|ALWAYS|",
                "recipient|character varying(255)|NO|ALWAYS|",
                "start_time|timestamp with time zone|NO|ALWAYS|",
                "status|stream_status|NO|ALWAYS|",
                "total_amount|numeric(20,9)|NO|ALWAYS|",
                "transaction_hash|character varying(66)|YES|ALWAYS|",
                "updated_at|timestamp with time zone|NO|NEVER|now()",
            ],
            await ListAsync(
                dataSource,
                "SELECT c.column_name || '|' || format_type(a.atttypid, a.atttypmod) || '|' || c.is_nullable || '|' || c.is_generated || '|' || coalesce(c.column_default, '') "
                + "FROM information_schema.columns c JOIN pg_attribute a ON a.attrelid = 'streams'::regclass AND a.attname = c.column_name "
                + "WHERE c.table_name = 'streams' AND c.column_name IN ('id', 'payer', 'recipient', 'status', 'rate_per_second', 'start_time', 'end_time', 'total_amount', "
                + "'last_settled_at', 'created_at', 'updated_at', 'chain_id', 'contract_address', 'transaction_hash', 'metadata') ORDER BY c.column_name"));
    }

    [Fact]
    public async Task A_Row_Written_As_The_Seed_Describes_Gets_The_Seed_Defaults_And_Bad_Rows_Are_Refused()
    {
        await Streams.ListAsync(Tenant, null, 1);
        await using var dataSource = NpgsqlDataSource.Create(await ConnectionStringAsync());
        const string Minimal = """{"payer": "a", "recipient": "b", "rate_per_second": 0.5, "start_time": "2026-01-01T00:00:00Z", "total_amount": {"amount": "10", "asset": "USDC"}}""";

        await using (var insert = dataSource.CreateCommand("INSERT INTO streams (tenant_id, version, data) VALUES (gen_random_uuid(), 1, $1::jsonb) RETURNING id, status::text, chain_id, last_settled_at = created_at, end_time IS NULL"))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = Minimal });
            await using var reader = await insert.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.NotEqual(Guid.Empty, reader.GetGuid(0));
            Assert.Equal(("active", "stellar-testnet", true, true), (reader.GetString(1), reader.GetString(2), reader.GetBoolean(3), reader.GetBoolean(4)));
        }

        var refused = new (string Change, string SqlState)[]
        {
            ("""{"status": "streaming"}""", PostgresErrorCodes.NotNullViolation),
            ("""{"payer": null}""", PostgresErrorCodes.NotNullViolation),
            ("""{"rate_per_second": 0}""", PostgresErrorCodes.CheckViolation),
            ("""{"total_amount": {"amount": "-1"}}""", PostgresErrorCodes.CheckViolation),
            ("""{"end_time": "2025-12-31T23:59:59Z"}""", PostgresErrorCodes.CheckViolation),
            ("""{"settled_amount": {"amount": "8"}, "refunded_amount": {"amount": "3"}}""", PostgresErrorCodes.CheckViolation),
            ("""{"settled_amount": {"amount": "1"}, "withdrawn_amount": {"amount": "2"}}""", PostgresErrorCodes.CheckViolation),
            ("""{"transaction_hash": "0x""" + new string('a', 65) + "\"}", PostgresErrorCodes.StringDataRightTruncation),
        };
        foreach (var (change, sqlState) in refused)
        {
            await using var insert = dataSource.CreateCommand("INSERT INTO streams (tenant_id, version, data) VALUES (gen_random_uuid(), 1, $1::jsonb || $2::jsonb)");
            insert.Parameters.Add(new NpgsqlParameter { Value = Minimal });
            insert.Parameters.Add(new NpgsqlParameter { Value = change });
            var error = await Assert.ThrowsAsync<PostgresException>(() => insert.ExecuteNonQueryAsync());
            Assert.True(sqlState == error.SqlState, $"{change}: {error.SqlState} {error.MessageText}");
        }
    }

    [Fact]
    public async Task Events_Stored_Before_Withdrawals_Took_Keys_Still_Load_And_Replay_Nothing()
    {
        var parties = await PartiesAsync(100);
        var stream = (await Streams.CreateAsync(Tenant, Request(parties, 100, 0.5m))).Stream;
        Clock.Advance(Duration.FromSeconds(10));
        await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(1) });

        // Records written before the key existed have neither property.
        await using var dataSource = NpgsqlDataSource.Create(await ConnectionStringAsync());
        await using (var strip = dataSource.CreateCommand(
            "UPDATE paymentskit_records SET data = data - 'idempotency_key' - 'request_fingerprint' WHERE collection = 'stream_event' AND tenant_id = $1"))
        {
            strip.Parameters.Add(new NpgsqlParameter { Value = Tenant.Value });
            Assert.Equal(3, await strip.ExecuteNonQueryAsync());
        }

        var events = await EventsAsync(stream);
        Assert.Equal([StreamEventKind.Created, StreamEventKind.Settled, StreamEventKind.Withdrawn], events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Null(e.IdempotencyKey));
        var keyed = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(1), IdempotencyKey = "w-1" });
        var again = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(1), IdempotencyKey = "w-1" });
        Assert.Equal(keyed.Events.Select(e => e.Id), again.Events.Select(e => e.Id));
        Assert.Equal(Usdc(2), (await ReloadAsync(stream)).WithdrawnAmount);
    }

    private PostgreSqlStore? _otherHost;

    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await ConnectionStringAsync()));

    protected override async Task<IPaymentsStore> CreateOtherHostStoreAsync() => _otherHost ??= TestStores.Create(await ConnectionStringAsync());

    public override async Task DisposeAsync()
    {
        if (_otherHost is not null)
        {
            await _otherHost.DisposeAsync();
        }
    }

    private Task<string> ConnectionStringAsync() => postgres.DatabaseForClassAsync(GetType());

    private static async Task<List<string>> ListAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }
}
