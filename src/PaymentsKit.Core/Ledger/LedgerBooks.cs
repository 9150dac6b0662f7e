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
            if (account.Balances.UpdatedAt > at)
            {
                at = account.Balances.UpdatedAt;
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
        return (transaction, ReservedTransfer(tenantId, transferId, transactionId, request, at));
    }

    /// <summary>The pending transfer a reservation writes (the transfer half of <see cref="Reservation"/>).</summary>
    public static LedgerTransfer ReservedTransfer(
        MerchantId tenantId, LedgerTransferId transferId, LedgerTransactionId transactionId, ReserveLedgerTransferRequest request, Instant at)
    {
        var zero = Money.Zero(request.Amount.Asset);
        return new LedgerTransfer(
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
        for (var i = 0; i < postings.Count; i++)
        {
            var posting = postings[i];
            changes[i] = new BalanceChange(posting.AccountId, posting.Side, posting.Amount, Money.Zero(posting.Amount.Asset));
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
    /// Applies balance changes to the touched accounts' running balances (in place), recording the balances right after
    /// each change (its entry's running balances and sequence), then checks every touched account on its final balances.
    /// </summary>
    /// <param name="accounts">The touched accounts, whose <see cref="TouchedAccount.Balances"/> are updated in place.</param>
    /// <param name="changes">One change per entry.</param>
    /// <param name="at">The operation's timestamp (<see cref="Timestamp"/>).</param>
    /// <param name="after">Receives, per change, its account's balances right after it; with the change, what <see cref="Entry"/> needs.</param>
    /// <returns>
    /// Null, or what the operation fails with: <c>insufficient_funds</c> for a flag it would break, or
    /// <c>concurrency_conflict</c> when it would release more than an account holds pending (the transfer and the
    /// account were read either side of a concurrent resolution: a lost race, so rerun on fresh reads).
    /// </returns>
    public static PaymentsKitException? Apply(Span<TouchedAccount> accounts, ReadOnlySpan<BalanceChange> changes, Instant at, Span<RunningBalances> after)
    {
        try
        {
            return ApplyChecked(accounts, changes, at, after);
        }
        catch (OverflowException ex)
        {
            return Money.Overflow(ex, "an account's balances", changes[0].Posted.Asset);
        }
    }

    private static PaymentsKitException? ApplyChecked(Span<TouchedAccount> accounts, ReadOnlySpan<BalanceChange> changes, Instant at, Span<RunningBalances> after)
    {
        for (var i = 0; i < changes.Length; i++)
        {
            var change = changes[i];
            ref var balances = ref accounts[IndexOf(accounts, change.AccountId)].Balances;
            var scale = change.Posted.Asset.Scale;
            if (change.Side == LedgerSide.Debit)
            {
                balances.DebitsPosted = Add(balances.DebitsPosted, change.Posted.Amount, scale);
                balances.DebitsPending = Add(balances.DebitsPending, change.Pending.Amount, scale);
            }
            else
            {
                balances.CreditsPosted = Add(balances.CreditsPosted, change.Posted.Amount, scale);
                balances.CreditsPending = Add(balances.CreditsPending, change.Pending.Amount, scale);
            }

            balances.EntryCount++;
            balances.UpdatedAt = at;
            after[i] = balances;
        }

        foreach (ref readonly var touched in accounts)
        {
            ref readonly var balances = ref touched.Balances;
            if (balances.DebitsPending < 0m || balances.CreditsPending < 0m)
            {
                return BufferedUnitOfWork.Conflict(LedgerCollections.Accounts.Name, touched.Account.Id.Value, touched.Version);
            }

            if (FlagViolation(touched.Account, balances) is { } violation)
            {
                return violation;
            }
        }

        return null;
    }

    /// <summary>
    /// The sum of two amounts at an asset's scale. A decimal sum too large to keep that many decimal places comes back
    /// with fewer: that is an overflow, as adding the amounts as <see cref="Money"/> would report it.
    /// </summary>
    internal static decimal Add(decimal balance, decimal change, int scale)
    {
        if (decimal.Sign(change) == 0)
        {
            return balance;
        }

        var sum = balance + change;
        return sum.Scale == scale ? sum : throw new OverflowException();
    }

    /// <summary>The entry a change writes: the account's <see cref="RunningBalances.EntryCount"/>-th, with its balances after it.</summary>
    /// <param name="transaction">The transaction the entry belongs to.</param>
    /// <param name="account">The account the change is to.</param>
    /// <param name="after">The account's balances right after the change (from <see cref="Apply"/>).</param>
    /// <param name="change">The change.</param>
    public static LedgerEntry Entry(LedgerTransaction transaction, LedgerAccount account, in RunningBalances after, in BalanceChange change)
    {
        var asset = account.Asset;
        return new(LedgerCollections.EntryId(account.Id, after.EntryCount),
            transaction.TenantId,
            account.Id,
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
            Money.Exact(after.DebitsPosted, asset),
            Money.Exact(after.CreditsPosted, asset),
            Money.Exact(after.DebitsPending, asset),
            Money.Exact(after.CreditsPending, asset),
            Chain(account));
    }

    /// <summary>The chain an account's entries name: its asset's, else its <see cref="TreasuryWallet.ChainMetadataKey"/> metadata.</summary>
    public static string? Chain(LedgerAccount account) => account.Asset.Chain?.Value ?? account.Metadata.GetValueOrDefault(TreasuryWallet.ChainMetadataKey);

    private static PaymentsKitException? FlagViolation(LedgerAccount account, in RunningBalances balances)
    {
        if ((account.Flags & LedgerAccountFlags.DebitsMustNotExceedCredits) != 0
            && balances.DebitsPosted + balances.DebitsPending > balances.CreditsPosted)
        {
            return InsufficientFunds(account, "debits", balances.DebitsPosted + balances.DebitsPending, "credits", balances.CreditsPosted, "debits_must_not_exceed_credits");
        }

        if ((account.Flags & LedgerAccountFlags.CreditsMustNotExceedDebits) != 0
            && balances.CreditsPosted + balances.CreditsPending > balances.DebitsPosted)
        {
            return InsufficientFunds(account, "credits", balances.CreditsPosted + balances.CreditsPending, "debits", balances.DebitsPosted, "credits_must_not_exceed_debits");
        }

        return null;
    }

    private static PaymentsKitException InsufficientFunds(LedgerAccount account, string side, decimal totalAmount, string otherSide, decimal otherAmount, string flag)
    {
        var total = Money.Exact(totalAmount, account.Asset);
        var other = Money.Exact(otherAmount, account.Asset);
        return new(PaymentsKitErrorCodes.InsufficientFunds,
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
}

/// <summary>
/// An account's running balances, entry count and last change: the parts of an account a ledger operation changes, as
/// plain decimals (each in the account's asset and scale) so an operation changes them in place, building no amounts
/// and no account copies on the way.
/// </summary>
internal struct RunningBalances
{
    /// <summary>The sum of posted debits.</summary>
    public decimal DebitsPosted;

    /// <summary>The sum of posted credits.</summary>
    public decimal CreditsPosted;

    /// <summary>The sum of pending debits.</summary>
    public decimal DebitsPending;

    /// <summary>The sum of pending credits.</summary>
    public decimal CreditsPending;

    /// <summary>How many entries the account has.</summary>
    public long EntryCount;

    /// <summary>When the balances last changed.</summary>
    public Instant UpdatedAt;

    /// <summary>An account's balances as recorded.</summary>
    public static RunningBalances Of(LedgerAccount account) => new()
    {
        DebitsPosted = account.DebitsPosted.Amount,
        CreditsPosted = account.CreditsPosted.Amount,
        DebitsPending = account.DebitsPending.Amount,
        CreditsPending = account.CreditsPending.Amount,
        EntryCount = account.EntryCount,
        UpdatedAt = account.UpdatedAt,
    };

    /// <summary>The account with these balances.</summary>
    public readonly LedgerAccount ApplyTo(LedgerAccount account)
    {
        var asset = account.Asset;
        return account with
        {
            DebitsPosted = Money.Exact(DebitsPosted, asset),
            CreditsPosted = Money.Exact(CreditsPosted, asset),
            DebitsPending = Money.Exact(DebitsPending, asset),
            CreditsPending = Money.Exact(CreditsPending, asset),
            EntryCount = EntryCount,
            UpdatedAt = UpdatedAt,
        };
    }
}

/// <summary>An account an operation touches: what it is, its running balances as the operation goes, and the version read.</summary>
internal struct TouchedAccount
{
    /// <summary>The account as read: its id, tenant, asset, flags and metadata. Its balances may be older than <see cref="Balances"/>.</summary>
    public readonly LedgerAccount Account;

    /// <summary>The version read, which the update must still find.</summary>
    public readonly long Version;

    /// <summary>The balances with the changes applied so far.</summary>
    public RunningBalances Balances;

    /// <summary>An account as read, with its recorded balances.</summary>
    /// <param name="account">The account.</param>
    /// <param name="version">The version read.</param>
    public TouchedAccount(LedgerAccount account, long version)
        : this(account, RunningBalances.Of(account), version)
    {
    }

    /// <summary>An account whose current balances are kept apart from its record (the in-memory store's live accounts).</summary>
    /// <param name="account">The account's record; only what never changes is read from it.</param>
    /// <param name="balances">Its current balances.</param>
    /// <param name="version">The version read.</param>
    public TouchedAccount(LedgerAccount account, in RunningBalances balances, long version)
    {
        Account = account;
        Balances = balances;
        Version = version;
    }

    /// <summary>The account with the operation's changes: the record to write.</summary>
    public readonly LedgerAccount Updated() => Balances.ApplyTo(Account);
}

/// <summary>A change of one side of one account: posted and pending totals.</summary>
internal readonly record struct BalanceChange(LedgerAccountId AccountId, LedgerSide Side, Money Posted, Money Pending);
