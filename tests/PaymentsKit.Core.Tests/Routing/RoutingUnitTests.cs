using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Tests.Routing;

public sealed class RoutingOptionsTests
{
    [Fact]
    public void The_Defaults_Are_Valid_With_A_Five_Minute_Quote_Ttl()
    {
        var options = new RoutingOptions();

        Assert.Empty(options.Validate());
        Assert.Equal(Duration.FromMinutes(5), options.QuoteTtl);
        Assert.Equal("USDC", options.SettlementAsset);
        Assert.Equal(RoutingOptions.DefaultTreasuryTenant, options.TreasuryTenant);
    }

    [Fact]
    public void Every_Problem_Is_Reported_Naming_The_Option_And_Value()
    {
        var options = new RoutingOptions
        {
            SettlementAsset = " ",
            QuoteTtl = Duration.Zero,
            HealthMaxAge = Duration.FromDays(2),
            FeeHeadroom = 0.5m,
            MaxAttempts = 0,
            RetryBaseDelay = Duration.FromSeconds(-1),
            RetryMaxDelay = Duration.FromDays(2),
            BroadcastTimeout = Duration.Zero,
            DropTimeout = Duration.Zero,
            TreasuryTenant = default,
            Scoring = null!,
        };
        options.NativeAssetPrices["ETH"] = 0m;

        var errors = options.Validate();

        Assert.Equal(12, errors.Count);
        Assert.Contains(errors, e => e.Contains("Routing:QuoteTtl", StringComparison.Ordinal) && e.Contains("0:00:00:00", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Routing:NativeAssetPrices[ETH]", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Routing:FeeHeadroom", StringComparison.Ordinal) && e.Contains("0.5", StringComparison.Ordinal));
    }

