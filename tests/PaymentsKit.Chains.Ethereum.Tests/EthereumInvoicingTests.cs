using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Invoicing;
using PaymentsKit.Testing;
using static PaymentsKit.Chains.Ethereum.Tests.EthereumFixtures;

namespace PaymentsKit.Chains.Ethereum.Tests;

/// <summary>Invoicing over the Ethereum adapter, against a recorded node.</summary>
public sealed class EthereumInvoicingTests
{
    [Fact]
    public async Task A_Payment_Beside_A_Registered_Token_Transfer_Too_Large_For_An_Amount_Is_Still_Recorded_Exactly()
    {
        // The transaction pays the merchant 25 USDC and, in another log, moves 2^96 base units of a registered 18-decimal
        // token to the merchant too (a spam token), more than any amount can hold: that log must not stop the payment being read.
        const string One = "0000000000000000000000000000000000000000000000000000000000000001";
        var oversized = (System.Numerics.BigInteger.One << 96).ToString("x64", System.Globalization.CultureInfo.InvariantCulture);
        await using var node = JsonRpcLoopback.Start((method, parameters) => (method, method is "eth_getTransactionReceipt" or "eth_getBlockByNumber" ? parameters[0].GetString() : null) switch
        {
            ("eth_getTransactionReceipt", TokenHash) => JsonRpcAnswer.Result(TokenReceipt(TokenHash, "0x1").Replace(One, oversized, StringComparison.Ordinal)),
            ("eth_getBlockByNumber", "finalized") => JsonRpcAnswer.Result(FinalizedBlock("0x5daf46")), // the transfer is final
            _ => Standard(method, parameters),
        });
        var services = new ServiceCollection();
        services.AddPaymentsKit(o =>
            {
                o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
                o.Assets.Add(new AssetDefinition { Code = "USDC.ETH", Scale = 6, Chain = "ethereum", Identifier = UsdcContract });
                o.Assets.Add(new AssetDefinition { Code = "SPAM.ETH", Scale = 18, Chain = "ethereum", Identifier = UnknownContract });
            })
            .UseClock(new ManualClock())
            .AddEthereum(o => o.Endpoints.Add(node.BaseAddress));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var merchant = await provider.GetRequiredService<IMerchantService>().RegisterMerchantAsync(new RegisterMerchantRequest("ethereum", Recipient));
        var usdc = provider.GetRequiredService<AssetRegistry>().Get("USDC.ETH");

        var recorded = (await provider.GetRequiredService<IPaymentService>().SubmitPaymentAsync(merchant.Id, new SubmitPaymentRequest(TokenHash))).Payment;

        Assert.Equal(Money.Of(25m, usdc), recorded.Amount);
        Assert.Equal(TokenHash, recorded.TransactionHash);
    }

    [Fact]
    public async Task A_Zero_Value_Token_Transfer_To_The_Merchant_Is_Not_A_Payment()
    {
        const string Amount = "00000000000000000000000000000000000000000000000000000000017d7840";
        var zero = new string('0', 64);
        await using var node = JsonRpcLoopback.Start((method, parameters) => (method, method is "eth_getTransactionReceipt" or "eth_getBlockByNumber" ? parameters[0].GetString() : null) switch
        {
            ("eth_getTransactionReceipt", TokenHash) => JsonRpcAnswer.Result(TokenReceipt(TokenHash, "0x1").Replace(Amount, zero, StringComparison.Ordinal)),
            ("eth_getBlockByNumber", "finalized") => JsonRpcAnswer.Result(FinalizedBlock("0x5daf46")), // the transfer is final
            _ => Standard(method, parameters),
        });
        var services = new ServiceCollection();
        services.AddPaymentsKit(o =>
            {
                o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
                o.Assets.Add(new AssetDefinition { Code = "USDC.ETH", Scale = 6, Chain = "ethereum", Identifier = UsdcContract });
            })
            .UseClock(new ManualClock())
            .AddEthereum(o => o.Endpoints.Add(node.BaseAddress));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var merchant = await provider.GetRequiredService<IMerchantService>().RegisterMerchantAsync(new RegisterMerchantRequest("ethereum", Recipient));
        var payments = provider.GetRequiredService<IPaymentService>();

        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => payments.SubmitPaymentAsync(merchant.Id, new SubmitPaymentRequest(TokenHash)).AsTask());

        Assert.Equal(PaymentsKitErrorCodes.DestinationMismatch, error.Code);
        Assert.Null(await payments.FindPaymentByTransactionAsync(merchant.Id, TokenHash));
    }
}
