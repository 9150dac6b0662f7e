using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Orchestration;

/// <summary>
/// Posts orchestration money movements to the partner's books in the <see cref="ILedger"/> (the
/// partner's id is its ledger tenant), one currency per account:
/// a completed charge debits <c>orch:{provider}:clearing:{CCY}</c> (what the provider owes) and
/// credits <c>orch:sales:{CCY}</c>; a completed refund debits <c>orch:refunds:{CCY}</c> (contra-revenue)
/// and credits the provider's clearing account. Each posting carries an idempotency key derived
/// from the transaction or refund id, so it exists at most once even if a caller retried.
/// </summary>
internal sealed class OrchestrationLedger(ILedger ledger) : IOrchestrationLedger
{
    public async ValueTask PostChargeAsync(IUnitOfWork unit, PaymentTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        var tenant = MerchantId.FromGuid(transaction.PartnerId.Value);
        var clearing = await AccountAsync(tenant, ClearingCode(transaction), transaction.Amount.Asset, LedgerSide.Debit, cancellationToken).ConfigureAwait(false);
        var sales = await AccountAsync(tenant, "orch:sales:" + transaction.Amount.Asset.Code, transaction.Amount.Asset, LedgerSide.Credit, cancellationToken).ConfigureAwait(false);
        await ledger.PostTransactionAsync(
            unit,
            tenant,
            new PostLedgerTransactionRequest([LedgerPosting.Debit(clearing, transaction.Amount), LedgerPosting.Credit(sales, transaction.Amount)])
            {
                EntryType = LedgerEntryType.Debit,
                Reference = transaction.Id.ToString(),
                IdempotencyKey = "orch:charge:" + transaction.Id,
                Description = "Charge " + transaction.Id,
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask PostRefundAsync(IUnitOfWork unit, PaymentTransaction transaction, Refund refund, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(refund);
        var tenant = MerchantId.FromGuid(transaction.PartnerId.Value);
        var refunds = await AccountAsync(tenant, "orch:refunds:" + refund.Amount.Asset.Code, refund.Amount.Asset, LedgerSide.Debit, cancellationToken).ConfigureAwait(false);
        var clearing = await AccountAsync(tenant, ClearingCode(transaction), refund.Amount.Asset, LedgerSide.Debit, cancellationToken).ConfigureAwait(false);
        await ledger.PostTransactionAsync(
            unit,
            tenant,
            new PostLedgerTransactionRequest([LedgerPosting.Debit(refunds, refund.Amount), LedgerPosting.Credit(clearing, refund.Amount)])
            {
                EntryType = LedgerEntryType.Refund,
                Reference = transaction.Id.ToString(),
                IdempotencyKey = "orch:refund:" + refund.Id,
                Description = "Refund " + refund.Id,
            },
            cancellationToken).ConfigureAwait(false);
    }

    private static string ClearingCode(PaymentTransaction transaction) =>
        $"orch:{OrchestrationRules.Name(transaction.Provider)}:clearing:{transaction.Amount.Asset.Code}";

    /// <summary>
    /// Finds or opens an account. Opening commits on its own (an empty account is harmless if the
    /// caller's unit then fails), so two first postings racing never fail each other's unit on the
    /// account code.
    /// </summary>
    private async ValueTask<LedgerAccountId> AccountAsync(MerchantId tenant, string code, Asset asset, LedgerSide side, CancellationToken cancellationToken)
    {
        if (await ledger.FindAccountByCodeAsync(tenant, code, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            return existing.Id;
        }

        try
        {
            return (await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest(code, code, asset, side), cancellationToken).ConfigureAwait(false)).Id;
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
        {
            return (await ledger.FindAccountByCodeAsync(tenant, code, cancellationToken).ConfigureAwait(false))!.Id;
        }
    }
}
