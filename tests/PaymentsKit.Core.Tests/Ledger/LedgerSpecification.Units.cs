using System.Text.Json;
using PaymentsKit.Json;
using PaymentsKit.Ledger;

namespace PaymentsKit.Tests.Ledger;

/// <summary>
/// Ledger operations inside a caller's unit of work (the record path routing uses): what one commit writes to the
/// accounts, transactions, entries and transfers reads back as written, and a stale account fails the whole commit.
/// On PostgreSQL a commit writes each of these collections with one statement into its typed table (decision 0020).
/// </summary>
public abstract partial class LedgerSpecification
{
    private static readonly JsonSerializerOptions RecordJson = PaymentsKitJson.CreateOptions(new AssetRegistry());

    [Fact]
    public async Task Transfers_Transactions_Entries_And_Accounts_Written_In_Units_Read_Back_As_Written()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var fees = await OpenAsync("fees", LedgerSide.Credit);

        LedgerTransfer reserved;
        LedgerTransaction fee;
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            reserved = await Ledger.ReserveAsync(unit, Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(30)) { Reference = "pi_unit" });
            fee = await Ledger.PostTransactionAsync(
                unit,
                Tenant,
                new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(1.25m)), LedgerPosting.Credit(fees.Id, Usd(1.25m))])
                {
                    EntryType = LedgerEntryType.Fee,
                    Reference = "pi_unit",
                    Description = "network fee",
                    Metadata = new Dictionary<string, string> { ["chain"] = "ethereum" },
                });
            await unit.CommitAsync();
        }

        LedgerTransfer posted;
        unit = await Store.BeginAsync();
        await using (unit)
        {
            posted = await Ledger.PostTransferAsync(unit, Tenant, reserved.Id, Usd(25));
            await unit.CommitAsync();
        }

        Assert.Equal(posted, await Ledger.GetTransferAsync(Tenant, reserved.Id));
        AssertSameRecord(fee, await Ledger.GetTransactionAsync(Tenant, fee.Id));
        unit = await Store.BeginAsync();
        await using (unit)
        {
            var pending = await unit.GetAsync(LedgerCollections.Transactions, Tenant.Value, reserved.PendingTransactionId.Value);
            var resolving = await unit.GetAsync(LedgerCollections.Transactions, Tenant.Value, posted.ResolvingTransactionId!.Value.Value);
            var transfer = await unit.GetAsync(LedgerCollections.Transfers, Tenant.Value, reserved.Id.Value);
            Assert.Equal(1, pending?.Version);
            Assert.Equal(LedgerTransactionKind.Pending, pending?.Value.Kind);
            Assert.Equal([LedgerPosting.Debit(customer.Id, Usd(30)), LedgerPosting.Credit(merchant.Id, Usd(30))], pending!.Value.Postings);
            Assert.Equal(1, resolving?.Version);
            Assert.Equal(LedgerTransactionKind.PostPending, resolving?.Value.Kind);
            Assert.Equal(2, transfer?.Version);
            Assert.Equal(posted, transfer?.Value);
        }

        // Customer: funding, the reservation, the fee and the posting; each entry carries the balances after it.
        var customerNow = await ReloadAsync(customer);
        Assert.Equal(customer.EntryCount + 3, customerNow.EntryCount);
        Assert.Equal(Usd(100 - 25 - 1.25m), customerNow.Balance.Available);
        var entries = (await Ledger.ListEntriesAsync(Tenant, customer.Id, null, 10)).Items;
        Assert.Equal(customerNow.EntryCount, entries.Count);
        Assert.Equal([1L, 2, 3, 4], entries.Select(e => e.Sequence));
        Assert.Equal(customerNow.DebitsPosted, entries[^1].DebitsPosted);
        Assert.Equal(customerNow.CreditsPosted, entries[^1].CreditsPosted);
        Assert.Equal(customerNow.DebitsPending, entries[^1].DebitsPending);
        Assert.Equal(customerNow.CreditsPending, entries[^1].CreditsPending);
        Assert.Equal(
            new HashSet<LedgerTransactionId> { fee.Id, reserved.PendingTransactionId, posted.ResolvingTransactionId!.Value },
            entries.Skip(1).Select(e => e.TransactionId).ToHashSet());
        Assert.Equal(Usd(1.25m), (await ReloadAsync(fees)).CreditsPosted);
        Assert.Equal(Usd(25), (await ReloadAsync(merchant)).CreditsPosted);
        Assert.Equal(cash.Balance, (await ReloadAsync(cash)).Balance);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task A_Stale_Account_In_A_Unit_Is_A_Concurrency_Conflict_And_The_Unit_Writes_Nothing()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            // The unit reads both accounts; then another writer moves the customer's money (the merchant stays as read).
            var transaction = await Ledger.PostTransactionAsync(
                unit, Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(10)), LedgerPosting.Credit(merchant.Id, Usd(10))]));
            await MoveAsync(customer, cash, Usd(5));
            var stale = await ReloadAsync(customer);

            var error = await FailsAsync(PaymentsKitErrorCodes.ConcurrencyConflict, () => unit.CommitAsync().AsTask());
            Assert.True(error.IsTransient);
            Assert.Equal(LedgerCollections.Accounts.Name, error.Context["collection"]);
            Assert.Equal(customer.Id.Value, error.Context["id"]);
            await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.GetTransactionAsync(Tenant, transaction.Id).AsTask());
            await AssertUnchangedAsync(stale, merchant);
        }
    }

    [Fact]
    public async Task A_Taken_Entry_Id_In_A_Unit_Is_Duplicate_Key_Naming_It_And_The_Unit_Writes_Nothing()
    {
        var (customer, _, _) = await FundedCustomerAsync(100);
        var taken = (await Ledger.ListEntriesAsync(Tenant, customer.Id, null, 1)).Items[0];
        var fresh = taken with { Id = LedgerCollections.EntryId(customer.Id, 1_000), Sequence = 1_000 };

        var unit = await Store.BeginAsync();
        await using (unit)
        {
            unit.Insert(LedgerCollections.Entries, fresh);
            unit.Insert(LedgerCollections.Entries, taken with { Reference = "impostor" });
            var error = await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => unit.CommitAsync().AsTask());
            Assert.Equal(LedgerCollections.Entries.Name, error.Context["collection"]);
            Assert.Equal("id", error.Context["key"]);
            Assert.Equal(taken.Id, error.Context["value"]);
        }

        unit = await Store.BeginAsync();
        await using (unit)
        {
            Assert.Null(await unit.GetAsync(LedgerCollections.Entries, Tenant.Value, fresh.Id));
            Assert.Equal(taken, (await unit.GetAsync(LedgerCollections.Entries, Tenant.Value, taken.Id))?.Value);
        }
    }

    private static void AssertSameRecord<T>(T expected, T actual) =>
        Assert.Equal(JsonSerializer.Serialize(expected, RecordJson), JsonSerializer.Serialize(actual, RecordJson));
}
