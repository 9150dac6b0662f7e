using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Ledger;

public abstract partial class LedgerSpecification
{
    [Fact]
    public async Task GetBalance_At_A_Past_Instant_Answers_From_The_Entries_Written_By_Then()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var funded = Clock.GetCurrentInstant();
        Clock.Advance(Duration.FromMinutes(1));
        await MoveAsync(customer, merchant, Usd(10));
        var afterPayment = Clock.GetCurrentInstant();
        Clock.Advance(Duration.FromMinutes(1));
        var hold = await ReserveAsync(customer, merchant, Usd(25));
        Clock.Advance(Duration.FromMinutes(1));
        await Ledger.PostTransferAsync(Tenant, hold.Id, Usd(5));

        Assert.Equal(Usd(0), (await Ledger.GetBalanceAsync(Tenant, customer.Id, funded - Duration.FromSeconds(1))).Posted);
        var atFunding = await Ledger.GetBalanceAsync(Tenant, customer.Id, funded);
        Assert.Equal(Usd(100), atFunding.Posted);
        Assert.Equal(funded, atFunding.AsOf);
        Assert.Equal(Usd(90), (await Ledger.GetBalanceAsync(Tenant, customer.Id, afterPayment + Duration.FromSeconds(30))).Available);
        var whileHeld = await Ledger.GetBalanceAsync(Tenant, customer.Id, afterPayment + Duration.FromSeconds(61));
        Assert.Equal(Usd(25), whileHeld.Reserved);
        Assert.Equal(Usd(65), whileHeld.Available);
        var now = await Ledger.GetBalanceAsync(Tenant, customer.Id);
        Assert.Equal(Usd(85), now.Available);
        Assert.Equal(Usd(0), now.Reserved);
        Assert.Equal(now, await Ledger.GetBalanceAsync(Tenant, customer.Id, Clock.GetCurrentInstant() + Duration.FromDays(1)));
    }

    [Fact]
    public async Task Entry_Times_Never_Go_Back_Even_When_The_Clock_Does()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var first = Clock.GetCurrentInstant();
        Clock.Advance(Duration.FromMinutes(-5));

        var late = await MoveAsync(customer, merchant, Usd(1));

        Assert.Equal(first, late.CreatedAt);
        Assert.Equal(Usd(99), (await Ledger.GetBalanceAsync(Tenant, customer.Id, first)).Available);
    }

    [Fact]
    public async Task ListEntries_Pages_An_Accounts_Entries_Oldest_First()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        for (var i = 1; i <= 4; i++)
        {
            await MoveAsync(customer, merchant, Usd(i));
        }

        var seen = new List<LedgerEntry>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await Ledger.ListEntriesAsync(Tenant, customer.Id, cursor, 2);
            seen.AddRange(page.Items);
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(3, pages);
        Assert.Equal([1L, 2, 3, 4, 5], seen.Select(e => e.Sequence));
        Assert.Equal([Usd(100), Usd(99), Usd(97), Usd(94), Usd(90)], seen.Select(e => e.CreditsPosted - e.DebitsPosted));
        Assert.Empty((await Ledger.ListEntriesAsync(Tenant, customer.Id, "5", 2)).Items);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.ListEntriesAsync(Tenant, customer.Id, "-1", 2).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.ListEntriesAsync(Tenant, customer.Id, "abc", 2).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.ListEntriesAsync(Tenant, customer.Id, null, 0).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.ListEntriesAsync(Tenant, customer.Id, null, 1001).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.ListEntriesAsync(OtherTenant, customer.Id, null, 2).AsTask());
    }

    [Fact]
    public async Task A_Cursor_Past_The_Last_Sequence_Gives_An_Empty_Last_Page_However_Large()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        await MoveAsync(customer, merchant, Usd(1), "pi_cursor");

        foreach (var cursor in new[] { "7", long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), (long.MaxValue - 5).ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            var entries = await Ledger.ListEntriesAsync(Tenant, customer.Id, cursor, 1000);
            Assert.Equal((0, null), (entries.Items.Count, entries.NextCursor));
            var transactions = await Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_cursor", cursor, 1000);
            Assert.Equal((0, null), (transactions.Items.Count, transactions.NextCursor));
        }
    }

    [Fact]
    public async Task Reconcile_Finds_Nothing_On_Honest_Books_And_Reports_A_Tampered_Balance()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        await MoveAsync(customer, merchant, Usd(10));
        await ReserveAsync(customer, merchant, Usd(20));

        var clean = await Ledger.ReconcileAsync(Tenant);
        Assert.True(clean.IsClean);
        Assert.Equal(3, clean.AccountsChecked);
        Assert.Equal(6, clean.EntriesChecked);
        Assert.Equal(3, clean.TransactionsChecked);

        // Someone edits a balance behind the ledger's back.
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            var stored = await unit.GetAsync(LedgerCollections.Accounts, Tenant.Value, merchant.Id.Value);
            unit.Update(LedgerCollections.Accounts, stored!.Value with { CreditsPosted = Usd(1_000) }, stored.Version);
            await unit.CommitAsync();
        }

        var report = await Ledger.ReconcileAsync(Tenant);
        Assert.False(report.IsClean);
        Assert.Contains(report.Discrepancies, d => d.Kind == LedgerDiscrepancy.BalanceMismatch
            && d.AccountId == merchant.Id && d.Field == "credits_posted" && d.Expected == "10.00 USD" && d.Actual == "1000.00 USD");
        Assert.DoesNotContain(report.Discrepancies, d => d.AccountId == customer.Id || d.AccountId == cash.Id);
        Assert.True((await Ledger.ReconcileAsync(OtherTenant)).IsClean);
    }

    [Fact]
    public async Task Reconcile_Stays_Clean_While_Writes_Run_Concurrently()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(10_000);
        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                var hold = await WithRetriesAsync(() => ReserveAsync(customer, merchant, Usd(1)));
                await WithRetriesAsync(() => w == 0 ? Ledger.VoidTransferAsync(Tenant, hold!.Id).AsTask() : Ledger.PostTransferAsync(Tenant, hold!.Id).AsTask());
                await WithRetriesAsync(() => MoveAsync(merchant, customer, Usd(0.5m)));
            }
        })).ToArray();

        // Pausing after every page read lets the writers commit between the reconciliation's reads.
        var reconciler = new LedgerService(new PausingStore(Store), Clock, Assets);
        var reconciled = 0;
        var duringWrites = Task.WhenAll(writers);
        while (!duringWrites.IsCompleted || reconciled == 0)
        {
            var report = await reconciler.ReconcileAsync(Tenant);
            Assert.True(report.IsClean, string.Join("; ", report.Discrepancies));
            reconciled++;
        }

        await duringWrites;
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
        Assert.Equal(1 + (3 * 40 * 3), (await ReloadAsync(customer)).EntryCount);
    }

    [Fact]
    public async Task TreasuryWallet_Is_The_Account_Seen_As_Available_And_Reserved_Funds()
    {
        var equity = await OpenAsync("treasury-equity");
        var clearing = await OpenAsync("payments-clearing");
        var wallet = await OpenAsync(
            "treasury:ethereum:usdc",
            LedgerSide.Debit,
            LedgerAccountFlags.CreditsMustNotExceedDebits,
            metadata: new Dictionary<string, string> { [TreasuryWallet.ChainMetadataKey] = "ethereum", [TreasuryWallet.AddressMetadataKey] = "0x52908400098527886E0F7030069857D2E4169EE7" });
        await MoveAsync(wallet, equity, Usd(1_000));

        var payment = await ReserveAsync(clearing, wallet, Usd(150));
        var view = await Ledger.GetTreasuryWalletAsync(Tenant, wallet.Id);

        Assert.Equal(Usd(850), view.AvailableBalance);
        Assert.Equal(Usd(150), view.ReservedBalance);
        Assert.Equal(ChainId.Ethereum, view.Chain);
        Assert.Equal("0x52908400098527886E0F7030069857D2E4169EE7", view.Address);
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => ReserveAsync(clearing, wallet, Usd(850.01m)));

        await Ledger.PostTransferAsync(Tenant, payment.Id, Usd(100));
        view = await Ledger.GetTreasuryWalletAsync(Tenant, wallet.Id);
        Assert.Equal(Usd(900), view.AvailableBalance);
        Assert.Equal(Usd(0), view.ReservedBalance);
        var xlmWallet = TreasuryWallet.FromAccount(await OpenAsync("treasury:stellar:xlm", LedgerSide.Debit, asset: AssetRegistry.Xlm));
        Assert.Equal(ChainId.Stellar, xlmWallet.Chain);
        Assert.Null(xlmWallet.Address);
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.GetTreasuryWalletAsync(OtherTenant, wallet.Id).AsTask());
    }

    /// <summary>A store whose list reads pause before returning, widening the windows between reads.</summary>
    private sealed class PausingStore(IPaymentsStore inner) : IPaymentsStore
    {
        public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
            new Pausing(await inner.BeginAsync(cancellationToken));

        private sealed class Pausing(IUnitOfWork unit) : IUnitOfWork
        {
            public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
                where T : class => unit.GetAsync(collection, tenantId, id, cancellationToken);

            public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
                where T : class => unit.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

            public async ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
                where T : class
            {
                var page = await unit.ListAsync(collection, tenantId, cursor, limit, cancellationToken);
                await Task.Delay(5, cancellationToken);
                return page;
            }

            public void Insert<T>(RecordCollection<T> collection, T record)
                where T : class => unit.Insert(collection, record);

            public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
                where T : class => unit.Update(collection, record, expectedVersion);

            public ValueTask CommitAsync(CancellationToken cancellationToken = default) => unit.CommitAsync(cancellationToken);

            public ValueTask DisposeAsync() => unit.DisposeAsync();
        }
    }
}
