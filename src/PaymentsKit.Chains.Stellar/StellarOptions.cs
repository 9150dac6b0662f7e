using System.Globalization;
using NodaTime;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains.Stellar;

/// <summary>Options for <c>AddStellar</c>: Horizon endpoints (with failover) and Stellar timing.</summary>
public sealed class StellarOptions : ChainRpcOptions
{
    /// <summary>SDF's public-network Horizon.</summary>
    public static Uri PublicHorizon { get; } = new("https://horizon.stellar.org/");

    /// <summary>SDF's testnet Horizon.</summary>
    public static Uri TestnetHorizon { get; } = new("https://horizon-testnet.stellar.org/");

    /// <summary>The public network's passphrase.</summary>
    public const string PublicNetworkPassphrase = "Public Global Stellar Network ; September 2015";

    /// <summary>The test network's passphrase.</summary>
    public const string TestnetNetworkPassphrase = "Test SDF Network ; September 2015";

    /// <summary>
    /// The passphrase of the network the endpoints serve (<see cref="PublicNetworkPassphrase"/>,
    /// <see cref="TestnetNetworkPassphrase"/>), part of every transaction hash, so a signed envelope's hash is known before
    /// its broadcast. Unset, it is inferred when every endpoint is SDF's Horizon of one network (<see cref="PublicHorizon"/>
    /// or <see cref="TestnetHorizon"/>'s host); otherwise the one Horizon's root names is used once a transaction read has
    /// fetched it, and until then the hash is learnt only from the broadcast's answer. Set it for a Horizon of your own.
    /// Set, it must be the network of every SDF Horizon among the endpoints.
    /// </summary>
    public string? NetworkPassphrase { get; set; }

    /// <summary>Typical time between ledgers, reported as the confirmation time (1–60 s). Default 6 s.</summary>
    public Duration LedgerTime { get; set; } = Duration.FromSeconds(6);

    /// <inheritdoc />
    public override IReadOnlyList<string> Validate(string section)
    {
        var errors = base.Validate(section).ToList();
        if (LedgerTime < Duration.FromSeconds(1) || LedgerTime > Duration.FromSeconds(60))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:LedgerTime must be between 1 and 60 seconds (value: {LedgerTime})."));
        }

        if (NetworkPassphrase is { } passphrase)
        {
            if (string.IsNullOrWhiteSpace(passphrase))
            {
                errors.Add($"{section}:NetworkPassphrase must not be blank when set.");
            }
            else
            {
                // Another network than an SDF endpoint's makes every hash known before broadcast wrong, so a failed
                // broadcast would be looked up in vain.
                for (var i = 0; i < Endpoints.Count; i++)
                {
                    if (SdfNetworkOf(Endpoints[i]) is { } network && network != passphrase)
                    {
                        errors.Add($"{section}:NetworkPassphrase must be the network of {section}:Endpoints[{i}] ({Endpoints[i].Host} serves '{network}'; value: '{passphrase}').");
                    }
                }
            }
        }

        return errors;
    }

    /// <summary>
    /// <see cref="NetworkPassphrase"/>, or when unset the network of SDF's Horizon if every endpoint is SDF's Horizon of
    /// that one network; null otherwise (a Horizon of anyone else may serve any network).
    /// </summary>
    internal string? KnownNetworkPassphrase()
    {
        if (NetworkPassphrase is not null)
        {
            return NetworkPassphrase;
        }

        var networks = Endpoints.Select(SdfNetworkOf).Distinct().ToList();
        return networks is [{ } network] ? network : null;
    }

    private static string? SdfNetworkOf(Uri? endpoint)
    {
        if (endpoint is not { IsAbsoluteUri: true })
        {
            return null;
        }

        if (string.Equals(endpoint.Host, PublicHorizon.Host, StringComparison.OrdinalIgnoreCase))
        {
            return PublicNetworkPassphrase;
        }

        return string.Equals(endpoint.Host, TestnetHorizon.Host, StringComparison.OrdinalIgnoreCase) ? TestnetNetworkPassphrase : null;
    }
}
