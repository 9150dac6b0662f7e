using PaymentsKit.Orchestration;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Orchestration;

// The store-dependent orchestration tests on the in-memory store; each takes a fresh store per test.
public sealed class InMemoryPartnerServiceTests : PartnerServiceTests
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}

public sealed class InMemoryTransactionServiceTests : TransactionServiceTests
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}

public sealed class InMemoryRefundServiceTests : RefundServiceTests
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}

public sealed class InMemoryOrchestrationPropertyTests : OrchestrationPropertyTests
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}

public sealed class InMemoryTransactionSyncTests : TransactionSyncSpecification
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());

    protected override IDueTransactionQueue CreateDueQueue(IPaymentsStore store) => new StoreScanDueTransactionQueue(store);

    [Fact]
    public async Task Leases_Of_Transactions_Resolved_Outside_The_Queue_Are_Dropped_By_Later_Claims()
    {
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(store, due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var timedOut = new List<PaymentTransaction>();
        for (var i = 0; i < 3; i++)
        {
            timedOut.Add(await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request($"timeout-{i}", email: "bob+timeout@example.com"), Context));
        }

        // A pass claims all three, defers two (one stays unresolved, one is settled while deferred) and dies holding the third.
        var queue = new StoreScanDueTransactionQueue(store);
        var now = h.Clock.GetCurrentInstant();
        var claims = await queue.ClaimDueAsync(now, now, NodaTime.Duration.FromMinutes(1), 100);
        Assert.Equal(3, claims.Count);
        var (stillDue, settledWhileDeferred, settledWhileLeased) = (timedOut[0].Id.Value, timedOut[1].Id.Value, timedOut[2].Id.Value);
        await queue.DeferAsync(claims.Where(c => c.Id.Value != settledWhileLeased).ToList(), now + NodaTime.Duration.FromMinutes(10));
        foreach (var settled in timedOut.Skip(1))
        {
            Assert.Equal(TransactionStatus.Completed, (await h.Transactions.SyncAsync(partner.Id, settled.Id, Context)).Status);
        }

        // Once its lease ran out, the next claim drops the settled transaction's entry; the deferrals still hold.
        Assert.Empty(await queue.ClaimDueAsync(now + NodaTime.Duration.FromMinutes(2), now, NodaTime.Duration.FromMinutes(1), 100));
        Assert.Equal(new[] { stillDue, settledWhileDeferred }.Order(), queue.HeldIds().Order());

        // Once the deferral is over, the transaction still due is claimed and the settled one's entry goes.
        var later = await queue.ClaimDueAsync(now + NodaTime.Duration.FromMinutes(10), now, NodaTime.Duration.FromMinutes(1), 100);
        Assert.Equal(stillDue, Assert.Single(later).Id.Value);
        Assert.Equal([stillDue], queue.HeldIds());
    }

    [Fact]
    public async Task The_Lease_Of_An_Unsent_Create_Whose_Partner_Was_Deactivated_Is_Kept_To_Order_Its_Claims_Once_Reactivated()
    {
        // As idx_transactions_sync_due keeps the PostgreSQL row: the transaction is only paused with its partner.
        var inner = await CreateStoreAsync();
        var store = new CrashingStore(inner);
        using var h = OrchestrationHarness.Create(store, due: CreateDueQueue(inner));
        var partner = await h.NewPartnerAsync();
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, false);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask());
        var unsent = Assert.Single((await h.Transactions.ListAsync(partner.Id, null, 10)).Items);

        var queue = new StoreScanDueTransactionQueue(inner);
        var now = h.Clock.GetCurrentInstant();
        Assert.Equal(unsent.Id, Assert.Single(await queue.ClaimDueAsync(now, now, NodaTime.Duration.FromMinutes(1), 100)).Id);
        await h.Partners.UpdateAsync(partner.Id, new UpdatePartnerRequest { IsActive = false }, Context);

        Assert.Empty(await queue.ClaimDueAsync(now + NodaTime.Duration.FromMinutes(2), now, NodaTime.Duration.FromMinutes(1), 100));
        Assert.Equal([unsent.Id.Value], queue.HeldIds());
    }
}
