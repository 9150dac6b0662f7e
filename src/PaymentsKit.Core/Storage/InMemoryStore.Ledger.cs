using PaymentsKit.Ledger;

namespace PaymentsKit.Storage;

/// <summary>
/// The ledger's one-step path in memory (decision 0006): a standalone balanced transaction, reservation, post or void
/// runs whole under the commit lock, reading the committed records directly and writing, through
/// <see cref="LedgerBooks"/>, the records the record path writes — without a unit of work, its buffers or its retries.
/// Like PostgreSQL's, it answers null having written nothing for anything outside the common case, and the ledger then
/// runs the record path, which gives the error or handles the case.
/// </summary>
public sealed partial class InMemoryStore : ILedgerFastPath
{
    private LedgerTables? _ledger;

    /// <inheritdoc />
    ValueTask<LedgerTransaction?> ILedgerFastPath.TryPostAsync(LedgerFastTransaction transaction, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var postings = transaction.Request.Postings;
        lock (_commitLock)
        {
            var tables = LedgerTablesLocked();
            var scratch = tables.Scratch;
            var changes = scratch.Changes.AsSpan(0, postings.Count);
            LedgerBooks.PostingChanges(postings, changes);
            var accounts = scratch.Accounts;
            var live = scratch.Live;
            var after = scratch.After.AsSpan(0, postings.Count);
            var count = 0;
            for (var i = 0; i < postings.Count; i++)
            {
                var posting = postings[i];
                if (LedgerBooks.IndexOf(accounts.AsSpan(0, count), posting.AccountId) < 0)
                {
                    if (!TryReadAccount(tables, transaction.TenantId, posting.AccountId, posting.Amount.Asset, out accounts[count], out live[count]))
                    {
                        return ValueTask.FromResult<LedgerTransaction?>(null);
                    }

                    count++;
                }
            }

            var touched = accounts.AsSpan(0, count);
            var posted = transaction.Posted(LedgerBooks.Timestamp(transaction.Now, touched));
            if (!TryCommit(tables, touched, live.AsSpan(0, count), posted, changes, after, null))
            {
                return ValueTask.FromResult<LedgerTransaction?>(null);
            }

            return ValueTask.FromResult<LedgerTransaction?>(posted);
        }
    }

    /// <inheritdoc />
    ValueTask<LedgerTransfer?> ILedgerFastPath.TryReserveAsync(LedgerFastReservation reservation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var request = reservation.Request;
        lock (_commitLock)
        {
            var tables = LedgerTablesLocked();
            var accounts = tables.Scratch.Accounts.AsSpan(0, 2);
            var live = tables.Scratch.Live.AsSpan(0, 2);
            var after = tables.Scratch.After.AsSpan(0, 2);
            if (!TryReadAccount(tables, reservation.TenantId, request.DebitAccountId, request.Amount.Asset, out accounts[0], out live[0])
                || !TryReadAccount(tables, reservation.TenantId, request.CreditAccountId, request.Amount.Asset, out accounts[1], out live[1]))
            {
                return ValueTask.FromResult<LedgerTransfer?>(null);
            }

            var (transaction, transfer) = LedgerBooks.Reservation(
                reservation.TenantId, reservation.TransferId, reservation.TransactionId, request, 0, LedgerBooks.Timestamp(reservation.Now, accounts));
            var (debit, credit) = LedgerBooks.ReservationChanges(transfer);
            ReadOnlySpan<BalanceChange> changes = [debit, credit];
            if (!TryCommit(tables, accounts, live, transaction, changes, after, transfer.Id))
            {
                return ValueTask.FromResult<LedgerTransfer?>(null);
            }

            tables.Transfers.Append(transfer);
            return ValueTask.FromResult<LedgerTransfer?>(transfer);
        }
    }

