using System.Collections.Frozen;
using System.Text.RegularExpressions;
using PaymentsKit.Chains;

namespace PaymentsKit.Routing;

/// <summary>
/// One way of reaching a chain: an adapter under a name recorded on each attempt (seed 001
/// <c>payment_attempts.rpc_provider</c>). Retries move to the chain's next provider.
/// </summary>
/// <param name="Chain">The chain.</param>
/// <param name="Name">1–64 characters: letters, digits, <c>. _ -</c>.</param>
/// <param name="Adapter">The adapter that talks to the provider; its chain must be <paramref name="Chain"/>.</param>
public sealed record RoutingRpcProvider(ChainId Chain, string Name, IChainAdapter Adapter);

/// <summary>The RPC providers of every routable chain, in order of preference.</summary>
public interface IRoutingRpcProviders
{
    /// <summary>The chains with at least one provider, in name order.</summary>
    IReadOnlyList<ChainId> Chains { get; }

    /// <summary>A chain's providers, preferred first.</summary>
    /// <exception cref="PaymentsKitException"><c>unknown_chain</c> when the chain has none.</exception>
    IReadOnlyList<RoutingRpcProvider> For(ChainId chain);
}

/// <summary>
/// The providers: each chain's adapter from <see cref="IChainAdapterRegistry"/> as <see cref="PrimaryName"/>,
/// followed by the host's extra providers (<c>AddRoutingRpcProvider</c>) in registration order.
/// </summary>
public sealed partial class RoutingRpcProviders : IRoutingRpcProviders
{
    /// <summary>The name of the provider behind the registry's adapter.</summary>
    public const string PrimaryName = "primary";

    private readonly FrozenDictionary<ChainId, RoutingRpcProvider[]> _providers;

    /// <summary>Creates the providers.</summary>
    /// <exception cref="ArgumentException">For a malformed or duplicate name, or an adapter of another chain.</exception>
    public RoutingRpcProviders(IChainAdapterRegistry registry, IEnumerable<RoutingRpcProvider> extra)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(extra);
        var byChain = new Dictionary<ChainId, List<RoutingRpcProvider>>();
        foreach (var chain in registry.Chains)
        {
            byChain[chain] = [new RoutingRpcProvider(chain, PrimaryName, registry.Get(chain))];
        }

        foreach (var provider in extra)
        {
            ArgumentNullException.ThrowIfNull(provider);
            if (!NamePattern().IsMatch(provider.Name ?? string.Empty))
            {
                throw new ArgumentException($"RPC provider name '{provider.Name}' must be 1–64 letters, digits, '.', '_' or '-'.", nameof(extra));
            }

            if (provider.Adapter?.Chain != provider.Chain)
            {
                throw new ArgumentException($"RPC provider '{provider.Name}' is for {provider.Chain} but its adapter serves {provider.Adapter?.Chain}.", nameof(extra));
            }

            if (!byChain.TryGetValue(provider.Chain, out var list))
            {
                byChain[provider.Chain] = list = [];
            }

            if (list.Any(p => p.Name == provider.Name))
            {
                throw new ArgumentException($"Chain {provider.Chain} has two RPC providers named '{provider.Name}'.", nameof(extra));
            }

            list.Add(provider);
        }

        _providers = byChain.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray());
        Chains = [.. byChain.Keys.OrderBy(c => c.Value, StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    public IReadOnlyList<ChainId> Chains { get; }

    /// <inheritdoc />
    public IReadOnlyList<RoutingRpcProvider> For(ChainId chain) =>
        chain.Value is not null && _providers.TryGetValue(chain, out var list)
            ? list
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownChain,
                $"No chain adapter is registered for '{chain}'. Registered: {(Chains.Count == 0 ? "none" : string.Join(", ", Chains))}.",
                new Dictionary<string, object?> { ["chain"] = chain.Value });

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
