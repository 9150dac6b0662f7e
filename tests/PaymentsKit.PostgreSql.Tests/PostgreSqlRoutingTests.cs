using Npgsql;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Routing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The routing specification (tests/PaymentsKit.Core.Tests/Routing) on PostgreSQL, one database for the class.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlRoutingTests(PostgresServerFixture postgres, ClassStore shared) : RoutingSpecification, IClassFixture<ClassStore>
{
    protected override int PropertyIterations => 10;

    protected override int SimulatedRunIntents => 24;

    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
}

/// <summary>What PostgreSQL adds to the routing specification: the seed's tables, columns, constraints and indexes.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlRoutingSchemaTests(PostgresServerFixture postgres, ClassStore shared) : IClassFixture<ClassStore>, IAsyncLifetime
{
    private static readonly ChainId Ethereum = RoutingHarness.Ethereum;
    private RoutingHarness? _router;

    private RoutingHarness Router => _router!;

    public async Task InitializeAsync()
    {
        var store = await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
        _router = new RoutingHarness(store, new ManualClock());
        await _router.SampleAsync();
        await _router.OpenAndFundAsync(1000m, 1000m);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task The_Seed_Tables_Hold_Each_Record_As_Columns()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.RunToEndAsync(await Router.IntentAsync(merchant, 12.5m, Ethereum, key: "order-1"));
        Assert.Equal(PaymentsKit.Routing.PaymentIntentStatus.Settled, intent.Status);
        await using var data = NpgsqlDataSource.Create(await postgres.DatabaseForClassAsync(GetType()));

        var row = await RowAsync(data, "SELECT status, amount_usd, selected_chain, destination_address, quote_id, idempotency_key FROM payment_intents WHERE public_id = $1", intent.Id.ToString());
        Assert.Equal(new object?[] { "settled", 12.5m, "ethereum", "payee-ethereum", intent.QuoteId.ToString(), "order-1" }, row);

        var attempt = await RowAsync(data, "SELECT status, chain, tx_id, rpc_provider, estimated_fee_usd, actual_fee_native, broadcast_at IS NOT NULL, confirmed_at IS NOT NULL, failure_reason FROM payment_attempts WHERE payment_intent_id = $1", intent.Id.ToString());
        Assert.Equal(new object?[] { "confirmed", "ethereum", intent.TxId, "primary", 0.03m, 0.00001m, true, true, DBNull.Value }, attempt);

        var quote = await RowAsync(data, "SELECT amount_usd, priority, destination_ethereum, destination_solana, recommended_chain, jsonb_array_length(candidate_routes), expires_at > created_at FROM quotes WHERE public_id = $1", intent.QuoteId.ToString());
        Assert.Equal(new object?[] { 12.5m, "low_fee", "payee-ethereum", DBNull.Value, "ethereum", 1, true }, quote);

        var latest = await RowAsync(data, "SELECT DISTINCT ON (chain) chain, health_status, estimated_fee_usd, avg_confirmation_seconds, p95_latency_ms FROM chain_health_snapshots WHERE chain = 'ethereum' ORDER BY chain, \"timestamp\" DESC");
        Assert.Equal(new object?[] { "ethereum", "healthy", 0.02m, 36m, 0 }, latest);

        var events = await ColumnAsync(data, "SELECT event_type FROM webhook_events WHERE payment_intent_id = $1 AND NOT delivered ORDER BY created_at, id", intent.Id.ToString());
        Assert.Equal(new object?[] { "payment_intent.created", "payment_intent.route_selected", "payment_intent.broadcasting", "payment_intent.broadcasted", "payment_intent.pending_confirmation", "payment_intent.settled" }, events);

        var wallet = await RowAsync(data, "SELECT address, asset, available_balance, reserved_balance FROM treasury_wallets WHERE treasury_tenant_id = $1 AND chain = 'ethereum'", Router.Treasury.Tenant.Value);
        Assert.Equal(new object?[] { Router.WalletAddress(Ethereum), "USDC", 987.48m, 0m }, wallet);

        var owner = await RowAsync(data, "SELECT name IS NOT NULL, length(api_key_hash), webhook_url FROM merchants WHERE public_id = $1", merchant.ToString());
        Assert.Equal(new object?[] { true, 64, DBNull.Value }, owner);
    }

    [Fact]
    public async Task The_Seed_Indexes_And_Constraints_Exist()
    {
        await using var data = NpgsqlDataSource.Create(await postgres.DatabaseForClassAsync(GetType()));
        await Router.MerchantAsync();

        var indexes = await ColumnAsync(data, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'");
        Assert.Superset(
            new HashSet<object?>
            {
                "idx_quotes_merchant", "idx_quotes_expires", "idx_pi_merchant", "idx_pi_status", "idx_pi_idempotency",
                "payment_intents_merchant_idempotency_key", "idx_attempts_pi", "idx_attempts_status", "idx_attempts_tx",
                "idx_health_chain_ts", "idx_webhooks_merchant", "idx_webhooks_undelivered",
            },
            indexes.ToHashSet());
        var partial = await ColumnAsync(data, "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_webhooks_undelivered'");
        Assert.EndsWith("WHERE (NOT delivered)", (string)partial.Single()!, StringComparison.Ordinal);
        var healthIndex = await ColumnAsync(data, "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_health_chain_ts'");
        Assert.Contains("(chain, \"timestamp\" DESC)", (string)healthIndex.Single()!, StringComparison.Ordinal);

        // A stored intent whose status is not one of the twelve, or a second intent with a taken key, is refused by the table itself.
        var merchant = await Router.MerchantAsync();
        var intent = await Router.IntentAsync(merchant, 1m, key: "k-1");
        var check = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(
            data, "UPDATE payment_intents SET data = jsonb_set(data, '{status}', '\"paid\"') WHERE public_id = $1", intent.Id.ToString()));
        Assert.Equal(PostgresErrorCodes.CheckViolation, check.SqlState);
        Assert.Equal("payment_intents_status_check", check.ConstraintName);
        var unique = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(
            data,
            "INSERT INTO payment_intents (collection, id, tenant_id, version, data, created_at, updated_at) "
            + "SELECT collection, gen_random_uuid(), tenant_id, 1, jsonb_set(data, '{id}', '\"pi_other\"'), created_at, updated_at FROM payment_intents WHERE public_id = $1",
            intent.Id.ToString()));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, unique.SqlState);
        Assert.Equal("payment_intents_merchant_idempotency_key", unique.ConstraintName);
        var health = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(
            data, "UPDATE chain_health_snapshots SET data = jsonb_set(data, '{rpc_error_rate}', '1.5') WHERE chain = 'solana'"));
        Assert.Equal(PostgresErrorCodes.CheckViolation, health.SqlState);
    }

    [Fact]
    public async Task The_Seed_Columns_Follow_The_Document_Whoever_Writes_It()
    {
        // Since migration 0026 a trigger, not a generation expression, sets these tables' seed columns (decision 0023).
        await using var data = NpgsqlDataSource.Create(await postgres.DatabaseForClassAsync(GetType()));
        var merchant = await Router.MerchantAsync();
        var intent = await Router.IntentAsync(merchant, 3m, key: "k-columns");

        // A writer that changes only the document moves the columns with it.
        await ExecuteAsync(data, "UPDATE payment_intents SET data = jsonb_set(data, '{status}', '\"cancelled\"') WHERE public_id = $1", intent.Id.ToString());
        Assert.Equal(new object?[] { "cancelled", 3m }, await RowAsync(data, "SELECT status, amount_usd FROM payment_intents WHERE public_id = $1", intent.Id.ToString()));

        // A value written to a column directly is replaced by the document's, as a generated column never disagreed with it.
        await ExecuteAsync(data, "UPDATE payment_intents SET status = 'settled', amount_usd = 99 WHERE public_id = $1", intent.Id.ToString());
        Assert.Equal(new object?[] { "cancelled", 3m }, await RowAsync(data, "SELECT status, amount_usd FROM payment_intents WHERE public_id = $1", intent.Id.ToString()));

        var delivered = await RowAsync(
            data,
            "UPDATE webhook_events SET data = data || '{\"delivered\": true, \"attempts\": 2, \"last_attempt_at\": \"2026-12-05T08:30:00.5Z\"}' "
            + "WHERE id = (SELECT id FROM webhook_events WHERE payment_intent_id = $1 LIMIT 1) RETURNING delivered, attempts, last_attempt_at = '2026-12-05T08:30:00.5Z'::timestamptz",
            intent.Id.ToString());
        Assert.Equal(new object?[] { true, 2, true }, delivered);

        var generated = await ColumnAsync(
            data,
            "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'public' AND is_generated = 'ALWAYS' "
            + "AND table_name IN ('quotes', 'payment_intents', 'payment_attempts', 'webhook_events')");
        Assert.Empty(generated);
    }

    private static async Task<object?[]> RowAsync(NpgsqlDataSource data, string sql, params object[] parameters)
    {
        await using var command = Command(data, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "no row: " + sql);
        var row = new object?[reader.FieldCount];
        reader.GetValues(row!);
        return row;
    }

    private static async Task<List<object?>> ColumnAsync(NpgsqlDataSource data, string sql, params object[] parameters)
    {
        await using var command = Command(data, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<object?>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetValue(0));
        }

        return values;
    }

    private static async Task ExecuteAsync(NpgsqlDataSource data, string sql, params object[] parameters)
    {
        await using var command = Command(data, sql, parameters);
        await command.ExecuteNonQueryAsync();
    }

    private static NpgsqlCommand Command(NpgsqlDataSource data, string sql, object[] parameters)
    {
        var command = data.CreateCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        return command;
    }
}
