using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.Chains.Hedera;
using PaymentsKit.Invoicing;
using PaymentsKit.Testing;
using static PaymentsKit.Chains.Hedera.Tests.MirrorNodeFixtures;

namespace PaymentsKit.Chains.Hedera.Tests;

/// <summary>Invoicing over the Hedera adapter, against a recorded Mirror Node.</summary>
public sealed class HederaInvoicingTests
{
    [Fact]
    public async Task A_Payment_Submitted_With_An_Sdk_Transaction_Id_Is_Found_By_Either_Spelling()
    {
        const string SdkId = "0.0.1234@1615422161.673238162";
        await using var mirror = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /api/v1/transactions/" + TransactionId] = _ => LoopbackResponse.Json(Transaction),
        });
        var services = new ServiceCollection();
        services.AddPaymentsKit(o => o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)))
            .UseClock(new ManualClock())
            .AddHedera(o => o.Endpoints.Add(mirror.BaseAddress));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var wallet = HederaAddressCodec.Mainnet.Format(new HederaEntityId(0, 0, 5678));
        var merchant = await provider.GetRequiredService<IMerchantService>().RegisterMerchantAsync(new RegisterMerchantRequest("hedera", wallet));
        var payments = provider.GetRequiredService<IPaymentService>();

        var recorded = (await payments.SubmitPaymentAsync(merchant.Id, new SubmitPaymentRequest(SdkId))).Payment;

        Assert.Equal(TransactionId, recorded.TransactionHash);
        Assert.Equal(recorded, await payments.FindPaymentByTransactionAsync(merchant.Id, TransactionId));
        Assert.Equal(recorded, await payments.FindPaymentByTransactionAsync(merchant.Id, SdkId));
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => payments.FindPaymentByTransactionAsync(merchant.Id, "not-an-id").AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
    }
}
