using NodaTime;

namespace PaymentsKit.Ledger;

/// <summary>What <see cref="ILedger.ReconcileAsync"/> found: every difference between the stored projections and what the postings say.</summary>
/// <param name="TenantId">The tenant reconciled.</param>
/// <param name="CheckedAt">When the reconciliation ran.</param>
/// <param name="AccountsChecked">How many accounts were recomputed.</param>
/// <param name="EntriesChecked">How many account entries were summed.</param>
/// <param name="TransactionsChecked">How many transactions were checked for balance.</param>
/// <param name="Discrepancies">Every difference found; empty when the books agree.</param>
public sealed record LedgerReconciliationReport(
    MerchantId TenantId,
    Instant CheckedAt,
    int AccountsChecked,
    long EntriesChecked,
    long TransactionsChecked,
    IReadOnlyList<LedgerDiscrepancy> Discrepancies)
{
    /// <summary>Whether the stored balances equal the postings everywhere.</summary>
    public bool IsClean => Discrepancies.Count == 0;
}

/// <summary>One difference found by reconciliation.</summary>
/// <param name="Kind">What differs: one of the <c>LedgerDiscrepancy.*</c> constants.</param>
/// <param name="AccountId">The account concerned, if any.</param>
/// <param name="TransactionId">The transaction concerned, if any.</param>
/// <param name="Field">The balance or count that differs, e.g. <c>debits_posted</c>.</param>
/// <param name="Expected">What the postings say.</param>
/// <param name="Actual">What is stored.</param>
public sealed record LedgerDiscrepancy(
    string Kind,
    LedgerAccountId? AccountId,
    LedgerTransactionId? TransactionId,
    string Field,
    string Expected,
    string Actual)
{
    /// <summary>A stored account balance differs from the sum of the account's entries.</summary>
    public const string BalanceMismatch = "balance_mismatch";

    /// <summary>An account's entry count differs from the entries found, or an entry's running balance breaks the chain.</summary>
    public const string EntryMismatch = "entry_mismatch";

    /// <summary>A transaction's postings do not balance per asset.</summary>
    public const string UnbalancedTransaction = "unbalanced_transaction";

    /// <summary>An entry names a transaction that does not exist or does not contain its posting.</summary>
    public const string OrphanEntry = "orphan_entry";
}
