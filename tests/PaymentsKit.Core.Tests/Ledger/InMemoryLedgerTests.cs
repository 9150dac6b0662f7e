using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Json;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Ledger;

/// <summary>The ledger specification on the embedded in-memory store.</summary>
public sealed partial class InMemoryLedgerTests : LedgerSpecification
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());

    // Only possible in memory: PostgreSQL's ledger tables refuse to rewrite a transaction.
    [Fact]
    public async Task Reconcile_Reports_Unbalanced_Transactions_And_Orphan_Entries()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var payment = await MoveAsync(customer, merchant, Usd(10));

        var unit = await Store.BeginAsync();
        await using (unit)
        {
            var stored = await unit.GetAsync(LedgerCollections.Transactions, Tenant.Value, payment.Id.Value);
            unit.Update(
                LedgerCollections.Transactions,
                stored!.Value with { Postings = [LedgerPosting.Debit(customer.Id, Usd(10)), LedgerPosting.Credit(customer.Id, Usd(9))] },
                stored.Version);
            await unit.CommitAsync();
        }

        var report = await Ledger.ReconcileAsync(Tenant);
        Assert.Contains(report.Discrepancies, d => d.Kind == LedgerDiscrepancy.UnbalancedTransaction && d.TransactionId == payment.Id);
        Assert.Contains(report.Discrepancies, d => d.Kind == LedgerDiscrepancy.OrphanEntry && d.AccountId == merchant.Id && d.TransactionId == payment.Id);
    }

    [Fact]
    public async Task ExpireDue_Skips_Settled_Deadlines_Yet_Finds_New_Ones()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(10_000);
        for (var i = 0; i < 600; i++)
        {
            await ReserveAsync(customer, merchant, Usd(1), Duration.FromSeconds(1));
        }

        Clock.Advance(Duration.FromHours(1));
        Assert.Equal(600, (await ExpireDueAsync(Clock.GetCurrentInstant(), 10_000)).Count);
        Assert.Empty(await ExpireDueAsync(Clock.GetCurrentInstant()));

        var late = await ReserveAsync(customer, merchant, Usd(1), Duration.FromMilliseconds(1));
        Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(late.Id, Assert.Single(await ExpireDueAsync(Clock.GetCurrentInstant())).Id);
        Assert.Equal(Usd(0), (await ReloadAsync(customer)).DebitsPending);
    }
}

public sealed class LedgerRegistrationTests
{
    [Fact]
    public void AddPaymentsKit_Registers_A_Resolvable_Ledger_Unless_The_Host_Did()
    {
        using var provider = new ServiceCollection().AddPaymentsKit().Services.BuildServiceProvider();
        var hostChosen = new ServiceCollection();
        hostChosen.AddSingleton<ILedger>(_ => null!);
        hostChosen.AddPaymentsKit();

        Assert.IsType<LedgerService>(provider.GetRequiredService<ILedger>());
        Assert.Same(provider.GetRequiredService<ILedger>(), provider.GetRequiredService<ILedger>());
        Assert.Null(Assert.Single(hostChosen, d => d.ServiceType == typeof(ILedger)).ImplementationType);
    }
}

public sealed class LedgerRecordTests
{
    private static readonly JsonSerializerOptions Json = PaymentsKitJson.CreateOptions(new AssetRegistry());