    [Fact]
    public void Scoring_Scales_Are_Checked_At_Start_Up_With_Every_Other_Problem()
    {
        var options = new RoutingOptions { Scoring = new RouteScoringOptions { DegradedFactor = 0m, ReferenceFee = -1m }, MaxAttempts = 0 };

        var errors = options.Validate();

        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("Routing:Scoring reference scales", StringComparison.Ordinal) && e.Contains("fee -1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Routing:Scoring:DegradedFactor", StringComparison.Ordinal));
        Assert.Empty(new RoutingOptions { Scoring = new RouteScoringOptions { DegradedFactor = 1m } }.Validate());
    }

    [Fact]
    public void Retry_Delays_Double_Up_To_The_Cap()
    {
        var options = new RoutingOptions { RetryBaseDelay = Duration.FromSeconds(2), RetryMaxDelay = Duration.FromSeconds(20) };

        Assert.Equal(
            [2, 4, 8, 16, 20, 20],
            Enumerable.Range(1, 6).Select(r => (int)options.RetryDelay(r).TotalSeconds));
        Assert.Equal(Duration.Zero, new RoutingOptions { RetryBaseDelay = Duration.Zero }.RetryDelay(5));
    }

    [Fact]
    public void Fees_Convert_Rounding_Up_So_A_Hold_Never_Falls_Short()
    {
        Assert.Equal(Money.Of(0.000001m, AssetRegistry.Usdc), FeeMath.ToSettlement(Money.Of(0.000000001m, AssetRegistry.Sol), 100m, AssetRegistry.Usdc));
        Assert.Equal(Money.Of(0.02m, AssetRegistry.Usdc), FeeMath.ToSettlement(Money.Of(0.00001m, AssetRegistry.Eth), 2000m, AssetRegistry.Usdc));
        Assert.Equal(Money.Of(0.000000002m, AssetRegistry.Sol), FeeMath.MaxFee(Money.Of(0.000000001m, AssetRegistry.Sol), 1.5m));
        Assert.Equal(Money.Of(0.000015m, AssetRegistry.Eth), FeeMath.MaxFee(Money.Of(0.00001m, AssetRegistry.Eth), 1.5m));
    }

    [Fact]
    public void Fee_conversions_round_up_by_less_than_one_unit_and_are_monotone_Meets_Specification()
    {
        // Sizes where the decimal products are exact, so "at least the exact value" is what is checked.
        var gen =
            from feeAsset in Gen.Elements(AssetRegistry.Eth, AssetRegistry.Sol, AssetRegistry.Xlm, AssetRegistry.Usdc)
            from units in Gen.Choose(0, int.MaxValue).Two()
            from scaleDown in Gen.Choose(0, 6)
            from priceMantissa in Gen.Choose(1, 100_000_000)
            from priceScale in Gen.Choose(0, 4)
            from headroomTenths in Gen.Choose(10, 50)
            select (feeAsset, Math.Min(units.Item1, units.Item2) >> scaleDown, Math.Max(units.Item1, units.Item2) >> scaleDown,
                new decimal(priceMantissa, 0, 0, false, (byte)priceScale), headroomTenths / 10m);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var (asset, smallerUnits, largerUnits, price, headroom) = c;
            var usdc = AssetRegistry.Usdc;
            var smaller = Money.FromMinorUnits(smallerUnits, asset);
            var larger = Money.FromMinorUnits(largerUnits, asset);

            var value = FeeMath.ToSettlement(larger, price, usdc);
            Assert.Equal(usdc, value.Asset);
            Assert.InRange(value.Amount - (larger.Amount * price), 0m, usdc.MinorUnit - 0.000000000000000000000001m);
            Assert.True(FeeMath.ToSettlement(smaller, price, usdc) <= value, $"{smaller} converts to more than {larger}");

            var max = FeeMath.MaxFee(larger, headroom);
            Assert.Equal(asset, max.Asset);
            Assert.InRange(max.Amount - (larger.Amount * headroom), 0m, asset.MinorUnit - 0.000000000000000000000001m);
            Assert.True(FeeMath.MaxFee(smaller, headroom) <= max, $"{smaller} allows more than {larger}");
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public async Task The_Configured_Price_Source_Knows_Only_Its_Prices()
    {
        var options = new RoutingOptions();
        options.NativeAssetPrices["ETH"] = 2500m;
        var prices = new ConfiguredFeePriceSource(Options.Create(options));

        Assert.Equal(2500m, await prices.GetPriceAsync(AssetRegistry.Eth, AssetRegistry.Usdc));
        Assert.Equal(1m, await prices.GetPriceAsync(AssetRegistry.Usdc, AssetRegistry.Usdc));
        var missing = await Assert.ThrowsAsync<PaymentsKitException>(() => prices.GetPriceAsync(AssetRegistry.Sol, AssetRegistry.Usdc).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.UnknownAsset, missing.Code);
        Assert.Contains("NativeAssetPrices[SOL]", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exclusions_Have_Stable_Wire_Names()
    {
        Assert.Equal(
            ["none", "unhealthy", "insufficient_treasury", "no_recent_health"],
            Enum.GetValues<RouteExclusion>().Select(e => e.ToWireName()));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => ((RouteExclusion)9).ToWireName()).Code);
    }

    [Fact]
    public void Rpc_Providers_Put_The_Registry_Adapter_First_And_Refuse_Bad_Extras()
    {
        var clock = new ManualClock();
        var ethereum = new SimulatedChain(new SimulatedChainOptions { Chain = ChainId.Ethereum }, clock);
        var registry = new ChainAdapterRegistry([ethereum]);

        var providers = new RoutingRpcProviders(registry, [new RoutingRpcProvider(ChainId.Ethereum, "alchemy-2", ethereum)]);

        Assert.Equal([ChainId.Ethereum], providers.Chains);
        Assert.Equal([RoutingRpcProviders.PrimaryName, "alchemy-2"], providers.For(ChainId.Ethereum).Select(p => p.Name));
        Assert.Equal(PaymentsKitErrorCodes.UnknownChain, Assert.Throws<PaymentsKitException>(() => providers.For(ChainId.Solana)).Code);
        Assert.Throws<ArgumentException>(() => new RoutingRpcProviders(registry, [new RoutingRpcProvider(ChainId.Ethereum, "primary", ethereum)]));
        Assert.Throws<ArgumentException>(() => new RoutingRpcProviders(registry, [new RoutingRpcProvider(ChainId.Ethereum, "bad name", ethereum)]));
        Assert.Throws<ArgumentException>(() => new RoutingRpcProviders(registry, [new RoutingRpcProvider(ChainId.Solana, "x", ethereum)]));
    }

    [Fact]
    public void Health_Partitions_Are_Stable_And_Distinct_Per_Chain()
    {
        Assert.Equal(RoutingCollections.Partition(ChainId.Ethereum), RoutingCollections.Partition(ChainId.Of("ethereum")));
        Assert.NotEqual(RoutingCollections.Partition(ChainId.Ethereum), RoutingCollections.Partition(ChainId.Solana));
        Assert.Equal(8, RoutingCollections.Partition(ChainId.Solana).Version);
    }
}

public sealed class WebhookOutboxTests
{
    private readonly ManualClock _clock = new();
    private readonly InMemoryStore _store = new();

    private WebhookOutbox Outbox => new(_store, _clock, RoutingHarness.Json);

