using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit;
using PaymentsKit.Chains;
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
