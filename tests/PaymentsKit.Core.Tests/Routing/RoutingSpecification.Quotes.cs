using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Routing;

namespace PaymentsKit.Tests.Routing;

public abstract partial class RoutingSpecification
{
    [Fact]
    public async Task A_Merchant_Key_Authenticates_Is_Stored_Only_Hashed_And_Stops_Working_When_Rotated()
    {
        var created = await Router.Merchants.CreateAsync(new CreateRoutingMerchantRequest("  Acme  ", new Uri("https://hooks.example.com/pk")));

        Assert.Equal("Acme", created.Merchant.Name);
        Assert.StartsWith("sk_", created.ApiKey, StringComparison.Ordinal);
        Assert.DoesNotContain(created.ApiKey, created.Merchant.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(created.ApiKey, created.ToString(), StringComparison.Ordinal);
        Assert.NotEqual(created.ApiKey, created.Merchant.ApiKeyHash);
        Assert.Equal(created.Merchant.Id, (await Router.Merchants.AuthenticateAsync(created.ApiKey))?.Id);
        Assert.Null(await Router.Merchants.AuthenticateAsync(created.ApiKey[..^1] + (created.ApiKey[^1] == 'a' ? 'b' : 'a')));
        Assert.Null(await Router.Merchants.AuthenticateAsync("not a key"));
        Assert.Null(await Router.Merchants.AuthenticateAsync(null));

        var rotated = await Router.Merchants.RotateApiKeyAsync(created.Merchant.Id);
        Assert.Null(await Router.Merchants.AuthenticateAsync(created.ApiKey));
        Assert.Equal(created.Merchant.Id, (await Router.Merchants.AuthenticateAsync(rotated.ApiKey))?.Id);
        Assert.Equal(new Uri("https://hooks.example.com/pk"), (await Router.Merchants.GetAsync(created.Merchant.Id)).WebhookUrl);
    }

    [Fact]
    public async Task A_Webhook_Url_Must_Be_Public_Https_Without_Credentials()
    {
        var merchant = await Router.MerchantAsync();

        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("http://hooks.example.com/")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://user:pw@hooks.example.com/")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("/relative", UriKind.Relative)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://10.1.2.3/hook")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://[::1]/hook")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.CreateAsync(new("Meta", new Uri("https://169.254.169.254/"))).AsTask());

        // A fully qualified name (trailing dot) is the same host, and every *.localhost name is loopback (RFC 6761).
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://192.168.1.1./hook")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://localhost./hook")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://api.LocalHost/hook")).AsTask());

        // Port 0 names no service a delivery could connect to, whatever the host.
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://hooks.example.com:0/hook")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://8.8.8.8:0/hook")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.WebhookEndpointRejected, () => Router.Merchants.CreateAsync(new("Zero", new Uri("https://hooks.example.com:0/"))).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Merchants.CreateAsync(new(" ")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Merchants.SetWebhookUrlAsync(MerchantId.New(Clock), null).AsTask());

        Assert.Equal(new Uri("https://8.8.8.8/hook"), (await Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("https://8.8.8.8/hook"))).WebhookUrl);
        Assert.Null((await Router.Merchants.SetWebhookUrlAsync(merchant, null)).WebhookUrl);
    }

    [Fact]
    public async Task A_Webhook_Url_Is_Kept_In_Canonical_Form_On_Every_Store()
    {
        // Scheme and host are case-insensitive, so an upper-case URL is a valid https one: every store keeps the
        // canonical text (PostgreSQL's merchants_webhook_url_check asks for a lower-case https:// prefix).
        var merchant = await Router.MerchantAsync();
        var set = await Router.Merchants.SetWebhookUrlAsync(merchant, new Uri("HTTPS://Hooks.Example.COM/Pk"));
        Assert.Equal("https://hooks.example.com/Pk", set.WebhookUrl!.OriginalString);
        Assert.Equal("https://hooks.example.com/Pk", (await Router.Merchants.GetAsync(merchant)).WebhookUrl!.OriginalString);

        var created = await Router.Merchants.CreateAsync(new("Upper", new Uri("Https://HOOKS.example.com/")));
        Assert.Equal("https://hooks.example.com/", (await Router.Merchants.GetAsync(created.Merchant.Id)).WebhookUrl!.OriginalString);
    }

