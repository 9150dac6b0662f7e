using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit;
using PaymentsKit.Chains;
using PaymentsKit.Chains.Rpc;
using PaymentsKit.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers chain adapters on a <see cref="PaymentsKitBuilder"/>.</summary>
public static class ChainServiceCollectionExtensions
{
    /// <summary>
    /// Adds a <see cref="SimulatedChain"/> for <paramref name="chain"/>, with the <see cref="SimulatedTransactionSigner"/>
    /// as the signer unless the host registered its own. Options are validated when the host starts.
    /// Calling it again for the same chain adds more configuration to the same chain.
    /// </summary>
    /// <param name="builder">The PaymentsKit builder.</param>
    /// <param name="chain">The chain to simulate.</param>
    /// <param name="configure">Sets options; may be null.</param>
    /// <exception cref="InvalidOperationException">When another kind of adapter is already registered for <paramref name="chain"/>.</exception>
    public static PaymentsKitBuilder AddSimulatedChain(this PaymentsKitBuilder builder, ChainId chain, Action<SimulatedChainOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<SimulatedChainOptions>(chain.Value).Configure(o => o.Chain = chain);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SimulatedChainOptions>, SimulatedChainOptionsValidator>());
        builder.Services.TryAddSingleton<ITransactionSigner>(_ => new SimulatedTransactionSigner());
        return builder.AddChainAdapter(
            chain,
            provider => new SimulatedChain(
                provider.GetRequiredService<IOptionsMonitor<SimulatedChainOptions>>().Get(chain.Value),
                provider.GetRequiredService<IClock>()));
    }

    /// <summary>
    /// Registers an adapter for <paramref name="chain"/>: resolvable through <see cref="IChainAdapterRegistry"/>, as
    /// <typeparamref name="TAdapter"/>, and as a keyed <see cref="IChainAdapter"/> (key: the chain name). Chain
    /// packages call this; hosts can use it for their own adapters. Registering the same adapter type for the same
    /// chain twice is a no-op.
    /// </summary>
    /// <exception cref="InvalidOperationException">When a different adapter type is already registered for <paramref name="chain"/>.</exception>
    public static PaymentsKitBuilder AddChainAdapter<TAdapter>(this PaymentsKitBuilder builder, ChainId chain, Func<IServiceProvider, TAdapter> factory)
        where TAdapter : class, IChainAdapter
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        if (chain.Value is null)
        {
            throw new ArgumentException("The chain is required.", nameof(chain));
        }

        var services = builder.Services;
        var existing = services
            .Where(d => d.ServiceType == typeof(ChainAdapterRegistration) && d.ImplementationInstance is ChainAdapterRegistration r && r.Chain == chain)
            .Select(d => (ChainAdapterRegistration)d.ImplementationInstance!)
            .FirstOrDefault();
        if (existing is not null)
        {
            return existing.AdapterType == typeof(TAdapter)
                ? builder
                : throw new InvalidOperationException(
                    $"Chain '{chain}' already has a {existing.AdapterType.Name}; it cannot also get a {typeof(TAdapter).Name}.");
        }

        services.AddSingleton(new ChainAdapterRegistration(chain, typeof(TAdapter)));
        services.AddKeyedSingleton(chain.Value, (provider, _) => factory(provider));
        services.AddKeyedSingleton<IChainAdapter>(chain.Value, (provider, key) => provider.GetRequiredKeyedService<TAdapter>(key));
        services.AddSingleton<IChainAdapter>(provider => provider.GetRequiredKeyedService<TAdapter>(chain.Value));
        services.TryAddSingleton<IChainAdapterRegistry>(provider => new ChainAdapterRegistry(provider.GetServices<IChainAdapter>()));
        return builder;
    }

    /// <summary>
    /// Registers an adapter that talks to its chain's RPC nodes over HTTP — what every chain package's <c>Add*</c> method
    /// does: the options (validated when the host starts, every problem reported at once under
    /// <paramref name="optionsSection"/>) and the adapter, given the options, its <see cref="HttpClient"/> (the options'
    /// own handler when set, else <paramref name="httpClient"/>), the asset registry, the clock and a logger.
    /// </summary>
    /// <param name="builder">The PaymentsKit builder.</param>
    /// <param name="chain">The chain the adapter serves.</param>
    /// <param name="optionsSection">The name validation errors are reported under (e.g. <c>Ethereum</c>).</param>
    /// <param name="configure">Sets the options.</param>
    /// <param name="httpClient">The HTTP client when the options give no handler (e.g. a named client from <c>IHttpClientFactory</c>).</param>
    /// <param name="create">Builds the adapter.</param>
    public static PaymentsKitBuilder AddRpcChainAdapter<TOptions, TAdapter>(
        this PaymentsKitBuilder builder,
        ChainId chain,
        string optionsSection,
        Action<TOptions> configure,
        Func<IServiceProvider, HttpClient> httpClient,
        Func<TOptions, HttpClient, AssetRegistry, IClock, ILogger<TAdapter>, TAdapter> create)
        where TOptions : ChainRpcOptions
        where TAdapter : class, IChainAdapter
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(create);
        builder.Services.AddOptions<TOptions>().Configure(configure).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>>(new ChainRpcOptionsValidator<TOptions>(optionsSection)));
        return builder.AddChainAdapter(chain, provider =>
        {
            var options = provider.GetRequiredService<IOptions<TOptions>>().Value;
            return create(
                options,
                options.CreateHttpClient(() => httpClient(provider)),
                provider.GetRequiredService<AssetRegistry>(),
                provider.GetRequiredService<IClock>(),
                provider.GetRequiredService<ILogger<TAdapter>>());
        });
    }

    /// <summary>Marks which adapter type serves a chain, so conflicting registrations fail at configuration time.</summary>
    private sealed record ChainAdapterRegistration(ChainId Chain, Type AdapterType);

    private sealed class SimulatedChainOptionsValidator : IValidateOptions<SimulatedChainOptions>
    {
        public ValidateOptionsResult Validate(string? name, SimulatedChainOptions options)
        {
            var errors = options.Validate().ToList();
            if (!string.IsNullOrEmpty(name) && options.Chain.Value != name)
            {
                errors.Add($"SimulatedChain:Chain must stay '{name}', the chain it was added for (value: '{options.Chain}').");
            }

            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
