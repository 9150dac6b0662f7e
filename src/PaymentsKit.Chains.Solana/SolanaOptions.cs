using System.Globalization;
using NodaTime;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains.Solana;

/// <summary>Options for <c>AddSolana</c>: JSON-RPC endpoints (with failover) and fee parameters.</summary>
public sealed class SolanaOptions : ChainRpcOptions
{
    /// <summary>Solana Labs' public mainnet-beta endpoint (rate limited; use a provider in production).</summary>
    public static Uri MainnetBeta { get; } = new("https://api.mainnet-beta.solana.com/");

    /// <summary>The public devnet endpoint.</summary>
    public static Uri Devnet { get; } = new("https://api.devnet.solana.com/");

    /// <summary>The base fee per signature in lamports. Default 5000.</summary>
    public long SignatureFeeLamports { get; set; } = 5_000;

    /// <summary>Compute units a SOL transfer is budgeted, for the priority fee estimate. Default 1400.</summary>
    public int NativeTransferComputeUnits { get; set; } = 1_400;

    /// <summary>Compute units an SPL token transfer is budgeted, for the priority fee estimate. Default 30000.</summary>
    public int TokenTransferComputeUnits { get; set; } = 30_000;

    /// <summary>Typical time to the <c>finalized</c> commitment (1–120 s). Default 13 s.</summary>
    public Duration FinalityTime { get; set; } = Duration.FromSeconds(13);

    /// <inheritdoc />
    public override IReadOnlyList<string> Validate(string section)
    {
        var errors = base.Validate(section).ToList();
        void Add(FormattableString message) => errors.Add(message.ToString(CultureInfo.InvariantCulture));
        if (SignatureFeeLamports is < 0 or > 1_000_000_000)
        {
            Add($"{section}:SignatureFeeLamports must be between 0 and 1000000000 (value: {SignatureFeeLamports}).");
        }

        if (NativeTransferComputeUnits is < 1 or > 1_400_000)
        {
            Add($"{section}:NativeTransferComputeUnits must be between 1 and 1400000 (value: {NativeTransferComputeUnits}).");
        }

        if (TokenTransferComputeUnits is < 1 or > 1_400_000)
        {
            Add($"{section}:TokenTransferComputeUnits must be between 1 and 1400000 (value: {TokenTransferComputeUnits}).");
        }

        if (FinalityTime < Duration.FromSeconds(1) || FinalityTime > Duration.FromSeconds(120))
        {
            Add($"{section}:FinalityTime must be between 1 and 120 seconds (value: {FinalityTime}).");
        }

        return errors;
    }
}
