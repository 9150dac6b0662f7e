using NodaTime;

namespace PaymentsKit.Ledger;

/// <summary>One leg of a ledger transaction: an amount debited or credited to an account.</summary>
/// <param name="AccountId">The account.</param>
/// <param name="Side">Debit or credit.</param>
/// <param name="Amount">A positive amount in the account's asset.</param>
public sealed record LedgerPosting(LedgerAccountId AccountId, LedgerSide Side, Money Amount)
{
    /// <summary>A debit of <paramref name="amount"/> to <paramref name="accountId"/>.</summary>
    public static LedgerPosting Debit(LedgerAccountId accountId, Money amount) => new(accountId, LedgerSide.Debit, amount);

    /// <summary>A credit of <paramref name="amount"/> to <paramref name="accountId"/>.</summary>
    public static LedgerPosting Credit(LedgerAccountId accountId, Money amount) => new(accountId, LedgerSide.Credit, amount);
}

/// <summary>
/// A balanced, immutable set of postings: per asset, the debits equal the credits. Corrections are
/// new transactions (<see cref="ILedger.ReverseTransactionAsync(MerchantId, ReverseLedgerTransactionRequest, CancellationToken)"/>).
/// </summary>
/// <param name="Id">The transaction id.</param>
/// <param name="TenantId">The merchant whose ledger it belongs to.</param>
/// <param name="Kind">Whether it moves posted or pending balances.</param>
/// <param name="Postings">The postings, in request order.</param>
/// <param name="EntryType">What it means in business terms, if given.</param>
/// <param name="Reference">An external reference, e.g. a payment intent id.</param>
/// <param name="IdempotencyKey">The tenant-unique key it was requested with, if any.</param>
/// <param name="Description">A free-text description.</param>
/// <param name="Metadata">Host-defined key/value pairs.</param>
/// <param name="Reverses">The transaction this one reverses, if it is a reversal.</param>
/// <param name="TransferId">The two-phase transfer it reserves or resolves, if any.</param>
/// <param name="ReferenceSequence">Its 1-based position among the tenant's transactions with the same <paramref name="Reference"/>; 0 without one.</param>
/// <param name="CreatedAt">When it was written; never earlier than a previous change of any account it touches.</param>
public sealed record LedgerTransaction(
    LedgerTransactionId Id,
    MerchantId TenantId,
    LedgerTransactionKind Kind,
    IReadOnlyList<LedgerPosting> Postings,
    LedgerEntryType? EntryType,
    string? Reference,
    string? IdempotencyKey,
    string? Description,
    IReadOnlyDictionary<string, string> Metadata,
    LedgerTransactionId? Reverses,
    LedgerTransferId? TransferId,
    long ReferenceSequence,
    Instant CreatedAt);

/// <summary>Posts a balanced transaction.</summary>
/// <param name="Postings">1–256 postings; per asset the debits must equal the credits.</param>
public sealed record PostLedgerTransactionRequest(IReadOnlyList<LedgerPosting> Postings)
{
    /// <summary>What the transaction means in business terms.</summary>
    public LedgerEntryType? EntryType { get; init; }

    /// <summary>An external reference (1–128 characters), e.g. a payment intent id; many transactions may share one.</summary>
    public string? Reference { get; init; }

    /// <summary>
    /// A tenant-unique key (1–255 characters): repeating the request with it returns the original
    /// transaction; reusing it for a different request is <c>idempotency_conflict</c>.
    /// </summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>A free-text description, up to 1000 characters.</summary>
    public string? Description { get; init; }

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>Reverses a posted transaction with a new one that swaps every posting's side.</summary>
/// <param name="TransactionId">The transaction to reverse; a transaction can be reversed once.</param>
public sealed record ReverseLedgerTransactionRequest(LedgerTransactionId TransactionId)
{
    /// <summary>What the reversal means in business terms (e.g. <see cref="LedgerEntryType.Refund"/>); defaults to the original's.</summary>
    public LedgerEntryType? EntryType { get; init; }

    /// <summary>A free-text description, up to 1000 characters.</summary>
    public string? Description { get; init; }

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>
/// One posting as it landed on one account: the account's <see cref="Sequence"/>-th change, what it
/// changed, and the account's balances right after it. Immutable.
/// </summary>
/// <param name="Id">The entry id (derived from the account and the sequence).</param>
/// <param name="TenantId">The merchant whose ledger it belongs to.</param>
/// <param name="AccountId">The account.</param>
/// <param name="Sequence">1 for the account's first entry, then consecutive.</param>
/// <param name="TransactionId">The transaction it belongs to.</param>
/// <param name="Kind">The transaction's kind.</param>
/// <param name="Side">The side of the account that changed.</param>
/// <param name="PostedChange">The change of the posted total on <paramref name="Side"/> (zero or positive).</param>
/// <param name="PendingChange">The change of the pending total on <paramref name="Side"/> (negative when a reservation is released).</param>
/// <param name="EntryType">The transaction's business meaning, if any.</param>
/// <param name="Reference">The transaction's reference, if any.</param>
/// <param name="TransferId">The two-phase transfer involved, if any.</param>
/// <param name="At">When it was written; entries of one account never go back in time.</param>
/// <param name="DebitsPosted">The account's posted debits after this entry.</param>
/// <param name="CreditsPosted">The account's posted credits after this entry.</param>
/// <param name="DebitsPending">The account's pending debits after this entry.</param>
/// <param name="CreditsPending">The account's pending credits after this entry.</param>
/// <param name="Chain">The chain of the account's asset, else the account's <see cref="TreasuryWallet.ChainMetadataKey"/> metadata, if any.</param>
public sealed record LedgerEntry(
    Guid Id,
    MerchantId TenantId,
    LedgerAccountId AccountId,
    long Sequence,
    LedgerTransactionId TransactionId,
    LedgerTransactionKind Kind,
    LedgerSide Side,
    Money PostedChange,
    Money PendingChange,
    LedgerEntryType? EntryType,
    string? Reference,
    LedgerTransferId? TransferId,
    Instant At,
    Money DebitsPosted,
    Money CreditsPosted,
    Money DebitsPending,
    Money CreditsPending,
    string? Chain);
