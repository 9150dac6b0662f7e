using System.Numerics;

namespace PaymentsKit.Chains;

/// <summary>
/// Everything PaymentsKit asks of one blockchain: address validation, exact unit conversion, reading
/// a transaction, fee estimates, health, and broadcasting a transaction the host already signed.
/// Implementations: <c>SimulatedChain</c> (embedded default) and the
/// <c>PaymentsKit.Chains.*</c> packages.
/// </summary>
/// <remarks>
/// RPC failures surface as <see cref="PaymentsKitException"/> with
/// <see cref="PaymentsKitErrorCodes.ChainUnavailable"/> and <see cref="PaymentsKitException.IsTransient"/>
/// true; a transaction the chain refuses is <see cref="PaymentsKitErrorCodes.TransactionRejected"/>.
/// </remarks>
public interface IChainAdapter
{
    /// <summary>The chain this adapter speaks to.</summary>
    ChainId Chain { get; }

    /// <summary>Validates an address and returns its canonical form.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_address</c> naming the value and the chain.</exception>
    ChainAddress ParseAddress(string? text);

    /// <summary>Validates an address without throwing.</summary>
    bool TryParseAddress(string? text, out ChainAddress address);

    /// <summary>
    /// Whether value sent to <paramref name="destination"/> (a <see cref="ChainTransfer.To"/> as this adapter reports it) is
    /// received by <paramref name="wallet"/> (a canonical address of this chain). By default the two must be the same address;
    /// a chain with sub-addresses of an account (Stellar's muxed accounts) also counts what is sent to them as the account's.
    /// </summary>
    bool IsReceivedBy(string destination, string wallet) => TryParseAddress(destination, out var parsed) && parsed.Value == wallet;

    /// <summary>Converts an amount to the chain's base units (stroops, wei, lamports, tinybars, token units).</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> when the asset is not on this chain.</exception>
    BigInteger ToBaseUnits(Money amount);

    /// <summary>Converts base units back to an amount of <paramref name="asset"/>, exactly.</summary>
    /// <exception cref="PaymentsKitException"><c>arithmetic_overflow</c> when the value does not fit the amount type.</exception>
    Money FromBaseUnits(BigInteger units, Asset asset);

    /// <summary>
    /// The transaction hash as this adapter reports it (lower-case hex on chains whose hashes are hex), so a hash given in
    /// another spelling finds what was recorded under it. Unchanged by default, for chains whose hashes have one spelling.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for text that is not a transaction hash of this chain.</exception>
    string NormalizeTransactionHash(string transactionHash) => transactionHash;

    /// <summary>
    /// The hash the chain will know a signed transaction by, computed from its bytes alone (in the spelling
    /// <see cref="NormalizeTransactionHash"/> gives); null when the chain's rules do not fix it from the bytes, or this
    /// adapter cannot tell before the broadcast. The router records it before broadcasting, so a transaction whose
    /// broadcast call failed, and which may have reached the chain all the same, can still be looked up there. Null by default.
    /// </summary>
    string? TransactionHashOf(ReadOnlySpan<byte> signedTransaction) => null;

    /// <summary>
    /// Reads a transaction by hash; null when the chain does not know it (yet, or any more). A transaction the node holds
    /// but has not included must be reported <see cref="ChainTransactionStatus.Pending"/>, never null: the router replaces
    /// only a transaction the chain does not know, as one it knows may still be included and a replacement would pay twice.
    /// </summary>
    ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default);

    /// <summary>Estimates what sending <paramref name="asset"/> costs now.</summary>
    ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default);

    /// <summary>Measures the chain's health now (latency, errors, fees, congestion).</summary>
    ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default);

    /// <summary>Submits an already-signed transaction.</summary>
    /// <returns>The transaction hash the chain knows it by.</returns>
    ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default);
}

/// <summary>
/// Signs transfers with the host's custody (HSM, KMS, wallet service). PaymentsKit never holds keys:
/// it asks the signer and broadcasts what comes back.
/// </summary>
public interface ITransactionSigner
{
    /// <summary>Signs a transfer for broadcast on <see cref="TransferRequest.Chain"/>.</summary>
    ValueTask<SignedTransaction> SignAsync(TransferRequest request, CancellationToken cancellationToken = default);
}
