using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

/// <summary>
/// The double-entry ledger every module writes to. Each write is one unit of work that updates the
/// touched accounts' balances (optimistically versioned), inserts the transaction, one entry per
/// posting and, for two-phase transfers, the transfer: all of it or nothing. Every operation is
/// scoped to a tenant (merchant); another tenant's accounts and records behave as if absent.
/// </summary>
/// <remarks>
/// The overloads taking an <see cref="IUnitOfWork"/> buffer their writes into the caller's unit so a
/// module can post in the same commit as its own state change; they validate everything before
/// buffering anything, so a failure leaves the unit as it was. The caller commits and, on
/// <c>concurrency_conflict</c>, reruns the whole operation (<see cref="PaymentsStoreExtensions.ExecuteAsync"/>).
/// Errors (<see cref="PaymentsKitException.Code"/>): <c>invalid_argument</c>, <c>amount_out_of_range</c>
/// (zero or negative amounts), <c>amount_precision</c>, <c>asset_mismatch</c>, <c>not_found</c> (unknown
/// or foreign-tenant accounts, transactions, transfers), <c>unbalanced_transaction</c>,
/// <c>insufficient_funds</c> (an account flag would be broken), <c>idempotency_conflict</c>,
/// <c>duplicate_key</c> (account code taken), <c>already_reversed</c>, <c>already_resolved</c>,
/// <c>exceeds_pending_amount</c>, <c>expired</c>.
/// </remarks>
public interface ILedger
{
    /// <summary>Opens an account with zero balances.</summary>
    ValueTask<LedgerAccount> CreateAccountAsync(MerchantId tenantId, CreateLedgerAccountRequest request, CancellationToken cancellationToken = default);

    /// <summary>Opens an account within the caller's unit of work.</summary>
    ValueTask<LedgerAccount> CreateAccountAsync(IUnitOfWork unit, MerchantId tenantId, CreateLedgerAccountRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads an account with its current balances.</summary>
    ValueTask<LedgerAccount> GetAccountAsync(MerchantId tenantId, LedgerAccountId accountId, CancellationToken cancellationToken = default);

    /// <summary>Finds an account by its code; null if the tenant has none with it.</summary>
    ValueTask<LedgerAccount?> FindAccountByCodeAsync(MerchantId tenantId, string code, CancellationToken cancellationToken = default);

    /// <summary>Lists the tenant's accounts in creation order.</summary>
    ValueTask<Page<LedgerAccount>> ListAccountsAsync(MerchantId tenantId, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>An account's balances now, or as they were at <paramref name="at"/> (all entries written at or before it).</summary>
    ValueTask<LedgerBalance> GetBalanceAsync(MerchantId tenantId, LedgerAccountId accountId, Instant? at = null, CancellationToken cancellationToken = default);

    /// <summary>An account's entries, oldest first, a page at a time.</summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="accountId">The account.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>, or null for the first page.</param>
    /// <param name="limit">1–1000 entries.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<Page<LedgerEntry>> ListEntriesAsync(MerchantId tenantId, LedgerAccountId accountId, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>Posts a balanced transaction (retrying lost races), or returns the original for a repeated idempotency key.</summary>
    ValueTask<LedgerTransaction> PostTransactionAsync(MerchantId tenantId, PostLedgerTransactionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Posts a balanced transaction within the caller's unit of work.</summary>
    ValueTask<LedgerTransaction> PostTransactionAsync(IUnitOfWork unit, MerchantId tenantId, PostLedgerTransactionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reverses a posted transaction once, with a new transaction that swaps every posting's side.</summary>
    ValueTask<LedgerTransaction> ReverseTransactionAsync(MerchantId tenantId, ReverseLedgerTransactionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reverses a posted transaction within the caller's unit of work.</summary>
    ValueTask<LedgerTransaction> ReverseTransactionAsync(IUnitOfWork unit, MerchantId tenantId, ReverseLedgerTransactionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a transaction.</summary>
    ValueTask<LedgerTransaction> GetTransactionAsync(MerchantId tenantId, LedgerTransactionId transactionId, CancellationToken cancellationToken = default);

    /// <summary>The transactions carrying a reference (e.g. a payment intent id), oldest first, a page at a time.</summary>
    ValueTask<Page<LedgerTransaction>> ListTransactionsByReferenceAsync(MerchantId tenantId, string reference, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>Reserves an amount as a pending two-phase transfer, or returns the original for a repeated idempotency key.</summary>
    ValueTask<LedgerTransfer> ReserveAsync(MerchantId tenantId, ReserveLedgerTransferRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reserves within the caller's unit of work.</summary>
    ValueTask<LedgerTransfer> ReserveAsync(IUnitOfWork unit, MerchantId tenantId, ReserveLedgerTransferRequest request, CancellationToken cancellationToken = default);

    /// <summary>Posts a pending transfer: <paramref name="amount"/> (all of it when null) is posted, the rest released.</summary>
    ValueTask<LedgerTransfer> PostTransferAsync(MerchantId tenantId, LedgerTransferId transferId, Money? amount = null, CancellationToken cancellationToken = default);

    /// <summary>Posts a pending transfer within the caller's unit of work.</summary>
    ValueTask<LedgerTransfer> PostTransferAsync(IUnitOfWork unit, MerchantId tenantId, LedgerTransferId transferId, Money? amount = null, CancellationToken cancellationToken = default);

    /// <summary>Voids a pending transfer, releasing all of it.</summary>
    ValueTask<LedgerTransfer> VoidTransferAsync(MerchantId tenantId, LedgerTransferId transferId, CancellationToken cancellationToken = default);

    /// <summary>Voids a pending transfer within the caller's unit of work.</summary>
    ValueTask<LedgerTransfer> VoidTransferAsync(IUnitOfWork unit, MerchantId tenantId, LedgerTransferId transferId, CancellationToken cancellationToken = default);

    /// <summary>Reads a transfer.</summary>
    ValueTask<LedgerTransfer> GetTransferAsync(MerchantId tenantId, LedgerTransferId transferId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Expires every pending transfer, of any tenant, whose deadline is at or before <paramref name="now"/> and the
    /// service's clock, releasing its amount; each in its own unit of work. Safe to run concurrently and repeatedly.
    /// A reservation committed more than about a minute after its deadline may be left to a later call, within about
    /// 10 minutes by the clock (docs/ledger.md).
    /// </summary>
    /// <param name="now">The sweep's notion of now (usually the clock's); a later one than the clock's counts as the clock's, so no hold is released before its timeout.</param>
    /// <param name="limit">The most transfers to expire in this call (1–10000).</param>
    /// <param name="cancellationToken">Cancels the sweep between transfers.</param>
    /// <returns>The transfers this call expired.</returns>
    ValueTask<IReadOnlyList<LedgerTransfer>> ExpireDueAsync(Instant now, int limit = 1000, CancellationToken cancellationToken = default);

    /// <summary>
    /// Recomputes every account balance of the tenant from its entries, checks the entry chains and
    /// that every transaction balances, and reports each difference. Consistent under concurrent
    /// writes: each account is compared with exactly the entries its read version includes.
    /// </summary>
    ValueTask<LedgerReconciliationReport> ReconcileAsync(MerchantId tenantId, CancellationToken cancellationToken = default);

    /// <summary>The treasury wallet view of an account.</summary>
    ValueTask<TreasuryWallet> GetTreasuryWalletAsync(MerchantId tenantId, LedgerAccountId accountId, CancellationToken cancellationToken = default);
}
