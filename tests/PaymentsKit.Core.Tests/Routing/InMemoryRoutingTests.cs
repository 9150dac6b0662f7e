using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Routing;

/// <summary>The routing specification on the embedded in-memory store.</summary>
public sealed class InMemoryRoutingTests : RoutingSpecification
{
    protected override int PropertyIterations => 60;

    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}
