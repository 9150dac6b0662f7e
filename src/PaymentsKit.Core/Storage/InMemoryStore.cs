using System.Runtime.InteropServices;

namespace PaymentsKit.Storage;

/// <summary>
/// The embedded store: every record in process memory, lost when the process ends. Commits are
/// serialised by one lock and validated (versions, ids, unique keys) before anything is applied,
/// so a commit is all or nothing and a lost update is impossible under any number of threads.
/// Reads take the same lock, briefly: a commit updates several dictionaries one entry at a time, and a
/// lock-free reader could see half of it (a counter already raised but the record it counts not yet
/// inserted, or a unique key between its removal and re-insertion). Records are kept as the instances
/// written, so record types must be immutable — except the ledger's transactions, entries and transfers, kept as struct
/// rows and materialised when read (decision 0007).
/// </summary>
/// <remarks>
/// The ledger's standalone writes skip the unit of work: <see cref="Ledger.ILedgerFastPath"/> (decision 0006).
/// </remarks>
public sealed partial class InMemoryStore : IPaymentsStore
{
    private readonly Lock _commitLock = new();

    // Everything below is read and written under _commitLock only, so plain dictionaries suffice.
    private readonly Dictionary<string, Table> _tables = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<IUnitOfWork>(new UnitOfWork(this));
    }

    private Table TableOf(string collection)
    {
        ref var table = ref CollectionsMarshal.GetValueRefOrAddDefault(_tables, collection, out _);
        return table ??= collection switch
        {
            // The ledger's high-volume collections live in the book's struct rows (decision 0007).
            _ when collection == Ledger.LedgerCollections.Transactions.Name => Book.Transactions,
            _ when collection == Ledger.LedgerCollections.Entries.Name => Book.Entries,
            _ when collection == Ledger.LedgerCollections.Transfers.Name => Book.Transfers,
            _ when collection == Ledger.LedgerCollections.Accounts.Name => new LedgerAccountTable(),
            _ => new RecordTable(),
        };
    }

    private void Apply(IReadOnlyList<PendingWrite> writes, IReadOnlyList<PendingRemoval> removals)
    {
        lock (_commitLock)
        {
            Validate(writes);
            foreach (var removal in removals)
            {
                var table = TableOf(removal.Collection);
                if (table is not RecordTable || table is LedgerAccountTable)
                {
                    throw BufferedUnitOfWork.Unremovable(removal.Collection);
                }
            }

            foreach (var write in writes)
            {
                var table = TableOf(write.Collection);
                if (write.IsInsert)
                {
                    table.Insert(write.Id, write.TenantId, write.Record, write.UniqueKeys);
                }
                else
                {
                    table.Update(write.Id, write.Record, write.NewVersion, write.UniqueKeys);
                }

                // Only record tables keep indexes; the ledger's collections declare none.
                (table as RecordTable)?.Reindex(write.Id, write.TenantId, write.Indexes);
            }

            foreach (var removal in removals)
            {
                ((RecordTable)TableOf(removal.Collection)).Remove(removal.Id, removal.TenantId);
            }
        }
    }

    private void Validate(IReadOnlyList<PendingWrite> writes)
    {
        Dictionary<(string, string, string), Guid>? claimed = null;
        foreach (var write in writes)
        {
            var table = _tables.GetValueOrDefault(write.Collection);
            long version = 0;
            var tenantId = Guid.Empty;
            var exists = table is not null && table.TryGetVersion(write.Id, out version, out tenantId);
            if (write.IsInsert && exists)
            {
                throw BufferedUnitOfWork.DuplicateId(write.Collection, write.Id);
            }

            if (!write.IsInsert && (!exists || version != write.ExpectedVersion || tenantId != write.TenantId))
            {
                throw BufferedUnitOfWork.Conflict(write.Collection, write.Id, write.ExpectedVersion);
            }

            foreach (var (key, value) in write.UniqueKeys)
            {
                claimed ??= [];
                if ((table is not null && table.UniqueKeys.TryGetValue((key, value), out var holder) && holder != write.Id
                     && !Releases(writes, holder, write.Collection, key, value))
                    || !claimed.TryAdd((write.Collection, key, value), write.Id))
                {
                    throw BufferedUnitOfWork.DuplicateKey(write.Collection, key, value);
                }
            }
        }
    }

    private static bool Releases(IReadOnlyList<PendingWrite> writes, Guid holder, string collection, string key, string value)
    {
        // The current holder gives the value up in this same commit.
        foreach (var write in writes)
        {
            if (write.Id == holder && write.Collection == collection)
            {
                return !write.UniqueKeys.Contains(new(key, value));
            }
        }

        return false;
    }

    /// <summary>A stored record with its version, tenant and unique key values.</summary>
    private readonly record struct Entry(object Record, long Version, Guid TenantId, IReadOnlyList<KeyValuePair<string, string>> UniqueKeys);

    /// <summary>One collection's records and unique keys, as commits and reads see them.</summary>
    private abstract class Table
    {
        public Dictionary<(string Key, string Value), Guid> UniqueKeys { get; } = [];

        /// <summary>The stored version and tenant of a record, if it exists.</summary>
        public abstract bool TryGetVersion(Guid id, out long version, out Guid tenantId);

        /// <summary>The stored record and its version, if it exists.</summary>
        public abstract bool TryRead(Guid id, out object record, out long version);

        /// <summary>Adds a new record at version 1 and claims its unique key values.</summary>
        public abstract void Insert(Guid id, Guid tenantId, object record, IReadOnlyList<KeyValuePair<string, string>> keys);

        /// <summary>Replaces a validated record, releasing the key values it gave up and claiming its new ones.</summary>
        public abstract void Update(Guid id, object record, long version, IReadOnlyList<KeyValuePair<string, string>> keys);

        /// <summary>Adds up to <paramref name="limit"/> of a tenant's records after <paramref name="after"/> in <see cref="GuidOrder"/>; whether more follow.</summary>
        public abstract bool List<T>(Guid tenantId, Guid? after, int limit, List<Versioned<T>> items)
            where T : class;

        /// <summary>Makes <paramref name="id"/> the holder of each of <paramref name="keys"/>.</summary>
        public void Claim(Guid id, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            foreach (var (key, value) in keys)
            {
                UniqueKeys[(key, value)] = id;
            }
        }

        /// <summary>Gives up <paramref name="id"/>'s old key values (only those it still holds: an earlier write of the commit may have taken one over, a swap).</summary>
        protected void Release(Guid id, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            foreach (var (key, value) in keys)
            {
                if (UniqueKeys.TryGetValue((key, value), out var holder) && holder == id)
                {
                    UniqueKeys.Remove((key, value));
                }
            }
        }
    }

    /// <summary>A collection kept as the record instances written, with a per-tenant id index and one per index value.</summary>
    private class RecordTable : Table
    {
        private readonly Dictionary<Guid, TenantIndex> _tenants = [];

        // The ids holding each (tenant, index, value), and the index values each such record holds now.
        private readonly Dictionary<(Guid Tenant, string Index, Guid Value), TenantIndex> _byValue = [];
        private readonly Dictionary<Guid, IReadOnlyList<KeyValuePair<string, Guid>>> _indexed = [];

        public Dictionary<Guid, Entry> Records { get; } = [];

        public override bool TryGetVersion(Guid id, out long version, out Guid tenantId)
        {
            var found = Records.TryGetValue(id, out var entry);
            (version, tenantId) = (found ? VersionOf(entry) : 0, entry.TenantId);
            return found;
        }

        public override bool TryRead(Guid id, out object record, out long version)
        {
            var found = Records.TryGetValue(id, out var entry);
            (record, version) = found ? (Current(entry.Record), VersionOf(entry)) : (null!, 0);
            return found;
        }

        public override void Insert(Guid id, Guid tenantId, object record, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            Records.Add(id, new Entry(Stored(record, 1), 1, tenantId, keys));
            IndexOf(tenantId).Add(id);
            Claim(id, keys);
        }

        public override void Update(Guid id, object record, long version, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(Records, id);
            Release(id, slot.UniqueKeys);
            Claim(id, keys);
            slot = new Entry(Stored(record, version), version, slot.TenantId, keys);
        }

        /// <summary>Removes a tenant's record, if it is there, with its unique key values and index entries.</summary>
        public void Remove(Guid id, Guid tenantId)
        {
            if (!Records.TryGetValue(id, out var entry) || entry.TenantId != tenantId)
            {
                return;
            }

            Release(id, entry.UniqueKeys);
            Reindex(id, tenantId, []);
            _tenants[tenantId].Remove(id);
            Records.Remove(id);
        }

        /// <summary>Moves a written record to the index values it holds now.</summary>
        public void Reindex(Guid id, Guid tenantId, IReadOnlyList<KeyValuePair<string, Guid>> indexes)
        {
            // Every write of every collection comes here; most collections declare no index.
            if (indexes.Count == 0 && _indexed.Count == 0)
            {
                return;
            }

            var held = _indexed.GetValueOrDefault(id) ?? [];
            if (held.SequenceEqual(indexes))
            {
                return;
            }

            foreach (var (index, value) in held)
            {
                if (!indexes.Contains(new(index, value)))
                {
                    _byValue[(tenantId, index, value)].Remove(id);
                }
            }

            foreach (var (index, value) in indexes)
            {
                if (!held.Contains(new(index, value)))
                {
                    ref var ids = ref CollectionsMarshal.GetValueRefOrAddDefault(_byValue, (tenantId, index, value), out _);
                    (ids ??= new TenantIndex()).Add(id);
                }
            }

            if (indexes.Count == 0)
            {
                _indexed.Remove(id);
            }
            else
            {
                _indexed[id] = indexes;
            }
        }

        public override bool List<T>(Guid tenantId, Guid? after, int limit, List<Versioned<T>> items) =>
            ListIds(_tenants.GetValueOrDefault(tenantId), after, limit, items);

        /// <summary>Adds up to <paramref name="limit"/> of a tenant's records holding an index value after <paramref name="after"/>; whether more follow.</summary>
        public bool ListBy<T>(Guid tenantId, string index, Guid value, Guid? after, int limit, List<Versioned<T>> items)
            where T : class =>
            ListIds(_byValue.GetValueOrDefault((tenantId, index, value)), after, limit, items);

        private bool ListIds<T>(TenantIndex? index, Guid? after, int limit, List<Versioned<T>> items)
            where T : class
        {
            if (index?.Sorted() is not { Count: > 0 } ids
                || (after is not null && GuidOrder.Instance.Compare(after.Value, ids.Max) >= 0))
            {
                return false;
            }

            var view = after is null ? ids : ids.GetViewBetween(after.Value, ids.Max);
            foreach (var id in view)
            {
                if (id == after)
                {
                    continue;
                }

                if (items.Count == limit)
                {
                    return true;
                }

                var entry = Records[id];
                items.Add(new Versioned<T>((T)Current(entry.Record), VersionOf(entry)));
            }

            return false;
        }

        /// <summary>What the table keeps for a record written at a version: the record itself.</summary>
        protected virtual object Stored(object record, long version) => record;

        /// <summary>The record a read returns for what the table keeps.</summary>
        protected virtual object Current(object stored) => stored;

        /// <summary>The version of a kept record: the entry's.</summary>
        protected virtual long VersionOf(in Entry entry) => entry.Version;

        private TenantIndex IndexOf(Guid tenantId)
        {
            ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_tenants, tenantId, out _);
            return index ??= new TenantIndex();
        }
    }

    /// <summary>
    /// A tenant's record ids (or those holding one index value) in <see cref="GuidOrder"/>. New ids are appended and sorted
    /// into the tree when the records are next listed: a write costs an append instead of a tree insert, and a listing pays
    /// once, for ids in order.
    /// </summary>
    private sealed class TenantIndex
    {
        private readonly SortedSet<Guid> _sorted = new(GuidOrder.Instance);
        private readonly List<Guid> _added = [];

        public void Add(Guid id) => _added.Add(id);

        public void Remove(Guid id)
        {
            if (!_added.Remove(id))
            {
                _sorted.Remove(id);
            }
        }

        public SortedSet<Guid> Sorted()
        {
            if (_added.Count > 0)
            {
                _added.Sort(GuidOrder.Instance);
                foreach (var id in _added)
                {
                    _sorted.Add(id);
                }

                _added.Clear();
            }

            return _sorted;
        }
    }

    private sealed class UnitOfWork(InMemoryStore store) : BufferedUnitOfWork
    {
        protected override ValueTask<Versioned<T>?> ReadAsync<T>(RecordCollection<T> collection, Guid id, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            lock (store._commitLock)
            {
                return ValueTask.FromResult(
                    store._tables.GetValueOrDefault(collection.Name) is { } table && table.TryRead(id, out var record, out var version)
                        ? new Versioned<T>((T)record, version)
                        : null);
            }
        }

        protected override ValueTask<IReadOnlyList<long>?> ReadVersionsAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var versions = new long[records.Count];
            lock (store._commitLock)
            {
                for (var i = 0; i < records.Count; i++)
                {
                    versions[i] = store._tables.GetValueOrDefault(records[i].Collection) is { } table && table.TryGetVersion(records[i].Id, out var version, out _)
                        ? version
                        : 0;
                }
            }

            return ValueTask.FromResult<IReadOnlyList<long>?>(versions);
        }

        protected override ValueTask<Guid?> FindIdAsync<T>(RecordCollection<T> collection, string uniqueKey, string value, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            lock (store._commitLock)
            {
                return ValueTask.FromResult(
                    store._tables.GetValueOrDefault(collection.Name) is { } table && table.UniqueKeys.TryGetValue((uniqueKey, value), out var id)
                        ? id
                        : (Guid?)null);
            }
        }

        protected override ValueTask<Page<Versioned<T>>> ListCommittedAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid? after, int limit, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var items = new List<Versioned<T>>(limit);
            bool more;
            lock (store._commitLock)
            {
                more = store._tables.GetValueOrDefault(collection.Name) is { } table && table.List(tenantId, after, limit, items);
            }

            return Paged(collection, items, more);
        }

        protected override ValueTask<Page<Versioned<T>>> ListIndexedCommittedAsync<T>(
            RecordCollection<T> collection, Guid tenantId, string index, Guid value, Guid? after, int limit, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var items = new List<Versioned<T>>(Math.Min(limit, 16));
            bool more;
            lock (store._commitLock)
            {
                more = store._tables.GetValueOrDefault(collection.Name) is RecordTable table && table.ListBy(tenantId, index, value, after, limit, items);
            }

            return Paged(collection, items, more);
        }

        private static ValueTask<Page<Versioned<T>>> Paged<T>(RecordCollection<T> collection, List<Versioned<T>> items, bool more)
            where T : class =>
            ValueTask.FromResult(new Page<Versioned<T>>(items, more ? CursorAfter(collection.IdOf(items[^1].Value)) : null));

        protected override ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, CancellationToken cancellationToken) =>
            ApplyAsync(writes, [], cancellationToken);

        protected override ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, IReadOnlyList<PendingRemoval> removals, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            store.Apply(writes, removals);
            return ValueTask.CompletedTask;
        }
    }
}
