using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Hosting;
using PaymentsKit.Hosting.Jobs;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Orchestration;
using PaymentsKit.Payouts;
using PaymentsKit.Routing;
using PaymentsKit.Streaming;
using PaymentsKit.Webhooks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Runs PaymentsKit's background work in a .NET host.</summary>
public static class PaymentsKitHostingBuilderExtensions
{
    /// <summary>The name of the <see cref="HttpClient"/> webhooks are delivered with, from <c>IHttpClientFactory</c>.</summary>
    public const string WebhookHttpClientName = WebhooksBuilderExtensions.WebhookHttpClientKey;

    /// <summary>
    /// Registers the background services: webhook dispatch (adding webhook delivery with its defaults if the host has
    /// not, and sending through the named <see cref="IHttpClientFactory"/> client <see cref="WebhookHttpClientName"/>
    /// whose primary handler is the SSRF-guarded one), invoice and payment link expiry, ledger transfer expiry, stream completion,
    /// due scheduled and recurring distributions, chain health sampling, the payment intent sweep and the sync of orchestration
    /// transactions due a sync, plus every other
    /// registered <see cref="IPaymentsKitJob"/>. Each job runs in its own background service at the interval in
    /// <see cref="PaymentsKitHostingOptions"/> (validated when the host starts) and stops gracefully. Any number of
    /// host instances may run them against one PostgreSQL database.
    /// </summary>
    public static PaymentsKitBuilder AddPaymentsKitHosting(this PaymentsKitBuilder builder, Action<PaymentsKitHostingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<PaymentsKitHostingOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PaymentsKitHostingOptions>, PaymentsKitHostingOptionsValidator>());
        builder.AddWebhookDelivery();
        services.AddHttpClient(WebhookHttpClientName)
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(provider =>
                provider.GetRequiredService<IOptions<WebhookDeliveryOptions>>().Value.HttpMessageHandlerFactory?.Invoke()
                ?? provider.GetRequiredService<WebhookEndpointValidator>().CreateHandler());
        services.Replace(ServiceDescriptor.KeyedSingleton<HttpClient>(
            WebhooksBuilderExtensions.WebhookHttpClientKey,
            (provider, _) => provider.GetRequiredService<IHttpClientFactory>().CreateClient(WebhookHttpClientName)));
        services.AddPaymentsKitJob<WebhookDispatchJob>();
        if (services.Any(d => d.ServiceType == typeof(IInvoiceService)))
        {
            services.AddPaymentsKitJob<InvoiceExpiryJob>();
        }

        if (services.Any(d => d.ServiceType == typeof(ILedger)))
        {
            services.AddPaymentsKitJob<LedgerTransferExpiryJob>();
        }

        if (services.Any(d => d.ServiceType == typeof(IChainHealthService)))
        {
            services.AddPaymentsKitJob<ChainHealthSamplingJob>();
        }

        if (services.Any(d => d.ServiceType == typeof(IPaymentIntentService)))
        {
            services.AddPaymentsKitJob<PaymentIntentSweepJob>();
        }

        if (services.Any(d => d.ServiceType == typeof(IPaymentLinkService)))
        {
            services.AddPaymentsKitJob<PaymentLinkExpiryJob>();
        }

        if (services.Any(d => d.ServiceType == typeof(IStreamService)))
        {
            services.AddPaymentsKitJob<StreamCompletionJob>();
        }

        if (services.Any(d => d.ServiceType == typeof(IDistributionService)))
        {
            services.TryAddSingleton<JobLeases>();
            services.AddPaymentsKitJob<DueDistributionsJob>();
        }

        if (services.Any(d => d.ServiceType == typeof(ITransactionService)))
        {
            services.AddPaymentsKitJob<TransactionSyncJob>();
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, PaymentsKitJobHost>());
        return builder;
    }

    /// <summary>Registers a job to run periodically under <c>AddPaymentsKitHosting</c> (once per job type).</summary>
    public static IServiceCollection AddPaymentsKitJob<TJob>(this IServiceCollection services)
        where TJob : class, IPaymentsKitJob
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPaymentsKitJob, TJob>());
        return services;
    }
}
