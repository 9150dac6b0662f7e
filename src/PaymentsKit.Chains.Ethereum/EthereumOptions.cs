using System.Globalization;
using NodaTime;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains.Ethereum;

/// <summary>Options for <c>AddEthereum</c>: JSON-RPC endpoints (with failover) and Ethereum finality and gas.</summary>
public sealed class EthereumOptions : ChainRpcOptions
{
    /// <summary>
    /// Confirmations (1–1000) after which a transaction counts as final on a node that does not serve the <c>finalized</c>
    /// block tag (pre-merge networks, some L2 and test nodes); where the tag is served, the chain's finalized block decides
    /// instead. Default 12.
    /// </summary>
    public int FinalityConfirmations { get; set; } = 12;

    /// <summary>Typical time between blocks (1–120 s). Default 12 s.</summary>
    public Duration BlockTime { get; set; } = Duration.FromSeconds(12);

    /// <summary>Gas of a plain ether transfer, for fee estimates. Default 21000.</summary>
    public long NativeTransferGas { get; set; } = 21_000;

    /// <summary>Gas of an ERC-20 <c>transfer</c>, for fee estimates. Default 65000.</summary>
    public long TokenTransferGas { get; set; } = 65_000;

    /// <summary>Blocks of fee history the estimate and congestion are averaged over (1–1024). Default 5.</summary>
    public int FeeHistoryBlocks { get; set; } = 5;

    /// <summary>Reject addresses without an EIP-55 checksum (all one case). Default false: they are accepted and checksummed.</summary>
    public bool RequireChecksum { get; set; }

    /// <inheritdoc />
    public override IReadOnlyList<string> Validate(string section)
    {
        var errors = base.Validate(section).ToList();
        void Add(FormattableString message) => errors.Add(message.ToString(CultureInfo.InvariantCulture));
        if (FinalityConfirmations is < 1 or > 1000)
        {
            Add($"{section}:FinalityConfirmations must be between 1 and 1000 (value: {FinalityConfirmations}).");
        }

        if (BlockTime < Duration.FromSeconds(1) || BlockTime > Duration.FromSeconds(120))
        {
            Add($"{section}:BlockTime must be between 1 and 120 seconds (value: {BlockTime}).");
        }

        if (NativeTransferGas is < 21_000 or > 30_000_000)
        {
            Add($"{section}:NativeTransferGas must be between 21000 and 30000000 (value: {NativeTransferGas}).");
        }

        if (TokenTransferGas is < 21_000 or > 30_000_000)
        {
            Add($"{section}:TokenTransferGas must be between 21000 and 30000000 (value: {TokenTransferGas}).");
        }

        if (FeeHistoryBlocks is < 1 or > 1024)
        {
            Add($"{section}:FeeHistoryBlocks must be between 1 and 1024 (value: {FeeHistoryBlocks}).");
        }

        return errors;
    }
}
