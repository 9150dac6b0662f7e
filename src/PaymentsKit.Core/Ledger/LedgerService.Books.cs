using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

public sealed partial class LedgerService
{
    /// <summary>Reads the accounts an operation touches (each once), failing on any unknown or foreign one.</summary>
    private static async ValueTask<Dictionary<LedgerAccountId, Versioned<LedgerAccount>>> LoadAccountsAsync(
        IUnitOfWork unit, MerchantId tenantId, IReadOnlyList<LedgerPosting> postings, CancellationToken cancellationToken)
    {
        var accounts = new Dictionary<LedgerAccountId, Versioned<LedgerAccount>>(Math.Min(postings.Count, 16));
        for (var i = 0; i < postings.Count; i++)
        {
            var accountId = postings[i].AccountId;
            if (!accounts.TryGetValue(accountId, out var account))
            {
                account = await GetAccountAsync(unit, tenantId, accountId, "account_id", cancellationToken).ConfigureAwait(false);
                accounts[accountId] = account;
            }

            if (!postings[i].Amount.Asset.Equals(account.Value.Asset))
            {
                LedgerValidation.SameAsset(postings[i].Amount, account.Value.Asset, $"postings[{i}].amount", accountId);
            }
        }

        return accounts;
    }

    /// <summary>
    /// The operation's timestamp: now, but never before a previous change of a touched account, so each
    /// account's entries are ordered in time as in sequence (balance-at-instant relies on it).
    /// </summary>
    private Instant Timestamp(Dictionary<LedgerAccountId, Versioned<LedgerAccount>> accounts)
    {
        var at = _clock.GetCurrentInstant();
        foreach (var account in accounts.Values)
        {
            if (account.Value.UpdatedAt > at)
            {
                at = account.Value.UpdatedAt;
            }
        }

        return at;
    }

    /// <summary>
    /// Applies balance changes to the touched accounts, producing one entry per change with the running
    /// balances after it, then checks every touched account's flags on its final balances.
    /// </summary>
    private static Books Apply(
        Dictionary<LedgerAccountId, Versioned<LedgerAccount>> loaded, ReadOnlySpan<BalanceChange> changes, LedgerTransaction transaction)
    {
        var current = new Dictionary<LedgerAccountId, LedgerAccount>(loaded.Count);
        foreach (var (id, account) in loaded)
        {
            current[id] = account.Value;
        }

        var entries = new LedgerEntry[changes.Length];
        for (var i = 0; i < changes.Length; i++)
        {
            var change = changes[i];
            var before = current[change.AccountId];
            var sequence = before.EntryCount + 1;
            var after = change.Side == LedgerSide.Debit
                ? before with
                {
                    DebitsPosted = before.DebitsPosted + change.Posted,
                    DebitsPending = before.DebitsPending + change.Pending,
                    EntryCount = sequence,
                    UpdatedAt = transaction.CreatedAt,
                }
                : before with
                {
                    CreditsPosted = before.CreditsPosted + change.Posted,
                    CreditsPending = before.CreditsPending + change.Pending,
                    EntryCount = sequence,
                    UpdatedAt = transaction.CreatedAt,
                };
            current[change.AccountId] = after;
            entries[i] = new LedgerEntry(
                LedgerCollections.EntryId(after.Id, sequence),
                transaction.TenantId,
                after.Id,
                sequence,
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
                after.Asset.Chain?.Value ?? after.Metadata.GetValueOrDefault(TreasuryWallet.ChainMetadataKey));
        }

        var updates = new (LedgerAccount Account, long Version)[loaded.Count];
        var index = 0;
        foreach (var (id, account) in loaded)
        {
            var after = current[id];
            if (after.DebitsPending.IsNegative || after.CreditsPending.IsNegative)
            {
                // Releasing more than is held means the transfer and the account were read either side
                // of a concurrent resolution: a lost race, so rerun on fresh reads.
                throw BufferedUnitOfWork.Conflict(LedgerCollections.Accounts.Name, id.Value, account.Version);
            }

            CheckFlags(after);
            updates[index++] = (after, account.Version);
        }

        return new Books(updates, entries);
    }

