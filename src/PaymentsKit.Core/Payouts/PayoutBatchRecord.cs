using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.Payouts;

/// <summary>
/// One executed payout batch of a distribution (seed 004 <c>batch_payout</c>): written PROCESSING when the batch
/// is handed to the executor and COMPLETED (every holder paid) or FAILED (some holder not paid) with the outcome.
/// </summary>
/// <param name="Id">The batch record's id.</param>
/// <param name="TenantId">The issuer.</param>
/// <param name="DistributionId">The distribution.</param>
/// <param name="BatchNumber">The batch's number within the distribution, from 1.</param>
/// <param name="IdempotencyKey">The key the batch was executed under; a re-execution uses the same key.</param>
/// <param name="TotalHolders">Holders in the batch.</param>
/// <param name="SuccessfulPayments">Holders paid.</param>
/// <param name="FailedPayments">Holders not paid.</param>
/// <param name="Paid">The amount paid.</param>
/// <param name="TransactionId">
/// The chain transaction, if the executor reported one: as reported when it has at most 200 characters and no NUL or unpaired
/// surrogate, otherwise its start, "…" and the SHA-256 (hex) of its UTF-8, with the full id in <see cref="FullTransactionId"/>.
/// </param>
/// <param name="Status">PROCESSING while the outcome is unknown, then COMPLETED or FAILED.</param>
/// <param name="ErrorMessage">
/// Why payments failed, or why the outcome is still unknown; also the accounts the executor reported failed that the batch
/// does not pay (its verdict on the batch's own holders is recorded all the same).
/// </param>
/// <param name="LedgerTransactionId">The ledger transaction posting the paid amount, if payouts are posted and the posting is done.</param>
/// <param name="ExecutedAt">When the outcome was recorded.</param>
/// <param name="CreatedAt">When the batch was first handed to the executor.</param>
/// <param name="UpdatedAt">When the record last changed.</param>
public sealed record PayoutBatchRecord(
    PayoutBatchId Id,
    MerchantId TenantId,
    DistributionId DistributionId,
    int BatchNumber,
    string IdempotencyKey,
    int TotalHolders,
    int SuccessfulPayments,
    int FailedPayments,
    Money Paid,
    string? TransactionId,
    DistributionStatus Status,
    string? ErrorMessage,
    LedgerTransactionId? LedgerTransactionId,
    Instant? ExecutedAt,
    Instant CreatedAt,
    Instant UpdatedAt)
{
    /// <summary>
    /// The executor's transaction id in full when <see cref="TransactionId"/> had to shorten it (each NUL or unpaired surrogate
    /// replaced by U+FFFD); otherwise null.
    /// </summary>
    public string? FullTransactionId { get; init; }

    /// <summary>
    /// Why the ledger posting of what this batch paid is outstanding (the ledger's code and message), when the ledger refused it
    /// after the executor had paid — e.g. <c>insufficient_funds</c>, the funding account drained after the run's check. The
    /// payment itself is recorded; the distribution's next run posts it before paying anyone else. Null once posted.
    /// </summary>
    public string? PostingError { get; init; }
}

/// <summary>How far a distribution run has come.</summary>
/// <param name="BatchNumber">The batch just recorded.</param>
/// <param name="BatchesRun">Batches recorded by this run.</param>
/// <param name="HoldersPaid">Holders this run paid.</param>
/// <param name="HoldersFailed">Holder payments this run saw fail (a retried holder counts each time).</param>
public readonly record struct PayoutProgress(int BatchNumber, int BatchesRun, long HoldersPaid, long HoldersFailed);
