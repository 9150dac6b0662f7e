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

    [Fact]
    public async Task Leases_Of_Intents_Resolved_Outside_The_Queue_Are_Dropped_By_Later_Claims()
    {
        var merchant = await Router.MerchantAsync();
        var routed = new List<PaymentIntent>();
        for (var i = 0; i < 3; i++)
        {
            routed.Add(await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 2m + i, RoutingHarness.Ethereum)).Id));
        }

        // A sweeper claims all three, defers two (one stays due, one is cancelled while deferred) and dies holding the third.
        var queue = (StoreScanDuePaymentIntentQueue)CreateDueQueue(Router.Store);
        var now = Clock.GetCurrentInstant();
        var claims = await queue.ClaimDueAsync(now, Duration.FromMinutes(1), 100);
        Assert.Equal(3, claims.Count);
        var (stillDue, cancelledWhileDeferred, cancelledWhileLeased) = (routed[0].Id.Value, routed[1].Id.Value, routed[2].Id.Value);
        await queue.DeferAsync(claims.Where(c => c.Id.Value != cancelledWhileLeased).ToList(), now + Duration.FromMinutes(10));
        await Router.Intents.CancelAsync(merchant, routed[1].Id);
        await Router.Intents.CancelAsync(merchant, routed[2].Id);

        // Once its lease ran out, the next claim drops the cancelled intent's entry; the deferrals still hold.
        Assert.Empty(await queue.ClaimDueAsync(now + Duration.FromMinutes(2), Duration.FromMinutes(1), 100));
        Assert.Equal(new[] { stillDue, cancelledWhileDeferred }.Order(), queue.HeldIds().Order());

        // Once the deferral is over, the intent still due is claimed and the cancelled one's entry goes.
        var later = await queue.ClaimDueAsync(now + Duration.FromMinutes(10), Duration.FromMinutes(1), 100);
        Assert.Equal(stillDue, Assert.Single(later).Id.Value);
        Assert.Equal([stillDue], queue.HeldIds());
    }
}
