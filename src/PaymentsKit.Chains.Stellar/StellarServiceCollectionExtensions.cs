using PaymentsKit;
using PaymentsKit.Chains.Rpc;
using PaymentsKit.Chains.Stellar;
using PaymentsKit.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Stellar adapter.</summary>
public static class StellarServiceCollectionExtensions
{
    /// <summary>The name of the <see cref="HttpClient"/> the adapter gets from <c>IHttpClientFactory</c>.</summary>
    public const string HttpClientName = "PaymentsKit.Stellar";

    /// <summary>
    /// Adds the Stellar adapter talking to Horizon. Options are validated when the host starts, reporting every
    /// problem at once. Requests go through the named client <see cref="HttpClientName"/> unless
    /// <see cref="ChainRpcOptions.HttpMessageHandler"/> is set.
    /// </summary>
    /// <example><code>services.AddPaymentsKit().AddStellar(o => o.Endpoints.Add(StellarOptions.PublicHorizon));</code></example>
    public static PaymentsKitBuilder AddStellar(this PaymentsKitBuilder builder, Action<StellarOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddHttpClient(HttpClientName);
        return builder.AddRpcChainAdapter<StellarOptions, StellarChainAdapter>(
            ChainId.Stellar,
            "Stellar",
            configure,
            provider => provider.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            (options, http, assets, clock, logger) => new StellarChainAdapter(options, http, assets, clock, logger));
    }
}
