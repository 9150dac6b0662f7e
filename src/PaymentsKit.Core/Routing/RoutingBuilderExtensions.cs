using Microsoft.Extensions.Options;
using PaymentsKit;
using PaymentsKit.Chains;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Routing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures the multi-chain router on a <see cref="PaymentsKitBuilder"/>.</summary>
public static class RoutingBuilderExtensions
{
    /// <summary>Sets <see cref="RoutingOptions"/> (validated when the host starts).</summary>
    public static PaymentsKitBuilder ConfigureRouting(this PaymentsKitBuilder builder, Action<RoutingOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }

    /// <summary>
    /// Adds an RPC provider of <paramref name="chain"/> after the chain's primary adapter: payment attempts rotate
    /// through a chain's providers, so a retry goes out through another one.
    /// </summary>
    /// <param name="builder">The PaymentsKit builder.</param>
    /// <param name="chain">The chain.</param>
    /// <param name="name">The provider's name as attempts record it (1–64 letters, digits, <c>. _ -</c>).</param>
    /// <param name="adapter">Builds the adapter that talks to the provider; its chain must be <paramref name="chain"/>.</param>
    public static PaymentsKitBuilder AddRoutingRpcProvider(this PaymentsKitBuilder builder, ChainId chain, string name, Func<IServiceProvider, IChainAdapter> adapter)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(adapter);
        builder.Services.AddSingleton(provider => new RoutingRpcProvider(chain, name, adapter(provider)));
        return builder;
    }
}

/// <summary>Checks <see cref="RoutingOptions"/> and reports every problem in one result.</summary>
internal sealed class RoutingOptionsValidator : IValidateOptions<RoutingOptions>
{
    public ValidateOptionsResult Validate(string? name, RoutingOptions options)
    {
        var errors = options.Validate();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
