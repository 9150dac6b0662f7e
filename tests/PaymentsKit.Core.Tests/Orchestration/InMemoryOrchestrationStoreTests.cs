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
}
