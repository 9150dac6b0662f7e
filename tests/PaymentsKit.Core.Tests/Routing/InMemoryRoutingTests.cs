using NodaTime;
using PaymentsKit.Routing;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Routing;

/// <summary>The routing specification on the embedded in-memory store.</summary>
public sealed class InMemoryRoutingTests : RoutingSpecification
{
    protected override int PropertyIterations => 60;

    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());
}

/// <summary>The sweep on the in-memory store: one process, so the sweepers share one queue (its leases are in memory).</summary>
public sealed class InMemoryPaymentIntentSweepTests : PaymentIntentSweepSpecification
{
    private IDuePaymentIntentQueue? _queue;

    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());

    protected override IDuePaymentIntentQueue CreateDueQueue(IPaymentsStore store) => _queue ??= new StoreScanDuePaymentIntentQueue(store);

    protected override Task<IReadOnlyList<Guid>> HeldLeasesAsync(IDuePaymentIntentQueue queue) =>
        Task.FromResult<IReadOnlyList<Guid>>([.. ((StoreScanDuePaymentIntentQueue)queue).HeldIds().Order()]);
}
