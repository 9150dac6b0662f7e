using PaymentsKit;
using PaymentsKit.Chains.Rpc;
using PaymentsKit.Chains.Ethereum;
using PaymentsKit.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Ethereum adapter.</summary>
public static class EthereumServiceCollectionExtensions
{
    /// <summary>The name of the <see cref="HttpClient"/> the adapter gets from <c>IHttpClientFactory</c>.</summary>
    public const string HttpClientName = "PaymentsKit.Ethereum";

    /// <summary>
    /// Adds the Ethereum adapter talking to JSON-RPC nodes. Options are validated when the host starts, reporting every
    /// problem at once. Requests go through the named client <see cref="HttpClientName"/> unless
    /// <see cref="ChainRpcOptions.HttpMessageHandler"/> is set.
    /// </summary>
    /// <example><code>services.AddPaymentsKit().AddEthereum(o => o.Endpoints.Add(new Uri("https://mainnet.example/v3/KEY")));</code></example>
    public static PaymentsKitBuilder AddEthereum(this PaymentsKitBuilder builder, Action<EthereumOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddHttpClient(HttpClientName);
        return builder.AddRpcChainAdapter<EthereumOptions, EthereumChainAdapter>(
            ChainId.Ethereum,
            "Ethereum",
            configure,
            provider => provider.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            (options, http, assets, clock, logger) => new EthereumChainAdapter(options, http, assets, clock, logger));
    }
}
