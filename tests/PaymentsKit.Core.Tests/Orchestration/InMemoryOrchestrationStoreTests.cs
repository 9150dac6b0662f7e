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

    protected override Task<IReadOnlyList<Guid>> HeldLeasesAsync(IPaymentsStore store, IDueTransactionQueue queue) =>
        Task.FromResult<IReadOnlyList<Guid>>([.. ((StoreScanDueTransactionQueue)queue).HeldIds().Order()]);

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
        Assert.Equal(unsent.Id, Assert.Single(await queue.ClaimDueAsync(now, now, now, NodaTime.Duration.FromMinutes(1), 100)).Id);
        await h.Partners.UpdateAsync(partner.Id, new UpdatePartnerRequest { IsActive = false }, Context);

        Assert.Empty(await queue.ClaimDueAsync(now + NodaTime.Duration.FromMinutes(2), now, now, NodaTime.Duration.FromMinutes(1), 100));
        Assert.Equal([unsent.Id.Value], queue.HeldIds());
    }
}
