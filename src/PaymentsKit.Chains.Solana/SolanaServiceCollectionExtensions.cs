using PaymentsKit;
using PaymentsKit.Chains.Rpc;
using PaymentsKit.Chains.Solana;
using PaymentsKit.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Solana adapter.</summary>
public static class SolanaServiceCollectionExtensions
{
    /// <summary>The name of the <see cref="HttpClient"/> the adapter gets from <c>IHttpClientFactory</c>.</summary>
    public const string HttpClientName = "PaymentsKit.Solana";

    /// <summary>
    /// Adds the Solana adapter talking to JSON-RPC nodes. Options are validated when the host starts, reporting every
    /// problem at once. Requests go through the named client <see cref="HttpClientName"/> unless
    /// <see cref="ChainRpcOptions.HttpMessageHandler"/> is set.
    /// </summary>
    /// <example><code>services.AddPaymentsKit().AddSolana(o => o.Endpoints.Add(SolanaOptions.MainnetBeta));</code></example>
    public static PaymentsKitBuilder AddSolana(this PaymentsKitBuilder builder, Action<SolanaOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddHttpClient(HttpClientName);
        return builder.AddRpcChainAdapter<SolanaOptions, SolanaChainAdapter>(
            ChainId.Solana,
            "Solana",
            configure,
            provider => provider.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            (options, http, assets, clock, logger) => new SolanaChainAdapter(options, http, assets, clock, logger));
    }
}
