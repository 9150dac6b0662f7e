using System.Text.Json;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Json;
using static PaymentsKit.Tests.Invoicing.AsyncAssert;

namespace PaymentsKit.Tests.Invoicing;

/// <summary>Merchants, clients and API keys, against any store (subclass per store).</summary>
public abstract class MerchantServiceTests : InvoicingStoreTests
{
    [Fact]
    public async Task RegisterMerchant_KeepsTheCanonicalWallet_AndFindsItByWallet()
    {
        var wallet = InvoicingHarness.NewWallet();
        var merchant = await _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", wallet) { Email = "Shop@Example.com", Name = "Shop" });
        Assert.Equal(ChainId.Stellar, merchant.Chain);
        Assert.Equal(wallet, merchant.WalletAddress);
        Assert.False(merchant.EmailVerified);
        Assert.StartsWith("mer_", merchant.Id.ToString(), StringComparison.Ordinal);
        Assert.Equal(merchant, await _kit.Merchants.FindMerchantByWalletAsync("stellar", wallet));
        Assert.Null(await _kit.Merchants.FindMerchantByWalletAsync("stellar", InvoicingHarness.NewWallet()));
        Assert.Equal(merchant, await _kit.Merchants.GetMerchantAsync(merchant.Id));

        var verified = await _kit.Merchants.MarkEmailVerifiedAsync(merchant.Id);
        Assert.True(verified.EmailVerified);
        Assert.True((await _kit.Merchants.GetMerchantAsync(merchant.Id)).EmailVerified);
    }

