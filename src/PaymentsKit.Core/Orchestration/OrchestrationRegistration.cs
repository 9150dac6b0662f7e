using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Storage;

namespace PaymentsKit.Orchestration;

/// <summary>Registers the orchestration module (called by <c>AddPaymentsKit</c>) and lets a host configure it.</summary>
public static class OrchestrationRegistration
{
    /// <summary>Sets orchestration options (amount bounds, lookups, default rate limit).</summary>
    public static PaymentsKitBuilder ConfigureOrchestration(this PaymentsKitBuilder builder, Action<OrchestrationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }

    /// <summary>Adds a payment provider; it replaces any provider registered earlier under the same <see cref="IPaymentProvider.Name"/>.</summary>
    public static PaymentsKitBuilder AddPaymentProvider(this PaymentsKitBuilder builder, IPaymentProvider provider)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(provider);
        builder.Services.AddSingleton<IPaymentProvider>(provider);
        return builder;
    }

    internal static void AddOrchestration(IServiceCollection services)
    {
        services.AddOptions<OrchestrationOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OrchestrationOptions>, OrchestrationOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPaymentProvider, ManualPaymentProvider>());
        services.TryAddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<OrchestrationOptions>>().Value;
            return new OrchestrationCatalog(options.Currencies, options.PaymentMethods, provider.GetRequiredService<AssetRegistry>());
        });
        services.TryAddSingleton<PaymentProviderRegistry>();
        services.TryAddSingleton<AuditTrail>();
        services.TryAddSingleton<IOrchestrationLedger, OrchestrationLedger>();
        services.TryAddSingleton<IPartnerRateLimiter, SlidingWindowPartnerRateLimiter>();
        services.TryAddSingleton<IPartnerService, PartnerService>();
        services.TryAddSingleton<IDueTransactionQueue>(provider => new StoreScanDueTransactionQueue(provider.GetRequiredService<IPaymentsStore>()));
        services.TryAddSingleton<TransactionService>();
        services.TryAddSingleton<ITransactionService>(provider => provider.GetRequiredService<TransactionService>());
        services.TryAddSingleton<IRefundService>(provider => provider.GetRequiredService<TransactionService>());
    }
}
