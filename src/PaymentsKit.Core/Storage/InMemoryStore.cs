using System.Runtime.InteropServices;

namespace PaymentsKit.Storage;

/// <summary>
/// The embedded store: every record in process memory, lost when the process ends. Commits are
/// serialised by one lock and validated (versions, ids, unique keys) before anything is applied,
/// so a commit is all or nothing and a lost update is impossible under any number of threads.
/// Reads take the same lock, briefly: a commit updates several dictionaries one entry at a time, and a
/// lock-free reader could see half of it (a counter already raised but the record it counts not yet
/// inserted, or a unique key between its removal and re-insertion). Records are kept as the instances
/// written, so record types must be immutable.
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
        return table ??= new Table();
    }

    private void Apply(IReadOnlyList<PendingWrite> writes)
    {
        lock (_commitLock)
        {
            Validate(writes);
            foreach (var write in writes)
            {
                var table = TableOf(write.Collection);
                if (write.IsInsert)
                {
                    table.Insert(write.Id, write.TenantId, write.Record, write.UniqueKeys);
                    continue;
                }

                ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(table.Records, write.Id);
                foreach (var (key, value) in slot.UniqueKeys)
                {
                    // Only while still ours: an earlier write of this commit may have taken the value over (a swap).
                    if (table.UniqueKeys.TryGetValue((key, value), out var holder) && holder == write.Id)
                    {
                        table.UniqueKeys.Remove((key, value));
                    }
                }

                table.Claim(write.Id, write.UniqueKeys);
                slot = new Entry(write.Record, write.NewVersion, write.TenantId, write.UniqueKeys);
            }
        }
    }

    private void Validate(IReadOnlyList<PendingWrite> writes)
    {
        Dictionary<(string, string, string), Guid>? claimed = null;
        foreach (var write in writes)
        {
            var table = _tables.GetValueOrDefault(write.Collection);
            Entry current = default;
            var exists = table is not null && table.Records.TryGetValue(write.Id, out current);
            if (write.IsInsert && exists)
            {
                throw BufferedUnitOfWork.DuplicateId(write.Collection, write.Id);
            }

            if (!write.IsInsert && (!exists || current.Version != write.ExpectedVersion || current.TenantId != write.TenantId))
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

    /// <summary>One collection's records, unique keys and per-tenant id index.</summary>
    private sealed class Table
    {
        private readonly Dictionary<Guid, TenantIndex> _tenants = [];

        public Dictionary<Guid, Entry> Records { get; } = [];

        public Dictionary<(string Key, string Value), Guid> UniqueKeys { get; } = [];

        public TenantIndex IndexOf(Guid tenantId)
        {
            ref var index = ref CollectionsMarshal.GetValueRefOrAddDefault(_tenants, tenantId, out _);
            return index ??= new TenantIndex();
        }

        public TenantIndex? FindIndex(Guid tenantId) => _tenants.GetValueOrDefault(tenantId);

        /// <summary>Adds a new record at version 1: its entry, its place in the tenant's index and its unique key values.</summary>
        public void Insert(Guid id, Guid tenantId, object record, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            Records.Add(id, new Entry(record, 1, tenantId, keys));
            IndexOf(tenantId).Add(id);
            Claim(id, keys);
        }

        /// <summary>Makes <paramref name="id"/> the holder of each of <paramref name="keys"/>.</summary>
        public void Claim(Guid id, IReadOnlyList<KeyValuePair<string, string>> keys)
        {
            foreach (var (key, value) in keys)
            {
                UniqueKeys[(key, value)] = id;
            }
        }
    }

    /// <summary>
    /// A tenant's record ids in <see cref="GuidOrder"/>. New ids are appended and sorted into the tree when the
    /// tenant's records are next listed: a write costs an append instead of a tree insert (the ledger's entry ids are
    /// digests, so each insert would land at a random place), and a listing pays once, for ids in order.
    /// </summary>
    private sealed class TenantIndex
    {
        private readonly SortedSet<Guid> _sorted = new(GuidOrder.Instance);
        private readonly List<Guid> _added = [];

        public void Add(Guid id) => _added.Add(id);

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
                    store._tables.GetValueOrDefault(collection.Name) is { } table && table.Records.TryGetValue(id, out var entry)
                        ? new Versioned<T>((T)entry.Record, entry.Version)
                        : null);
            }
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
            var more = false;
            lock (store._commitLock)
            {
                var table = store._tables.GetValueOrDefault(collection.Name);
                if (table?.FindIndex(tenantId)?.Sorted() is { Count: > 0 } ids
                    && (after is null || GuidOrder.Instance.Compare(after.Value, ids.Max) < 0))
                {
                    var view = after is null ? ids : ids.GetViewBetween(after.Value, ids.Max);
                    foreach (var id in view)
                    {
                        if (id == after)
                        {
                            continue;
                        }

                        if (items.Count == limit)
                        {
                            more = true;
                            break;
                        }

                        var entry = table.Records[id];
                        items.Add(new Versioned<T>((T)entry.Record, entry.Version));
                    }
                }
            }

            var next = more ? CursorAfter(collection.IdOf(items[^1].Value)) : null;
            return ValueTask.FromResult(new Page<Versioned<T>>(items, next));
        }

        protected override ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            store.Apply(writes);
            return ValueTask.CompletedTask;
        }
    }
}
