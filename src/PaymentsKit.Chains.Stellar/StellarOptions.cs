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

        return errors;
    }
}
