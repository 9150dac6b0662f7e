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
    public async Task AddPaymentsKit_Registers_Payouts_On_The_Embedded_Stores_But_Never_Pays_Without_An_Executor()
    {
        await using var provider = new ServiceCollection().AddPaymentsKit().Services
            .Configure<PayoutOptions>(o => o.MaxHoldersPerBatch = 5)
            .BuildServiceProvider();

        var service = provider.GetRequiredService<IDistributionService>();
        Assert.IsType<DistributionService>(service);
        Assert.Equal(5, service.MaxHoldersPerBatch);
        Assert.IsType<InMemoryHolderSnapshotStore>(provider.GetRequiredService<IHolderSnapshotStore>());
        Assert.IsType<StoreScanDueDistributionIndex>(provider.GetRequiredService<IDueDistributionIndex>());
        Assert.IsType<EventListenerService>(provider.GetRequiredService<IEventListenerService>());
        Assert.Same(service, provider.GetRequiredService<IDistributionService>());
        Assert.Null(provider.GetService<IPayoutExecutor>());

        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var asset = await service.CreateAssetAsync(tenant, new CreateTokenAssetRequest("0.0.7", "Acme", "ACME", 100, 0, AssetRegistry.Usdc));
        var distribution = await service.CreateDistributionAsync(
            tenant, new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Manual) { Payout = DistributionPayout.Fixed, Amount = Money.Of(1m, AssetRegistry.Usdc) });
        await service.ImportHolderSnapshotAsync(tenant, distribution.Id, [new HolderBalance("0.0.8", 1)]);
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(() => service.ExecuteAsync(tenant, distribution.Id).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.UnknownChain, ex.Code);
        Assert.Equal(HolderPaymentState.Pending, Assert.Single(await service.ListHoldersAsync(tenant, distribution.Id, null, 10)).State);
        Assert.Equal(DistributionStatus.Pending, (await service.GetDistributionAsync(tenant, distribution.Id)).Status);
    }

    [Fact]
    public async Task AddSimulatedPayouts_Pays_Through_The_Simulated_Executor()
    {
        await using var provider = new ServiceCollection().AddPaymentsKit().AddSimulatedPayouts(o => o.Chain = ChainId.Solana).Services.BuildServiceProvider();

        var executor = Assert.IsType<SimulatedPayoutExecutor>(provider.GetRequiredService<IPayoutExecutor>());
        var service = provider.GetRequiredService<IDistributionService>();
        Assert.Equal(100, service.MaxHoldersPerBatch);
        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var asset = await service.CreateAssetAsync(tenant, new CreateTokenAssetRequest("0.0.7", "Acme", "ACME", 100, 0, AssetRegistry.Usdc));
        var distribution = await service.CreateDistributionAsync(
            tenant, new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Manual) { Payout = DistributionPayout.Fixed, Amount = Money.Of(1m, AssetRegistry.Usdc) });
        await service.ImportHolderSnapshotAsync(tenant, distribution.Id, [new HolderBalance("0.0.8", 1)]);
        Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(tenant, distribution.Id)).Status);
        Assert.Equal(1_000_000L, Assert.Single(executor.Payments).Amount);
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
