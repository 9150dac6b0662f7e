using Npgsql;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Ledger;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The ledger specification (tests/PaymentsKit.Core.Tests/Ledger) on PostgreSQL, one database for the class.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed partial class PostgreSqlLedgerTests(PostgresServerFixture postgres, ClassStore shared) : LedgerSpecification, IClassFixture<ClassStore>
{
    protected override int PropertyIterations => 30;

    protected override int ConcurrentPropertyIterations => 8;

    [Fact]
    public async Task The_Seed_Columns_And_Indexes_Describe_The_Entries()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var hold = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(30)) { Reference = "pi_seed" });
        await Ledger.PostTransferAsync(Tenant, hold.Id, Usd(25));

        await using var connection = new NpgsqlConnection(await postgres.DatabaseForClassAsync(GetType()));
        await connection.OpenAsync();
        await using var indexes = new NpgsqlCommand("SELECT indexname FROM pg_indexes WHERE tablename = 'ledger_entries'", connection);
        var names = new List<string>();
        await using (var reader = await indexes.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                names.Add(reader.GetString(0));
            }
        }

        Assert.Contains("idx_ledger_pi", names);
        Assert.Contains("idx_ledger_chain", names);
        Assert.Contains("idx_ledger_type", names);

        await using var rows = new NpgsqlCommand(
            "SELECT type, amount, currency, side FROM ledger_entries WHERE payment_intent_id = 'pi_seed' AND account_id = $1 ORDER BY sequence", connection);
        rows.Parameters.Add(new NpgsqlParameter { Value = customer.Id.ToString() });
        var seen = new List<(string, decimal, string, string)>();
        await using (var reader = await rows.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                seen.Add((reader.GetString(0), reader.GetDecimal(1), reader.GetString(2), reader.GetString(3)));
            }
        }

        Assert.Equal([("reserve", 30m, "USD", "debit"), ("debit", 25m, "USD", "debit")], seen);
    }

    [Fact]
    public async Task The_Ledger_Tables_Refuse_Rewritten_Transactions_And_Overdrawn_Accounts()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var payment = await MoveAsync(customer, merchant, Usd(10));

        var unit = await Store.BeginAsync();
        await using (unit)
        {
            var stored = await unit.GetAsync(LedgerCollections.Transactions, Tenant.Value, payment.Id.Value);
            unit.Update(LedgerCollections.Transactions, stored!.Value with { Description = "rewritten" }, stored.Version);
            await FailsAsync(PaymentsKitErrorCodes.StorageFailure, () => unit.CommitAsync().AsTask());
        }

        unit = await Store.BeginAsync();
        await using (unit)
        {
            var stored = await unit.GetAsync(LedgerCollections.Accounts, Tenant.Value, customer.Id.Value);
            unit.Update(LedgerCollections.Accounts, stored!.Value with { DebitsPosted = Usd(100.01m) }, stored.Version);
            await FailsAsync(PaymentsKitErrorCodes.StorageFailure, () => unit.CommitAsync().AsTask());
        }

        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Every_Rule_Of_The_Ledger_Tables_Refuses_A_Row_That_Breaks_It()
    {
        // Decision 0021 moved the tables' rules into domains and fewer CHECKs; each rule must still refuse on its own.
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var posted = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(30)));
        await Ledger.PostTransferAsync(Tenant, posted.Id, Usd(25));
        var pending = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(5)));
        var payment = await MoveAsync(customer, merchant, Usd(10));

        string[] broken =
        [
            $"UPDATE ledger_accounts SET collection = 'ledger_transfer' WHERE id = '{customer.Id.Value}'",
            $"UPDATE ledger_accounts SET version = 0 WHERE id = '{customer.Id.Value}'",
            $"UPDATE ledger_accounts SET normal_side = 'both' WHERE id = '{customer.Id.Value}'",
            $"UPDATE ledger_accounts SET debits_pending = -1 WHERE id = '{customer.Id.Value}'",
            $"UPDATE ledger_accounts SET credits_pending = -1 WHERE id = '{customer.Id.Value}'",
            $"UPDATE ledger_accounts SET flags = 'debits_must_not_exceed_credits', debits_posted = credits_posted + 1 WHERE id = '{customer.Id.Value}'",
            $"UPDATE ledger_accounts SET flags = 'credits_must_not_exceed_debits', credits_posted = debits_posted + 1 WHERE id = '{customer.Id.Value}'",
            $"UPDATE ledger_transactions SET collection = 'ledger_account' WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transactions SET version = 2 WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transactions SET kind = 'reversed' WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transactions SET type = 'gift' WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transactions SET posting_accounts = '{{}}', posting_sides = '{{}}', posting_amounts = '{{}}', posting_assets = '{{}}' WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transactions SET posting_accounts = array_fill('a'::text, ARRAY[257]), posting_sides = array_fill('debit'::text, ARRAY[257]), "
                + $"posting_amounts = array_fill(1::numeric, ARRAY[257]), posting_assets = array_fill('USD'::text, ARRAY[257]) WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transactions SET posting_sides = posting_sides[1:1] WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transactions SET posting_amounts = posting_amounts[1:1] WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transactions SET posting_assets = posting_assets[1:1] WHERE id = '{payment.Id.Value}'",
            $"UPDATE ledger_transfers SET collection = 'ledger_account' WHERE id = '{posted.Id.Value}'",
            $"UPDATE ledger_transfers SET version = 3 WHERE id = '{posted.Id.Value}'",
            $"UPDATE ledger_transfers SET version = 0 WHERE id = '{posted.Id.Value}'",
            $"UPDATE ledger_transfers SET state = 'lost' WHERE id = '{posted.Id.Value}'",
            $"UPDATE ledger_transfers SET amount = 0, posted_amount = 0, released_amount = 0 WHERE id = '{posted.Id.Value}'",
            $"UPDATE ledger_transfers SET posted_amount = -5, released_amount = amount + 5 WHERE id = '{posted.Id.Value}'",
            $"UPDATE ledger_transfers SET released_amount = -5, posted_amount = amount + 5 WHERE id = '{posted.Id.Value}'",
            $"UPDATE ledger_transfers SET posted_amount = posted_amount + 1 WHERE id = '{posted.Id.Value}'",
            $"UPDATE ledger_transfers SET released_amount = 1 WHERE id = '{pending.Id.Value}'",
            $"UPDATE ledger_entries SET sequence = 0 WHERE account_id = '{customer.Id}' AND sequence = 1",
            $"UPDATE ledger_entries SET side = 'both' WHERE account_id = '{customer.Id}' AND sequence = 1",
            $"UPDATE ledger_entries SET type = 'gift' WHERE account_id = '{customer.Id}' AND sequence = 1",
            $"UPDATE ledger_entries SET posted_change = 0, pending_change = 0 WHERE account_id = '{customer.Id}' AND sequence = 1",
            $"UPDATE ledger_entries SET posted_change = -1 WHERE account_id = '{customer.Id}' AND sequence = 1",
        ];

        await using var connection = new NpgsqlConnection(await postgres.DatabaseForClassAsync(GetType()));
        await connection.OpenAsync();
        foreach (var sql in broken)
        {
#pragma warning disable CA2100 // The test's own statements, built from ids it holds.
            await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
            var refused = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.True(refused.SqlState == PostgresErrorCodes.CheckViolation, $"{sql}: {refused.SqlState} {refused.MessageText}");
        }

        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task A_Writer_Other_Than_The_Store_Still_Updates_Accounts_Through_The_View()
    {
        // The store's commits write the typed table directly (decision 0020); the view's trigger serves everyone else.
        var (customer, _, _) = await FundedCustomerAsync(100);
        var version = await VersionOfAsync(customer);
        await using var connection = new NpgsqlConnection(await postgres.DatabaseForClassAsync(GetType()));
        await connection.OpenAsync();
        await using var update = new NpgsqlCommand(
            "UPDATE ledger_account_records SET version = version + 1, data = jsonb_set(data, '{name}', '\"renamed\"') WHERE id = $1 AND version = $2",
            connection);
        update.Parameters.Add(new NpgsqlParameter { Value = customer.Id.Value });
        update.Parameters.Add(new NpgsqlParameter { Value = version });
        Assert.Equal(1, await update.ExecuteNonQueryAsync());

        var renamed = await ReloadAsync(customer);
        Assert.Equal("renamed", renamed.Name);
        Assert.Equal(customer.Balance, renamed.Balance);
        Assert.Equal(customer.EntryCount, renamed.EntryCount);
        Assert.Equal(version + 1, await VersionOfAsync(customer));
    }

    private async Task<long> VersionOfAsync(LedgerAccount account)
    {
        await using var unit = await Store.BeginAsync();
        return (await unit.GetAsync(LedgerCollections.Accounts, Tenant.Value, account.Id.Value))!.Version;
    }

    protected override async Task<IPaymentsStore> CreateStoreAsync() =>
        await shared.GetAsync(async () => TestStores.Create(await postgres.DatabaseForClassAsync(GetType())));
}
