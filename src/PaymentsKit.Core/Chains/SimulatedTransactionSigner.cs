using System.Globalization;

namespace PaymentsKit.Chains;

/// <summary>
/// A stand-in for the host's custody that "signs" transfers for <see cref="SimulatedChain"/>: it
/// encodes the request with a per-signer nonce, so signing the same request twice gives two distinct
/// transactions, and reports the hash the chain will know it by. Deterministic: the n-th signature of
/// a signer with a given key id is always the same bytes. Holds no keys and is for tests and samples only.
/// </summary>
public sealed class SimulatedTransactionSigner : ITransactionSigner
{
    private readonly string _keyId;
    private long _nonce;

    /// <summary>Creates a signer.</summary>
    /// <param name="keyId">Distinguishes signers, so two of them never produce the same transaction (1–64 characters).</param>
    public SimulatedTransactionSigner(string keyId = "simulated")
    {
        _keyId = Guard.Text(keyId, "keyId", 64);
    }

    /// <inheritdoc />
    /// <exception cref="PaymentsKitException">
    /// <c>invalid_argument</c> for a missing field, <c>amount_out_of_range</c> for a non-positive amount or a
    /// negative max fee.
    /// </exception>
    public ValueTask<SignedTransaction> SignAsync(TransferRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        Guard.Text(request.From, "request.from", 256);
        Guard.Text(request.To, "request.to", 256);
        if (!request.Amount.IsPositive)
        {
            throw OutOfRange("request.amount", request.Amount, "must be positive");
        }

        if (request.MaxFee.IsNegative)
        {
            throw OutOfRange("request.maxFee", request.MaxFee, "must not be negative");
        }

        var payload = new SimulatedTransferPayload(
            request.Chain,
            request.From,
            request.To,
            request.Amount,
            request.Memo,
            request.MaxFee,
            _keyId,
            Interlocked.Increment(ref _nonce)).Encode();
        return ValueTask.FromResult(new SignedTransaction(request.Chain, payload, SimulatedTransferPayload.Hash(payload)));
    }

    private static PaymentsKitException OutOfRange(string field, Money value, string problem) =>
        new(PaymentsKitErrorCodes.AmountOutOfRange,
            string.Create(CultureInfo.InvariantCulture, $"{field} {problem} (value: '{value}')."),
            new Dictionary<string, object?> { ["field"] = field, ["value"] = value.ToString() });
}
