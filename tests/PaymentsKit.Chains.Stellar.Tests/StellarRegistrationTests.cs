using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PaymentsKit.Chains.Stellar;
using PaymentsKit.Testing;

namespace PaymentsKit.Chains.Stellar.Tests;

public sealed class StellarRegistrationTests
{
    [Fact]
    public async Task AddStellar_Registers_The_Adapter_Behind_The_Registry()
    {
        await using var horizon = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /fee_stats"] = _ => LoopbackResponse.Json(HorizonFixtures.FeeStats),
        });
        var services = new ServiceCollection();
        services.AddPaymentsKit().UseClock(new ManualClock()).AddStellar(o => o.Endpoints.Add(horizon.BaseAddress));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var adapter = Assert.IsType<StellarChainAdapter>(provider.GetRequiredService<IChainAdapterRegistry>().Get(ChainId.Stellar));
        Assert.Equal(52429020, (await adapter.ProbeHealthAsync()).LatestBlock);
    }

    [Fact]
    public async Task A_Provided_Handler_Is_Used_Instead_Of_The_Factory()
    {
        using var handler = new CountingHandler();
        var services = new ServiceCollection();
        services.AddPaymentsKit().AddStellar(o =>
        {
            o.Endpoints.Add(new Uri("http://horizon.invalid/"));
            o.HttpMessageHandler = handler;
            o.MaxAttempts = 1;
        });
        await using var provider = services.BuildServiceProvider();
        var adapter = provider.GetRequiredService<IChainAdapterRegistry>().Get(ChainId.Stellar);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.EstimateFeeAsync(AssetRegistry.Xlm).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.Equal(1, handler.Calls);
    }

    [Fact]
    public void Invalid_Options_Fail_Validation()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().AddStellar(o => o.MaxAttempts = 99);
        using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<StellarOptions>>().Value);
        Assert.Contains(error.Failures, f => f.Contains("Stellar:Endpoints", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Stellar:MaxAttempts", StringComparison.Ordinal));
    }

    private sealed class CountingHandler : HttpMessageHandler
    {
        public int Calls { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Calls++;
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable));
        }
    }
}
