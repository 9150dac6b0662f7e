using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.Invoicing;
using PaymentsKit.Testing;
using static PaymentsKit.Chains.Stellar.Tests.HorizonFixtures;

namespace PaymentsKit.Chains.Stellar.Tests;

/// <summary>Invoicing over the Stellar adapter, against a recorded Horizon.</summary>
public sealed class StellarInvoicingTests
{
    [Fact]
    public async Task A_Payment_Is_Found_By_Its_Hash_In_Any_Spelling_And_A_Hash_Of_Another_Shape_Is_Invalid_Argument()
    {
        await using var horizon = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /"] = _ => LoopbackResponse.Json(Root),
            ["GET /transactions/" + Hash] = _ => LoopbackResponse.Json(Transaction),
            ["GET /transactions/" + Hash + "/payments"] = _ => LoopbackResponse.Json(Payments),
            ["GET /fee_stats"] = _ => LoopbackResponse.Json(FeeStats),
        });
        var services = new ServiceCollection();
        services.AddPaymentsKit(o => o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)))
            .UseClock(new ManualClock())
            .AddStellar(o => o.Endpoints.Add(horizon.BaseAddress));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var merchant = await provider.GetRequiredService<IMerchantService>().RegisterMerchantAsync(new RegisterMerchantRequest("stellar", Recipient));
        var payments = provider.GetRequiredService<IPaymentService>();

        var recorded = (await payments.SubmitPaymentAsync(merchant.Id, new SubmitPaymentRequest(Hash.ToUpperInvariant()))).Payment;

        Assert.Equal(Hash, recorded.TransactionHash);
        Assert.Equal(recorded, await payments.FindPaymentByTransactionAsync(merchant.Id, Hash.ToUpperInvariant()));
        Assert.Equal(recorded, await payments.FindPaymentByTransactionAsync(merchant.Id, Hash));
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => payments.FindPaymentByTransactionAsync(merchant.Id, "not-a-hash").AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
    }
}
