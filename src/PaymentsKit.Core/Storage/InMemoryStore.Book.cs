using System.Runtime.InteropServices;
using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.Storage;

/// <summary>
/// The in-memory store's ledger book (decision 0007): the ledger's transactions (with their postings), entries and
/// transfers — the collections that grow with every transfer — are kept as reference-free structs in chunked
/// append-only arrays rather than as object graphs, so the garbage collector neither copies nor marks them. Records are
/// materialised when read. Both the record path (commits through <see cref="Table"/>) and the ledger fast path append
/// here, so every read sees one source of truth.
/// </summary>
public sealed partial class InMemoryStore
{
    private LedgerBook Book { get; } = new();

    /// <summary>Value tables the rows point into: assets and the few objects (strings, metadata) rows cannot hold.</summary>
    private sealed class LedgerBook
    {
        private readonly List<Asset?> _assets = [null];
        private readonly Dictionary<Asset, short> _assetIndex = [];
        private readonly List<object?> _objects = [null];
        private readonly Dictionary<object, int> _objectIndex = new(ReferenceEqualityComparer.Instance);
        private readonly List<LedgerAccountId> _accounts = [];
        private readonly Dictionary<LedgerAccountId, int> _accountIndex = [];
        private object? _lastObject;
        private int _lastObjectSlot;
        private Asset? _lastAsset;
        private short _lastAssetIndex;

        public LedgerBook()
        {
            Transactions = new TransactionTable(this);
            Entries = new EntryTable(this);
            Transfers = new TransferTable(this);
        }

        public TransactionTable Transactions { get; }

        public EntryTable Entries { get; }

        public TransferTable Transfers { get; }

        /// <summary>The index of an amount's asset (0 for an amount without one, <c>default(Money)</c>).</summary>
        public short AssetOf(Money money)
        {
            var asset = money.Asset;
            if (ReferenceEquals(asset, _lastAsset))
            {
                return _lastAssetIndex;
            }

            if (asset is null)
            {
                return 0;
            }

            ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_assetIndex, asset, out var exists);
            if (!exists)
            {
                index = checked((short)_assets.Count);
                _assets.Add(asset);
            }

            (_lastAsset, _lastAssetIndex) = (asset, index);
            return index;
        }

        /// <summary>The index rows refer to an account by (one per account id, kept for the store's lifetime).</summary>
        public int AccountOf(LedgerAccountId accountId)
        {
            ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_accountIndex, accountId, out var exists);
            if (!exists)
            {
                index = _accounts.Count;
                _accounts.Add(accountId);
            }

