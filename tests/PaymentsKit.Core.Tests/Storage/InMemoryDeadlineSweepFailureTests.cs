using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Storage;

/// <summary>The deadline sweep failure specification on the in-memory store.</summary>
public sealed class InMemoryDeadlineSweepFailureTests : DeadlineSweepFailureSpecification
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}
