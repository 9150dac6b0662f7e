using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NodaTime;
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
        builder.Services.AddOptions<HederaOptions>().Configure(configure).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HederaOptions>>(new ChainRpcOptionsValidator<HederaOptions>("Hedera")));
        builder.Services.AddHttpClient(HttpClientName);
        return builder.AddChainAdapter(ChainId.Hedera, provider =>
        {
            var options = provider.GetRequiredService<IOptions<HederaOptions>>().Value;
            return new HederaChainAdapter(
                options,
                options.CreateHttpClient(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName)),
                provider.GetRequiredService<AssetRegistry>(),
                provider.GetRequiredService<IClock>(),
                provider.GetRequiredService<ILogger<HederaChainAdapter>>());
        });
    }
}
