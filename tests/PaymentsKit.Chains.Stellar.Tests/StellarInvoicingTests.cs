using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.DependencyInjection;
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

    [Fact]
    public async Task A_Payment_Beside_Dust_Finer_Than_The_Assets_Registered_Scale_Is_Still_Recorded_Exactly()
    {
        // USDC registered in cents. The transaction pays the merchant 100 USDC and, in another operation, sends someone
        // else 0.0000001 USDC, which no amount of the asset can hold: that operation must not stop the payment being read.
        var payments = $$"""
            {
              "_embedded": {
                "records": [
                  {
                    "id": "225180887203979265",
                    "transaction_successful": true,
                    "type": "payment",
                    "transaction_hash": "{{Hash}}",
                    "asset_type": "credit_alphanum4",
                    "asset_code": "USDC",
                    "asset_issuer": "{{Issuer}}",
                    "from": "{{Sender}}",
                    "to": "{{Recipient}}",
                    "amount": "100.0000000"
                  },
                  {
                    "id": "225180887203979266",
                    "transaction_successful": true,
                    "type": "payment",
                    "transaction_hash": "{{Hash}}",
                    "asset_type": "credit_alphanum4",
                    "asset_code": "USDC",
                    "asset_issuer": "{{Issuer}}",
                    "from": "{{Sender}}",
                    "to": "{{UnknownIssuer}}",
                    "amount": "0.0000001"
                  }
                ]
              }
            }
            """;
        await using var horizon = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /"] = _ => LoopbackResponse.Json(Root),
            ["GET /transactions/" + Hash] = _ => LoopbackResponse.Json(Transaction),
            ["GET /transactions/" + Hash + "/payments"] = _ => LoopbackResponse.Json(payments),
        });
        var services = new ServiceCollection();
        services.AddPaymentsKit(o =>
            {
                o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
                o.Assets.Add(new AssetDefinition { Code = "USDC.XLM", Scale = 2, Chain = "stellar", Identifier = "USDC:" + Issuer });
            })
            .UseClock(new ManualClock())
            .AddStellar(o => o.Endpoints.Add(horizon.BaseAddress));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var merchant = await provider.GetRequiredService<IMerchantService>().RegisterMerchantAsync(new RegisterMerchantRequest("stellar", Recipient));
        var usdc = provider.GetRequiredService<AssetRegistry>().Get("USDC.XLM");

        var recorded = (await provider.GetRequiredService<IPaymentService>().SubmitPaymentAsync(merchant.Id, new SubmitPaymentRequest(Hash))).Payment;

        Assert.Equal((Money.Of(100m, usdc), Recipient, Sender), (recorded.Amount, recorded.To, recorded.From));
    }

    [Fact]
    public async Task A_Payment_To_A_Muxed_Address_Is_Received_By_Its_Account_And_A_Muxed_Wallet_Only_Receives_Its_Own_Id()
    {
        Assert.True(StellarAddressCodec.TryDecode(Recipient, out var account, out _));
        var muxed42 = StellarAddressCodec.EncodeMuxed(account.PublicKey.Span, 42);
        var muxed7 = StellarAddressCodec.EncodeMuxed(account.PublicKey.Span, 7);
        var payments = $$"""
            {
              "_embedded": {
                "records": [
                  {
                    "id": "225180887203979265",
                    "transaction_successful": true,
                    "type": "payment",
                    "transaction_hash": "{{Hash}}",
                    "asset_type": "native",
                    "from": "{{Sender}}",
                    "to": "{{Recipient}}",
                    "to_muxed": "{{muxed42}}",
                    "to_muxed_id": "42",
                    "amount": "12.5000000"
                  }
                ]
              }
            }
            """;
        // One transaction per merchant: a transaction is recorded once per chain.
        string[] hashes = [Hash, "4" + Hash[1..], "5" + Hash[1..]];
        var routes = new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>> { ["GET /"] = _ => LoopbackResponse.Json(Root) };
        foreach (var hash in hashes)
        {
            routes["GET /transactions/" + hash] = _ => LoopbackResponse.Json(Transaction.Replace(Hash, hash, StringComparison.Ordinal));
            routes["GET /transactions/" + hash + "/payments"] = _ => LoopbackResponse.Json(payments);
        }

        await using var horizon = LoopbackHttpServer.WithRoutes(routes);
        var services = new ServiceCollection();
        services.AddPaymentsKit(o => o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)))
            .UseClock(new ManualClock())
            .AddStellar(o => o.Endpoints.Add(horizon.BaseAddress));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var merchants = provider.GetRequiredService<IMerchantService>();
        var service = provider.GetRequiredService<IPaymentService>();

        // The funds land in the G… account, so its owner received them whatever id the payer used.
        var owner = await merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", Recipient));
        var received = (await service.SubmitPaymentAsync(owner.Id, new SubmitPaymentRequest(hashes[0]))).Payment;
        Assert.Equal((Money.Of(12.5m, AssetRegistry.Xlm), Recipient, Sender), (received.Amount, received.To, received.From));

        // A merchant known by one muxed id (a customer of a custodian) receives only what was sent to that id.
        var customer42 = await merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", muxed42));
        Assert.Equal(muxed42, customer42.WalletAddress);
        Assert.Equal(Money.Of(12.5m, AssetRegistry.Xlm), (await service.SubmitPaymentAsync(customer42.Id, new SubmitPaymentRequest(hashes[1]))).Payment.Amount);
        var customer7 = await merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", muxed7));
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => service.SubmitPaymentAsync(customer7.Id, new SubmitPaymentRequest(hashes[2])).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.DestinationMismatch, error.Code);
    }
}
