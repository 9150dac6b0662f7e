using System.Globalization;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains.Hedera;

/// <summary>Submits a signed Hedera transaction through the host's gRPC client (e.g. the Hedera/Hiero SDK).</summary>
/// <param name="transaction">The signed transaction bytes; <see cref="SignedTransaction.Hash"/> is its transaction id.</param>
/// <param name="cancellationToken">Cancels the submission.</param>
/// <returns>The transaction id and whether the network already had it (<c>DUPLICATE_TRANSACTION</c>).</returns>
public delegate ValueTask<BroadcastResult> HederaSubmitter(SignedTransaction transaction, CancellationToken cancellationToken);

/// <summary>Options for <c>AddHedera</c>: the ledger (for HIP-15 checksums), Mirror Node endpoints and fee schedule.</summary>
public sealed class HederaOptions : ChainRpcOptions
{
    /// <summary>The public mainnet Mirror Node.</summary>
    public static Uri MainnetMirrorNode { get; } = new("https://mainnet-public.mirrornode.hedera.com/");

    /// <summary>The testnet Mirror Node.</summary>
    public static Uri TestnetMirrorNode { get; } = new("https://testnet.mirrornode.hedera.com/");

    /// <summary>The previewnet Mirror Node.</summary>
    public static Uri PreviewnetMirrorNode { get; } = new("https://previewnet.mirrornode.hedera.com/");

    /// <summary>The ledger, which sets the HIP-15 checksum of every address. Default mainnet.</summary>
    public HederaNetwork Network { get; set; } = HederaNetwork.Mainnet;

    /// <summary>The fee of an HBAR transfer in US cents (Hedera prices fees in USD). Default 0.01 (US$0.0001).</summary>
    public decimal TransferFeeUsdCents { get; set; } = 0.01m;

    /// <summary>The fee of a token transfer in US cents. Default 0.1 (US$0.001).</summary>
    public decimal TokenTransferFeeUsdCents { get; set; } = 0.1m;

    /// <summary>
    /// Sends signed transactions to the network. Submission is gRPC-only on Hedera (the Mirror Node is read-only), so
    /// PaymentsKit cannot broadcast without the host's client; when null, <c>BroadcastAsync</c> fails with a clear error.
    /// </summary>
    public HederaSubmitter? Submitter { get; set; }

    /// <inheritdoc />
    public override IReadOnlyList<string> Validate(string section)
    {
        var errors = base.Validate(section).ToList();
        if (!Enum.IsDefined(Network))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:Network must be Mainnet, Testnet or Previewnet (value: {Network})."));
        }

        if (TransferFeeUsdCents is <= 0m or > 100m)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:TransferFeeUsdCents must be above 0 and at most 100 (value: {TransferFeeUsdCents})."));
        }

        if (TokenTransferFeeUsdCents is <= 0m or > 100m)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:TokenTransferFeeUsdCents must be above 0 and at most 100 (value: {TokenTransferFeeUsdCents})."));
        }

        return errors;
    }
}
