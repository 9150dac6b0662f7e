using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit;
using PaymentsKit.Chains;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Invoicing;
using PaymentsKit.Json;
using PaymentsKit.Ledger;
using PaymentsKit.Orchestration;
using PaymentsKit.Payouts;
using PaymentsKit.Routing;
using PaymentsKit.Security;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Webhooks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers PaymentsKit in a host's service collection.</summary>
public static class PaymentsKitServiceCollectionExtensions
{
    /// <summary>
    /// Adds PaymentsKit on its embedded defaults: the in-memory store and the system clock. Options are
    /// validated when the host starts (<c>ValidateOnStart</c>), reporting every problem at once.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Sets options; may be null.</param>
    /// <returns>A builder for further configuration, e.g. <c>.UsePostgreSql(...)</c>.</returns>
    public static PaymentsKitBuilder AddPaymentsKit(this IServiceCollection services, Action<PaymentsKitOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<PaymentsKitOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PaymentsKitOptions>, PaymentsKitOptionsValidator>());
        AddSharedServices(services);
        services.TryAddSingleton<ILedger, LedgerService>();
        services.TryAddSingleton<IStreamService, StreamService>();
        services.TryAddSingleton<IWebhookOutbox, WebhookOutbox>();
        AddInvoicing(services);
        OrchestrationRegistration.AddOrchestration(services);
        AddPayouts(services);
        AddRouting(services);
        return new PaymentsKitBuilder(services);
    }

    /// <summary>What every module uses: the clock, the assets, JSON, the store, API key hashing and the chain adapters.</summary>
    private static void AddSharedServices(IServiceCollection services)
    {
        services.TryAddSingleton<IClock>(SystemClock.Instance);
        services.TryAddSingleton(provider =>
        {
            var registry = new AssetRegistry();
            foreach (var definition in provider.GetRequiredService<IOptions<PaymentsKitOptions>>().Value.Assets)
            {
                registry.Register(definition.ToAsset());
            }

            return registry;
        });
        services.TryAddSingleton(provider => new PaymentsKitJsonOptions(PaymentsKitJson.CreateOptions(provider.GetRequiredService<AssetRegistry>())));
        services.TryAddSingleton<IPaymentsStore, InMemoryStore>();
        services.TryAddSingleton(provider =>
        {
            var secret = provider.GetRequiredService<IOptions<PaymentsKitOptions>>().Value.ApiKeyHashingSecret;
            return new ApiKeyHasher(secret is null ? RandomNumberGenerator.GetBytes(32) : Convert.FromBase64String(secret));
        });
        services.TryAddSingleton<IChainAdapterRegistry>(provider => new ChainAdapterRegistry(provider.GetServices<IChainAdapter>()));
    }

    /// <summary>Invoices, payment links and merchants (Link2Pay).</summary>
    private static void AddInvoicing(IServiceCollection services)
    {
        services.AddOptions<InvoicingOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InvoicingOptions>, InvoicingOptionsValidator>());
        services.TryAddSingleton<InvoicingContext>();
        services.TryAddSingleton<InvoicingLedger>();
        services.TryAddSingleton<IInvoicingQueries, InMemoryInvoicingQueries>();
        services.TryAddSingleton<IMerchantService, MerchantService>();
        services.TryAddSingleton<IApiKeyService, ApiKeyService>();
        services.TryAddSingleton<IInvoiceService, InvoiceService>();
        services.TryAddSingleton<IPaymentLinkService, PaymentLinkService>();
        services.TryAddSingleton<IPaymentService, PaymentService>();
    }

    /// <summary>Dividend and coupon distributions (Hedera mass payout).</summary>
    private static void AddPayouts(IServiceCollection services)
    {
        services.AddOptions<PayoutOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PayoutOptions>, PayoutOptionsValidator>());
        services.TryAddSingleton<IHolderSnapshotStore, InMemoryHolderSnapshotStore>();
        services.TryAddSingleton<IDueDistributionIndex>(provider => new StoreScanDueDistributionIndex(provider.GetRequiredService<IPaymentsStore>()));
        services.TryAddSingleton<IDistributionService>(provider => new DistributionService(
            provider.GetRequiredService<IPaymentsStore>(),
            provider.GetRequiredService<IHolderSnapshotStore>(),
            provider.GetRequiredService<IDueDistributionIndex>(),
            provider.GetService<IPayoutExecutor>() ?? new UnregisteredPayoutExecutor(),
            provider.GetRequiredService<ILedger>(),
            provider.GetRequiredService<IClock>(),
            provider.GetRequiredService<AssetRegistry>(),
            provider.GetRequiredService<IOptions<PayoutOptions>>().Value,
            provider.GetService<IHolderSnapshotSource>(),
            provider.GetService<ILogger<DistributionService>>()));
        services.TryAddSingleton<IEventListenerService>(provider => new EventListenerService(
            provider.GetRequiredService<IPaymentsStore>(), provider.GetRequiredService<IClock>()));
    }

    /// <summary>Quotes, route scoring, treasury and payment intents (the router).</summary>
    private static void AddRouting(IServiceCollection services)
    {
        services.AddOptions<RoutingOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidator>());
        services.TryAddSingleton<IFeePriceSource, ConfiguredFeePriceSource>();
        services.TryAddSingleton<IRoutingRpcProviders>(provider =>
            new RoutingRpcProviders(provider.GetRequiredService<IChainAdapterRegistry>(), provider.GetServices<RoutingRpcProvider>()));
        services.TryAddSingleton<IRoutingMerchantService, RoutingMerchantService>();
        services.TryAddSingleton<IChainHealthService, ChainHealthService>();
        services.TryAddSingleton<TreasuryService>();
        services.TryAddSingleton<ITreasury>(provider => provider.GetRequiredService<TreasuryService>());
        services.TryAddSingleton<IQuoteService, QuoteService>();
        services.TryAddSingleton<IDuePaymentIntentQueue>(provider => new StoreScanDuePaymentIntentQueue(provider.GetRequiredService<IPaymentsStore>()));
        services.TryAddSingleton<IPaymentIntentService, PaymentIntentService>();
    }
}
