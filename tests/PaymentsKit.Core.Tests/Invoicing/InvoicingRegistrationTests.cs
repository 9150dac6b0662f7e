using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.Chains;
using PaymentsKit.Invoicing;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Invoicing;

public sealed class InvoicingRegistrationTests
{
    [Fact]
    public async Task AddPaymentsKit_RegistersTheInvoicingServices_OnTheEmbeddedDefaults()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().UseClock(new ManualClock()).AddSimulatedChain(ChainId.Stellar);
        services.AddPaymentsKit();
        Assert.Single(services, d => d.ServiceType == typeof(IInvoiceService));
        Assert.Single(services, d => d.ServiceType == typeof(IPaymentService));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        Assert.Same(provider.GetRequiredService<IPaymentService>(), provider.GetRequiredService<IPaymentService>());
        var merchant = await provider.GetRequiredService<IMerchantService>().RegisterMerchantAsync(new RegisterMerchantRequest("stellar", "shop"));
        var invoice = await provider.GetRequiredService<IInvoiceService>().CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(1m, "XLM", "x"));
        Assert.Equal(invoice, await provider.GetRequiredService<IInvoiceService>().GetInvoiceAsync(merchant.Id, invoice.Id));
        Assert.NotNull(provider.GetRequiredService<IApiKeyService>());
        Assert.NotNull(provider.GetRequiredService<IPaymentLinkService>());
    }
}
