using PaymentsKit;
using PaymentsKit.Chains.Rpc;
using PaymentsKit.Chains.Hedera;
using PaymentsKit.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Hedera adapter.</summary>
public static class HederaServiceCollectionExtensions
{
    /// <summary>The name of the <see cref="HttpClient"/> the adapter gets from <c>IHttpClientFactory</c>.</summary>
    public const string HttpClientName = "PaymentsKit.Hedera";

    /// <summary>
    /// Adds the Hedera adapter talking to the Mirror Node. Options are validated when the host starts, reporting every
    /// problem at once. Requests go through the named client <see cref="HttpClientName"/> unless
    /// <see cref="ChainRpcOptions.HttpMessageHandler"/> is set.
    /// </summary>
    /// <example><code>services.AddPaymentsKit().AddHedera(o => o.Endpoints.Add(HederaOptions.MainnetMirrorNode));</code></example>
    public static PaymentsKitBuilder AddHedera(this PaymentsKitBuilder builder, Action<HederaOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddHttpClient(HttpClientName);
        return builder.AddRpcChainAdapter<HederaOptions, HederaChainAdapter>(
            ChainId.Hedera,
            "Hedera",
            configure,
            provider => provider.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            (options, http, assets, clock, logger) => new HederaChainAdapter(options, http, assets, clock, logger));
    }
}
