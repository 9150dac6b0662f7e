using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

/// <summary>
/// The records a ledger operation writes, built from the accounts it read: the one piece of code the record path
/// (<see cref="LedgerService"/> over a unit of work) and a store's in-process fast path
/// (<see cref="InMemoryStore"/>, decision 0006) share, so both write the same records by construction.
/// </summary>
internal static class LedgerBooks
{
    /// <summary>
    /// The operation's timestamp: now, but never before a previous change of a touched account, so each
    /// account's entries are ordered in time as in sequence (balance-at-instant relies on it).
    /// </summary>
    public static Instant Timestamp(Instant now, ReadOnlySpan<TouchedAccount> accounts)
    {
        var at = now;
        foreach (var account in accounts)
        {
            if (account.Account.UpdatedAt > at)
            {
                at = account.Account.UpdatedAt;
            }
        }

        return at;
    }

    /// <summary>The index of an account among the touched ones, or -1.</summary>
    public static int IndexOf(ReadOnlySpan<TouchedAccount> accounts, LedgerAccountId accountId)
    {
        for (var i = 0; i < accounts.Length; i++)
        {
            if (accounts[i].Account.Id == accountId)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>A posted transaction (posted or reversal) as the record path writes it.</summary>
    public static LedgerTransaction Posted(
        LedgerTransactionId id,
        MerchantId tenantId,
        IReadOnlyList<LedgerPosting> postings,
        LedgerEntryType? entryType,
        string? reference,
        string? idempotencyKey,
        string? description,
        IReadOnlyDictionary<string, string> metadata,
        LedgerTransactionId? reverses,
        long referenceSequence,
        Instant at) =>
        new(id, tenantId, LedgerTransactionKind.Posted, postings, entryType, reference, idempotencyKey, description, metadata, reverses, null, referenceSequence, at);

    /// <summary>A pending transaction and the transfer it reserves.</summary>
    public static (LedgerTransaction Transaction, LedgerTransfer Transfer) Reservation(
        MerchantId tenantId, LedgerTransferId transferId, LedgerTransactionId transactionId, ReserveLedgerTransferRequest request, long referenceSequence, Instant at)
    {
        LedgerPosting[] postings = [LedgerPosting.Debit(request.DebitAccountId, request.Amount), LedgerPosting.Credit(request.CreditAccountId, request.Amount)];
        var transaction = new LedgerTransaction(
            transactionId,
            tenantId,
            LedgerTransactionKind.Pending,
            Array.AsReadOnly(postings),
            request.EntryType,
            request.Reference,
            request.IdempotencyKey,
            request.Description,
            request.Metadata!,
            null,
            transferId,
            referenceSequence,
            at);
        var zero = Money.Zero(request.Amount.Asset);
        var transfer = new LedgerTransfer(
            transferId,
            tenantId,
            request.DebitAccountId,
            request.CreditAccountId,
            request.Amount,
            LedgerTransferState.Pending,
            zero,
            zero,
            request.Timeout,
            request.Timeout is { } timeout ? at + timeout : null,
            request.EntryType,
            request.Reference,
            transactionId,
            null,
            at,
            null);
        return (transaction, transfer);
    }

    /// <summary>The transaction that posts (<paramref name="posted"/> of it), voids or expires a pending transfer, and the transfer resolved.</summary>
    public static (LedgerTransaction Transaction, LedgerTransfer Transfer) Resolution(
        LedgerTransfer transfer, LedgerTransactionId transactionId, LedgerTransferState state, Money posted, long referenceSequence, Instant at)
    {
        var (kind, type) = state switch
        {
            LedgerTransferState.Posted => (LedgerTransactionKind.PostPending, LedgerEntryType.Debit),
            LedgerTransferState.Voided => (LedgerTransactionKind.VoidPending, LedgerEntryType.Release),
            _ => (LedgerTransactionKind.ExpirePending, LedgerEntryType.Release),
        };
        var moved = state == LedgerTransferState.Posted ? posted : transfer.Amount;
        LedgerPosting[] postings = [LedgerPosting.Debit(transfer.DebitAccountId, moved), LedgerPosting.Credit(transfer.CreditAccountId, moved)];
        var transaction = new LedgerTransaction(
            transactionId,
            transfer.TenantId,
            kind,
            Array.AsReadOnly(postings),
            type,
            transfer.Reference,
            null,
            null,
            LedgerValidation.Metadata(null),
            null,
            transfer.Id,
            referenceSequence,
            at);
        var resolved = transfer with
        {
            State = state,
            PostedAmount = posted,
            ReleasedAmount = transfer.Amount - posted,
            ResolvingTransactionId = transaction.Id,
            ResolvedAt = at,
        };
        return (transaction, resolved);
    }

    /// <summary>The balance changes of a posted transaction's postings, one per posting.</summary>
    public static BalanceChange[] PostingChanges(IReadOnlyList<LedgerPosting> postings)
    {
        var changes = new BalanceChange[postings.Count];
        PostingChanges(postings, changes);
        return changes;
    }

    /// <summary>Writes the balance changes of a posted transaction's postings, one per posting, into <paramref name="changes"/>.</summary>
    public static void PostingChanges(IReadOnlyList<LedgerPosting> postings, Span<BalanceChange> changes)
    {
        Asset? zeroAsset = null;
        var zero = default(Money);
        for (var i = 0; i < postings.Count; i++)
        {
            var posting = postings[i];

            // One zero per run of the same asset instance: building a zero rounds and rescales.
            if (!ReferenceEquals(zeroAsset, posting.Amount.Asset))
            {
                zeroAsset = posting.Amount.Asset;
                zero = Money.Zero(zeroAsset);
            }

            changes[i] = new BalanceChange(posting.AccountId, posting.Side, posting.Amount, zero);
        }
    }

    /// <summary>The balance changes of a reservation: both pending sides up by the amount.</summary>
    public static (BalanceChange Debit, BalanceChange Credit) ReservationChanges(LedgerTransfer transfer)
    {
        var zero = transfer.PostedAmount; // nothing posted yet
        return (new BalanceChange(transfer.DebitAccountId, LedgerSide.Debit, zero, transfer.Amount),
            new BalanceChange(transfer.CreditAccountId, LedgerSide.Credit, zero, transfer.Amount));
    }

    /// <summary>The balance changes of a resolution: the whole reservation released, what was posted posted.</summary>
    public static (BalanceChange Debit, BalanceChange Credit) ResolutionChanges(LedgerTransfer resolved)
    {
        var release = -resolved.Amount;
        return (new BalanceChange(resolved.DebitAccountId, LedgerSide.Debit, resolved.PostedAmount, release),
            new BalanceChange(resolved.CreditAccountId, LedgerSide.Credit, resolved.PostedAmount, release));
    }

    /// <summary>
    /// Applies balance changes to the touched accounts (in place), recording the account as it stands after each change
    /// (its entry's running balances and sequence), then checks every touched account on its final balances.
    /// </summary>
    /// <param name="accounts">The touched accounts, updated in place.</param>
    /// <param name="changes">One change per entry.</param>
    /// <param name="at">The operation's timestamp (<see cref="Timestamp"/>).</param>
    /// <param name="after">Receives, per change, its account right after it; with the change, what <see cref="Entry"/> needs.</param>
    /// <returns>
    /// Null, or what the operation fails with: <c>insufficient_funds</c> for a flag it would break, or
    /// <c>concurrency_conflict</c> when it would release more than an account holds pending (the transfer and the
    /// account were read either side of a concurrent resolution: a lost race, so rerun on fresh reads).
    /// </returns>
    public static PaymentsKitException? Apply(Span<TouchedAccount> accounts, ReadOnlySpan<BalanceChange> changes, Instant at, Span<LedgerAccount> after)
    {
        for (var i = 0; i < changes.Length; i++)
        {
            var change = changes[i];
            ref var touched = ref accounts[IndexOf(accounts, change.AccountId)];
            var before = touched.Account;
            var sequence = before.EntryCount + 1;
            touched.Account = after[i] = change.Side == LedgerSide.Debit
                ? before with
                {
                    DebitsPosted = change.Posted.IsZero ? before.DebitsPosted : before.DebitsPosted + change.Posted,
                    DebitsPending = change.Pending.IsZero ? before.DebitsPending : before.DebitsPending + change.Pending,
                    EntryCount = sequence,
                    UpdatedAt = at,
                }
                : before with
                {
                    CreditsPosted = change.Posted.IsZero ? before.CreditsPosted : before.CreditsPosted + change.Posted,
                    CreditsPending = change.Pending.IsZero ? before.CreditsPending : before.CreditsPending + change.Pending,
                    EntryCount = sequence,
                    UpdatedAt = at,
                };
        }

        foreach (var touched in accounts)
        {
            var account = touched.Account;
            if (account.DebitsPending.IsNegative || account.CreditsPending.IsNegative)
            {
                return BufferedUnitOfWork.Conflict(LedgerCollections.Accounts.Name, account.Id.Value, touched.Version);
            }

            if (FlagViolation(account) is { } violation)
            {
                return violation;
            }
        }

        return null;
    }

    /// <summary>The entry a change writes: the account's <see cref="LedgerAccount.EntryCount"/>-th, with its balances after it.</summary>
    /// <param name="transaction">The transaction the entry belongs to.</param>
    /// <param name="after">The account right after the change (from <see cref="Apply"/>).</param>
    /// <param name="change">The change.</param>
    public static LedgerEntry Entry(LedgerTransaction transaction, LedgerAccount after, in BalanceChange change) =>
        new(LedgerCollections.EntryId(after.Id, after.EntryCount),
            transaction.TenantId,
            after.Id,
            after.EntryCount,
            transaction.Id,
            transaction.Kind,
            change.Side,
            change.Posted,
            change.Pending,
            transaction.EntryType,
            transaction.Reference,
            transaction.TransferId,
            transaction.CreatedAt,
            after.DebitsPosted,
            after.CreditsPosted,
            after.DebitsPending,
            after.CreditsPending,
            Chain(after));

    /// <summary>The chain an account's entries name: its asset's, else its <see cref="TreasuryWallet.ChainMetadataKey"/> metadata.</summary>
    public static string? Chain(LedgerAccount account) => account.Asset.Chain?.Value ?? account.Metadata.GetValueOrDefault(TreasuryWallet.ChainMetadataKey);

    private static PaymentsKitException? FlagViolation(LedgerAccount account)
    {
        if ((account.Flags & LedgerAccountFlags.DebitsMustNotExceedCredits) != 0
            && account.DebitsPosted + account.DebitsPending > account.CreditsPosted)
        {
            return InsufficientFunds(account, "debits", account.DebitsPosted + account.DebitsPending, "credits", account.CreditsPosted, "debits_must_not_exceed_credits");
        }

        if ((account.Flags & LedgerAccountFlags.CreditsMustNotExceedDebits) != 0
            && account.CreditsPosted + account.CreditsPending > account.DebitsPosted)
        {
            return InsufficientFunds(account, "credits", account.CreditsPosted + account.CreditsPending, "debits", account.DebitsPosted, "credits_must_not_exceed_debits");
        }

        return null;
    }

    private static PaymentsKitException InsufficientFunds(LedgerAccount account, string side, Money total, string otherSide, Money other, string flag) =>
        new(PaymentsKitErrorCodes.InsufficientFunds,
            $"Account {account.Id} ('{account.Code}') would have {side} of {total} (posted + pending) exceeding its posted {otherSide} of {other}; its flag {flag} forbids it.",
            new Dictionary<string, object?>
            {
                ["account"] = account.Id.ToString(),
                ["code"] = account.Code,
                ["flag"] = flag,
                ["total"] = total.ToString(),
                ["limit"] = other.ToString(),
            });
}

/// <summary>An account an operation touches: its balances as the operation goes, and the version it was read at.</summary>
/// <param name="account">The account as read.</param>
/// <param name="version">The version read.</param>
internal struct TouchedAccount(LedgerAccount account, long version)
{
    /// <summary>The account with the changes applied so far.</summary>
    public LedgerAccount Account = account;

    /// <summary>The version read, which the update must still find.</summary>
    public readonly long Version = version;
}

/// <summary>A change of one side of one account: posted and pending totals.</summary>
internal readonly record struct BalanceChange(LedgerAccountId AccountId, LedgerSide Side, Money Posted, Money Pending);
