using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Orchestration;
using PaymentsKit.Testing;
using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Orchestration;

public sealed class OrchestrationOptionsTests
{
    [Fact]
    public void Defaults_AreTheSeedsBoundsAndLookups()
    {
        using var provider = new ServiceCollection().AddPaymentsKit().Services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<OrchestrationOptions>>().Value;
        Assert.Equal(0.01m, options.MinAmount);
        Assert.Equal(100_000.00m, options.MaxAmount);
        var catalog = provider.GetRequiredService<OrchestrationCatalog>();
        Assert.Equal(["USD", "EUR", "GBP", "JPY", "THB"], catalog.Currencies.Select(c => c.Code));
        Assert.Equal(["card", "bank_transfer", "e_wallet", "crypto"], catalog.PaymentMethods.Select(m => m.Code));
        Assert.Same(AssetRegistry.Jpy, catalog.GetCurrencyAsset("JPY"));
        Assert.Equal(0, catalog.GetCurrencyAsset("JPY").Scale);
        Assert.Equal(AssetRegistry.Thb, catalog.GetCurrencyAsset("THB"));
    }

    [Fact]
    public void AddPaymentsKit_RegistersTheOrchestrationServicesOnce()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit();
        services.AddPaymentsKit();
        Assert.Single(services, d => d.ServiceType == typeof(ITransactionService));
        Assert.Single(services, d => d.ServiceType == typeof(IPaymentProvider));
        using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        Assert.NotNull(provider.GetRequiredService<IPartnerService>());
        Assert.NotNull(provider.GetRequiredService<IPartnerRateLimiter>());
        Assert.Same(provider.GetRequiredService<ITransactionService>(), provider.GetRequiredService<IRefundService>());
        Assert.Equal(PaymentProvider.Manual, Assert.Single(provider.GetServices<IPaymentProvider>()).Name);
    }

    [Fact]
    public void InvalidOptions_ReportEveryErrorAtOnce()
    {
        using var provider = new ServiceCollection().AddPaymentsKit()
            .ConfigureOrchestration(o =>
            {
                o.MinAmount = 0m;
                o.MaxAmount = -1m;
                o.DefaultRateLimitPerMinute = 0;
                o.Currencies.Add(new Currency("usd", "lower", null, 2));
                o.Currencies.Add(new Currency("JPY", "Yen again", null, 0));
                o.Currencies.Add(new Currency("CHF", "Franc", null, 9));
                o.Currencies.Add(new Currency("EUR", "Euro", null, 3));
                o.PaymentMethods.Add(new PaymentMethod(9, "Card Two", "bad code"));
            })
            .Services.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<OrchestrationOptions>>().Value);
        var failures = ex.Failures.ToList();
        Assert.Equal(9, failures.Count);
        Assert.Contains(failures, f => f.Contains("MinAmount", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MaxAmount", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("DefaultRateLimitPerMinute", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("'usd'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("'JPY' is listed twice", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("'EUR' is listed twice", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("DecimalPlaces", StringComparison.Ordinal) && f.Contains("(value: 9)", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("'EUR' has 3 decimal places", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("'Card Two'", StringComparison.Ordinal));
    }

    [Fact]
    public void UnsentPaymentGracePeriod_DefaultsToAMinute_AndMustBePositive()
    {
        using (var defaults = new ServiceCollection().AddPaymentsKit().Services.BuildServiceProvider())
        {
            Assert.Equal(Duration.FromMinutes(1), defaults.GetRequiredService<IOptions<OrchestrationOptions>>().Value.UnsentPaymentGracePeriod);
        }

        using var provider = new ServiceCollection().AddPaymentsKit()
            .ConfigureOrchestration(o => o.UnsentPaymentGracePeriod = Duration.Zero)
            .Services.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<OrchestrationOptions>>().Value);
        Assert.Contains("UnsentPaymentGracePeriod", Assert.Single(ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void The_Sync_Options_Have_Defaults_And_Every_Problem_Is_Reported_At_Once()
    {
        using (var defaults = new ServiceCollection().AddPaymentsKit().Services.BuildServiceProvider())
        {
            var options = defaults.GetRequiredService<IOptions<OrchestrationOptions>>().Value;
            Assert.Equal((Duration.FromMinutes(5), Duration.FromMinutes(1), 4, Duration.FromHours(1)), (options.SyncLease, options.SyncRetryInterval, options.SyncParallelism, options.DropTimeout));
        }

        using var provider = new ServiceCollection().AddPaymentsKit()
            .ConfigureOrchestration(o => (o.SyncLease, o.SyncRetryInterval, o.SyncParallelism, o.DropTimeout) = (Duration.FromHours(2), Duration.Zero, 0, Duration.FromDays(8)))
            .Services.BuildServiceProvider();
        var failures = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<OrchestrationOptions>>().Value).Failures.ToList();
        Assert.Equal(4, failures.Count);
        Assert.Contains(failures, f => f.Contains("SyncLease", StringComparison.Ordinal) && f.Contains("2:00:00", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("DropTimeout", StringComparison.Ordinal) && f.Contains("8:00:00:00", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("SyncRetryInterval", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("SyncParallelism", StringComparison.Ordinal) && f.Contains("(value: 0)", StringComparison.Ordinal));
    }

    [Fact]
    public void A_Transaction_Stored_Before_ConfirmOnCreate_Existed_Reads_As_Not_Confirmed()
    {
        var json = PaymentsKit.Json.PaymentsKitJson.CreateOptions(new AssetRegistry());
        var usd = Money.Of(10m, AssetRegistry.Usd);
        var tx = new PaymentTransaction
        {
            Id = TransactionId.New(new ManualClock()),
            PartnerId = PartnerId.New(new ManualClock()),
            IdempotencyKey = "k",
            RequestFingerprint = "f",
            Amount = usd,
            PaymentMethod = "card",
            Provider = PaymentProvider.Stripe,
            CaptureMethod = CaptureMethod.Automatic,
            Status = TransactionStatus.Pending,
            CustomerEmail = "alice@example.com",
            IpAddress = "203.0.113.7",
            RefundedAmount = Money.Zero(usd.Asset),
            ReservedRefundAmount = Money.Zero(usd.Asset),
            EventCount = 1,
            RefundCount = 0,
            CreatedAt = Instant.FromUnixTimeSeconds(1_700_000_000),
            UpdatedAt = Instant.FromUnixTimeSeconds(1_700_000_000),
            ConfirmOnCreate = true,
        };
        var node = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(tx, json))!.AsObject();
        Assert.True(node.Remove("confirm_on_create"));

        var old = System.Text.Json.JsonSerializer.Deserialize<PaymentTransaction>(node.ToJsonString(), json)!;
        Assert.Equal(tx with { ConfirmOnCreate = false }, old);
    }

    [Fact]
    public void HostCurrencies_AreRegisteredAsAssets()
    {
        using var provider = new ServiceCollection().AddPaymentsKit()
            .ConfigureOrchestration(o => o.Currencies.Add(new Currency("KWD", "Kuwaiti Dinar", "KD", 3)))
            .Services.BuildServiceProvider();
        var catalog = provider.GetRequiredService<OrchestrationCatalog>();
        Assert.Equal(3, catalog.GetCurrencyAsset("KWD").Scale);
        Assert.Equal(3, provider.GetRequiredService<AssetRegistry>().Get("KWD").Scale);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("XYZ")]
    [InlineData("usd")]
    public void UnknownCurrencies_AreRejected(string? code)
    {
        var catalog = new OrchestrationCatalog(Currency.Seeded, PaymentMethod.Seeded, new AssetRegistry());
        ThrowsCode(PaymentsKitErrorCodes.UnknownCurrency, () => catalog.GetCurrencyAsset(code));
    }

    [Fact]
    public void InactiveLookups_AreRejected()
    {
        var catalog = new OrchestrationCatalog(
            [new Currency("USD", "US Dollar", "$", 2, IsActive: false)], [new PaymentMethod(1, "card", "Card", IsActive: false)], new AssetRegistry());
        ThrowsCode(PaymentsKitErrorCodes.UnknownCurrency, () => catalog.GetCurrencyAsset("USD"));
        ThrowsCode(PaymentsKitErrorCodes.UnknownPaymentMethod, () => catalog.GetPaymentMethod("card"));
    }
}

public sealed class RateLimiterTests
{
    private readonly ManualClock _clock = new();

    [Fact]
    public void SlidingWindow_AllowsTheLimitPerMinute_ThenRejectsUntilTheOldestCallAgesOut()
    {
        var limiter = new SlidingWindowPartnerRateLimiter(_clock);
        var partner = Partner(3);
        Assert.Equal(2, limiter.TryAcquire(partner).Remaining);
        _clock.Advance(Duration.FromSeconds(20));
        Assert.True(limiter.TryAcquire(partner).IsAllowed);
        Assert.True(limiter.TryAcquire(partner).IsAllowed);
        var rejected = limiter.TryAcquire(partner);
        Assert.False(rejected.IsAllowed);
        Assert.Equal(Duration.FromSeconds(40), rejected.RetryAfter);
        var ex = Assert.Throws<PaymentsKitException>(rejected.ThrowIfRejected);
        Assert.Equal(PaymentsKitErrorCodes.RateLimited, ex.Code);
        Assert.True(ex.IsTransient);
        Assert.Equal(40_000L, ex.Context["retry_after_ms"]);

        _clock.Advance(Duration.FromSeconds(40));
        Assert.True(limiter.TryAcquire(partner).IsAllowed);
        Assert.False(limiter.TryAcquire(partner).IsAllowed);
    }

    [Fact]
    public void Partners_HaveSeparateWindows_AndALoweredLimitAppliesAtOnce()
    {
        var limiter = new SlidingWindowPartnerRateLimiter(_clock);
        var a = Partner(2);
        var b = Partner(2);
        Assert.True(limiter.TryAcquire(a).IsAllowed);
        Assert.True(limiter.TryAcquire(a).IsAllowed);
        Assert.False(limiter.TryAcquire(a).IsAllowed);
        Assert.True(limiter.TryAcquire(b).IsAllowed);
        Assert.False(limiter.TryAcquire(a with { RateLimitPerMinute = 1 }).IsAllowed);
        limiter.TryAcquire(a).ThrowIfRejected();
    }

    [Fact]
    public async Task ConcurrentCalls_NeverExceedTheLimit()
    {
        var limiter = new SlidingWindowPartnerRateLimiter(_clock);
        var partner = Partner(50);
        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => Task.Run(() => limiter.TryAcquire(partner).IsAllowed)));
        Assert.Equal(50, results.Count(r => r));
    }

    private Partner Partner(int limit) => new()
    {
        Id = PartnerId.New(_clock),
        Name = "P",
        Email = "p@example.com",
        ApiKeyHash = "h",
        ApiKeyPrefix = Guid.NewGuid().ToString("N"),
        IsActive = true,
        RateLimitPerMinute = limit,
        CreatedAt = _clock.GetCurrentInstant(),
        UpdatedAt = _clock.GetCurrentInstant(),
    };
}

public sealed class SimulatedProviderTests
{
    private readonly ManualClock _clock = new();

    [Fact]
    public async Task Webhooks_AreSignedAndDueAfterTheDelay_AndTamperingIsRejected()
    {
        var provider = new SimulatedPaymentProvider(PaymentProvider.Stripe, _clock);
        var result = await provider.ChargeAsync(new ProviderPaymentRequest("txn_a", Money.Of(10m, AssetRegistry.Usd), "card", "a@example.com", null, null));
        Assert.Equal(ProviderOutcome.Succeeded, result.Outcome);
        Assert.Empty(provider.TakeDueWebhooks());
        _clock.Advance(Duration.FromSeconds(5));
        var webhook = Assert.Single(provider.TakeDueWebhooks());

        // Standard Webhooks headers, which any receiver holding the provider's secret verifies with PaymentsKit's verifier.
        var secret = Webhooks.WebhookSecret.Parse(new SimulatedProviderOptions().WebhookSecret);
        Assert.Equal(
            Webhooks.WebhookVerificationResult.Valid,
            new Webhooks.WebhookVerifier(_clock, [secret]).Check(
                webhook.Headers["webhook-id"], webhook.Headers["webhook-timestamp"], webhook.Headers["webhook-signature"], System.Text.Encoding.UTF8.GetBytes(webhook.Payload)));
        var parsed = provider.ParseWebhook(webhook.Payload, webhook.Headers);
        Assert.Equal("txn_a", parsed.Reference);
        Assert.Equal(ProviderWebhookSubject.Payment, parsed.Subject);
        Assert.Equal(result.ProviderReference, parsed.Result.ProviderReference);

        ThrowsCode(PaymentsKitErrorCodes.InvalidSignature, () => provider.ParseWebhook(webhook.Payload.Replace("txn_a", "txn_b", StringComparison.Ordinal), webhook.Headers));
        ThrowsCode(PaymentsKitErrorCodes.InvalidSignature, () => provider.ParseWebhook(webhook.Payload, new Dictionary<string, string>()));
        var other = new SimulatedPaymentProvider(PaymentProvider.Stripe, _clock, new SimulatedProviderOptions { WebhookSecret = Webhooks.WebhookSecret.Generate().Reveal() });
        ThrowsCode(PaymentsKitErrorCodes.InvalidSignature, () => other.ParseWebhook(webhook.Payload, webhook.Headers));
        _clock.Advance(Duration.FromMinutes(10));
        Assert.Equal("TimestampTooOld", ThrowsCode(PaymentsKitErrorCodes.InvalidSignature, () => provider.ParseWebhook(webhook.Payload, webhook.Headers)).Context["reason"]);
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => provider.ParseWebhook("{}", provider.Sign("{}")));
    }

    [Fact]
    public async Task Calls_AreIdempotentPerReference_AndIdsAreDeterministic()
    {
        var a = new SimulatedPaymentProvider(PaymentProvider.Stripe, _clock);
        var b = new SimulatedPaymentProvider(PaymentProvider.Stripe, _clock);
        var request = new ProviderPaymentRequest("txn_x", Money.Of(10m, AssetRegistry.Usd), "card", "a+timeout@example.com", null, null);
        await Assert.ThrowsAsync<TimeoutException>(() => a.ChargeAsync(request).AsTask());
        Assert.Equal(ProviderOutcome.Succeeded, (await a.ChargeAsync(request)).Outcome);
        Assert.Equal(ProviderOutcome.Succeeded, (await a.GetPaymentAsync(new ProviderPaymentReference("txn_x", null, request.Amount))).Outcome);
        await Assert.ThrowsAsync<TimeoutException>(() => b.ChargeAsync(request).AsTask());
        Assert.Equal((await a.ChargeAsync(request)).ProviderReference, (await b.ChargeAsync(request)).ProviderReference);
        Assert.Equal(ProviderOutcome.Declined, (await a.ChargeAsync(request with { Reference = "txn_y", CustomerEmail = "b+decline@example.com" })).Outcome);
        Assert.Equal(ProviderOutcome.Unknown, (await a.GetRefundAsync("rfd_none")).Outcome);
    }

    [Fact]
    public async Task ManualProvider_SettlesAtOnce_AndSendsNoWebhooks()
    {
        var manual = new ManualPaymentProvider();
        var request = new ProviderPaymentRequest("txn_m", Money.Of(10m, AssetRegistry.Usd), "bank_transfer", "a@example.com", null, null);
        Assert.Equal(ProviderOutcome.Succeeded, (await manual.ChargeAsync(request)).Outcome);
        Assert.Equal(ProviderOutcome.Authorized, (await manual.AuthorizeAsync(request)).Outcome);
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => manual.ParseWebhook("{}", new Dictionary<string, string>()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-an-ip")]
    [InlineData("300.1.1.1")]
    public void RequestContext_RequiresAnIpAddress(string ip) =>
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => new RequestContext(ip));

    [Fact]
    public void RequestContext_CanonicalizesTheAddress() =>
        Assert.Equal("2001:db8::1", new RequestContext("2001:0db8:0000::0001").IpAddress);
}
