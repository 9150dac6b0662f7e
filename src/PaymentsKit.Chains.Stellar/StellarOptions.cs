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
    /// its broadcast. Unset, the one Horizon's root names is used once a transaction read has fetched it; until then the
    /// hash is learnt only from the broadcast's answer. Set it.
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

        if (NetworkPassphrase is { } passphrase && string.IsNullOrWhiteSpace(passphrase))
        {
            errors.Add($"{section}:NetworkPassphrase must not be blank when set.");
        }

        return errors;
    }
}