            return index;
        }

        /// <summary>The account at an index <see cref="AccountOf"/> gave.</summary>
        public LedgerAccountId AccountAt(int index) => _accounts[index];

        public Money MoneyOf(decimal amount, short asset) => asset == 0 ? default : Money.Of(amount, _assets[asset]!);

        /// <summary>The slot of an object a row refers to (0 for null); one slot per instance.</summary>
        public int Slot(object? value)
        {
            if (value is null)
            {
                return 0;
            }

            // Most transactions share one metadata instance (the empty one).
            if (ReferenceEquals(value, _lastObject))
            {
                return _lastObjectSlot;
            }

            ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_objectIndex, value, out var exists);
            if (!exists)
            {
                slot = _objects.Count;
                _objects.Add(value);
            }

            (_lastObject, _lastObjectSlot) = (value, slot);
            return slot;
        }

        public T? At<T>(int slot)
            where T : class => (T?)_objects[slot];
    }

    /// <summary>A tenant's rows in <see cref="GuidOrder"/> of their ids, sorted when next listed.</summary>
    private sealed class TenantOrder
    {
        private readonly List<(Guid Id, int Row)> _added = [];
        private (Guid Id, int Row)[] _sorted = [];

        public void Add(Guid id, int row) => _added.Add((id, row));

        public ReadOnlySpan<(Guid Id, int Row)> Sorted()
        {
            if (_added.Count > 0)
            {
                var added = CollectionsMarshal.AsSpan(_added);
                added.Sort(static (x, y) => GuidOrder.Instance.Compare(x.Id, y.Id));
                var merged = new (Guid Id, int Row)[_sorted.Length + added.Length];
                int i = 0, j = 0, k = 0;
                while (i < _sorted.Length && j < added.Length)
                {
                    merged[k++] = GuidOrder.Instance.Compare(_sorted[i].Id, added[j].Id) <= 0 ? _sorted[i++] : added[j++];
                }

                _sorted.AsSpan(i).CopyTo(merged.AsSpan(k));
                added[j..].CopyTo(merged.AsSpan(k + _sorted.Length - i));
                _sorted = merged;
                _added.Clear();
            }

            return _sorted;
        }

        /// <summary>The index of the first id after <paramref name="after"/>.</summary>
        public static int Start(ReadOnlySpan<(Guid Id, int Row)> sorted, Guid? after)
        {
            if (after is not { } cursor)
            {
                return 0;
            }

            int low = 0, high = sorted.Length;
            while (low < high)
            {
                var middle = (low + high) >>> 1;
                if (GuidOrder.Instance.Compare(sorted[middle].Id, cursor) <= 0)
                {
                    low = middle + 1;
                }
                else
                {
                    high = middle;
                }
            }

            return low;
        }
    }

    /// <summary>A book table's per-tenant listing order, fed from the rows appended since the last listing.</summary>
    private abstract class BookTable(LedgerBook book) : Table
    {
        private readonly Dictionary<Guid, TenantOrder> _tenants = [];

        protected LedgerBook Book { get; } = book;

        public override bool List<T>(Guid tenantId, Guid? after, int limit, List<Versioned<T>> items)
        {
            CatchUp();
            if (!_tenants.TryGetValue(tenantId, out var tenantOrder))
            {
                return false;
            }

            var sorted = tenantOrder.Sorted();
            for (var i = TenantOrder.Start(sorted, after); i < sorted.Length; i++)
            {
                if (items.Count == limit)
                {
                    return true;
                }

                var (record, version) = Read(sorted[i].Row);
                items.Add(new Versioned<T>((T)record, version));
            }

            return false;
        }

        /// <summary>Brings the lazily kept indexes (listing order, and whatever the table keeps) up to date before a read.</summary>
        protected abstract void CatchUp();

        protected void AddToOrder(Guid id, Guid tenantId, int row)
        {
            ref var order = ref CollectionsMarshal.GetValueRefOrAddDefault(_tenants, tenantId, out _);
            (order ??= new TenantOrder()).Add(id, row);
        }

        protected abstract (object Record, long Version) Read(int row);
    }

    /// <summary>
    /// A stored transaction; its postings are <see cref="PostingCount"/> rows from <see cref="FirstPosting"/>, or, for a
    /// negative <see cref="FirstPosting"/>, its entries from row <c>~FirstPosting</c> (<see cref="TransactionTable.TryAppendPostedByEntries"/>).
    /// </summary>
    private struct TransactionRow : IBookRow
    {
        public LedgerTransactionId Id;
        public MerchantId TenantId;
        public LedgerTransactionKind Kind;
        public LedgerEntryType? EntryType;
        public int FirstPosting;
        public int PostingCount;
        public int Reference;
        public int IdempotencyKey;
        public int Description;
        public int Metadata;
        public LedgerTransactionId? Reverses;
        public LedgerTransferId? TransferId;
        public long ReferenceSequence;
        public Instant CreatedAt;
        public long Version;

        readonly Guid IBookRow.RowId => Id.Value;

        readonly Guid IBookRow.RowTenantId => TenantId.Value;

        readonly long IBookRow.RowVersion => Version;
    }

    private struct PostingRow
    {
        public LedgerAccountId AccountId;
        public decimal Amount;
        public short Asset;
        public LedgerSide Side;
    }

    /// <summary>What the store's generic reads ask of every row of a <see cref="RowTable{TRow, TRecord}"/>.</summary>
    private interface IBookRow
    {
        Guid RowId { get; }

        Guid RowTenantId { get; }

        long RowVersion { get; }
    }

    /// <summary>
    /// A book table of one row per record, found by id through an index kept on write (every operation checks its new id
    /// is free). The ledger's ids are UUIDv7s that each thread creates in increasing order (<see cref="TypedId"/>), so
    /// most rows arrive in id order: those are indexed by that order alone (a list of their rows, searched by
    /// bisection), and a new id past the last of them is free without a probe. Only the rest — ids that arrive out of
    /// order, from other threads in the same millisecond or from other clocks — go into a hash index. A hash index of
    /// every row mostly missed the processor's caches and cost a fifth of an in-memory transfer.
    /// </summary>
    private abstract class RowTable<TRow, TRecord>(LedgerBook book) : BookTable(book)
        where TRow : unmanaged, IBookRow
        where TRecord : class
    {
        private readonly ChunkedList<TRow> _rows = new();
        private readonly ChunkedList<int> _inOrder = new();
        private readonly Dictionary<Guid, int> _outOfOrder = [];
        private Guid _lastInOrder;
        private int _ordered;

        public bool Contains(Guid id) => TryGetRow(id, out _);

        /// <summary>The row of a stored record, if any.</summary>
        public bool TryGetRow(Guid id, out int row)
        {
            if (_outOfOrder.Count > 0 && _outOfOrder.TryGetValue(id, out row))
            {
                return true;
            }

            // Past the last in-order id (a new id, mostly): not among them.
            if (_inOrder.Count == 0 || GuidOrder.Instance.Compare(id, _lastInOrder) > 0)
            {
                row = -1;
                return false;
            }

            int low = 0, high = _inOrder.Count - 1;
            while (low <= high)
            {
                var middle = low + ((high - low) >> 1);
                var compared = GuidOrder.Instance.Compare(_rows[_inOrder[middle]].RowId, id);
                if (compared == 0)
                {
                    row = _inOrder[middle];
                    return true;
                }

                (low, high) = compared < 0 ? (middle + 1, high) : (low, middle - 1);
            }

            row = -1;
            return false;
        }

        /// <summary>A stored record's row.</summary>
        public ref TRow Row(int row) => ref _rows[row];

        public override bool TryGetVersion(Guid id, out long version, out Guid tenantId)
        {
            if (TryGetRow(id, out var row))
            {
                ref var stored = ref _rows[row];
                (version, tenantId) = (stored.RowVersion, stored.RowTenantId);
                return true;
            }

            (version, tenantId) = (0, Guid.Empty);
            return false;
        }

        public override bool TryRead(Guid id, out object record, out long version)
        {
            if (TryGetRow(id, out var row))
            {
                (record, version) = Read(row);
                return true;
            }

            (record, version) = (null!, 0);
            return false;
        }

        public override void Insert(Guid id, Guid tenantId, object record, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            Append((TRecord)record);
            Claim(id, keys);
        }

        /// <summary>Stores a new record at version 1 (its id is free: the caller checked); its row.</summary>
        public int Append(TRecord record) =>
            TryAppend(record) is var index and >= 0 ? index : throw new InvalidOperationException($"{typeof(TRecord).Name} {IdOf(record)} is already stored.");

        /// <summary>Stores a new record at version 1 and answers its row, or -1 having stored nothing when its id is taken.</summary>
        public int TryAppend(TRecord record)
        {
            var index = TryAdd(IdOf(record));
            if (index >= 0)
            {
                Encode(ref _rows[index], record, 1);
            }

            return index;
        }

        /// <summary>Replaces the record at <paramref name="row"/> (same id and tenant).</summary>
        public void Replace(int row, TRecord record, long version) => Encode(ref _rows[row], record, version);

        /// <summary>Adds an empty row for a new id, for the caller to fill, and answers it; or -1, adding nothing, when the id is taken.</summary>
        protected int TryAdd(Guid id)
        {
            // Every stored id is at most the last in-order one (an out-of-order id arrived below it), so one past it is free.
            var inOrder = _inOrder.Count == 0 || GuidOrder.Instance.Compare(id, _lastInOrder) > 0;
            if (!inOrder && TryGetRow(id, out _))
            {
                return -1;
            }

            _rows.Add(out var index);
            if (inOrder)
            {
                _inOrder.Add(out _) = index;
                _lastInOrder = id;
            }
            else
            {
                _outOfOrder.Add(id, index);
            }

            return index;
        }

        /// <summary>The row of a record the caller knows is stored.</summary>
        protected int RowOf(Guid id) => TryGetRow(id, out var row) ? row : throw new KeyNotFoundException(id.ToString());

        protected override void CatchUp()
        {
            for (; _ordered < _rows.Count; _ordered++)
            {
                ref var stored = ref _rows[_ordered];
                AddToOrder(stored.RowId, stored.RowTenantId, _ordered);
            }
        }

        protected abstract Guid IdOf(TRecord record);

        protected abstract void Encode(ref TRow row, TRecord record, long version);
    }

    /// <summary>The ledger's transactions; their postings are rows of their own, or their entries' rows.</summary>
    private sealed class TransactionTable(LedgerBook book) : RowTable<TransactionRow, LedgerTransaction>(book)
    {
        private readonly ChunkedList<PostingRow> _postings = new();

        /// <summary>
        /// Stores a transaction as <see cref="RowTable{TRow, TRecord}.TryAppend"/> does, but without posting rows: its
        /// postings are the entries the caller appends next, from row <paramref name="firstEntry"/>, one per posting in
        /// order, each in the posting's account, side and asset and recording its amount (<see cref="EntryTable.PostingAt"/>).
        /// The fast path's transactions are all of that shape, and their postings then cost no rows of their own.
        /// </summary>
        public int TryAppendPostedByEntries(LedgerTransaction transaction, int firstEntry)
        {
            var index = TryAdd(transaction.Id.Value);
            if (index >= 0)
            {
                Encode(ref Row(index), transaction, 1, firstEntry);
            }

            return index;
        }

        public override void Update(Guid id, object record, long version, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            var index = RowOf(id);
            var before = (LedgerTransaction)Read(index).Record;
            var after = (LedgerTransaction)record;
            if (before.Kind != after.Kind || before.EntryType != after.EntryType || before.TransferId != after.TransferId
                || before.CreatedAt != after.CreatedAt || !string.Equals(before.Reference, after.Reference, StringComparison.Ordinal))
            {
                // Its entries read these from the transaction's row: keep them as they were written.
                Book.Entries.KeepWhole(index);
            }

            Release(id, BufferedUnitOfWork.KeysOf(LedgerCollections.Transactions, before));
            Claim(id, keys);
            Replace(index, after, version);
        }

        protected override (object Record, long Version) Read(int row)
        {
            ref var stored = ref Row(row);
            var postings = new LedgerPosting[stored.PostingCount];
            for (var i = 0; i < postings.Length; i++)
            {
                if (stored.FirstPosting < 0)
                {
                    postings[i] = Book.Entries.PostingAt(~stored.FirstPosting + i, stored.Kind);
                    continue;
                }

                ref var posting = ref _postings[stored.FirstPosting + i];
                postings[i] = new LedgerPosting(posting.AccountId, posting.Side, Book.MoneyOf(posting.Amount, posting.Asset));
            }

            var transaction = new LedgerTransaction(
                stored.Id,
                stored.TenantId,
                stored.Kind,
                Array.AsReadOnly(postings),
                stored.EntryType,
                Book.At<string>(stored.Reference),
                Book.At<string>(stored.IdempotencyKey),
                Book.At<string>(stored.Description),
                Book.At<IReadOnlyDictionary<string, string>>(stored.Metadata)!,
                stored.Reverses,
                stored.TransferId,
                stored.ReferenceSequence,
                stored.CreatedAt);
            return (transaction, stored.Version);
        }

        protected override Guid IdOf(LedgerTransaction record) => record.Id.Value;

        protected override void Encode(ref TransactionRow row, LedgerTransaction transaction, long version) =>
            Encode(ref row, transaction, version, -1);

        /// <summary>Encodes a transaction whose postings are posting rows of their own, or, from row <paramref name="entriesFrom"/> when not negative, its entries.</summary>
        private void Encode(ref TransactionRow row, LedgerTransaction transaction, long version, int entriesFrom)
        {
            var postings = transaction.Postings;
            if (entriesFrom >= 0)
            {
                row.FirstPosting = ~entriesFrom;
            }
            else
            {
                row.FirstPosting = _postings.Count;
                for (var i = 0; i < postings.Count; i++)
                {
                    var posting = postings[i];
                    ref var stored = ref _postings.Add(out _);
                    stored.AccountId = posting.AccountId;
                    stored.Side = posting.Side;
                    stored.Amount = posting.Amount.Amount;
                    stored.Asset = Book.AssetOf(posting.Amount);
                }
            }

            row.Id = transaction.Id;
            row.TenantId = transaction.TenantId;
            row.Kind = transaction.Kind;
            row.EntryType = transaction.EntryType;
            row.PostingCount = postings.Count;
            row.Reference = Book.Slot(transaction.Reference);
            row.IdempotencyKey = Book.Slot(transaction.IdempotencyKey);
            row.Description = Book.Slot(transaction.Description);
            row.Metadata = Book.Slot(transaction.Metadata);
            row.Reverses = transaction.Reverses;
            row.TransferId = transaction.TransferId;
            row.ReferenceSequence = transaction.ReferenceSequence;
            row.CreatedAt = transaction.CreatedAt;
            row.Version = version;
        }
    }

    /// <summary>
    /// A stored entry, without what its transaction already holds (tenant, transaction id, kind, entry type, reference,
    /// transfer, instant) and without its id, which is derived from account and sequence.
    /// </summary>
    private struct EntryRow
    {
        public long Sequence;
        public decimal PostedChange;
        public decimal PendingChange;
        public decimal DebitsPosted;
        public decimal CreditsPosted;
        public decimal DebitsPending;
        public decimal CreditsPending;
        public int Transaction;
        public int Account;
        public int Chain;
        public short Asset;
        public LedgerSide Side;
    }

    /// <summary>
    /// The ledger's entries. An entry's id is a SHA-256 of its account and sequence (decision 0005) and is derived only
    /// when needed: the id index (and the listing order) is brought up to date before any read by id or listing. The
    /// fast path proves an entry's id free without it: ids are a function of (account, sequence), so an entry whose
    /// sequence is past every stored entry of its account cannot collide — unless an entry was ever stored with an id
    /// not so derived, after which it checks the index. An entry that does not fit a row (its fields differ from its
    /// transaction's, its amounts are in several assets, its id is not derived, or it was updated) is kept whole beside
    /// its row, exactly as written.
    /// </summary>
    private sealed class EntryTable(LedgerBook book) : BookTable(book)
    {
        private readonly ChunkedList<EntryRow> _rows = new();
        private readonly Dictionary<Guid, int> _ids = [];
        private readonly List<long> _lastSequence = [];
        private readonly Dictionary<int, (LedgerEntry Entry, long Version)> _whole = [];
        private int _indexed;
        private bool _irregular;

        /// <summary>How many entry rows are stored: the row the next entry gets.</summary>
        public int Count => _rows.Count;

        /// <summary>
        /// The posting an entry row records for a transaction of <paramref name="kind"/>: the entry's account and side,
        /// and the amount posted (posted, post-pending), reserved (pending) or released (void, expire).
        /// </summary>
        public LedgerPosting PostingAt(int row, LedgerTransactionKind kind)
        {
            ref var stored = ref _rows[row];
            var amount = kind switch
            {
                LedgerTransactionKind.Pending => stored.PendingChange,
                LedgerTransactionKind.VoidPending or LedgerTransactionKind.ExpirePending => -stored.PendingChange,
                _ => stored.PostedChange,
            };
            return new LedgerPosting(Book.AccountAt(stored.Account), stored.Side, Book.MoneyOf(amount, stored.Asset));
        }

        /// <summary>Whether an entry of the account at <paramref name="account"/> (<see cref="LedgerBook.AccountOf"/>) and <paramref name="sequence"/> may be stored (its id is free).</summary>
        public bool IsFree(int account, long sequence)
        {
            if (_irregular)
            {
                CatchUp();
                return !_ids.ContainsKey(LedgerCollections.EntryId(Book.AccountAt(account), sequence));
            }

            return account >= _lastSequence.Count || sequence > _lastSequence[account];
        }

        /// <summary>
        /// Stores the entry <see cref="LedgerBooks.Entry"/> would build for the transaction at <paramref name="transaction"/>
        /// from the account's balances right after the change — without building it, or its id.
        /// </summary>
        public void Append(int transaction, LiveAccount account, in RunningBalances after, in BalanceChange change)
        {
            ref var row = ref _rows.Add(out _);
            row.Account = account.BookIndex(Book);
            row.Sequence = after.EntryCount;
            row.Transaction = transaction;
            row.Side = change.Side;
            row.PostedChange = change.Posted.Amount;
            row.PendingChange = change.Pending.Amount;
            row.DebitsPosted = after.DebitsPosted;
            row.CreditsPosted = after.CreditsPosted;
            row.DebitsPending = after.DebitsPending;
            row.CreditsPending = after.CreditsPending;

            // The fast path checked every amount is in the account's asset, so the row's one asset holds for all six.
            row.Asset = account.AssetSlot(Book);
            row.Chain = account.ChainSlot(Book);
            NoteSequence(row.Account, after.EntryCount);
        }

        public override bool TryGetVersion(Guid id, out long version, out Guid tenantId)
        {
            CatchUp();
            if (_ids.TryGetValue(id, out var row))
            {
                var (entry, stored) = Read(row);
                (version, tenantId) = (stored, ((LedgerEntry)entry).TenantId.Value);
                return true;
            }

            (version, tenantId) = (0, Guid.Empty);
            return false;
        }

        public override bool TryRead(Guid id, out object record, out long version)
        {
            CatchUp();
            if (_ids.TryGetValue(id, out var row))
            {
                (record, version) = Read(row);
                return true;
            }

            (record, version) = (null!, 0);
            return false;
        }

        public override void Insert(Guid id, Guid tenantId, object record, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            var entry = (LedgerEntry)record;
            var derived = entry.Id == LedgerCollections.EntryId(entry.AccountId, entry.Sequence);
            _irregular |= !derived;
            Append(entry, Book.Transactions.TryGetRow(entry.TransactionId.Value, out var transaction) ? transaction : -1, derived);
            Claim(id, keys);
        }

        public override void Update(Guid id, object record, long version, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            CatchUp();
            var entry = (LedgerEntry)record;
            _irregular |= entry.Id != LedgerCollections.EntryId(entry.AccountId, entry.Sequence);
            _whole[_ids[id]] = (entry, version);
            NoteSequence(Book.AccountOf(entry.AccountId), entry.Sequence);
            Claim(id, keys);
        }

        /// <summary>Keeps the entries of the transaction at <paramref name="transaction"/> whole, before that transaction's row changes.</summary>
        public void KeepWhole(int transaction)
        {
            for (var row = 0; row < _rows.Count; row++)
            {
                if (_rows[row].Transaction == transaction && !_whole.ContainsKey(row))
                {
                    var (entry, version) = Read(row);
                    _whole[row] = ((LedgerEntry)entry, version);
                }
            }
        }

        protected override void CatchUp()
        {
            for (; _indexed < _rows.Count; _indexed++)
            {
                Guid id, tenantId;
                if (_whole.Count > 0 && _whole.TryGetValue(_indexed, out var whole))
                {
                    (id, tenantId) = (whole.Entry.Id, whole.Entry.TenantId.Value);
                }
                else
                {
                    ref var row = ref _rows[_indexed];
                    id = LedgerCollections.EntryId(Book.AccountAt(row.Account), row.Sequence);
                    tenantId = Book.Transactions.Row(row.Transaction).TenantId.Value;
                }

                _ids.TryAdd(id, _indexed);
                AddToOrder(id, tenantId, _indexed);
            }
        }

        protected override (object Record, long Version) Read(int row)
        {
            if (_whole.Count > 0 && _whole.TryGetValue(row, out var whole))
            {
                return whole;
            }

            ref var stored = ref _rows[row];
            ref var transaction = ref Book.Transactions.Row(stored.Transaction);
            var accountId = Book.AccountAt(stored.Account);
            var entry = new LedgerEntry(
                LedgerCollections.EntryId(accountId, stored.Sequence),
                transaction.TenantId,
                accountId,
                stored.Sequence,
                transaction.Id,
                transaction.Kind,
                stored.Side,
                Book.MoneyOf(stored.PostedChange, stored.Asset),
                Book.MoneyOf(stored.PendingChange, stored.Asset),
                transaction.EntryType,
                Book.At<string>(transaction.Reference),
                transaction.TransferId,
                transaction.CreatedAt,
                Book.MoneyOf(stored.DebitsPosted, stored.Asset),
                Book.MoneyOf(stored.CreditsPosted, stored.Asset),
                Book.MoneyOf(stored.DebitsPending, stored.Asset),
                Book.MoneyOf(stored.CreditsPending, stored.Asset),
                Book.At<string>(stored.Chain));
            return (entry, 1);
        }

        private void Append(LedgerEntry entry, int transaction, bool derived)
        {
            ref var row = ref _rows.Add(out var index);
            row.Account = Book.AccountOf(entry.AccountId);
            row.Sequence = entry.Sequence;
            row.Transaction = transaction;
            row.Side = entry.Side;
            row.PostedChange = entry.PostedChange.Amount;
            row.PendingChange = entry.PendingChange.Amount;
            row.DebitsPosted = entry.DebitsPosted.Amount;
            row.CreditsPosted = entry.CreditsPosted.Amount;
            row.DebitsPending = entry.DebitsPending.Amount;
            row.CreditsPending = entry.CreditsPending.Amount;
            row.Asset = Book.AssetOf(entry.PostedChange);
            row.Chain = Book.Slot(entry.Chain);
            if (!derived || !FitsRow(entry, transaction))
            {
                _whole[index] = (entry, 1);
            }

            NoteSequence(row.Account, entry.Sequence);
        }

        /// <summary>Whether the row and its transaction's row say all the entry says.</summary>
        private bool FitsRow(LedgerEntry entry, int transaction)
        {
            if (transaction < 0)
            {
                return false;
            }

            ref var stored = ref Book.Transactions.Row(transaction);
            var asset = entry.PostedChange.Asset;
            return asset is not null
                && entry.TenantId == stored.TenantId
                && entry.TransactionId == stored.Id
                && entry.Kind == stored.Kind
                && entry.EntryType == stored.EntryType
                && entry.TransferId == stored.TransferId
                && entry.At == stored.CreatedAt
                && string.Equals(entry.Reference, Book.At<string>(stored.Reference), StringComparison.Ordinal)
                && SameAsset(entry.PendingChange, asset)
                && SameAsset(entry.DebitsPosted, asset)
                && SameAsset(entry.CreditsPosted, asset)
                && SameAsset(entry.DebitsPending, asset)
                && SameAsset(entry.CreditsPending, asset);
        }

        private static bool SameAsset(Money money, Asset asset) => ReferenceEquals(money.Asset, asset) || asset.Equals(money.Asset);

        private void NoteSequence(int account, long sequence)
        {
            while (_lastSequence.Count <= account)
            {
                _lastSequence.Add(0);
            }

            _lastSequence[account] = Math.Max(_lastSequence[account], sequence);
        }
    }

    /// <summary>A stored two-phase transfer, updated in place when resolved.</summary>
    private struct TransferRow : IBookRow
    {
        public LedgerTransferId Id;
        public MerchantId TenantId;
        public LedgerAccountId DebitAccountId;
        public LedgerAccountId CreditAccountId;
        public decimal Amount;
        public decimal PostedAmount;
        public decimal ReleasedAmount;
        public short AmountAsset;
        public short PostedAmountAsset;
        public short ReleasedAmountAsset;
        public LedgerTransferState State;
        public Duration? Timeout;
        public Instant? ExpiresAt;
        public LedgerEntryType? EntryType;
        public int Reference;
        public LedgerTransactionId PendingTransactionId;
        public LedgerTransactionId? ResolvingTransactionId;
        public Instant CreatedAt;
        public Instant? ResolvedAt;
        public long Version;

        readonly Guid IBookRow.RowId => Id.Value;

        readonly Guid IBookRow.RowTenantId => TenantId.Value;

        readonly long IBookRow.RowVersion => Version;
    }

    /// <summary>The ledger's two-phase transfers (no unique keys).</summary>
    private sealed class TransferTable(LedgerBook book) : RowTable<TransferRow, LedgerTransfer>(book)
    {
        /// <summary>The row of a stored transfer of <paramref name="tenantId"/>, if any.</summary>
        public bool TryGetRow(Guid id, MerchantId tenantId, out int row) => TryGetRow(id, out row) && Row(row).TenantId == tenantId;

        public override void Update(Guid id, object record, long version, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            // Transfers have no unique keys to release or claim.
            Replace(RowOf(id), (LedgerTransfer)record, version);
        }

        public LedgerTransfer ReadTransfer(int row, out long version)
        {
            var (record, stored) = Read(row);
            version = stored;
            return (LedgerTransfer)record;
        }

        protected override (object Record, long Version) Read(int row)
        {
            ref var stored = ref Row(row);
            var transfer = new LedgerTransfer(
                stored.Id,
                stored.TenantId,
                stored.DebitAccountId,
                stored.CreditAccountId,
                Book.MoneyOf(stored.Amount, stored.AmountAsset),
                stored.State,
                Book.MoneyOf(stored.PostedAmount, stored.PostedAmountAsset),
                Book.MoneyOf(stored.ReleasedAmount, stored.ReleasedAmountAsset),
                stored.Timeout,
                stored.ExpiresAt,
                stored.EntryType,
                Book.At<string>(stored.Reference),
                stored.PendingTransactionId,
                stored.ResolvingTransactionId,
                stored.CreatedAt,
                stored.ResolvedAt);
            return (transfer, stored.Version);
        }

        protected override Guid IdOf(LedgerTransfer record) => record.Id.Value;

        protected override void Encode(ref TransferRow row, LedgerTransfer transfer, long version)
        {
            row.Id = transfer.Id;
            row.TenantId = transfer.TenantId;
            row.DebitAccountId = transfer.DebitAccountId;
            row.CreditAccountId = transfer.CreditAccountId;
            row.Amount = transfer.Amount.Amount;
            row.AmountAsset = Book.AssetOf(transfer.Amount);
            row.PostedAmount = transfer.PostedAmount.Amount;
            row.PostedAmountAsset = Book.AssetOf(transfer.PostedAmount);
            row.ReleasedAmount = transfer.ReleasedAmount.Amount;
            row.ReleasedAmountAsset = Book.AssetOf(transfer.ReleasedAmount);
            row.State = transfer.State;
            row.Timeout = transfer.Timeout;
            row.ExpiresAt = transfer.ExpiresAt;
            row.EntryType = transfer.EntryType;
            row.Reference = Book.Slot(transfer.Reference);
            row.PendingTransactionId = transfer.PendingTransactionId;
            row.ResolvingTransactionId = transfer.ResolvingTransactionId;
            row.CreatedAt = transfer.CreatedAt;
            row.ResolvedAt = transfer.ResolvedAt;
            row.Version = version;
        }
    }
}
