namespace PaymentsKit.Payouts;

/// <summary>One planned payout batch: a contiguous run of the (ordered) holder list.</summary>
/// <param name="BatchNumber">The 1-based sequence number (seed 004 <c>batch_payout.batch_number</c>).</param>
/// <param name="Offset">Index of the batch's first holder.</param>
/// <param name="Count">How many holders the batch pays.</param>
public readonly record struct PayoutBatch(int BatchNumber, int Offset, int Count)
{
    /// <summary>The holder indices the batch covers.</summary>
    public Range Range => new(Offset, Offset + Count);
}

/// <summary>
/// Splits an ordered holder list into payout batches of at most a chain's limit, covering every holder
/// exactly once; every batch but the last is full.
/// </summary>
public static class PayoutBatchPlanner
{
    /// <summary>
    /// Hedera allows at most 10 token adjustments in one transfer: one debit from the payer and nine credits.
    /// </summary>
    public const int HederaMaxCredits = 9;

    /// <summary>The default batch size for contract-based payouts.</summary>
    public const int DefaultBatchSize = 100;

    /// <summary>The most holders one batch may pay on <paramref name="chain"/>: Hedera 9, otherwise the default.</summary>
    public static int MaxPerBatch(ChainId chain) => chain == ChainId.Hedera ? HederaMaxCredits : DefaultBatchSize;

    /// <summary>Plans batches for <paramref name="holderCount"/> holders.</summary>
    /// <param name="holderCount">How many holders to pay; zero or more.</param>
    /// <param name="maxPerBatch">The most holders per batch; at least 1.</param>
    /// <returns>The batches in order, numbered from 1.</returns>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a negative count or a limit below 1.</exception>
    public static PayoutBatch[] Plan(int holderCount, int maxPerBatch)
    {
        if (holderCount < 0)
        {
            throw PaymentsKitException.InvalidArgument("holder_count", holderCount, "must not be negative");
        }

        if (maxPerBatch < 1)
        {
            throw PaymentsKitException.InvalidArgument(
                "max_per_batch", maxPerBatch, "must be at least 1");
        }

        // Not (count + max - 1) / max: an executor without a limit declares int.MaxValue, and the sum would overflow.
        var batches = new PayoutBatch[(holderCount / maxPerBatch) + (holderCount % maxPerBatch == 0 ? 0 : 1)];
        for (var i = 0; i < batches.Length; i++)
        {
            var offset = i * maxPerBatch;
            batches[i] = new PayoutBatch(i + 1, offset, Math.Min(maxPerBatch, holderCount - offset));
        }

        return batches;
    }
}