    [Fact]
    public async Task RegisterMerchant_RejectsBadInput_WithStableCodes()
    {
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidAddress, () => _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", "not a wallet!")).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.UnknownChain, () => _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("solana", "wallet")).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("Not A Chain", "wallet")).AsTask());
        var badEmail = await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", InvoicingHarness.NewWallet()) { Email = "nobody" }).AsTask());
        Assert.Equal("email", badEmail.Context["field"]);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Merchants.GetMerchantAsync(MerchantId.New(_kit.Clock)).AsTask());
        var noEmail = await _kit.MerchantAsync();
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Merchants.MarkEmailVerifiedAsync(noEmail.Id).AsTask());
    }

    [Fact]
    public async Task WalletAndEmail_AreUniqueAcrossMerchants()
    {
        var wallet = InvoicingHarness.NewWallet();
        await _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", wallet) { Email = "owner@example.com" });
        var sameWallet = await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", wallet)).AsTask());
        Assert.Equal("walletAddress", sameWallet.Context["field"]);
        var sameEmail = await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", InvoicingHarness.NewWallet()) { Email = "OWNER@example.com" }).AsTask());
        Assert.Equal("email", sameEmail.Context["field"]);
    }

    [Fact]
    public async Task ConcurrentRegistrations_OfOneWallet_CreateOneMerchant()
    {
        var wallet = InvoicingHarness.NewWallet();
        var attempts = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            try
            {
                return (Merchant?)await _kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", wallet));
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
            {
                return null;
            }
        })));
        Assert.Single(attempts, a => a is not null);
    }

    [Fact]
    public async Task Clients_AreUniquePerMerchantByEmail_CaseInsensitively()
    {
        var a = await _kit.MerchantAsync();
        var b = await _kit.MerchantAsync();
        var client = await _kit.Merchants.CreateClientAsync(a.Id, new CreateClientRequest("Ada") { Email = "ada@example.com", WalletAddress = "ada-wallet", Metadata = new Dictionary<string, string> { ["tier"] = "gold" } });
        Assert.Equal("ada-wallet", client.WalletAddress);
        Assert.Equal("gold", client.Metadata["tier"]);
        Assert.Equal(client, await _kit.Merchants.GetClientAsync(a.Id, client.Id));

        var duplicate = await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => _kit.Merchants.CreateClientAsync(a.Id, new CreateClientRequest("Ada again") { Email = "ADA@example.com" }).AsTask());
        Assert.Equal("email", duplicate.Context["field"]);
        Assert.Equal("ADA@example.com", duplicate.Context["value"]);

        // Another merchant may have a client with the same email; clients without email never clash.
        await _kit.Merchants.CreateClientAsync(b.Id, new CreateClientRequest("Ada") { Email = "ada@example.com" });
        await _kit.Merchants.CreateClientAsync(a.Id, new CreateClientRequest("Walk-in"));
        await _kit.Merchants.CreateClientAsync(a.Id, new CreateClientRequest("Walk-in"));
        Assert.Equal(3, (await _kit.Merchants.ListClientsAsync(a.Id)).Items.Count);
    }

    [Fact]
    public async Task Clients_RejectBadInput()
    {
        var merchant = await _kit.MerchantAsync();
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidAddress, () => _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Bob") { WalletAddress = "bad wallet" }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest(" ")).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Bob") { Email = "bob@" }).AsTask());
        var tooMany = Enumerable.Range(0, 51).ToDictionary(i => $"k{i}", i => "v");
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Bob") { Metadata = tooMany }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Merchants.CreateClientAsync(MerchantId.New(_kit.Clock), new CreateClientRequest("Bob")).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Merchants.ListClientsAsync(merchant.Id, limit: 0).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Merchants.ListClientsAsync(merchant.Id, cursor: "nope").AsTask());
    }

    [Fact]
    public async Task ListClients_PagesWithACursor()
    {
        var merchant = await _kit.MerchantAsync();
        for (var i = 0; i < 5; i++)
        {
            _kit.Clock.Advance(Duration.FromMilliseconds(1));
            await _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest($"Client {i}"));
        }

        var first = await _kit.Merchants.ListClientsAsync(merchant.Id, limit: 2);
        var second = await _kit.Merchants.ListClientsAsync(merchant.Id, first.NextCursor, 2);
        var third = await _kit.Merchants.ListClientsAsync(merchant.Id, second.NextCursor, 2);
        Assert.Equal(["Client 0", "Client 1", "Client 2", "Client 3", "Client 4"], first.Items.Concat(second.Items).Concat(third.Items).Select(c => c.Name));
        Assert.Null(third.NextCursor);
    }

    [Fact]
    public async Task ApiKey_IsShownOnce_StoredAsKeyedHash_AndAuthenticates()
    {
        var merchant = await _kit.MerchantAsync();
        var created = await _kit.ApiKeys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("server"));
        Assert.StartsWith("sk_", created.Key, StringComparison.Ordinal);
        Assert.StartsWith(created.ApiKey.Prefix, created.Key, StringComparison.Ordinal);
        Assert.DoesNotContain(created.Key, created.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(created.Key, created.ApiKey.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(created.ApiKey.Hash, created.ApiKey.ToString(), StringComparison.Ordinal);

        // What is stored (and what a listing returns) never contains the key itself.
        var listed = Assert.Single((await _kit.ApiKeys.ListApiKeysAsync(merchant.Id)).Items);
        var json = JsonSerializer.Serialize(listed, PaymentsKitJson.CreateOptions(new AssetRegistry()));
        Assert.DoesNotContain(created.Key[(created.ApiKey.Prefix.Length + 1)..], json, StringComparison.Ordinal);
        Assert.NotEqual(created.Key, listed.Hash);

        var authenticated = await _kit.ApiKeys.AuthenticateAsync(created.Key);
        Assert.Equal(merchant.Id, authenticated.MerchantId);
        Assert.Equal(created.ApiKey.Id, authenticated.Id);
        Assert.Equal(_kit.Clock.GetCurrentInstant(), authenticated.LastUsedAt);
    }

    [Fact]
    public async Task ApiKey_LastUse_IsTrackedToTheConfiguredResolution()
    {
        var merchant = await _kit.MerchantAsync();
        var created = await _kit.ApiKeys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("server"));
        var first = _kit.Clock.GetCurrentInstant();
        await _kit.ApiKeys.AuthenticateAsync(created.Key);
        _kit.Clock.Advance(Duration.FromSeconds(30));
        Assert.Equal(first, (await _kit.ApiKeys.AuthenticateAsync(created.Key)).LastUsedAt);
        _kit.Clock.Advance(Duration.FromSeconds(30));
        Assert.Equal(first + Duration.FromMinutes(1), (await _kit.ApiKeys.AuthenticateAsync(created.Key)).LastUsedAt);
        Assert.Equal(first + Duration.FromMinutes(1), Assert.Single((await _kit.ApiKeys.ListApiKeysAsync(merchant.Id)).Items).LastUsedAt);
    }

    [Fact]
    public async Task ApiKey_Wrong_Malformed_Revoked_OrExpired_IsRefused()
    {
        var merchant = await _kit.MerchantAsync();
        var created = await _kit.ApiKeys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("server") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromDays(1) });

        // Same prefix, different secret: found by prefix, refused by the hash.
        var forged = created.Key[..^1] + (created.Key[^1] == 'A' ? 'B' : 'A');
        var wrong = await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => _kit.ApiKeys.AuthenticateAsync(forged).AsTask());
        Assert.DoesNotContain(forged, wrong.Message, StringComparison.Ordinal);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => _kit.ApiKeys.AuthenticateAsync("sk_short").AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => _kit.ApiKeys.AuthenticateAsync(null).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => _kit.ApiKeys.AuthenticateAsync("sk_" + new string('x', 40)).AsTask());

        _kit.Clock.Advance(Duration.FromDays(1));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.Expired, () => _kit.ApiKeys.AuthenticateAsync(created.Key).AsTask());

        var other = await _kit.ApiKeys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("worker"));
        var revoked = await _kit.ApiKeys.RevokeApiKeyAsync(merchant.Id, other.ApiKey.Id);
        Assert.NotNull(revoked.RevokedAt);
        Assert.Equal(revoked, await _kit.ApiKeys.RevokeApiKeyAsync(merchant.Id, other.ApiKey.Id));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => _kit.ApiKeys.AuthenticateAsync(other.Key).AsTask());
    }

    [Fact]
    public async Task ApiKey_RejectsBadInput()
    {
        var merchant = await _kit.MerchantAsync();
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.ApiKeys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("")).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.ApiKeys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("old") { ExpiresAt = _kit.Clock.GetCurrentInstant() }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.ApiKeys.CreateApiKeyAsync(MerchantId.New(_kit.Clock), new CreateApiKeyRequest("ghost")).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.ApiKeys.RevokeApiKeyAsync(merchant.Id, ApiKeyId.New(_kit.Clock)).AsTask());
    }
}
