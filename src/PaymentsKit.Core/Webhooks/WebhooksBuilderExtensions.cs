using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Storage;
using PaymentsKit.Webhooks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds webhook delivery to a <see cref="PaymentsKitBuilder"/>.</summary>
public static class WebhooksBuilderExtensions
{
    /// <summary>The service key of the <see cref="HttpClient"/> the dispatcher sends with (replace it to use <c>IHttpClientFactory</c>).</summary>
    public const string WebhookHttpClientKey = "PaymentsKit.Webhooks";

    /// <summary>
    /// Registers endpoint management (<see cref="IWebhookEndpointService"/>), delivery (<see cref="IWebhookDispatcher"/>,
    /// with the in-memory <see cref="IWebhookDeliveryQueue"/> unless a store package registered its own), the operator
    /// API (<see cref="IWebhookDeliveryService"/>) and the SSRF guard with the system DNS resolver (replace
    /// <see cref="IWebhookAddressResolver"/> to change it). Options are validated when the host starts. Calling it again
    /// adds more configuration. The dispatcher runs when called, or periodically under <c>AddPaymentsKitHosting</c>.
    /// </summary>
    public static PaymentsKitBuilder AddWebhookDelivery(this PaymentsKitBuilder builder, Action<WebhookDeliveryOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<WebhookDeliveryOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WebhookDeliveryOptions>, WebhookDeliveryOptionsValidator>());
        services.TryAddSingleton<IWebhookAddressResolver, DnsWebhookAddressResolver>();
        services.TryAddSingleton(provider => new WebhookEndpointValidator(
            provider.GetRequiredService<IWebhookAddressResolver>(),
            provider.GetRequiredService<IOptions<WebhookDeliveryOptions>>().Value.EndpointPolicy));
        services.TryAddSingleton<IWebhookEndpointService, WebhookEndpointService>();
        services.TryAddSingleton<IWebhookDeliveryQueue>(provider => new InMemoryWebhookDeliveryQueue(
            provider.GetRequiredService<IPaymentsStore>(), provider.GetRequiredService<IClock>()));
        services.TryAddSingleton<IWebhookDeliveryService, WebhookDeliveryService>();
        services.TryAddKeyedSingleton(WebhookHttpClientKey, (provider, _) =>
        {
            var settings = provider.GetRequiredService<IOptions<WebhookDeliveryOptions>>().Value;
            var handler = settings.HttpMessageHandlerFactory?.Invoke() ?? provider.GetRequiredService<WebhookEndpointValidator>().CreateHandler();
            return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        });
        services.TryAddSingleton<IWebhookDispatcher>(provider => new WebhookDispatcher(
            provider.GetRequiredService<IWebhookDeliveryQueue>(),
            provider.GetRequiredService<IPaymentsStore>(),
            provider.GetRequiredService<IWebhookEndpointService>(),
            provider.GetRequiredService<WebhookEndpointValidator>(),
            provider.GetRequiredKeyedService<HttpClient>(WebhookHttpClientKey),
            provider.GetRequiredService<IClock>(),
            provider.GetRequiredService<IOptions<WebhookDeliveryOptions>>().Value,
            provider.GetService<ILogger<WebhookDispatcher>>()));
        return builder;
    }
}
