using NodaTime;

namespace PaymentsKit.Ledger;

/// <summary>
/// A store's one-step path for the standalone ledger writes (decision 0005): the whole balanced
/// transaction, reservation, post or void in one call, writing exactly the rows the record path writes. It covers
/// the common case only; a call answers null, having written nothing, for anything else (unknown or
/// foreign rows, a rule the operation would break, a resolved or expired transfer, a reference), and
/// the ledger then runs the operation on the record path, which gives the error or handles the case.
/// </summary>
internal interface ILedgerFastPath
{
    /// <summary>Posts as <see cref="LedgerService.PostTransactionAsync(MerchantId, PostLedgerTransactionRequest, CancellationToken)"/> would, or null.</summary>
    /// <param name="transaction">A validated, balanced request in one registered asset, without reference or idempotency key.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<LedgerTransaction?> TryPostAsync(LedgerFastTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Reserves as <see cref="LedgerService.ReserveAsync(MerchantId, ReserveLedgerTransferRequest, CancellationToken)"/> would, or null.</summary>
    /// <param name="reservation">A validated request without timeout, reference or idempotency key, in a registered asset.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<LedgerTransfer?> TryReserveAsync(LedgerFastReservation reservation, CancellationToken cancellationToken);

    /// <summary>Posts or voids a pending transfer as the record path would, or null.</summary>
    /// <param name="resolution">The transfer and how to resolve it.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<LedgerTransfer?> TryResolveAsync(LedgerFastResolution resolution, CancellationToken cancellationToken);
}

/// <summary>A balanced transaction for <see cref="ILedgerFastPath.TryPostAsync"/>, with the id and instant the ledger chose.</summary>
internal readonly record struct LedgerFastTransaction(
    MerchantId TenantId,
    LedgerTransactionId TransactionId,
    PostLedgerTransactionRequest Request,
    Instant Now)
{
    /// <summary>The transaction as written, at the instant the store chose (now, or a touched account's later last change).</summary>
    public LedgerTransaction Posted(Instant at) =>
        LedgerBooks.Posted(TransactionId, TenantId, Request.Postings, Request.EntryType, null, null, Request.Description, Request.Metadata!, null, 0, at);
}

/// <summary>A reservation for <see cref="ILedgerFastPath.TryReserveAsync"/>, with the ids and instant the ledger chose.</summary>
internal readonly record struct LedgerFastReservation(
    MerchantId TenantId,
    LedgerTransferId TransferId,
    LedgerTransactionId TransactionId,
    ReserveLedgerTransferRequest Request,
    Instant Now);

/// <summary>A post or void for <see cref="ILedgerFastPath.TryResolveAsync"/>.</summary>
/// <param name="TenantId">The tenant.</param>
/// <param name="TransferId">The pending transfer.</param>
/// <param name="TransactionId">The id for the resolving transaction.</param>
/// <param name="Void">Void it (release all) rather than post.</param>
/// <param name="Amount">What to post; all of it when null.</param>
/// <param name="Assets">The registered assets, whose chains the entries name.</param>
/// <param name="Now">The ledger clock's now (expiry and timestamps).</param>
internal readonly record struct LedgerFastResolution(
    MerchantId TenantId,
    LedgerTransferId TransferId,
    LedgerTransactionId TransactionId,
    bool Void,
    Money? Amount,
    IReadOnlyList<Asset> Assets,
    Instant Now);
