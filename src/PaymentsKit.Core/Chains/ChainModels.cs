using NodaTime;

namespace PaymentsKit.Chains;

/// <summary>A validated address in its chain's canonical text form.</summary>
/// <param name="Chain">The chain.</param>
/// <param name="Value">The canonical text (checksummed where the chain has a checksum).</param>
public readonly record struct ChainAddress(ChainId Chain, string Value)
{
    /// <inheritdoc />
    public override string ToString() => Value;
}

/// <summary>Where a transaction stands on its chain.</summary>
public enum ChainTransactionStatus
{
    /// <summary>Known to the node but not yet in a block.</summary>
    Pending,

    /// <summary>In a block and successful.</summary>
    Succeeded,

    /// <summary>In a block but failed (reverted, op failed); no value moved.</summary>
    Failed,
}

/// <summary>One movement of value inside a transaction.</summary>
/// <param name="Amount">
/// The amount and asset moved; always positive: adapters leave out zero-value movements (such as the zero-value token
/// transfers of address poisoning), since they move nothing and must never match or credit a payment.
/// </param>
/// <param name="From">The sender.</param>
/// <param name="To">The recipient.</param>
public sealed record ChainTransfer(Money Amount, string From, string To);

/// <summary>A transaction as a chain reports it, normalised across chains.</summary>
/// <param name="Hash">The transaction hash or id.</param>
/// <param name="Chain">The chain.</param>
/// <param name="Status">Pending, succeeded or failed.</param>
/// <param name="Confirmations">Blocks on top of (and including) the one holding it; 0 while pending.</param>
/// <param name="IsFinal">Whether the chain considers it final (Stellar/Hedera: at once; others: enough confirmations).</param>
/// <param name="Memo">The memo (Stellar, Hedera) or null.</param>
/// <param name="Fee">The fee paid, if known.</param>
/// <param name="Timestamp">When it was included, if it was.</param>
/// <param name="Transfers">The value it moved.</param>
public sealed record ChainTransaction(
    string Hash,
    ChainId Chain,
    ChainTransactionStatus Status,
    long Confirmations,
    bool IsFinal,
    string? Memo,
    Money? Fee,
    Instant? Timestamp,
    IReadOnlyList<ChainTransfer> Transfers);

/// <summary>A fee estimate.</summary>
/// <param name="Fee">The expected fee, in the chain's fee asset.</param>
/// <param name="ExpectedConfirmation">How long inclusion is expected to take.</param>
public sealed record FeeEstimate(Money Fee, Duration ExpectedConfirmation);

/// <summary>A health verdict for route scoring.</summary>
public enum ChainHealthStatus
{
    /// <summary>Working normally.</summary>
    Healthy,

    /// <summary>Working, but slow, expensive or erroring sometimes.</summary>
    Degraded,

    /// <summary>Not usable now.</summary>
    Unhealthy,
}

/// <summary>One health measurement of a chain (seed 001 <c>chain_health</c>).</summary>
/// <param name="Chain">The chain.</param>
/// <param name="MeasuredAt">When it was measured.</param>
/// <param name="ConfirmationTime">Typical time to confirmation.</param>
/// <param name="RpcErrorRate">Share of failed RPC calls over the probe's window, 0–1.</param>
/// <param name="P95Latency">95th percentile RPC latency over the window.</param>
/// <param name="Congestion">0 (idle) to 1 (full), where the chain exposes it.</param>
/// <param name="FeeEstimate">The current fee for a simple transfer.</param>
/// <param name="LatestBlock">The latest block, ledger or slot number.</param>
/// <param name="Status">The verdict.</param>
public sealed record ChainHealthSample(
    ChainId Chain,
    Instant MeasuredAt,
    Duration ConfirmationTime,
    decimal RpcErrorRate,
    Duration P95Latency,
    decimal Congestion,
    Money FeeEstimate,
    long LatestBlock,
    ChainHealthStatus Status);

/// <summary>A transfer to be signed by the host's <see cref="ITransactionSigner"/>.</summary>
/// <param name="Chain">The chain.</param>
/// <param name="From">The sending address (the host's wallet).</param>
/// <param name="To">The recipient.</param>
/// <param name="Amount">What to send.</param>
/// <param name="Memo">A memo, where the chain has them.</param>
/// <param name="MaxFee">The most the transaction may pay in fees.</param>
public sealed record TransferRequest(ChainId Chain, string From, string To, Money Amount, string? Memo, Money MaxFee);

/// <summary>A signed transaction ready to broadcast, in the chain's wire encoding.</summary>
/// <param name="Chain">The chain.</param>
/// <param name="Payload">The encoded transaction (XDR, RLP, wire bytes …).</param>
/// <param name="Hash">The transaction hash, when the signer knows it before broadcast.</param>
public sealed record SignedTransaction(ChainId Chain, ReadOnlyMemory<byte> Payload, string? Hash);

/// <summary>What a chain said to a broadcast.</summary>
/// <param name="Hash">The transaction hash.</param>
/// <param name="AlreadyKnown">True when the chain already had the transaction (a rebroadcast).</param>
public sealed record BroadcastResult(string Hash, bool AlreadyKnown);