    private static void CheckFlags(LedgerAccount account)
    {
        if ((account.Flags & LedgerAccountFlags.DebitsMustNotExceedCredits) != 0
            && account.DebitsPosted + account.DebitsPending > account.CreditsPosted)
        {
            throw InsufficientFunds(account, "debits", account.DebitsPosted + account.DebitsPending, "credits", account.CreditsPosted, "debits_must_not_exceed_credits");
        }

        if ((account.Flags & LedgerAccountFlags.CreditsMustNotExceedDebits) != 0
            && account.CreditsPosted + account.CreditsPending > account.DebitsPosted)
        {
            throw InsufficientFunds(account, "credits", account.CreditsPosted + account.CreditsPending, "debits", account.DebitsPosted, "credits_must_not_exceed_debits");
        }
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

    /// <summary>Buffers an operation's account updates, transaction and entries (all validation is done by now).</summary>
    private static void Write(IUnitOfWork unit, Books books, LedgerTransaction transaction, ReferenceSlot? reference)
    {
        foreach (var (account, version) in books.Updates)
        {
            unit.Update(LedgerCollections.Accounts, account, version);
        }

        unit.Insert(LedgerCollections.Transactions, transaction);
        foreach (var entry in books.Entries)
        {
            unit.Insert(LedgerCollections.Entries, entry);
        }

        if (reference is { } slot)
        {
            if (slot.Counter is null)
            {
                unit.Insert(LedgerCollections.ReferenceCounters, new LedgerReferenceCounter(slot.Id, transaction.TenantId, transaction.Reference!, slot.Sequence));
            }
            else
            {
                unit.Update(LedgerCollections.ReferenceCounters, slot.Counter.Value with { Count = slot.Sequence }, slot.Counter.Version);
            }
        }
    }

    /// <summary>Reserves the next place in a reference's sequence of transactions.</summary>
    private static async ValueTask<ReferenceSlot?> ReserveReferenceAsync(IUnitOfWork unit, MerchantId tenantId, string? reference, CancellationToken cancellationToken)
    {
        if (reference is null)
        {
            return null;
        }

        var id = LedgerCollections.ReferenceCounterId(tenantId, reference);
        var counter = await unit.GetAsync(LedgerCollections.ReferenceCounters, tenantId.Value, id, cancellationToken).ConfigureAwait(false);
        return new ReferenceSlot(id, counter, (counter?.Value.Count ?? 0) + 1);
    }

    /// <summary>Requires that, per asset, the debits equal the credits.</summary>
    private static void EnsureBalanced(IReadOnlyList<LedgerPosting> postings)
    {
        var totals = new List<(Asset Asset, Money Debits, Money Credits)>(1);
        foreach (var posting in postings)
        {
            var asset = posting.Amount.Asset;
            var index = 0;
            while (index < totals.Count && !totals[index].Asset.Equals(asset))
            {
                index++;
            }

            if (index == totals.Count)
            {
                var zero = Money.Zero(asset);
                totals.Add((asset, zero, zero));
            }

            var (_, debits, credits) = totals[index];
            totals[index] = posting.Side == LedgerSide.Debit
                ? (asset, debits + posting.Amount, credits)
                : (asset, debits, credits + posting.Amount);
        }

        foreach (var (asset, debits, credits) in totals)
        {
            if (debits != credits)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.UnbalancedTransaction,
                    $"The postings debit {debits} but credit {credits}; per asset the debits must equal the credits.",
                    new Dictionary<string, object?> { ["asset"] = asset.Code, ["debits"] = debits.ToString(), ["credits"] = credits.ToString() });
            }
        }
    }

    /// <summary>A change of one side of one account: posted and pending totals.</summary>
    private readonly record struct BalanceChange(LedgerAccountId AccountId, LedgerSide Side, Money Posted, Money Pending);

    /// <summary>What an operation writes to the accounts: new balances with the versions read, and the entries.</summary>
    private sealed record Books(IReadOnlyList<(LedgerAccount Account, long Version)> Updates, IReadOnlyList<LedgerEntry> Entries);

    /// <summary>A transaction's place among those with its reference, and the counter to advance.</summary>
    private readonly record struct ReferenceSlot(Guid Id, Versioned<LedgerReferenceCounter>? Counter, long Sequence);
}