    [Fact]
    public async Task Health_Samples_Form_A_Time_Series_Per_Chain_With_The_Latest_Per_Chain()
    {
        var first = await Router.Health.GetLatestAsync(Ethereum);
        Clock.Advance(Duration.FromMinutes(1));
        Router.EthereumChain.SetCongestion(0.9m);
        var sampled = await Router.Health.SampleHealthAsync();

        Assert.Equal([Ethereum, Solana], sampled.Select(s => s.Chain));
        var latest = await Router.Health.GetLatestAsync();
        Assert.Contains(latest, s => s.Id == sampled[0].Id);
        Assert.Contains(latest, s => s.Id == sampled[1].Id);
        var ethereum = Assert.Single(latest, s => s.Chain == Ethereum);
        Assert.Equal(0.9m, ethereum.CongestionScore);
        Assert.Equal(ChainHealthStatus.Degraded, ethereum.HealthStatus);
        Assert.Equal(36m, ethereum.AvgConfirmationSeconds);
        Assert.Equal(Money.Of(0.00001m, AssetRegistry.Eth), ethereum.EstimatedFee);
        Assert.Equal(Usdc(0.02m), ethereum.EstimatedFeeValue);
        Assert.Equal(Clock.GetCurrentInstant(), ethereum.Timestamp);

        var series = await Router.Health.ListAsync(Ethereum, null, 1000);
        Assert.Equal([first!.Id, ethereum.Id], series.Items.TakeLast(2).Select(s => s.Id));
        Assert.All(series.Items, s => Assert.Equal(Ethereum, s.Chain));

        // An older measurement recorded late joins the series where it was measured, and does not become the latest.
        Clock.Advance(Duration.FromSeconds(1));
        var late = await Router.Health.RecordAsync(first.ToSample() with { MeasuredAt = first.Timestamp - Duration.FromSeconds(1) });
        Assert.Equal(ethereum.Id, (await Router.Health.GetLatestAsync(Ethereum))!.Id);
        Assert.Equal([late.Id, first.Id, ethereum.Id], (await Router.Health.ListAsync(Ethereum, null, 1000)).Items.TakeLast(3).Select(s => s.Id));
        Assert.Null(await Router.Health.GetLatestAsync(ChainId.Of("never-sampled")));
    }

