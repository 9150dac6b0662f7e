using System.Globalization;
using System.Numerics;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

public sealed partial class LedgerService
{
    /// <inheritdoc />
    public async ValueTask<LedgerBalance> GetBalanceAsync(MerchantId tenantId, LedgerAccountId accountId, Instant? at = null, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var account = (await GetAccountAsync(unit, tenantId, accountId, "accountId", cancellationToken).ConfigureAwait(false)).Value;
            if (at is not { } instant || instant >= account.UpdatedAt)
            {
                return account.Balance;
            }

            // Entries are ordered in time as in sequence: binary search for the last one written by then.
            LedgerEntry? found = null;
            long low = 1, high = account.EntryCount;
            while (low <= high)
            {
                var middle = low + ((high - low) / 2);
                var entry = await GetEntryAsync(unit, tenantId, accountId, middle, cancellationToken).ConfigureAwait(false);
                if (entry.At <= instant)
                {
                    found = entry;
                    low = middle + 1;
                }
                else
                {
                    high = middle - 1;
                }
            }

            if (found is null)
            {
                var zero = Money.Zero(account.Asset);
                return new LedgerBalance(accountId, account.NormalSide, zero, zero, zero, zero, account.CreatedAt);
            }

            return new LedgerBalance(accountId, account.NormalSide, found.DebitsPosted, found.CreditsPosted, found.DebitsPending, found.CreditsPending, found.At);
        }
    }

    /// <inheritdoc />
    public async ValueTask<Page<LedgerEntry>> ListEntriesAsync(
        MerchantId tenantId, LedgerAccountId accountId, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        LedgerValidation.Limit(limit, BufferedUnitOfWork.MaxPageSize);
        var after = LedgerValidation.SequenceCursor(cursor);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var account = (await GetAccountAsync(unit, tenantId, accountId, "accountId", cancellationToken).ConfigureAwait(false)).Value;
            // A cursor past the end gives an empty page: clamped, however large, so the sums below cannot overflow.
            after = Math.Min(after, account.EntryCount);
            var last = Math.Min(account.EntryCount, after + limit);
            var items = new List<LedgerEntry>((int)Math.Max(0, last - after));
            for (var sequence = after + 1; sequence <= last; sequence++)
            {
                items.Add(await GetEntryAsync(unit, tenantId, accountId, sequence, cancellationToken).ConfigureAwait(false));
            }

            return new Page<LedgerEntry>(items, last < account.EntryCount ? last.ToString(CultureInfo.InvariantCulture) : null);
        }
    }

    /// <inheritdoc />
    public async ValueTask<LedgerReconciliationReport> ReconcileAsync(MerchantId tenantId, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        var checkedAt = _clock.GetCurrentInstant();
        var discrepancies = new List<LedgerDiscrepancy>();
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            // Accounts first: every entry up to an account's count was committed with or before the
            // account version read, so the later listings hold all of them (and their transactions).
            var tallies = new Dictionary<LedgerAccountId, Tally>();
            await foreach (var account in ListAllAsync(unit, LedgerCollections.Accounts, tenantId, cancellationToken).ConfigureAwait(false))
            {
                tallies[account.Id] = new Tally(account);
            }

            var transactions = new Dictionary<LedgerTransactionId, LedgerTransaction>();
            await foreach (var transaction in ListAllAsync(unit, LedgerCollections.Transactions, tenantId, cancellationToken).ConfigureAwait(false))
            {
                transactions[transaction.Id] = transaction;
                CheckBalanced(transaction, discrepancies);
            }

            long entriesChecked = 0;
            await foreach (var entry in ListAllAsync(unit, LedgerCollections.Entries, tenantId, cancellationToken).ConfigureAwait(false))
            {
                if (!tallies.TryGetValue(entry.AccountId, out var tally) || entry.Sequence > tally.Account.EntryCount)
                {
                    continue;
                }

                entriesChecked++;
                tally.Add(entry);
                if (!transactions.TryGetValue(entry.TransactionId, out var transaction)
                    || !transaction.Postings.Any(p => p.AccountId == entry.AccountId && p.Side == entry.Side))
                {
                    discrepancies.Add(new LedgerDiscrepancy(
                        LedgerDiscrepancy.OrphanEntry,
                        entry.AccountId,
                        entry.TransactionId,
                        string.Create(CultureInfo.InvariantCulture, $"entry[{entry.Sequence}]"),
                        "a posting of the transaction on this account and side",
                        transaction is null ? "no such transaction" : "no matching posting"));
                }
            }

            foreach (var tally in tallies.Values)
            {
                tally.Report(discrepancies);
            }

            return new LedgerReconciliationReport(tenantId, checkedAt, tallies.Count, entriesChecked, transactions.Count, discrepancies);
        }
    }

    private static void CheckBalanced(LedgerTransaction transaction, List<LedgerDiscrepancy> discrepancies)
    {
        try
        {
            EnsureBalanced(transaction.Postings);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.UnbalancedTransaction)
        {
            discrepancies.Add(new LedgerDiscrepancy(
                LedgerDiscrepancy.UnbalancedTransaction, null, transaction.Id, "postings", (string)ex.Context["debits"]!, (string)ex.Context["credits"]!));
        }
    }

    private static async IAsyncEnumerable<T> ListAllAsync<T>(
        IUnitOfWork unit, RecordCollection<T> collection, MerchantId tenantId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        where T : class
    {
        string? cursor = null;
        do
        {
            var page = await unit.ListAsync(collection, tenantId.Value, cursor, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
            foreach (var item in page.Items)
            {
                yield return item.Value;
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);
    }

    private static async ValueTask<LedgerEntry> GetEntryAsync(IUnitOfWork unit, MerchantId tenantId, LedgerAccountId accountId, long sequence, CancellationToken cancellationToken)
    {
        var entry = await unit.GetAsync(LedgerCollections.Entries, tenantId.Value, LedgerCollections.EntryId(accountId, sequence), cancellationToken).ConfigureAwait(false);
        return entry?.Value ?? throw Missing("entry", string.Create(CultureInfo.InvariantCulture, $"{accountId} #{sequence}"));
    }

    /// <summary>An account's balances recomputed from its entries.</summary>
    /// <remarks>
    /// Summed in minor units: entries come in id order, not in sequence, so a running pending total can pass through values
    /// no balance ever held (reservations ahead of their voids) and too large for a <see cref="Money"/>.
    /// </remarks>
    private sealed class Tally(LedgerAccount account)
    {
        private BigInteger _debitsPosted;
        private BigInteger _creditsPosted;
        private BigInteger _debitsPending;
        private BigInteger _creditsPending;
        private long _count;
        private LedgerEntry? _last;

        public LedgerAccount Account { get; } = account;

        public void Add(LedgerEntry entry)
        {
            _count++;
            if (entry.Side == LedgerSide.Debit)
            {
                _debitsPosted += entry.PostedChange.MinorUnits;
                _debitsPending += entry.PendingChange.MinorUnits;
            }
            else
            {
                _creditsPosted += entry.PostedChange.MinorUnits;
                _creditsPending += entry.PendingChange.MinorUnits;
            }

            if (entry.Sequence == Account.EntryCount)
            {
                _last = entry;
            }
        }

        public void Report(List<LedgerDiscrepancy> discrepancies)
        {
            Compare(discrepancies, "debits_posted", _debitsPosted, Account.DebitsPosted);
            Compare(discrepancies, "credits_posted", _creditsPosted, Account.CreditsPosted);
            Compare(discrepancies, "debits_pending", _debitsPending, Account.DebitsPending);
            Compare(discrepancies, "credits_pending", _creditsPending, Account.CreditsPending);
            if (_count != Account.EntryCount)
            {
                discrepancies.Add(new LedgerDiscrepancy(
                    LedgerDiscrepancy.EntryMismatch,
                    Account.Id,
                    null,
                    "entry_count",
                    _count.ToString(CultureInfo.InvariantCulture),
                    Account.EntryCount.ToString(CultureInfo.InvariantCulture)));
            }

            if (_last is { } last)
            {
                // The newest entry's running balances are what balance-at-instant answers from.
                Compare(discrepancies, LedgerDiscrepancy.EntryMismatch, "last_entry.debits_posted", last.DebitsPosted, Account.DebitsPosted);
                Compare(discrepancies, LedgerDiscrepancy.EntryMismatch, "last_entry.credits_posted", last.CreditsPosted, Account.CreditsPosted);
                Compare(discrepancies, LedgerDiscrepancy.EntryMismatch, "last_entry.debits_pending", last.DebitsPending, Account.DebitsPending);
                Compare(discrepancies, LedgerDiscrepancy.EntryMismatch, "last_entry.credits_pending", last.CreditsPending, Account.CreditsPending);
            }

            foreach (var (field, value) in new[] { ("debits_pending", _debitsPending), ("credits_pending", _creditsPending) })
            {
                if (value.Sign < 0)
                {
                    discrepancies.Add(new LedgerDiscrepancy(
                        LedgerDiscrepancy.BalanceMismatch, Account.Id, null, field, "not negative", FormatMinorUnits(value, Account.Asset)));
                }
            }
        }

        private void Compare(List<LedgerDiscrepancy> discrepancies, string field, BigInteger expected, Money actual)
        {
            if (expected != actual.MinorUnits)
            {
                discrepancies.Add(new LedgerDiscrepancy(
                    LedgerDiscrepancy.BalanceMismatch, Account.Id, null, field, FormatMinorUnits(expected, Account.Asset), actual.ToString()));
            }
        }

        private void Compare(List<LedgerDiscrepancy> discrepancies, string kind, string field, Money expected, Money actual)
        {
            if (expected != actual)
            {
                discrepancies.Add(new LedgerDiscrepancy(kind, Account.Id, null, field, expected.ToString(), actual.ToString()));
            }
        }
    }
}
