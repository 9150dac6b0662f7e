using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace PaymentsKit.Chains;

/// <summary>Finds the adapter for a chain among those the host registered.</summary>
public interface IChainAdapterRegistry
{
    /// <summary>The chains with an adapter, in name order.</summary>
    IReadOnlyList<ChainId> Chains { get; }

    /// <summary>The adapter for <paramref name="chain"/>.</summary>
    /// <exception cref="PaymentsKitException"><c>unknown_chain</c> when none is registered.</exception>
    IChainAdapter Get(ChainId chain);

    /// <summary>The adapter for <paramref name="chain"/>, without throwing.</summary>
    bool TryGet(ChainId chain, [NotNullWhen(true)] out IChainAdapter? adapter);
}

/// <summary>The registry over a fixed set of adapters, one per chain.</summary>
public sealed class ChainAdapterRegistry : IChainAdapterRegistry
{
    private readonly FrozenDictionary<ChainId, IChainAdapter> _adapters;

    /// <summary>Creates a registry.</summary>
    /// <exception cref="ArgumentException">When two adapters claim the same chain.</exception>
    public ChainAdapterRegistry(IEnumerable<IChainAdapter> adapters)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        var byChain = new Dictionary<ChainId, IChainAdapter>();
        foreach (var adapter in adapters)
        {
            if (!byChain.TryAdd(adapter.Chain, adapter))
            {
                throw new ArgumentException(
                    $"Two chain adapters are registered for '{adapter.Chain}': {byChain[adapter.Chain].GetType().Name} and {adapter.GetType().Name}.",
                    nameof(adapters));
            }
        }

        _adapters = byChain.ToFrozenDictionary();
        Chains = [.. byChain.Keys.OrderBy(c => c.Value, StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    public IReadOnlyList<ChainId> Chains { get; }

    /// <inheritdoc />
    public IChainAdapter Get(ChainId chain) =>
        TryGet(chain, out var adapter)
            ? adapter
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownChain,
                $"No chain adapter is registered for '{chain}'. Registered: {(Chains.Count == 0 ? "none" : string.Join(", ", Chains))}.",
                new Dictionary<string, object?> { ["chain"] = chain.Value });

    /// <inheritdoc />
    public bool TryGet(ChainId chain, [NotNullWhen(true)] out IChainAdapter? adapter)
    {
        adapter = null;
        return chain.Value is not null && _adapters.TryGetValue(chain, out adapter);
    }
}