    /// <inheritdoc />
    ValueTask<LedgerTransfer?> ILedgerFastPath.TryResolveAsync(LedgerFastResolution resolution, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_commitLock)
        {
            var tables = LedgerTablesLocked();
            var accounts = tables.Scratch.Accounts.AsSpan(0, 2);
            var live = tables.Scratch.Live.AsSpan(0, 2);
            var after = tables.Scratch.After.AsSpan(0, 2);
            if (!tables.Transfers.TryGetRow(resolution.TransferId.Value, resolution.TenantId, out var row))
            {
                return ValueTask.FromResult<LedgerTransfer?>(null);
            }

            // Resolved, expired, or with a reference (whose counter the record path advances): the record path's case.
            var transfer = tables.Transfers.ReadTransfer(row, out var version);
            var reserved = transfer.Amount;
            var posted = resolution.Void ? transfer.PostedAmount : resolution.Amount ?? reserved;
            if (transfer.State != LedgerTransferState.Pending
                || transfer.ExpiresAt <= resolution.Now
                || transfer.Reference is not null
                || !posted.Asset.Equals(reserved.Asset)
                || posted > reserved
                || !TryReadAccount(tables, resolution.TenantId, transfer.DebitAccountId, reserved.Asset, out accounts[0], out live[0])
                || !TryReadAccount(tables, resolution.TenantId, transfer.CreditAccountId, reserved.Asset, out accounts[1], out live[1]))
            {
                return ValueTask.FromResult<LedgerTransfer?>(null);
            }

            var (transaction, resolved) = LedgerBooks.Resolution(
                transfer,
                resolution.TransactionId,
                resolution.Void ? LedgerTransferState.Voided : LedgerTransferState.Posted,
                posted,
                0,
                LedgerBooks.Timestamp(resolution.Now, accounts));
            var (debit, credit) = LedgerBooks.ResolutionChanges(resolved);
            ReadOnlySpan<BalanceChange> changes = [debit, credit];
            if (!TryCommit(tables, accounts, live, transaction, changes, after, null))
            {
                return ValueTask.FromResult<LedgerTransfer?>(null);
            }

            tables.Transfers.Replace(row, resolved, version + 1);
            return ValueTask.FromResult<LedgerTransfer?>(resolved);
        }
    }

    private static bool TryReadAccount(
        LedgerTables tables, MerchantId tenantId, LedgerAccountId accountId, Asset asset, out TouchedAccount account, out LiveAccount live)
    {
        if (tables.Accounts.Records.TryGetValue(accountId.Value, out var entry)
            && entry.TenantId == tenantId.Value
            && entry.Record is LiveAccount read
            && read.Record.Asset.Equals(asset))
        {
            account = new TouchedAccount(read.Record, read.Balances, read.Version);
            live = read;
            return true;
        }

        account = default;
        live = null!;
        return false;
    }

    /// <summary>
    /// Applies an operation's changes to the touched accounts and writes it (<see cref="Write"/>), or answers false having
    /// written nothing: a rule it would break, a taken entry, transfer (<paramref name="newTransferId"/>) or transaction id.
    /// </summary>
    private static bool TryCommit(
        LedgerTables tables,
        Span<TouchedAccount> accounts,
        ReadOnlySpan<LiveAccount> live,
        LedgerTransaction transaction,
        ReadOnlySpan<BalanceChange> changes,
        Span<RunningBalances> after,
        LedgerTransferId? newTransferId) =>
        LedgerBooks.Apply(accounts, changes, transaction.CreatedAt, after) is null
        && Fresh(tables, accounts, live, changes, after, newTransferId)
        && Write(tables, accounts, live, transaction, after, changes);

    /// <summary>
    /// Whether the entry and transfer ids the operation inserts are all free (else the record path reports the
    /// duplicate); <see cref="Write"/> claims the transaction's id.
    /// </summary>
    private static bool Fresh(
        LedgerTables tables,
        ReadOnlySpan<TouchedAccount> accounts,
        ReadOnlySpan<LiveAccount> live,
        ReadOnlySpan<BalanceChange> changes,
        ReadOnlySpan<RunningBalances> after,
        LedgerTransferId? transferId)
    {
        if (transferId is { } id && tables.Transfers.Contains(id.Value))
        {
            return false;
        }

        for (var i = 0; i < changes.Length; i++)
        {
            var account = live[LedgerBooks.IndexOf(accounts, changes[i].AccountId)];
            if (!tables.Entries.IsFree(account.BookIndex(tables.Book), after[i].EntryCount))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Writes what the record path's unit of work would: account updates (versions bumped, balances changed in place),
    /// the transaction and its entries (one per change, with its account's balances right after it, as
    /// <see cref="LedgerBooks.Entry"/> would build it); or nothing, answering false, when the transaction's id is taken.
    /// </summary>
    private static bool Write(
        LedgerTables tables,
        ReadOnlySpan<TouchedAccount> accounts,
        ReadOnlySpan<LiveAccount> live,
        LedgerTransaction transaction,
        ReadOnlySpan<RunningBalances> after,
        ReadOnlySpan<BalanceChange> changes)
    {
        // The fast path's transactions have no reference, idempotency key or reversal: no unique key values to claim.
        // Their postings are their entries, one per posting in order (a change per posting), appended below.
        var row = tables.Transactions.TryAppendPostedByEntries(transaction, tables.Entries.Count);
        if (row < 0)
        {
            return false;
        }

        // An account update keeps its code, so its unique key stays as it is.
        for (var i = 0; i < accounts.Length; i++)
        {
            live[i].Change(accounts[i].Balances);
        }

        for (var i = 0; i < changes.Length; i++)
        {
            var account = live[LedgerBooks.IndexOf(accounts, changes[i].AccountId)];
            tables.Entries.Append(row, account, after[i], changes[i]);
        }

        return true;
    }

    private LedgerTables LedgerTablesLocked() =>
        _ledger ??= new LedgerTables(
            (LedgerAccountTable)TableOf(LedgerCollections.Accounts.Name),
            (TransactionTable)TableOf(LedgerCollections.Transactions.Name),
            (EntryTable)TableOf(LedgerCollections.Entries.Name),
            (TransferTable)TableOf(LedgerCollections.Transfers.Name),
            Book);

    /// <summary>The ledger's tables, found once, and the fast path's working arrays.</summary>
    private sealed record LedgerTables(LedgerAccountTable Accounts, TransactionTable Transactions, EntryTable Entries, TransferTable Transfers, LedgerBook Book)
    {
        /// <summary>Reused by every fast-path call: only used under the commit lock, and nothing keeps them past the call.</summary>
        public LedgerScratch Scratch { get; } = new();
    }

    /// <summary>The touched accounts, the accounts after each change and the changes of one fast-path call.</summary>
    private sealed class LedgerScratch
    {
        public TouchedAccount[] Accounts { get; } = new TouchedAccount[LedgerValidation.MaxPostings];

        public LiveAccount[] Live { get; } = new LiveAccount[LedgerValidation.MaxPostings];

        public RunningBalances[] After { get; } = new RunningBalances[LedgerValidation.MaxPostings];

        public BalanceChange[] Changes { get; } = new BalanceChange[LedgerValidation.MaxPostings];
    }

    /// <summary>
    /// The ledger's accounts, each kept as a <see cref="LiveAccount"/>: the fast path changes an account's balances in
    /// place, and a read builds the record from them only when they changed since the last read.
    /// </summary>
    private sealed class LedgerAccountTable : RecordTable
    {
        protected override object Stored(object record, long version) => new LiveAccount((LedgerAccount)record, version);

        protected override object Current(object stored) => ((LiveAccount)stored).Current();

        protected override long VersionOf(in Entry entry) => ((LiveAccount)entry.Record).Version;
    }

    /// <summary>
    /// An account as the in-memory store keeps it: its last built record, its current balances, and how the book's rows
    /// refer to it (found once per record written, since only its balances change in between).
    /// </summary>
    private sealed class LiveAccount(LedgerAccount record, long version)
    {
        private bool _changed;
        private int _bookIndex = -1;
        private int _chainSlot = -1;
        private short _assetSlot = -1;

        /// <summary>The account's index in the book (<see cref="LedgerBook.AccountOf"/>).</summary>
        public int BookIndex(LedgerBook book) => _bookIndex >= 0 ? _bookIndex : _bookIndex = book.AccountOf(Record.Id);

        /// <summary>The book's slot of the chain the account's entries name (<see cref="LedgerBooks.Chain"/>).</summary>
        public int ChainSlot(LedgerBook book) => _chainSlot >= 0 ? _chainSlot : _chainSlot = book.Slot(LedgerBooks.Chain(Record));

        /// <summary>The book's index of the account's asset.</summary>
        public short AssetSlot(LedgerBook book) => _assetSlot >= 0 ? _assetSlot : _assetSlot = book.AssetOf(Record.DebitsPosted);

        /// <summary>The account's last built record: its id, tenant, code, asset, flags and metadata are current, its balances may not be.</summary>
        public LedgerAccount Record { get; private set; } = record;

        /// <summary>The account's current balances.</summary>
        public RunningBalances Balances { get; private set; } = RunningBalances.Of(record);

        /// <summary>The account's current version (the store entry's is the version of <see cref="Record"/> as written).</summary>
        public long Version { get; private set; } = version;

        /// <summary>Records new balances, a new version of the account (under the commit lock).</summary>
        public void Change(in RunningBalances balances)
        {
            Balances = balances;
            Version++;
            _changed = true;
        }

        /// <summary>The account as it stands (under the commit lock, as every read).</summary>
        public LedgerAccount Current()
        {
            if (_changed)
            {
                Record = Balances.ApplyTo(Record);
                _changed = false;
            }

            return Record;
        }
    }
}
