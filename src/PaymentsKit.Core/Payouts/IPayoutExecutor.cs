namespace PaymentsKit.Payouts;

/// <summary>
/// Pays one batch of holders on a chain (a Hedera transfer of up to 9 credits and the payer's debit, a payout
/// contract call, …). Implementations sign through the host's custody; PaymentsKit never holds keys.
/// </summary>
/// <remarks>
/// <para><b>Idempotency contract.</b> A batch may be executed again under the same
/// <see cref="PayoutBatchRequest.IdempotencyKey"/> after a crash left its outcome unknown. The executor must
/// then not pay anyone a second time: it returns the first execution's outcome (or, if the first never took
/// effect, executes it now). Hedera does this with a transaction id chosen before submission (a duplicate is
/// rejected and the receipt of the first is read), contract payouts with a nonce or batch id the contract records.</para>
/// <para>Returning a result is a definitive verdict: holders not listed as failed were paid, the listed ones were
/// not; accounts it lists that the batch does not pay are noted on the batch record and do not void it. Throwing means the outcome is unknown; the holders stay submitted and the batch is re-executed under the
/// same key when the distribution runs again.</para>
/// </remarks>
public interface IPayoutExecutor
{
    /// <summary>
    /// The most holders one batch may pay on this executor's chain (Hedera 9, contract payouts 100); at least 1, and
    /// <see cref="int.MaxValue"/> for an executor without a limit.
    /// </summary>
    int MaxTransfersPerBatch { get; }

    /// <summary>Pays the batch, or returns the outcome of the earlier execution under the same key.</summary>
    ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default);
}

/// <summary>One batch to pay.</summary>
/// <param name="IdempotencyKey">Unique per (distribution, batch number); the same on every execution of the batch.</param>
/// <param name="TenantId">The issuer.</param>
/// <param name="DistributionId">The distribution.</param>
/// <param name="BatchNumber">The batch's number within the distribution.</param>
/// <param name="TokenId">The asset token whose holders are paid.</param>
/// <param name="PaymentTokenId">The chain's id of the token paid with, if the asset names one.</param>
/// <param name="PaymentAsset">The asset amounts are counted in; amounts are in its smallest unit.</param>
/// <param name="Transfers">The holders and amounts, in account order; each account once, each amount positive.</param>
public sealed record PayoutBatchRequest(
    string IdempotencyKey,
    MerchantId TenantId,
    DistributionId DistributionId,
    int BatchNumber,
    string TokenId,
    string? PaymentTokenId,
    Asset PaymentAsset,
    IReadOnlyList<PayoutTransfer> Transfers)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueList<PayoutTransfer> _transfers = ValueList<PayoutTransfer>.Of(Transfers);

    /// <summary>The holders and amounts, in account order; each account once, each amount positive. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<PayoutTransfer> Transfers
    {
        get => _transfers;
        init => _transfers = ValueList<PayoutTransfer>.Of(value);
    }
}

/// <summary>A batch's definitive outcome.</summary>
/// <param name="TransactionId">
/// The chain transaction that carried the batch, if one was submitted. Kept as it is up to 200 characters without NUL or
/// unpaired surrogates; a longer or unstorable id is still recorded, shortened with its hash (see <see cref="PayoutBatchRecord.FullTransactionId"/>).
/// </param>
/// <param name="FailedAccounts">The holders not paid and why; every other holder of the batch was paid.</param>
public sealed record PayoutBatchResult(string? TransactionId, IReadOnlyDictionary<string, string> FailedAccounts)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueDictionary<string, string> _failedAccounts = ValueDictionary<string, string>.Of(FailedAccounts);

    /// <summary>The holders not paid and why; every other holder of the batch was paid. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string> FailedAccounts
    {
        get => _failedAccounts;
        init => _failedAccounts = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>Every holder paid by <paramref name="transactionId"/>.</summary>
    public static PayoutBatchResult Succeeded(string transactionId) => new(transactionId, new Dictionary<string, string>());

    /// <summary>The whole batch failed (e.g. an atomic transfer was rejected): nobody was paid.</summary>
    public static PayoutBatchResult AllFailed(PayoutBatchRequest request, string? transactionId, string error)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new(transactionId, request.Transfers.ToDictionary(t => t.AccountId, _ => error, StringComparer.Ordinal));
    }
}
