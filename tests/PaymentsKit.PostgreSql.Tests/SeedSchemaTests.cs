using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using NodaTime.Text;
using Npgsql;
using PaymentsKit.Invoicing;
using PaymentsKit.Orchestration;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Invoicing;
using PaymentsKit.Tests.Orchestration;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// The seed tables of invoicing and orchestration (migrations 0007–0011): their columns are the
/// records' data, their names are the seeds', and their constraints, triggers and row-level security
/// hold against hand-written SQL while the services keep working.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class SeedSchemaTests(PostgresServerFixture postgres)
{
    private static readonly RequestContext Context = OrchestrationHarness.Context;

    [Fact]
    public async Task TypedIds_And_Instants_Decode_In_Sql_As_PaymentsKit_Encodes_Them_Meets_Specification()
    {
        await using var dataSource = NpgsqlDataSource.Create(await MigratedAsync());
        var cases =
            from id in ArbMap.Default.GeneratorFor<Guid>()
            from seconds in Gen.Choose(0, int.MaxValue)
            from ticks in Gen.Choose(0, 9_999_999)
            from nanos in Gen.Choose(0, 99)
            select (id, Instant.FromUnixTimeSeconds(seconds - 1_000_000_000L).PlusTicks(ticks).PlusNanoseconds(nanos));
        Prop.ForAll(cases.ArrayOf().ToArbitrary(), batch => Task.Run(() => DecodeAsync(dataSource, batch)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(30));

        // Text that is not a typed id has no uuid: wrong alphabet, overflowing first character, wrong length, no prefix.
        foreach (var text in new[] { "inv_01h455vb4pex5vsknk084sn0uq", "inv_81h455vb4pex5vsknk084sn02q", "inv_01h455vb4pex5vsknk084sn02", "01h455vb4pex5vsknk084sn02qq", "INV_01H455VB4PEX5VSKNK084SN02Q" })
        {
            await using var command = dataSource.CreateCommand("SELECT paymentskit_typeid_uuid($1)");
            command.Parameters.Add(new NpgsqlParameter { Value = text });
            Assert.Equal(DBNull.Value, await command.ExecuteScalarAsync());
        }
    }

    [Fact]
    public async Task Seed_Objects_Exist_Under_The_Seeds_Names()
    {
        await using var dataSource = NpgsqlDataSource.Create(await MigratedAsync());
        string[] indexes =
        [
            "users_wallet_address_idx", "clients_email_idx", "clients_wallet_address_idx", "api_keys_user_id_idx",
            "invoices_merchant_id_idx", "invoices_client_id_idx", "invoices_status_idx", "invoices_expires_at_idx", "invoices_created_at_idx", "invoices_invoice_number_idx",
            "payments_invoice_id_idx", "payments_link_id_idx", "payments_client_id_idx", "payments_from_idx", "payments_to_idx", "payments_status_idx", "payments_created_at_idx",
            "payment_links_merchant_id_idx", "payment_links_active_idx",
            "idx_partners_api_key_prefix", "idx_partners_is_active", "idx_partners_email",
            "idx_transactions_partner_id", "idx_transactions_status", "idx_transactions_created_at", "idx_transactions_provider_transaction_id",
            "idx_transactions_customer_email", "idx_transactions_partner_status_created", "idx_transactions_metadata",
            "idx_refunds_transaction_id", "idx_refunds_status", "idx_refunds_created_at",
            "idx_transaction_events_transaction_id", "idx_transaction_events_created_at", "idx_transaction_events_type", "idx_transaction_events_txn_created",
            "idx_audit_logs_partner_id", "idx_audit_logs_created_at", "idx_audit_logs_resource", "idx_audit_logs_action",
        ];
        Assert.Empty(indexes.Except(await NamesAsync(dataSource, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")));
        Assert.Empty(
            new[] { "idx_partners_api_key_prefix", "idx_transactions_partner_status_created", "idx_refunds_status", "idx_transactions_created_at" }
                .Except(await NamesAsync(dataSource, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%WHERE (deleted_at IS NULL)'")));
        Assert.Contains("idx_transactions_metadata", await NamesAsync(dataSource, "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gin (metadata)'"));

        string[] constraints =
        [
            "users_wallet_address_key", "users_email_key", "clients_merchant_id_email_key", "api_keys_key_key", "invoices_invoice_number_key",
            "payment_links_slug_key", "payments_transaction_hash_key", "payments_target_check", "payment_links_uses_check",
            "partners_email_key", "partners_api_key_hash_key", "unique_partner_idempotency", "check_amount_positive", "check_refund_amount_positive",
        ];
        Assert.Empty(constraints.Except(await NamesAsync(dataSource, "SELECT conname FROM pg_constraint")));
        Assert.Empty(new[] { "transaction_status", "payment_provider", "refund_status", "event_type" }.Except(await NamesAsync(dataSource, "SELECT typname FROM pg_type WHERE typtype = 'e'")));
        Assert.Empty(
            new[] { "update_partners_updated_at", "update_transactions_updated_at", "update_refunds_updated_at", "update_invoices_updated_at", "log_transaction_changes_trigger", "validate_refund_amount_trigger" }
                .Except(await NamesAsync(dataSource, "SELECT tgname FROM pg_trigger")));
        Assert.Equal(
            ["audit_logs", "partners", "refunds", "transaction_events", "transactions"],
            await NamesAsync(dataSource, "SELECT tablename FROM pg_policies WHERE policyname = 'partner_isolation' ORDER BY tablename"));
        Assert.Equal(["JPY 0", "USD 2"], await NamesAsync(dataSource, "SELECT code || ' ' || decimal_places FROM currencies WHERE code IN ('USD', 'JPY') ORDER BY code"));
        Assert.Equal(4, (await NamesAsync(dataSource, "SELECT code FROM payment_methods")).Count);
    }

    [Fact]
    public async Task Seed_Columns_Hold_The_Records_Data()
    {
        var connectionString = await EmptyDatabase.ForAsync(postgres, GetType());
        using var kit = await InvoicingHarness.CreateAsync(k =>
        {
            k.WithTestSecret().UsePostgreSql(connectionString);
            return Task.CompletedTask;
        });
        var merchant = await kit.MerchantAsync($"m-{Guid.NewGuid():N}@example.com");
        var client = await kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Ada") { Email = "ada@example.com" });
        var invoice = await kit.InvoiceAsync(merchant, 12.5m, InvoicingHarness.Usdc, client.Id);
        var payment = (await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 12.5m, InvoicingHarness.Usdc, invoice.Memo))).Payment;
        var link = await kit.LinkAsync(merchant, 3m, maxUses: 2);
        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 3m), slug: link.Slug);
        invoice = await kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        Assert.Equal(
            (merchant.Id.Value, client.Id.Value, 12.5m, "USDC", "PAID", invoice.Memo, invoice.ExpiresAt.ToDateTimeUtc(), invoice.PaidAt!.Value.ToDateTimeUtc(), invoice.CreatedAt.ToUnixTimeTicks()),
            await RowAsync(dataSource, "SELECT merchant_id, client_id, amount, asset, status, memo, expires_at, paid_at, created_at_ticks FROM invoices WHERE id = $1", invoice.Id.Value, r =>
                (r.GetGuid(0), r.GetGuid(1), r.GetDecimal(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetDateTime(6), r.GetDateTime(7), r.GetInt64(8))));
        Assert.Equal(
            (invoice.Id.Value, client.Id.Value, payment.TransactionHash, "CONFIRMED", 12.5m, payment.From, merchant.WalletAddress, payment.CreatedAt.ToDateTimeUtc()),
            await RowAsync(dataSource, "SELECT invoice_id, client_id, transaction_hash, status, amount, from_address, to_address, created_at FROM payments WHERE id = $1", payment.Id.Value, r =>
                (r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetString(3), r.GetDecimal(4), r.GetString(5), r.GetString(6), r.GetDateTime(7))));
        Assert.Equal(
            (link.Slug, 1, 2, true, "XLM"),
            await RowAsync(dataSource, "SELECT slug, current_uses, max_uses, active, asset FROM payment_links WHERE id = $1", link.Id.Value, r =>
                (r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetBoolean(3), r.GetString(4))));
        Assert.Equal(
            (merchant.WalletAddress, merchant.Email, "stellar"),
            await RowAsync(dataSource, "SELECT wallet_address, email, chain FROM users WHERE id = $1", merchant.Id.Value, r => (r.GetString(0), r.GetString(1), r.GetString(2))));

        using var h = OrchestrationHarness.Create(kit.Services.GetRequiredService<IPaymentsStore>());
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner, 100m, "JPY");
        await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(40m, "damaged"), Context);
        await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(10m, "late"), Context);
        Assert.Equal(
            (partner.Id.Value, 100m, "JPY", "partially_refunded", "stripe", "203.0.113.7", 50m, 7L),
            await RowAsync(dataSource, "SELECT partner_id, amount, currency, status::text, provider::text, host(ip_address), refunded_amount, event_count FROM transactions WHERE id = $1", tx.Id.Value, r =>
                (r.GetGuid(0), r.GetDecimal(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetDecimal(6), r.GetInt64(7))));
        Assert.Equal(
            (tx.Id.Value, 40m, "completed"),
            await RowAsync(dataSource, "SELECT transaction_id, amount, status::text FROM refunds WHERE partner_id = $1 AND sequence = 1", partner.Id.Value, r => (r.GetGuid(0), r.GetDecimal(1), r.GetString(2))));

        // The service wrote every event once, a refund's also when the status stayed; the event trigger only checked them.
        Assert.Equal(
            [
                "1 created pending", "2 payment_processing processing", "3 payment_completed completed", "4 refund_initiated completed",
                "5 refund_completed partially_refunded", "6 refund_initiated partially_refunded", "7 refund_completed partially_refunded",
            ],
            await NamesAsync(dataSource, $"SELECT sequence || ' ' || event_type || ' ' || status FROM transaction_events WHERE transaction_id = '{tx.Id.Value}' ORDER BY sequence"));
        Assert.Contains("transaction.create", await NamesAsync(dataSource, $"SELECT action FROM audit_logs WHERE partner_id = '{partner.Id.Value}' AND resource_id = '{tx.Id.Value}'"));
    }

    [Fact]
    public async Task Constraints_And_Triggers_Reject_Hand_Written_Sql_The_Services_Never_Write()
    {
        var connectionString = await EmptyDatabase.ForAsync(postgres, GetType());
        using var kit = await InvoicingHarness.CreateAsync(k =>
        {
            k.WithTestSecret().UsePostgreSql(connectionString);
            return Task.CompletedTask;
        });
        var merchant = await kit.MerchantAsync();
        var invoice = await kit.InvoiceAsync(merchant, 10m);
        var link = await kit.LinkAsync(merchant, 2m, maxUses: 1);
        var payment = (await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 10m, memo: invoice.Memo))).Payment;
        using var h = OrchestrationHarness.Create(kit.Services.GetRequiredService<IPaymentsStore>());
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner, 100m);
        await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(60m, "damaged"), Context);

        await using var dataSource = NpgsqlDataSource.Create(connectionString);

        // A second row with a recorded transaction hash: the double-spend guard holds at commit.
        Assert.Equal("payments_transaction_hash_key", (await FailsAsync(dataSource, PostgresErrorCodes.UniqueViolation,
            $"INSERT INTO payments (collection, id, tenant_id, version, data, created_at, updated_at) SELECT collection, gen_random_uuid(), tenant_id, 1, data, created_at, updated_at FROM payments WHERE id = '{payment.Id.Value}'")).ConstraintName);
        Assert.Equal("payment_links_uses_check", (await FailsAsync(dataSource, PostgresErrorCodes.CheckViolation,
            $"UPDATE payment_links SET data = jsonb_set(data, '{{current_uses}}', '2') WHERE id = '{link.Id.Value}'")).ConstraintName);
        Assert.Equal("payments_target_check", (await FailsAsync(dataSource, PostgresErrorCodes.CheckViolation,
            $"UPDATE payments SET data = jsonb_set(data, '{{link_id}}', to_jsonb('{link.Id}'::text)) WHERE id = '{payment.Id.Value}'")).ConstraintName);

        // A status change without its event, and a refund beyond the amount: the seed's triggers refuse them.
        var noEvent = await FailsAsync(dataSource, "PKE01", $"UPDATE transactions SET data = jsonb_set(data, '{{status}}', '\"refunded\"') WHERE id = '{tx.Id.Value}'");
        Assert.Contains(tx.Id.Value.ToString(), noEvent.MessageText, StringComparison.Ordinal);
        var overRefund = await FailsAsync(dataSource, "PKR01",
            "INSERT INTO refunds (collection, id, tenant_id, version, data, created_at, updated_at) "
            + "SELECT collection, gen_random_uuid(), tenant_id, 1, jsonb_set(jsonb_set(data, '{sequence}', '9'), '{amount,amount}', '\"40.01\"'), created_at, updated_at "
            + $"FROM refunds WHERE partner_id = '{partner.Id.Value}'");
        Assert.StartsWith("Refund amount exceeds transaction amount", overRefund.MessageText, StringComparison.Ordinal);

        // The rest of the amount is still refundable, by hand as through the service.
        await using (var exact = dataSource.CreateCommand(
            "INSERT INTO refunds (collection, id, tenant_id, version, data, created_at, updated_at) "
            + "SELECT collection, gen_random_uuid(), tenant_id, 1, jsonb_set(jsonb_set(data, '{sequence}', '9'), '{amount,amount}', '\"40.00\"'), created_at, updated_at "
            + $"FROM refunds WHERE partner_id = '{partner.Id.Value}'"))
        {
            Assert.Equal(1, await exact.ExecuteNonQueryAsync());
        }

        // A hand-written fix gets a new version and updated_at, so a unit of work that read before it cannot overwrite it.
        var unit = await kit.Store.BeginAsync();
        await using (unit)
        {
            var read = await unit.GetAsync(InvoicingCollections.Invoices, merchant.Id.Value, invoice.Id.Value);
            Assert.Equal(
                (read!.Version + 1, true),
                await RowAsync(dataSource, "UPDATE invoices SET data = jsonb_set(data, '{description}', '\"fixed by hand\"') WHERE id = $1 RETURNING version, updated_at = now()", invoice.Id.Value, r => (r.GetInt64(0), r.GetBoolean(1))));
            unit.Update(InvoicingCollections.Invoices, read.Value with { Description = "stale" }, read.Version);
            Assert.Equal(PaymentsKitErrorCodes.ConcurrencyConflict, (await Assert.ThrowsAsync<PaymentsKitException>(() => unit.CommitAsync().AsTask())).Code);
        }

        Assert.Equal("fixed by hand", (await kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Description);
    }

    [Fact]
    public async Task A_Duplicate_Caught_By_A_Seed_Constraint_Is_Reported_As_The_Store_Key_Holding_The_Value()
    {
        var connectionString = await EmptyDatabase.ForAsync(postgres, GetType());
        using var kit = await InvoicingHarness.CreateAsync(k =>
        {
            k.WithTestSecret().UsePostgreSql(connectionString);
            return Task.CompletedTask;
        });
        var merchant = await kit.MerchantAsync();
        var client = await kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Ada") { Email = "ada@example.com" });

        // The record's row comes before its key claims in the commit, so clients_merchant_id_email_key fires first.
        var unit = await kit.Store.BeginAsync();
        await using (unit)
        {
            unit.Insert(InvoicingCollections.Clients, client with { Id = ClientId.New(kit.Clock), Name = "Ada again" });
            var error = await Assert.ThrowsAsync<PaymentsKitException>(() => unit.CommitAsync().AsTask());
            Assert.Equal((PaymentsKitErrorCodes.DuplicateKey, InvoicingCollections.EmailKey), (error.Code, error.Context["key"]));
            Assert.Equal("clients_merchant_id_email_key", Assert.IsType<PostgresException>(error.InnerException).ConstraintName);
        }
    }

    [Fact]
    public async Task A_Partner_Session_Sees_None_Of_Another_Partners_Rows_While_The_Store_Serves_Both()
    {
        var connectionString = await EmptyDatabase.ForAsync(postgres, GetType());
        await using var store = TestStores.Create(connectionString);
        using var h = OrchestrationHarness.Create(store);
        var a = await h.NewPartnerAsync();
        var b = await h.NewPartnerAsync();
        foreach (var partner in new[] { a, b })
        {
            var tx = await h.CompletedAsync(partner);
            await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(10m, "damaged"), Context);
        }

        var role = $"pk_partner_{Guid.NewGuid():N}";
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await ExecuteAsync(dataSource, $"CREATE ROLE {role} NOLOGIN; GRANT USAGE ON SCHEMA public TO {role}; "
            + $"GRANT SELECT, INSERT, UPDATE, DELETE ON partners, transactions, refunds, transaction_events, audit_logs TO {role}");
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await ExecuteAsync(connection, $"SET ROLE {role}");
            string[] tables = ["transactions", "refunds", "transaction_events", "audit_logs"];

            // Without a partner the session sees nothing at all.
            foreach (var table in tables.Append("partners"))
            {
                Assert.Equal(0L, await ScalarAsync(connection, $"SELECT count(*) FROM {table}"));
            }

            foreach (var (me, other) in new[] { (a, b), (b, a) })
            {
                await ExecuteAsync(connection, $"SET app.current_partner_id = '{me.Id.Value}'");
                foreach (var table in tables)
                {
                    Assert.True((long)(await ScalarAsync(connection, $"SELECT count(*) FROM {table}"))! > 0, table);
                    Assert.Equal(0L, await ScalarAsync(connection, $"SELECT count(*) FROM {table} WHERE partner_id IS DISTINCT FROM '{me.Id.Value}'"));
                    Assert.Equal(0L, await ScalarAsync(connection, $"SELECT count(*) FROM {table} WHERE partner_id = '{other.Id.Value}'"));
                    Assert.Equal(0, await ExecuteAsync(connection, $"UPDATE {table} SET data = data WHERE partner_id = '{other.Id.Value}'"));
                    Assert.Equal(0, await ExecuteAsync(connection, $"DELETE FROM {table} WHERE partner_id = '{other.Id.Value}'"));
                }

                Assert.Equal(1L, await ScalarAsync(connection, "SELECT count(*) FROM partners"));
                Assert.Equal(me.Id.Value, await ScalarAsync(connection, "SELECT id FROM partners"));

                // Nor can it write a row into the other partner's data.
                var error = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection,
                    "INSERT INTO audit_logs (collection, id, tenant_id, version, data, created_at, updated_at) "
                    + $"SELECT collection, gen_random_uuid(), '{other.Id.Value}', 1, data, created_at, updated_at FROM audit_logs LIMIT 1"));
                Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
            }

            await ExecuteAsync(connection, "RESET ROLE; RESET app.current_partner_id");
        }
        finally
        {
            await ExecuteAsync(dataSource, $"DROP OWNED BY {role}; DROP ROLE {role}");
        }

        // The store connects as the tables' owner: it serves every partner, scoping each read itself.
        var later = await h.CompletedAsync(b);
        Assert.Equal(2, (await h.Transactions.ListAsync(b.Id, null, 10)).Items.Count);
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(b.Id, later.Id)).Status);
        await Assert.ThrowsAsync<PaymentsKitException>(() => h.Transactions.GetAsync(a.Id, later.Id).AsTask());
    }

    [Fact]
    public async Task Records_Written_Before_The_Seed_Tables_Existed_Move_Into_Them()
    {
        // Records written on a current schema, then put back where 0001 kept every record.
        var connectionString = await EmptyDatabase.ForAsync(postgres, GetType());
        using var kit = await InvoicingHarness.CreateAsync(k =>
        {
            k.WithTestSecret().UsePostgreSql(connectionString);
            return Task.CompletedTask;
        });
        var merchant = await kit.MerchantAsync();
        var client = await kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Ada"));
        var invoice = await kit.InvoiceAsync(merchant, 10m, client: client.Id);
        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 4m, memo: invoice.Memo));
        var link = await kit.LinkAsync(merchant, 1m, maxUses: 3);
        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 1m), slug: link.Slug);
        await kit.ApiKeys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("ci"));
        var overpaid = await kit.PaidInvoiceAsync(merchant, 10m, 12m);
        await kit.Payments.RecordRefundAsync(merchant.Id, overpaid.Id, new RecordRefundRequest(1.5m, "XLM") { IdempotencyKey = "refund-1" });
        using var h = OrchestrationHarness.Create(kit.Services.GetRequiredService<IPaymentsStore>());
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(25m, "damaged"), Context);

        string[] tables = ["users", "clients", "api_keys", "invoices", "payment_links", "payments", "invoice_refunds", "partners", "transactions", "refunds", "transaction_events", "audit_logs"];
        const string Columns = "collection, id, tenant_id, version, data::text, created_at, updated_at";
        await using var current = NpgsqlDataSource.Create(connectionString);
        var old = await postgres.CreateDatabaseAsync("before_seed_tables");
        await using var before = NpgsqlDataSource.Create(old);
        await new PostgreSqlMigrator(before, "public", [PostgreSqlMigrator.Embedded[0]]).MigrateAsync();
        var expected = new Dictionary<string, List<string>>();
        foreach (var table in tables)
        {
            expected[table] = await NamesAsync(current, $"SELECT concat_ws('|', id, tenant_id, version, data) FROM {table} ORDER BY id");
            Assert.NotEmpty(expected[table]);
            await using var copy = before.CreateCommand($"INSERT INTO paymentskit_records ({Columns.Replace("::text", string.Empty, StringComparison.Ordinal)}) SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::bigint[], $5::jsonb[], $6::timestamptz[], $7::timestamptz[])");
            var rows = new List<(string Collection, Guid Id, Guid Tenant, long Version, string Data, DateTime Created, DateTime Updated)>();
            await using (var read = current.CreateCommand($"SELECT {Columns} FROM {table}"))
            await using (var reader = await read.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    rows.Add((reader.GetString(0), reader.GetGuid(1), reader.GetGuid(2), reader.GetInt64(3), reader.GetString(4), reader.GetDateTime(5), reader.GetDateTime(6)));
                }
            }

            copy.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Collection).ToArray() });
            copy.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Id).ToArray() });
            copy.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Tenant).ToArray() });
            copy.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Version).ToArray() });
            copy.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Data).ToArray() });
            copy.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Created).ToArray() });
            copy.Parameters.Add(new NpgsqlParameter { Value = rows.Select(r => r.Updated).ToArray() });
            await copy.ExecuteNonQueryAsync();
        }

        await new PostgreSqlMigrator(before, "public", PostgreSqlMigrator.Embedded).MigrateAsync();

        foreach (var table in tables)
        {
            Assert.Equal(expected[table], await NamesAsync(before, $"SELECT concat_ws('|', id, tenant_id, version, data) FROM {table} ORDER BY id"));
        }

        Assert.Empty(await NamesAsync(before, "SELECT collection FROM paymentskit_records WHERE collection LIKE 'invoicing\\_%' AND collection <> 'invoicing_api_key_prefix' OR collection IN ('orch_partner', 'orch_transaction', 'orch_refund', 'orch_transaction_event', 'orch_audit_log')"));
    }

    private async Task<string> MigratedAsync() => await EmptyDatabase.ForAsync(postgres, GetType());

    private static async Task DecodeAsync(NpgsqlDataSource dataSource, (Guid Id, Instant At)[] batch)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT paymentskit_typeid_uuid(t), paymentskit_ticks(i), paymentskit_instant(i) FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, i, n) ORDER BY n");
        command.Parameters.Add(new NpgsqlParameter { Value = batch.Select(c => new InvoiceId(c.Id).ToString()).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { Value = batch.Select(c => InstantPattern.ExtendedIso.Format(c.At)).ToArray() });
        await using var reader = await command.ExecuteReaderAsync();
        foreach (var (id, at) in batch)
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal(id, reader.GetGuid(0));
            Assert.Equal(at.ToUnixTimeTicks(), reader.GetInt64(1));
            var ticks = at.ToUnixTimeTicks();
            Assert.Equal(Instant.FromUnixTimeTicks(ticks - (((ticks % 10) + 10) % 10)).ToDateTimeUtc(), reader.GetDateTime(2));
        }
    }

    private static async Task<T> RowAsync<T>(NpgsqlDataSource dataSource, string sql, Guid id, Func<NpgsqlDataReader, T> read)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), sql);
        return read(reader);
    }

    private static async Task<List<string>> NamesAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var names = new List<string>();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    private static async Task<PostgresException> FailsAsync(NpgsqlDataSource dataSource, string sqlState, string sql)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(dataSource, sql));
        Assert.Equal(sqlState, error.SqlState);
        return error;
    }

    private static async Task<int> ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return await command.ExecuteNonQueryAsync();
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync();
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
