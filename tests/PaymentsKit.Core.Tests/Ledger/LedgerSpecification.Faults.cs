using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Ledger;

/// <summary>
/// Faults around a write: a commit that took effect but reported a failure (a connection dropped after COMMIT was sent),
/// and a caller cancelling at each of an operation's awaits. Money is never written twice nor half written.
/// </summary>
public abstract partial class LedgerSpecification
{
    [Fact]
    public async Task A_Commit_Reported_Failed_After_It_Took_Effect_Is_Never_Rerun_And_A_Keyed_Retry_Answers_It()
    {
        await DrainDeadlinesAsync();
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var dropping = new LedgerService(new FaultingStore(Store, dropAfterCommit: true), Clock, Assets);
        var hold = await ReserveAsync(customer, merchant, Usd(20));

        // Every commit through the dropping ledger lands and then fails: none may be rerun (a second effect).
        var payment = new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(10)), LedgerPosting.Credit(merchant.Id, Usd(10))])
        {
            IdempotencyKey = "dropped-payment",
            Reference = "pi_dropped",
        };
        var reservation = new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(5)) { IdempotencyKey = "dropped-hold", Timeout = Duration.FromMinutes(5) };
        await FailsAsync(PaymentsKitErrorCodes.StorageFailure, () => dropping.PostTransactionAsync(Tenant, payment).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.StorageFailure, () => dropping.ReserveAsync(Tenant, reservation).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.StorageFailure, () => dropping.PostTransferAsync(Tenant, hold.Id, Usd(15)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.StorageFailure, () => dropping.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest(
            [LedgerPosting.Debit(cash.Id, Usd(1)), LedgerPosting.Credit(customer.Id, Usd(1))])).AsTask());

        // The retries under the same keys answer the writes that landed; the resolution, which has no key, is resolved.
        var paid = await Ledger.PostTransactionAsync(Tenant, payment);
        var held = await Ledger.ReserveAsync(Tenant, reservation);
        Assert.Equal(paid.Id, Assert.Single((await Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_dropped", null, 10)).Items).Id);
        await FailsAsync(PaymentsKitErrorCodes.AlreadyResolved, () => Ledger.PostTransferAsync(Tenant, hold.Id, Usd(15)).AsTask());
        var posted = await Ledger.GetTransferAsync(Tenant, hold.Id);
        Assert.Equal((LedgerTransferState.Posted, Usd(15)), (posted.State, posted.PostedAmount));

        var customerNow = await ReloadAsync(customer);
        Assert.Equal(customer.EntryCount + 1 + 1 + 1 + 1 + 1, customerNow.EntryCount);
        Assert.Equal((Usd(25), Usd(101), Usd(5)), (customerNow.DebitsPosted, customerNow.CreditsPosted, customerNow.DebitsPending));
        Clock.Advance(Duration.FromMinutes(6));
        Assert.Equal(held.Id, Assert.Single(await ExpireDueAsync(Clock.GetCurrentInstant())).Id);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task An_Operation_Cancelled_At_Any_Await_Writes_All_Or_Nothing()
    {
        await DrainDeadlinesAsync();
        var (customer, cash, merchant) = await FundedCustomerAsync(1000);
        var payment = await MoveAsync(customer, merchant, Usd(1), reference: "pi_cancel");
        var operations = new (string Name, Func<LedgerService, CancellationToken, Task<Func<Task<bool>>>> Run)[]
        {
            ("keyed post", async (ledger, ct) =>
            {
                var key = "cancel-" + Guid.NewGuid();
                await ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest(
                    [LedgerPosting.Debit(customer.Id, Usd(2)), LedgerPosting.Credit(merchant.Id, Usd(2))]) { IdempotencyKey = key, Reference = "pi_cancel" }, ct);
                return () => Task.FromResult(true);
            }),
            ("keyed reservation", async (ledger, ct) =>
            {
                await ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(3))
                {
                    IdempotencyKey = "cancel-" + Guid.NewGuid(),
                    Reference = "pi_cancel",
                    Timeout = Duration.FromMinutes(1),
                }, ct);
                return () => Task.FromResult(true);
            }),
            ("reversal", async (ledger, ct) =>
            {
                await ledger.ReverseTransactionAsync(Tenant, new ReverseLedgerTransactionRequest(payment.Id), ct);
                return () => Task.FromResult(true);
            }),
        };

        foreach (var (name, run) in operations)
        {
            for (var cancelAt = 1; ; cancelAt++)
            {
                var before = (await ReloadAsync(customer), await ReloadAsync(merchant));
                var referenced = (await Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_cancel", null, 100)).Items.Count;
                using var cancellation = new CancellationTokenSource();
                var store = new FaultingStore(Store, cancellation, cancelAt);
                var completed = false;
                try
                {
                    await run(new LedgerService(store, Clock, Assets), cancellation.Token);
                    completed = true;
                }
                catch (OperationCanceledException)
                {
                }
                catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.AlreadyReversed)
                {
                    completed = true;
                }

                var after = (await ReloadAsync(customer), await ReloadAsync(merchant));
                var referencedAfter = (await Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_cancel", null, 100)).Items.Count;
                if (!completed || name == "reversal" && before.Item1.CreditsPosted == after.Item1.CreditsPosted)
                {
                    Assert.True(before.Item1.EntryCount == after.Item1.EntryCount, $"{name} cancelled at await {cancelAt} wrote the customer's entries");
                    Assert.True(before.Item2.EntryCount == after.Item2.EntryCount, $"{name} cancelled at await {cancelAt} wrote the merchant's entries");
                    Assert.True(referenced == referencedAfter, $"{name} cancelled at await {cancelAt} took a reference slot");
                }
                else
                {
                    Assert.Equal(before.Item1.EntryCount + 1, after.Item1.EntryCount);
                    Assert.Equal(referenced + 1, referencedAfter);
                }

                Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
                if (!store.Cancelled)
                {
                    break;
                }
            }
        }
    }

    /// <summary>
    /// A store whose units either land every commit and then report a dropped connection, or cancel the caller's token at
    /// the n-th await of the operation (a store read, a commit), just before the store sees it.
    /// </summary>
    private sealed class FaultingStore : IPaymentsStore
    {
        private readonly IPaymentsStore _inner;
        private readonly bool _dropAfterCommit;
        private readonly CancellationTokenSource? _cancellation;
        private readonly int _cancelAt;
        private int _awaits;

        public FaultingStore(IPaymentsStore inner, bool dropAfterCommit) => (_inner, _dropAfterCommit) = (inner, dropAfterCommit);

        public FaultingStore(IPaymentsStore inner, CancellationTokenSource cancellation, int cancelAt) => (_inner, _cancellation, _cancelAt) = (inner, cancellation, cancelAt);

        public bool Cancelled { get; private set; }

        public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default)
        {
            Await();
            return new Unit(await _inner.BeginAsync(cancellationToken), this);
        }

        private void Await()
        {
            if (_cancellation is not null && ++_awaits == _cancelAt)
            {
                Cancelled = true;
                _cancellation.Cancel();
            }
        }

        private sealed class Unit(IUnitOfWork unit, FaultingStore store) : IUnitOfWork
        {
            public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
                where T : class
            {
                store.Await();
                return unit.GetAsync(collection, tenantId, id, cancellationToken);
            }

            public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
                where T : class
            {
                store.Await();
                return unit.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);
            }

            public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
                where T : class
            {
                store.Await();
                return unit.ListAsync(collection, tenantId, cursor, limit, cancellationToken);
            }

            public ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default)
            {
                store.Await();
                return unit.HasStaleReadsAsync(cancellationToken);
            }

            public void Insert<T>(RecordCollection<T> collection, T record)
                where T : class => unit.Insert(collection, record);

            public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
                where T : class => unit.Update(collection, record, expectedVersion);

            public async ValueTask CommitAsync(CancellationToken cancellationToken = default)
            {
                store.Await();
                await unit.CommitAsync(cancellationToken);
                if (store._dropAfterCommit)
                {
                    throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, "The connection dropped after COMMIT was sent.", isTransient: true);
                }
            }

            public ValueTask DisposeAsync() => unit.DisposeAsync();
        }
    }
}
