using NodaTime;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Testing;

/// <summary>What the chain adapter tests give an adapter that talks to loopback nodes: its options and its asset registry.</summary>
public static class LoopbackAdapterSetup
{
    /// <summary>
    /// Options with the loopback <paramref name="nodes"/> as endpoints, a 3-second request timeout and 1 ms between
    /// retries (so failover tests do not sleep), then <paramref name="configure"/> applied.
    /// </summary>
    public static TOptions Options<TOptions>(Action<TOptions>? configure, params LoopbackHttpServer[] nodes)
        where TOptions : ChainRpcOptions, new()
    {
        var options = new TOptions { RequestTimeout = Duration.FromSeconds(3), RetryDelay = Duration.FromMilliseconds(1) };
        foreach (var node in nodes)
        {
            options.Endpoints.Add(node.BaseAddress);
        }

        configure?.Invoke(options);
        return options;
    }

    /// <summary>A registry of the built-in assets plus <paramref name="tokens"/>.</summary>
    public static AssetRegistry Assets(params Asset[] tokens)
    {
        var assets = new AssetRegistry();
        foreach (var token in tokens)
        {
            assets.Register(token);
        }

        return assets;
    }
}
