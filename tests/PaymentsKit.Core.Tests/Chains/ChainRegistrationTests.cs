using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Testing;

namespace PaymentsKit.Core.Tests.Chains;

public sealed class ChainRegistrationTests
{
    [Fact]
    public async Task AddSimulatedChain_Registers_An_Adapter_Resolvable_By_Chain()
    {
        var clock = new ManualClock();
        var services = new ServiceCollection();
        services.AddPaymentsKit()
            .UseClock(clock)
            .AddSimulatedChain(ChainId.Stellar, o => o.FinalityConfirmations = 1)
            .AddSimulatedChain(ChainId.Ethereum, o => o.Seed = 9)
            .AddSimulatedChain(ChainId.Ethereum, o => o.BlockTime = Duration.FromSeconds(12));
        using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        var registry = provider.GetRequiredService<IChainAdapterRegistry>();
        Assert.Equal([ChainId.Ethereum, ChainId.Stellar], registry.Chains);
        var stellar = Assert.IsType<SimulatedChain>(registry.Get(ChainId.Stellar));
        Assert.Equal(ChainId.Stellar, stellar.Chain);
        Assert.Equal(AssetRegistry.Xlm, stellar.NativeAsset);
        Assert.Equal(1, stellar.FinalityConfirmations);
        var ethereum = Assert.IsType<SimulatedChain>(registry.Get(ChainId.Ethereum));
        Assert.Equal(Duration.FromSeconds(12), ethereum.BlockTime);
        Assert.Equal(AssetRegistry.Eth, ethereum.NativeAsset);

        Assert.Same(stellar, provider.GetRequiredKeyedService<IChainAdapter>("stellar"));
        Assert.Same(stellar, provider.GetRequiredKeyedService<SimulatedChain>("stellar"));
        Assert.Equal(2, provider.GetServices<IChainAdapter>().Count());
        Assert.IsType<SimulatedTransactionSigner>(provider.GetRequiredService<ITransactionSigner>());

        // The chain runs on the host's clock.
        clock.Advance(Duration.FromSeconds(12));
        Assert.Equal(1, ethereum.LatestBlock);
        var signed = await provider.GetRequiredService<ITransactionSigner>().SignAsync(
            new TransferRequest(ChainId.Stellar, "a", "b", Money.Of(1m, AssetRegistry.Xlm), null, Money.Of(1m, AssetRegistry.Xlm)));
        Assert.False((await stellar.BroadcastAsync(signed)).AlreadyKnown);
    }

    [Fact]
    public void Unknown_Chain_Is_A_Stable_Error()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().AddSimulatedChain(ChainId.Stellar);
        using var provider = services.BuildServiceProvider();
        var registry = provider.GetRequiredService<IChainAdapterRegistry>();
        var error = Assert.Throws<PaymentsKitException>(() => registry.Get(ChainId.Solana));
        Assert.Equal(PaymentsKitErrorCodes.UnknownChain, error.Code);
        Assert.Contains("solana", error.Message, StringComparison.Ordinal);
        Assert.Equal("solana", error.Context["chain"]);
        Assert.False(registry.TryGet(ChainId.Solana, out _));
        Assert.False(registry.TryGet(default, out _));
        Assert.Equal(PaymentsKitErrorCodes.UnknownChain, Assert.Throws<PaymentsKitException>(() => registry.Get(default)).Code);
    }

    [Fact]
    public void Registry_Exists_Even_Without_Chains()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit();
        using var provider = services.BuildServiceProvider();
        var registry = provider.GetRequiredService<IChainAdapterRegistry>();
        Assert.Empty(registry.Chains);
        Assert.Equal(PaymentsKitErrorCodes.UnknownChain, Assert.Throws<PaymentsKitException>(() => registry.Get(ChainId.Stellar)).Code);
    }

    [Fact]
    public void Host_Signer_Is_Kept()
    {
        var services = new ServiceCollection();
        var signer = new SimulatedTransactionSigner("host");
        services.AddSingleton<ITransactionSigner>(signer);
        services.AddPaymentsKit().AddSimulatedChain(ChainId.Stellar);
        using var provider = services.BuildServiceProvider();
        Assert.Same(signer, provider.GetRequiredService<ITransactionSigner>());
    }

    [Fact]
    public void A_Chain_Cannot_Get_Two_Kinds_Of_Adapter()
    {
        var services = new ServiceCollection();
        var builder = services.AddPaymentsKit().AddSimulatedChain(ChainId.Stellar);
        var error = Assert.Throws<InvalidOperationException>(() =>
            builder.AddChainAdapter(ChainId.Stellar, _ => new OtherAdapter()));
        Assert.Contains("stellar", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Registry_Rejects_Two_Adapters_For_One_Chain()
    {
        var clock = new ManualClock();
        var a = new SimulatedChain(new SimulatedChainOptions { Chain = ChainId.Stellar }, clock);
        var b = new SimulatedChain(new SimulatedChainOptions { Chain = ChainId.Stellar }, clock);
        Assert.Throws<ArgumentException>(() => new ChainAdapterRegistry([a, b]));
    }

    [Fact]
    public void Invalid_Options_Fail_Validation_Naming_The_Option()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().AddSimulatedChain(ChainId.Solana, o =>
        {
            o.DropRate = 2m;
            o.Chain = ChainId.Hedera;
        });
        using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptionsMonitor<SimulatedChainOptions>>().Get("solana"));
        Assert.Contains(error.Failures, f => f.Contains("SimulatedChain:DropRate", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("SimulatedChain:Chain", StringComparison.Ordinal));
    }

    private sealed class OtherAdapter : IChainAdapter
    {
        public ChainId Chain => ChainId.Stellar;

        public ChainAddress ParseAddress(string? text) => throw new NotSupportedException();

        public bool TryParseAddress(string? text, out ChainAddress address) => throw new NotSupportedException();

        public System.Numerics.BigInteger ToBaseUnits(Money amount) => throw new NotSupportedException();

        public Money FromBaseUnits(System.Numerics.BigInteger units, Asset asset) => throw new NotSupportedException();

        public ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
