using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Storage;

/// <summary>The deadline sweep late commit specification on the in-memory store.</summary>
public sealed class InMemoryDeadlineSweepLateCommitTests : DeadlineSweepLateCommitSpecification
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}