    [Fact]
    public async Task Every_Stored_Record_Round_Trips_Through_The_PaymentsKit_Json_Settings()
    {
        var clock = new PaymentsKit.Testing.ManualClock();
        var store = new RecordingStore();
        var ledger = new LedgerService(store, clock, new AssetRegistry());
        var tenant = MerchantId.New(clock);
        var cash = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("cash", "Cash", AssetRegistry.Usd, LedgerSide.Debit));
        var customer = await ledger.CreateAccountAsync(
            tenant,
            new CreateLedgerAccountRequest("customer", "Customer", AssetRegistry.Usd, LedgerSide.Credit)
            {
                Flags = LedgerAccountFlags.DebitsMustNotExceedCredits,
                Metadata = new Dictionary<string, string> { ["k"] = "v" },
            });
        await ledger.PostTransactionAsync(
            tenant,
            new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Money.Of(10, AssetRegistry.Usd)), LedgerPosting.Credit(customer.Id, Money.Of(10, AssetRegistry.Usd))])
            {
                Reference = "pi_1",
                IdempotencyKey = "k1",
                EntryType = LedgerEntryType.Debit,
            });
        var hold = await ledger.ReserveAsync(
            tenant, new ReserveLedgerTransferRequest(customer.Id, cash.Id, Money.Of(4, AssetRegistry.Usd)) { Timeout = Duration.FromMinutes(1), Reference = "pi_1" });
        await ledger.PostTransferAsync(tenant, hold.Id, Money.Of(3, AssetRegistry.Usd));

        var types = new HashSet<Type>();
        foreach (var write in store.Writes)
        {
            types.Add(write.RecordType);
            var text = JsonSerializer.Serialize(write.Record, write.RecordType, Json);
            var back = JsonSerializer.Deserialize(text, write.RecordType, Json)!;
            Assert.Equal(text, JsonSerializer.Serialize(back, write.RecordType, Json));
        }

        Assert.Equal(6, types.Count);
        Assert.Contains("\"debits_must_not_exceed_credits\"", JsonSerializer.Serialize(customer, Json), StringComparison.Ordinal);
    }

    [Fact]
    public void Entry_Ids_Are_Stable_And_Distinct_Per_Account_And_Sequence()
    {
        var account = LedgerAccountId.FromGuid(Guid.Parse("0191e4b2-7c3a-7def-8123-456789abcdef"));
        var other = LedgerAccountId.FromGuid(Guid.Parse("0191e4b2-7c3a-7def-8123-456789abcdee"));

        Assert.Equal(LedgerCollections.EntryId(account, 1), LedgerCollections.EntryId(account, 1));
        Assert.NotEqual(LedgerCollections.EntryId(account, 1), LedgerCollections.EntryId(account, 2));
        Assert.NotEqual(LedgerCollections.EntryId(account, 1), LedgerCollections.EntryId(other, 1));
        Assert.Equal(8, LedgerCollections.EntryId(account, 1).Version);

        var clock = new PaymentsKit.Testing.ManualClock();
        var ids = new HashSet<Guid>();
        for (var a = 0; a < 500; a++)
        {
            var id = LedgerAccountId.New(clock);
            for (var sequence = 1; sequence <= 500; sequence++)
            {
                Assert.True(ids.Add(LedgerCollections.EntryId(id, sequence)));
            }
        }
    }

    [Fact]
    public void Typed_Ids_Carry_Their_Prefixes_And_Round_Trip()
    {
        var clock = new PaymentsKit.Testing.ManualClock();
        var account = LedgerAccountId.New(clock);
        var transaction = LedgerTransactionId.New(clock);
        var transfer = LedgerTransferId.New(clock);

        Assert.Equal(account, LedgerAccountId.Parse(account.ToString()));
        Assert.Equal(transaction, LedgerTransactionId.Parse(transaction.ToString()));
        Assert.Equal(transfer, LedgerTransferId.Parse(transfer.ToString()));
        Assert.Equal(PaymentsKitErrorCodes.MalformedId, Assert.Throws<PaymentsKitException>(() => LedgerTransferId.Parse(account.ToString())).Code);
    }

    /// <summary>The in-memory store, remembering every write it commits.</summary>
    private sealed class RecordingStore : IPaymentsStore
    {
        private readonly InMemoryStore _inner = new();

        public List<PendingWrite> Writes { get; } = [];

        public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
            new Recording(await _inner.BeginAsync(cancellationToken), Writes);

        private sealed class Recording(IUnitOfWork inner, List<PendingWrite> writes) : IUnitOfWork
        {
            public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
                where T : class => inner.GetAsync(collection, tenantId, id, cancellationToken);

            public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
                where T : class => inner.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

            public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
                where T : class => inner.ListAsync(collection, tenantId, cursor, limit, cancellationToken);

            public void Insert<T>(RecordCollection<T> collection, T record)
                where T : class
            {
                inner.Insert(collection, record);
                writes.Add(new PendingWrite(collection.Name, collection.Table, collection.IdOf(record), collection.TenantOf(record), record, typeof(T), 0, []));
            }

            public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
                where T : class
            {
                inner.Update(collection, record, expectedVersion);
                writes.Add(new PendingWrite(collection.Name, collection.Table, collection.IdOf(record), collection.TenantOf(record), record, typeof(T), expectedVersion, []));
            }

            public ValueTask CommitAsync(CancellationToken cancellationToken = default) => inner.CommitAsync(cancellationToken);

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
