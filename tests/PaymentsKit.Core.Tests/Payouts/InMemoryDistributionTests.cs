using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.Payouts;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Payouts;

/// <summary>The mass payouts specification on the embedded in-memory stores.</summary>
public sealed class InMemoryDistributionTests : DistributionSpecification
{
    protected override Task<Stores> CreateStoresAsync()
    {
        var records = new InMemoryStore();
        return Task.FromResult(new Stores(records, new InMemoryHolderSnapshotStore(), new StoreScanDueDistributionIndex(records)));
    }
}

public sealed class PayoutRegistrationTests
{
    [Fact]
    public void AddPaymentsKit_Registers_Payouts_On_The_Embedded_Stores()
    {
        using var provider = new ServiceCollection().AddPaymentsKit(o => { }).Services
            .Configure<PayoutOptions>(o => o.MaxHoldersPerBatch = 5)
            .BuildServiceProvider();

        var service = provider.GetRequiredService<IDistributionService>();
        Assert.IsType<DistributionService>(service);
        Assert.Equal(5, service.MaxHoldersPerBatch);
        Assert.IsType<InMemoryHolderSnapshotStore>(provider.GetRequiredService<IHolderSnapshotStore>());
        Assert.IsType<StoreScanDueDistributionIndex>(provider.GetRequiredService<IDueDistributionIndex>());
        Assert.IsType<SimulatedPayoutExecutor>(provider.GetRequiredService<IPayoutExecutor>());
        Assert.IsType<EventListenerService>(provider.GetRequiredService<IEventListenerService>());
        Assert.Same(service, provider.GetRequiredService<IDistributionService>());
    }

    [Fact]
    public void A_Host_Executor_Replaces_The_Simulated_One()
    {
        var services = new ServiceCollection();
        var executor = new SimulatedPayoutExecutor(NodaTime.SystemClock.Instance, new SimulatedPayoutExecutorOptions { Chain = ChainId.Ethereum });
        services.AddSingleton<IPayoutExecutor>(executor);
        using var provider = services.AddPaymentsKit().Services.BuildServiceProvider();

        Assert.Same(executor, provider.GetRequiredService<IPayoutExecutor>());
        Assert.Equal(100, provider.GetRequiredService<IDistributionService>().MaxHoldersPerBatch);
    }
}
