using System.Collections.Concurrent;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Ledger;

/// <summary>The in-memory store's ledger book (decision 0007): struct rows, records materialised on read.</summary>
public sealed partial class InMemoryLedgerTests
{
    [Fact]
    public void ChunkedList_Keeps_Every_Row_Across_Chunk_Boundaries()
    {
        var list = new ChunkedList<(long Value, Guid Id)>();
        var count = (2 * ChunkedList<(long, Guid)>.ChunkSize) + 3;
        var ids = new Guid[count];
        for (var i = 0; i < count; i++)
        {
            ref var row = ref list.Add(out var index);
            Assert.Equal((i, default((long, Guid))), (index, row));
            ids[i] = Guid.NewGuid();
            row = (i * 7L, ids[i]);
        }

        Assert.Equal(count, list.Count);
        foreach (var i in new[] { 0, ChunkedList<(long, Guid)>.ChunkSize - 1, ChunkedList<(long, Guid)>.ChunkSize, count - 1 })
        {
            Assert.Equal((i * 7L, ids[i]), list[i]);
        }

        Assert.All(Enumerable.Range(0, count), i => Assert.Equal(i * 7L, list[i].Value));
        Assert.Throws<ArgumentOutOfRangeException>(() => list[count].Value);
    }

    [Fact]
    public async Task Records_The_Record_Path_Commits_Read_Back_As_Written()
    {
        var written = new List<object>();
        var recordPath = new LedgerService(new RecordPathStore(Store, written), Clock, Assets);
        var chain = await OpenAsync("wallet", metadata: new Dictionary<string, string> { [TreasuryWallet.ChainMetadataKey] = "ethereum" });
        var (customer, _, merchant) = await FundedCustomerAsync(1_000);

        await recordPath.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(12.34m)), LedgerPosting.Credit(chain.Id, Usd(12.34m))])
        {
            Reference = "pi_1",
            Description = "coffee",
            Metadata = new Dictionary<string, string> { ["order"] = "7" },
            EntryType = LedgerEntryType.Fee,
        });
        Clock.Advance(Duration.FromTicks(3));
        var held = await recordPath.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(5)) { Timeout = Duration.FromHours(1), Reference = "pi_1" });
        await recordPath.PostTransferAsync(Tenant, held.Id, Usd(2));
        var voided = await recordPath.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(1)));
        await recordPath.VoidTransferAsync(Tenant, voided.Id);

        var unit = await Store.BeginAsync();
        await using (unit)
        {
            Assert.Equal(5, written.OfType<LedgerTransaction>().Count());
            foreach (var transaction in written.OfType<LedgerTransaction>())
            {
                var read = (await unit.GetAsync(LedgerCollections.Transactions, Tenant.Value, transaction.Id.Value))!;
                Assert.Equal((1L, transaction with { Postings = [], Metadata = null! }), (read.Version, read.Value with { Postings = [], Metadata = null! }));
                Assert.Equal(transaction.Postings, read.Value.Postings);
                Assert.Equal(transaction.Metadata, read.Value.Metadata);
            }

            Assert.Equal(10, written.OfType<LedgerEntry>().Count());
            foreach (var entry in written.OfType<LedgerEntry>())
            {
                Assert.Equal(entry, (await unit.GetAsync(LedgerCollections.Entries, Tenant.Value, entry.Id))!.Value);
            }

            Assert.Equal("ethereum", written.OfType<LedgerEntry>().Single(e => e.AccountId == chain.Id).Chain);

            // Transfers are rewritten in place when resolved: the last version written is what reads see.
            var transfers = written.OfType<LedgerTransfer>().GroupBy(t => t.Id).ToList();
            Assert.Equal(2, transfers.Count);
            foreach (var versions in transfers)
            {
                var read = (await unit.GetAsync(LedgerCollections.Transfers, Tenant.Value, versions.Key.Value))!;
                Assert.Equal((2L, versions.Last()), (read.Version, read.Value));
            }

            Assert.Equal((Duration.FromHours(1), "pi_1", LedgerTransferState.Posted), (transfers[0].Last().Timeout, transfers[0].Last().Reference, transfers[0].Last().State));
            Assert.Null(await unit.GetAsync(LedgerCollections.Transfers, OtherTenant.Value, held.Id.Value));
        }
    }

    [Fact]
    public async Task Fast_Path_Entries_Read_Back_Like_Record_Path_Entries()
    {
        var recordPath = new LedgerService(new RecordPathStore(Store, []), Clock, Assets);
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var twin = await OpenAsync("twin", LedgerSide.Credit, LedgerAccountFlags.DebitsMustNotExceedCredits);
        var twinMerchant = await OpenAsync("twin-merchant");
        await MoveAsync(cash, twin, Usd(100));

        // The same operations at the same instants, one pair of accounts on each path.
        var fast = await MoveAsync(customer, merchant, Usd(7), type: LedgerEntryType.Debit);
        var slow = await recordPath.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(twin.Id, Usd(7)), LedgerPosting.Credit(twinMerchant.Id, Usd(7))]) { EntryType = LedgerEntryType.Debit });
        var fastHold = await ReserveAsync(customer, merchant, Usd(3));
        var slowHold = await recordPath.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(twin.Id, twinMerchant.Id, Usd(3)));
        await Ledger.PostTransferAsync(Tenant, fastHold.Id);
        await recordPath.PostTransferAsync(Tenant, slowHold.Id);

        var fastEntries = (await Ledger.ListEntriesAsync(Tenant, customer.Id, null, 100)).Items;
        var slowEntries = (await Ledger.ListEntriesAsync(Tenant, twin.Id, null, 100)).Items;
        Assert.Equal(4, fastEntries.Count);
        Assert.Equal(
            slowEntries.Select(e => e with { Id = default, AccountId = default, TransactionId = default, TransferId = null }),
            fastEntries.Select(e => e with { Id = default, AccountId = default, TransactionId = default, TransferId = null }));
        Assert.All(fastEntries, e => Assert.Equal(LedgerCollections.EntryId(customer.Id, e.Sequence), e.Id));
        Assert.Equal(fast.Id, fastEntries[1].TransactionId);
        Assert.Equal(slow.Id, slowEntries[1].TransactionId);
        Assert.Equal((fastHold.Id, slowHold.Id), (fastEntries[3].TransferId, slowEntries[3].TransferId));
        Assert.Equal(await Ledger.GetTransactionAsync(Tenant, fast.Id) with { Postings = [] }, fast with { Postings = [] });
    }

    [Fact]
    public async Task Fast_Path_Transactions_Read_Back_With_The_Postings_They_Were_Written_With()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var fees = await OpenAsync("fees");
        var posted = await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest(
            [LedgerPosting.Debit(customer.Id, Usd(7.25m)), LedgerPosting.Credit(merchant.Id, Usd(7)), LedgerPosting.Credit(fees.Id, Usd(0.25m)), LedgerPosting.Debit(merchant.Id, Usd(1)), LedgerPosting.Credit(fees.Id, Usd(1))]));
        var postedHold = await ReserveAsync(customer, merchant, Usd(3));
        var voidedHold = await ReserveAsync(customer, merchant, Usd(2));
        var partly = await Ledger.PostTransferAsync(Tenant, postedHold.Id, Usd(1.5m));
        var voided = await Ledger.VoidTransferAsync(Tenant, voidedHold.Id);

        var expected = new (LedgerTransactionId Id, LedgerPosting[] Postings)[]
        {
            (posted.Id, [.. posted.Postings]),
            (postedHold.PendingTransactionId, [LedgerPosting.Debit(customer.Id, Usd(3)), LedgerPosting.Credit(merchant.Id, Usd(3))]),
            (voidedHold.PendingTransactionId, [LedgerPosting.Debit(customer.Id, Usd(2)), LedgerPosting.Credit(merchant.Id, Usd(2))]),
            (partly.ResolvingTransactionId!.Value, [LedgerPosting.Debit(customer.Id, Usd(1.5m)), LedgerPosting.Credit(merchant.Id, Usd(1.5m))]),
            (voided.ResolvingTransactionId!.Value, [LedgerPosting.Debit(customer.Id, Usd(2)), LedgerPosting.Credit(merchant.Id, Usd(2))]),
        };
        foreach (var (id, postings) in expected)
        {
            Assert.Equal(postings, (await Ledger.GetTransactionAsync(Tenant, id)).Postings);
        }

        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Both_Paths_Append_To_One_Book_And_Each_Sees_The_Other()
    {
        var recordPath = new LedgerService(new RecordPathStore(Store, []), Clock, Assets);
        var (customer, _, merchant) = await FundedCustomerAsync(100);

        await MoveAsync(customer, merchant, Usd(1));
        await recordPath.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(2)), LedgerPosting.Credit(merchant.Id, Usd(2))]));
        await MoveAsync(customer, merchant, Usd(4));
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            // A record-path write in a caller's unit, then a fast-path write on the same accounts.
            await Ledger.PostTransactionAsync(unit, Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(8)), LedgerPosting.Credit(merchant.Id, Usd(8))]));
            await unit.CommitAsync();
        }

        await MoveAsync(customer, merchant, Usd(16));

        var entries = (await Ledger.ListEntriesAsync(Tenant, customer.Id, null, 100)).Items;
        Assert.Equal([1L, 2, 3, 4, 5, 6], entries.Select(e => e.Sequence));
        Assert.Equal([100m, 99, 97, 93, 85, 69], entries.Select(e => e.CreditsPosted.Amount - e.DebitsPosted.Amount));
        Assert.Equal(Usd(31), (await ReloadAsync(merchant)).CreditsPosted);
        await AssertReconciledAsync();
    }

    [Fact]
    public async Task Rewriting_A_Transaction_Leaves_Its_Entries_As_Written()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var payment = await MoveAsync(customer, merchant, Usd(10), type: LedgerEntryType.Debit);
        var before = (await Ledger.ListEntriesAsync(Tenant, merchant.Id, null, 10)).Items;

        var unit = await Store.BeginAsync();
        await using (unit)
        {
            var stored = await unit.GetAsync(LedgerCollections.Transactions, Tenant.Value, payment.Id.Value);
            unit.Update(LedgerCollections.Transactions, stored!.Value with { EntryType = LedgerEntryType.Refund, Reference = "rewritten", Description = "d" }, stored.Version);
            await unit.CommitAsync();
        }

        var rewritten = await Ledger.GetTransactionAsync(Tenant, payment.Id);
        Assert.Equal((LedgerEntryType.Refund, "rewritten", "d"), (rewritten.EntryType, rewritten.Reference, rewritten.Description));
        Assert.Equal(before, (await Ledger.ListEntriesAsync(Tenant, merchant.Id, null, 10)).Items);
        Assert.Equal((LedgerEntryType.Debit, null), (before[0].EntryType, before[0].Reference));
    }

    [Fact]
    public async Task An_Entry_Stored_Under_A_Foreign_Id_Still_Blocks_The_Fast_Path()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var next = (await ReloadAsync(merchant)).EntryCount + 1;
        var template = (await Ledger.ListEntriesAsync(Tenant, customer.Id, null, 1)).Items[0];
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            // Not the ledger's doing: an entry of the customer stored under the id the merchant's next entry derives.
            unit.Insert(LedgerCollections.Entries, template with { Id = LedgerCollections.EntryId(merchant.Id, next), Sequence = 0 });
            await unit.CommitAsync();
        }

        await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => MoveAsync(customer, merchant, Usd(1)));
        Assert.Equal(next - 1, (await ReloadAsync(merchant)).EntryCount);
    }

    [Fact]
    public async Task Transactions_And_Transfers_Whose_Ids_Arrive_Out_Of_Order_Are_Found_And_Never_Stored_Twice()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(1_000);
        var posted = new List<LedgerTransaction>();
        var held = new List<LedgerTransfer>();

        // A clock that goes back and forth makes ids that arrive both after and before the newest one stored.
        foreach (var minutes in new[] { 0, -90, 30, -30, 0, 45, -120, 120 })
        {
            Clock.Advance(Duration.FromMinutes(minutes));
            posted.Add(await MoveAsync(customer, merchant, Usd(1)));
            held.Add(await ReserveAsync(customer, merchant, Usd(2)));
        }

        foreach (var transfer in held.Where((_, i) => i % 2 == 0))
        {
            Clock.Advance(Duration.FromMinutes(-50));
            await Ledger.PostTransferAsync(Tenant, transfer.Id);
        }

        foreach (var transaction in posted)
        {
            var read = await Ledger.GetTransactionAsync(Tenant, transaction.Id);
            Assert.Equal((transaction.Id, transaction.CreatedAt), (read.Id, read.CreatedAt));
            Assert.Equal(transaction.Postings, read.Postings);
        }

        Assert.Equal(
            held.Select((t, i) => i % 2 == 0 ? LedgerTransferState.Posted : LedgerTransferState.Pending),
            await Task.WhenAll(held.Select(async t => (await Ledger.GetTransferAsync(Tenant, t.Id)).State)));

        // The newest id stored and one that arrived out of order: either is refused a second time.
        foreach (var again in new[] { posted.MaxBy(t => t.Id.Value, GuidOrder.Instance)!, posted[1] })
        {
            var unit = await Store.BeginAsync();
            await using (unit)
            {
                unit.Insert(LedgerCollections.Transactions, again with { Description = "again" });
                await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => unit.CommitAsync().AsTask());
            }

            Assert.Null((await Ledger.GetTransactionAsync(Tenant, again.Id)).Description);
        }

        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task A_Balance_That_Would_Overflow_Is_Refused_Writing_Nothing()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(10);
        var source = await OpenAsync("source", LedgerSide.Debit);
        var huge = Usd(500_000_000_000_000_000_000_000_000m);
        await MoveAsync(source, merchant, huge);

        await FailsAsync(PaymentsKitErrorCodes.ArithmeticOverflow, () => MoveAsync(source, merchant, huge));
        Assert.Equal(huge, (await ReloadAsync(merchant)).CreditsPosted);
        Assert.Equal(1, (await ReloadAsync(merchant)).EntryCount);
        Assert.Equal(Usd(10), (await ReloadAsync(customer)).CreditsPosted);
    }

    [Fact]
    public async Task Listing_Pages_Every_Entry_In_Id_Order_While_Entries_Are_Appended()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(10_000);
        for (var i = 0; i < 700; i++)
        {
            await MoveAsync(customer, merchant, Usd(1));
        }

        var seen = new List<Guid>();
        string? cursor = null;
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            do
            {
                var page = await unit.ListAsync(LedgerCollections.Entries, Tenant.Value, cursor, 300);
                seen.AddRange(page.Items.Select(e => e.Value.Id));
                cursor = page.NextCursor;

                // Appended after the cursor was taken: listed later or not at all, never twice, never out of order.
                await MoveAsync(customer, merchant, Usd(1));
            }
            while (cursor is not null);
        }

        Assert.Equal(seen.Distinct().Count(), seen.Count);
        Assert.True(seen.Zip(seen.Skip(1)).All(pair => GuidOrder.Instance.Compare(pair.First, pair.Second) < 0));
        var all = new HashSet<Guid>();
        foreach (var account in new[] { customer, cash, merchant })
        {
            var count = (await ReloadAsync(account)).EntryCount;
            for (var sequence = 1; sequence <= count; sequence++)
            {
                all.Add(LedgerCollections.EntryId(account.Id, sequence));
            }
        }

        Assert.Subset(all, seen.ToHashSet());
        Assert.True(seen.Count >= 1 + 1 + 700 + 700);
    }

    [Fact]
    public async Task Both_Paths_And_Readers_On_Many_Threads_Keep_One_Consistent_Book()
    {
        var recordPath = new LedgerService(new RecordPathStore(Store, []), Clock, Assets);
        var (customer, _, merchant) = await FundedCustomerAsync(1_000_000);
        const int Threads = 8, Rounds = 100;
        var failures = new ConcurrentQueue<Exception>();
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(thread => Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < Rounds; i++)
                {
                    var ledger = (thread + i) % 2 == 0 ? Ledger : recordPath;
                    await ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(1)), LedgerPosting.Credit(merchant.Id, Usd(1))]));
                    if (i % 10 == 0)
                    {
                        // Reads by entry id derive the ids appended since the last read, racing the appends.
                        var last = (await ReloadAsync(merchant)).EntryCount;
                        Assert.Equal(last, (await Ledger.ListEntriesAsync(Tenant, merchant.Id, (last - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), 1)).Items.Single().Sequence);
                    }
                }
            }
            catch (Exception ex)
            {
                failures.Enqueue(ex);
            }
        })));

        Assert.Empty(failures);
        var after = await ReloadAsync(merchant);
        Assert.Equal((Threads * Rounds, Usd(Threads * Rounds)), (after.EntryCount, after.CreditsPosted));
        var entries = (await Ledger.ListEntriesAsync(Tenant, merchant.Id, null, 1000)).Items;
        Assert.Equal(Enumerable.Range(1, Threads * Rounds).Select(i => (long)i), entries.Select(e => e.Sequence));
        Assert.Equal(Enumerable.Range(1, Threads * Rounds).Select(i => (decimal)i), entries.Select(e => e.CreditsPosted.Amount));
        await AssertReconciledAsync();
    }

    private async Task AssertReconciledAsync()
    {
        var report = await Ledger.ReconcileAsync(Tenant);
        Assert.True(report.IsClean, string.Join("; ", report.Discrepancies));
    }

    /// <summary>The store without its fast path, so the ledger takes the record path; records every record a commit writes.</summary>
    private sealed class RecordPathStore(IPaymentsStore inner, List<object> written) : IPaymentsStore
    {
        public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
            new Recording(await inner.BeginAsync(cancellationToken), written);

        private sealed class Recording(IUnitOfWork inner, List<object> written) : IUnitOfWork
        {
            private readonly List<object> _buffered = [];

            public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
                where T : class => inner.GetAsync(collection, tenantId, id, cancellationToken);

            public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
                where T : class => inner.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

            public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
                where T : class => inner.ListAsync(collection, tenantId, cursor, limit, cancellationToken);

            public ValueTask PrefetchAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken = default) => inner.PrefetchAsync(records, cancellationToken);

            public void Insert<T>(RecordCollection<T> collection, T record)
                where T : class
            {
                inner.Insert(collection, record);
                _buffered.Add(record);
            }

            public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
                where T : class
            {
                inner.Update(collection, record, expectedVersion);
                _buffered.Add(record);
            }

            public async ValueTask CommitAsync(CancellationToken cancellationToken = default)
            {
                await inner.CommitAsync(cancellationToken);
                lock (written)
                {
                    written.AddRange(_buffered);
                }
            }

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
