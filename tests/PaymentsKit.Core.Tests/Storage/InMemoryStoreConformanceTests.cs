using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Core.Tests.Storage;

/// <summary>The storage conformance suite against the embedded in-memory store (a fresh store per test).</summary>
public sealed class InMemoryStoreConformanceTests : StoreConformanceTests
{
    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}