    [Fact]
    public async Task A_Sample_Stamped_Ahead_Of_The_Clock_Is_Refused_So_It_Cannot_Hide_Later_Measurements()
    {
        var latest = (await Router.Health.GetLatestAsync(Solana))!;
        var now = Clock.GetCurrentInstant();
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => Router.Health.RecordAsync(latest.ToSample() with { MeasuredAt = now + Duration.FromDays(1) }).AsTask());
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => Router.Health.RecordAsync(latest.ToSample() with { MeasuredAt = now + Duration.FromMinutes(1) + Duration.FromMilliseconds(1) }).AsTask());

        // Within the minute another host's clock may run ahead, a sample is taken; a real measurement after it is the latest.
        await Router.Health.RecordAsync(latest.ToSample() with { MeasuredAt = now + Duration.FromSeconds(30) });
        Clock.Advance(Duration.FromSeconds(31));
        await Router.Health.RecordAsync(latest.ToSample() with { MeasuredAt = Clock.GetCurrentInstant(), Status = ChainHealthStatus.Unhealthy });
        var quote = await Router.QuoteAsync(await Router.MerchantAsync(), 10m);
        Assert.Equal(RouteExclusion.Unhealthy, quote.CandidateRoutes.Single(c => c.Chain == Solana).Exclusion);
    }

    [Fact]
    public async Task A_Sample_With_An_Undefined_Status_Is_Refused()
    {
        var latest = (await Router.Health.GetLatestAsync(Ethereum))!;
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => Router.Health.RecordAsync(latest.ToSample() with { MeasuredAt = Clock.GetCurrentInstant(), Status = (ChainHealthStatus)42 }).AsTask());
        Assert.Equal(latest.Id, (await Router.Health.GetLatestAsync(Ethereum))!.Id);
    }

    [Fact]
    public async Task A_Chain_Whose_Sample_Cannot_Be_Recorded_Does_Not_Stop_The_Others_Being_Sampled()
    {
        // Without a price for ETH, Ethereum's fee cannot be valued; Solana (after it in name order) is still sampled.
        var router = new RoutingHarness(Store, Clock, o => o.NativeAssetPrices.Remove("ETH"));
        var ethereum = await router.Health.GetLatestAsync(Ethereum);
        Clock.Advance(Duration.FromMinutes(10));

        var sampled = await router.Health.SampleHealthAsync();

        Assert.Equal(Solana, Assert.Single(sampled).Chain);
        Assert.Equal(Clock.GetCurrentInstant(), (await router.Health.GetLatestAsync(Solana))!.Timestamp);
        Assert.Equal(ethereum?.Id, (await router.Health.GetLatestAsync(Ethereum))?.Id);
    }

    [Fact]
    public async Task Amounts_The_Seed_Columns_Cannot_Hold_Are_Refused_On_Every_Store()
    {
        var router = await NewRouterAsync(ethereum: 0m, solana: 5_000_000_000_000m);
        var merchant = await router.MerchantAsync();
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => router.QuoteAsync(merchant, QuoteService.MaxAmount + 0.000001m));
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => router.QuoteAsync(merchant, 2_000_000_000_000m));
        var largest = await router.QuoteAsync(merchant, QuoteService.MaxAmount);
        Assert.Equal((Usdc(QuoteService.MaxAmount), Solana), (largest.Amount, largest.RecommendedChain));

        // A fee worth more than that is a bad sample.
        var latest = (await router.Health.GetLatestAsync(Ethereum))!;
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => router.Health.RecordAsync(latest.ToSample() with { MeasuredAt = Clock.GetCurrentInstant(), FeeEstimate = Money.Of(1_000_000_000m, AssetRegistry.Eth) }).AsTask());
    }

    [Fact]
    public async Task Text_With_A_Nul_Character_Is_Refused_On_Every_Store()
    {
        var merchant = await Router.MerchantAsync();
        var quote = await Router.QuoteAsync(merchant, 10m);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "order\u0000-17")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Merchants.CreateAsync(new("Nul\u0000 Ltd")).AsTask());
    }

    [Fact]
    public async Task Health_Figures_Are_Rounded_Toward_Worse_And_Bad_Samples_Are_Refused()
    {
        var sample = new ChainHealthSample(
            Solana, Clock.GetCurrentInstant(), Duration.FromMilliseconds(1234), 0.00001m, Duration.FromTicks(1), 0.12341m, Money.Of(0.000000001m, AssetRegistry.Sol), 7, ChainHealthStatus.Healthy);

        var stored = await Router.Health.RecordAsync(sample);

        Assert.Equal(1.24m, stored.AvgConfirmationSeconds);
        Assert.Equal(0.0001m, stored.RpcErrorRate);
        Assert.Equal(1, stored.P95LatencyMs);
        Assert.Equal(0.1235m, stored.CongestionScore);
        Assert.Equal(Usdc(0.000001m), stored.EstimatedFeeValue);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Health.RecordAsync(sample with { RpcErrorRate = 1.5m }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Health.RecordAsync(sample with { Congestion = -0.1m }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Health.RecordAsync(sample with { P95Latency = Duration.FromSeconds(-1) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Health.RecordAsync(sample with { FeeEstimate = Money.Of(-1m, AssetRegistry.Sol) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.UnknownAsset, () => Router.Health.RecordAsync(sample with { FeeEstimate = Money.Of(1m, AssetRegistry.Hbar) }).AsTask());
    }

    [Fact]
    public async Task A_Failing_Probe_Records_The_Chain_As_Unhealthy()
    {
        Router.EthereumChain.FailNextRpcCalls(1);
        Clock.Advance(Duration.FromSeconds(30));

        var sampled = await Router.Health.SampleHealthAsync();

        var ethereum = Assert.Single(sampled, s => s.Chain == Ethereum);
        Assert.Equal(ChainHealthStatus.Unhealthy, ethereum.HealthStatus);
        Assert.Equal(ChainHealthStatus.Healthy, Assert.Single(sampled, s => s.Chain == Solana).HealthStatus);
    }

    [Fact]
    public async Task A_Stored_Quote_Equals_The_Returned_One()
    {
        var merchant = await Router.MerchantAsync();
        var quote = await Router.Quotes.CreateAsync(
            merchant,
            new CreateQuoteRequest(Usdc(25m), RoutePriority.LowFee, [new QuoteDestination(Ethereum, "payee-eth"), new QuoteDestination(Solana, "payee-sol")]));

        var stored = await Router.Quotes.GetAsync(merchant, quote.Id);
        Assert.Equal(quote, stored);
        Assert.Equal(quote.GetHashCode(), stored.GetHashCode());
    }

    [Fact]
    public async Task A_Quote_Scores_Every_Destination_Recommends_The_Best_And_Expires_After_Its_Ttl()
    {
        var merchant = await Router.MerchantAsync();

        var quote = await Router.Quotes.CreateAsync(
            merchant,
            new CreateQuoteRequest(Usdc(25m), RoutePriority.LowFee, [new QuoteDestination(Ethereum, "payee-eth"), new QuoteDestination(Solana, "payee-sol")]));

        Assert.Equal(Solana, quote.RecommendedChain);
        Assert.Equal([Solana, Ethereum], quote.CandidateRoutes.Select(c => c.Chain));
        Assert.Equal([1, 2], quote.CandidateRoutes.Select(c => c.Rank));
        Assert.All(quote.CandidateRoutes, c => Assert.True(c.IsEligible));
        Assert.True(quote.CandidateRoutes[0].Score > quote.CandidateRoutes[1].Score);
        var ethereum = quote.CandidateRoutes[1];
        Assert.Equal(Money.Of(0.000015m, AssetRegistry.Eth), ethereum.EstimatedFeeNative);
        Assert.Equal(Usdc(0.03m), ethereum.EstimatedFee);
        Assert.Equal(2000m, ethereum.FeePrice);
        Assert.Equal(Usdc(1000m), ethereum.TreasuryAvailable);
        Assert.Equal(Clock.GetCurrentInstant() + Duration.FromMinutes(5), quote.ExpiresAt);

        var stored = await Router.Quotes.GetAsync(merchant, quote.Id);
        Assert.Equal(quote.CandidateRoutes, stored.CandidateRoutes);
        Assert.Equal(quote.Destinations, stored.Destinations);
        Assert.Equal(quote.Amount, stored.Amount);
        var stranger = await Router.MerchantAsync();
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Quotes.GetAsync(stranger, quote.Id).AsTask());

        var reliable = await Router.QuoteAsync(merchant, 25m, RoutePriority.Fast);
        Assert.Equal(Solana, reliable.RecommendedChain);
    }

    [Fact]
    public async Task Unhealthy_Underfunded_And_Unsampled_Chains_Are_Excluded_With_Their_Reason()
    {
        var merchant = await Router.MerchantAsync();
        var router = await NewRouterAsync(ethereum: 100m, solana: 1000m);
        await router.Health.RecordAsync((await router.Health.GetLatestAsync(Solana))!.ToSample() with { MeasuredAt = Clock.GetCurrentInstant(), Status = ChainHealthStatus.Unhealthy });

        var quote = await router.QuoteAsync(merchant, 50m);
        Assert.Equal(Ethereum, quote.RecommendedChain);
        Assert.Equal(RouteExclusion.Unhealthy, quote.CandidateRoutes.Single(c => c.Chain == Solana).Exclusion);
        Assert.Equal(0m, quote.CandidateRoutes.Single(c => c.Chain == Solana).Score);

        var none = await FailsAsync(PaymentsKitErrorCodes.NoRoute, () => router.QuoteAsync(merchant, 100m));
        Assert.Contains("insufficient_treasury", none.Message, StringComparison.Ordinal);
        Assert.Contains("unhealthy", none.Message, StringComparison.Ordinal);

        Clock.Advance(Duration.FromMinutes(6));
        var stale = await FailsAsync(PaymentsKitErrorCodes.NoRoute, () => router.QuoteAsync(merchant, 1m));
        Assert.Contains("no_recent_health", stale.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_Quote_Requests_Are_Refused_With_Their_Codes()
    {
        var merchant = await Router.MerchantAsync();
        Task Quote(Money amount, params QuoteDestination[] destinations) =>
            Router.Quotes.CreateAsync(merchant, new CreateQuoteRequest(amount, RoutePriority.Reliable, destinations)).AsTask();
        var eth = new QuoteDestination(Ethereum, "payee");

        await FailsAsync(PaymentsKitErrorCodes.AssetMismatch, () => Quote(Money.Of(1m, AssetRegistry.Usd), eth));
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Quote(Usdc(0m), eth));
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Quote(Usdc(-1m), eth));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Quote(Usdc(1m)));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Quote(Usdc(1m), eth, eth));
        await FailsAsync(PaymentsKitErrorCodes.InvalidAddress, () => Quote(Usdc(1m), new QuoteDestination(Ethereum, "-not an address")));
        await FailsAsync(PaymentsKitErrorCodes.UnknownChain, () => Quote(Usdc(1m), new QuoteDestination(ChainId.Of("bitcoin"), "bc1q")));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Quotes.CreateAsync(merchant, new CreateQuoteRequest(Usdc(1m), (RoutePriority)9, [eth])).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Quotes.CreateAsync(MerchantId.New(Clock), new CreateQuoteRequest(Usdc(1m), RoutePriority.Fast, [eth])).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AmountPrecision, () => Quote(Money.Of(1.0000001m, AssetRegistry.Usdc), eth));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Quote(default, eth));
    }

    [Fact]
    public async Task Treasury_Wallets_Open_Once_Per_Chain_And_Funding_Is_Idempotent()
    {
        var router = new RoutingHarness(Store, Clock);

        Assert.Null(await router.Treasury.GetWalletAsync(Ethereum));
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => router.Treasury.FundAsync(Ethereum, Usdc(1m)).AsTask());
        var wallet = await router.Treasury.OpenWalletAsync(Ethereum, "hot-wallet");
        Assert.Equal(wallet, await router.Treasury.OpenWalletAsync(Ethereum, "hot-wallet"));
        await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => router.Treasury.OpenWalletAsync(Ethereum, "other-wallet").AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidAddress, () => router.Treasury.OpenWalletAsync(Solana, "").AsTask());
        await FailsAsync(PaymentsKitErrorCodes.UnknownChain, () => router.Treasury.OpenWalletAsync(ChainId.Of("bitcoin"), "x").AsTask());

        await router.Treasury.FundAsync(Ethereum, Usdc(40m), "deposit-1");
        await router.Treasury.FundAsync(Ethereum, Usdc(40m), "deposit-1");
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => router.Treasury.FundAsync(Ethereum, Usdc(41m), "deposit-1").AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AssetMismatch, () => router.Treasury.FundAsync(Ethereum, Money.Of(1m, AssetRegistry.Eth)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => router.Treasury.FundAsync(Ethereum, Usdc(0m)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => router.Treasury.FundAsync(Ethereum, default).AsTask());

        var book = await BalancedBookAsync(router, Ethereum);
        Assert.Equal(Usdc(40m), book.Funded);
        Assert.Equal(Usdc(40m), book.Available);
        Assert.Equal("hot-wallet", book.Wallet.Address);
        Assert.Equal(Ethereum, book.Wallet.Chain);
    }
}
