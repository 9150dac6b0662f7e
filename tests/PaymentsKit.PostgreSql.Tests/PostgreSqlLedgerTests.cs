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
