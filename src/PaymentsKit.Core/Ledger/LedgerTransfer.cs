using NodaTime;

namespace PaymentsKit.Ledger;

/// <summary>
/// A two-phase transfer (TigerBeetle semantics): <see cref="ILedger.ReserveAsync(MerchantId, ReserveLedgerTransferRequest, CancellationToken)"/>
/// holds <see cref="Amount"/> in the accounts' pending balances; it is then resolved exactly once, by
/// posting all or part of it (the rest is released), by voiding it, or by expiring when its timeout passes.
/// </summary>
/// <param name="Id">The transfer id.</param>
/// <param name="TenantId">The merchant whose ledger it belongs to.</param>
/// <param name="DebitAccountId">The account debited.</param>
/// <param name="CreditAccountId">The account credited.</param>
/// <param name="Amount">The reserved amount.</param>
/// <param name="State">Pending until resolved.</param>
/// <param name="PostedAmount">How much was posted (zero unless <see cref="LedgerTransferState.Posted"/>).</param>
/// <param name="ReleasedAmount">How much was released by a partial post, a void or expiry.</param>
/// <param name="Timeout">How long the reservation may stay pending, if limited.</param>
/// <param name="ExpiresAt">When the reservation expires, if it has a timeout.</param>
/// <param name="EntryType">The business meaning of the reservation.</param>
/// <param name="Reference">An external reference, e.g. a payment intent id.</param>
/// <param name="PendingTransactionId">The transaction that reserved the amount.</param>
/// <param name="ResolvingTransactionId">The transaction that posted, voided or expired it.</param>
/// <param name="CreatedAt">When it was reserved.</param>
/// <param name="ResolvedAt">When it was resolved.</param>
public sealed record LedgerTransfer(
    LedgerTransferId Id,
    MerchantId TenantId,
    LedgerAccountId DebitAccountId,
    LedgerAccountId CreditAccountId,
    Money Amount,
    LedgerTransferState State,
    Money PostedAmount,
    Money ReleasedAmount,
    Duration? Timeout,
    Instant? ExpiresAt,
    LedgerEntryType? EntryType,
    string? Reference,
    LedgerTransactionId PendingTransactionId,
    LedgerTransactionId? ResolvingTransactionId,
    Instant CreatedAt,
    Instant? ResolvedAt);

/// <summary>Reserves an amount as a pending two-phase transfer.</summary>
/// <param name="DebitAccountId">The account to debit when posted; with <see cref="LedgerAccountFlags.DebitsMustNotExceedCredits"/> its available balance must cover the amount.</param>
/// <param name="CreditAccountId">The account to credit when posted; different from <paramref name="DebitAccountId"/>.</param>
/// <param name="Amount">A positive amount in both accounts' asset.</param>
public sealed record ReserveLedgerTransferRequest(LedgerAccountId DebitAccountId, LedgerAccountId CreditAccountId, Money Amount)
{
    /// <summary>How long the reservation may stay pending (positive, at most 366 days); unlimited when null.</summary>
    public Duration? Timeout { get; init; }

    /// <summary>The business meaning; <see cref="LedgerEntryType.Reserve"/> when null.</summary>
    public LedgerEntryType? EntryType { get; init; }

    /// <summary>An external reference (1–128 characters), e.g. a payment intent id.</summary>
    public string? Reference { get; init; }

    /// <summary>
    /// A tenant-unique key (1–255 characters), shared with transaction keys: repeating the request
    /// returns the original transfer; reusing it for a different request is <c>idempotency_conflict</c>.
    /// </summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>A free-text description, up to 1000 characters.</summary>
    public string? Description { get; init; }

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}