    [Theory]
    [InlineData("Payment_Intent", "payment_intent.created")]
    [InlineData("payment intent", "payment intent.created")]
    [InlineData("payment_intent", "payment_intent")]
    [InlineData("payment_intent", "payment_intent.")]
    [InlineData("payment_intent", "invoice.created")]
    [InlineData("payment_intent", "payment_intent.Created")]
    [InlineData("", "payment_intent.created")]
    public async Task Malformed_Resource_Or_Event_Types_Are_Refused(string resourceType, string eventType)
    {
        var unit = await _store.BeginAsync();
        var ex = Assert.Throws<PaymentsKitException>(() => Outbox.Enqueue(unit, Guid.CreateVersion7(), resourceType, "pi_1", eventType, new { }));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, ex.Code);
    }

    [Fact]
    public async Task Events_List_In_Enqueue_Order_Even_Within_One_Millisecond_And_Carry_Their_Payload()
    {
        var outbox = Outbox;
        var tenant = Guid.CreateVersion7();
        var enqueued = await _store.ExecuteAsync((unit, _) =>
        {
            var events = Enumerable.Range(0, 500)
                .Select(i => outbox.Enqueue(unit, tenant, "invoice", "inv_" + i, "invoice.paid", new { Number = i }))
                .ToList();
            return ValueTask.FromResult(events);
        });

        var listed = await outbox.ListAsync(tenant, null, 1000);
        Assert.Equal(enqueued.Select(e => e.Id), listed.Items.Select(e => e.Id));
        Assert.All(listed.Items, e => Assert.Equal(7, e.Id.Value.Version));
        Assert.Equal(499, listed.Items[^1].Payload.GetProperty("data").GetProperty("number").GetInt32());
        Assert.Equal("invoice.paid", listed.Items[0].Payload.GetProperty("type").GetString());
        var unit = await _store.BeginAsync();
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() =>
            outbox.Enqueue(unit, Guid.Empty, "invoice", "inv_1", "invoice.paid", 1)).Code);
    }
}

public sealed class RoutingRegistrationTests
{
    [Fact]
    public async Task AddPaymentsKit_Wires_The_Router_On_The_Simulated_Chains()
    {
        var services = new ServiceCollection();
        var clock = new ManualClock();
        services.AddPaymentsKit()
            .UseClock(clock)
            .AddSimulatedChain(ChainId.Ethereum)
            .AddSimulatedChain(ChainId.Solana)
            .AddRoutingRpcProvider(ChainId.Ethereum, "backup", p => p.GetRequiredKeyedService<SimulatedChain>("ethereum"))
            .ConfigureRouting(o =>
            {
                o.NativeAssetPrices["ETH"] = 2000m;
                o.NativeAssetPrices["SOL"] = 100m;
            });
        await using var provider = services.BuildServiceProvider();

        var merchants = provider.GetRequiredService<IRoutingMerchantService>();
        var treasury = provider.GetRequiredService<ITreasury>();
        var health = provider.GetRequiredService<IChainHealthService>();
        var quotes = provider.GetRequiredService<IQuoteService>();
        var intents = provider.GetRequiredService<IPaymentIntentService>();
        Assert.IsType<WebhookOutbox>(provider.GetRequiredService<IWebhookOutbox>());
        Assert.Same(treasury, provider.GetRequiredService<TreasuryService>());
        Assert.Equal(["primary", "backup"], provider.GetRequiredService<IRoutingRpcProviders>().For(ChainId.Ethereum).Select(p => p.Name));

        var merchant = (await merchants.CreateAsync(new CreateRoutingMerchantRequest("Shop"))).Merchant.Id;
        await health.SampleHealthAsync();
        await treasury.OpenWalletAsync(ChainId.Solana, "hot");
        await treasury.FundAsync(ChainId.Solana, Money.Of(100m, AssetRegistry.Usdc));
        provider.GetRequiredKeyedService<SimulatedChain>("solana").Fund("hot", Money.Of(100m, AssetRegistry.Usdc));
        provider.GetRequiredKeyedService<SimulatedChain>("solana").Fund("hot", Money.Of(1m, AssetRegistry.Sol));
        var quote = await quotes.CreateAsync(merchant, new CreateQuoteRequest(Money.Of(5m, AssetRegistry.Usdc), RoutePriority.Fast, [new QuoteDestination(ChainId.Solana, "payee")]));
        var intent = await intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "k"));
        for (var i = 0; i < 10 && intent.Status != PaymentIntentStatus.Settled; i++)
        {
            intent = await intents.AdvanceAsync(intent.Id);
            clock.Advance(Duration.FromSeconds(5));
        }

        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
    }

    [Fact]
    public void Invalid_Routing_Options_Fail_When_Resolved()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().ConfigureRouting(o => o.MaxAttempts = 0);
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<RoutingOptions>>().Value);
        Assert.Contains("Routing:MaxAttempts", ex.Message, StringComparison.Ordinal);
    }
}
