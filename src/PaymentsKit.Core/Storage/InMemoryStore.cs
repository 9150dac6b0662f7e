using System.Collections.Concurrent;

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
public sealed class InMemoryStore : IPaymentsStore
{
    private readonly Lock _commitLock = new();
    private readonly ConcurrentDictionary<(string Collection, Guid Id), Entry> _records = new();
    private readonly ConcurrentDictionary<(string Collection, string Key, string Value), Guid> _uniqueKeys = new();
    private readonly Dictionary<(string Collection, Guid Tenant), SortedSet<Guid>> _tenantIndex = [];

    /// <inheritdoc />
    public ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<IUnitOfWork>(new UnitOfWork(this));
    }

    private void Apply(IReadOnlyList<PendingWrite> writes)
    {
        lock (_commitLock)
        {
            Validate(writes);
            foreach (var write in writes)
            {
                var slot = (write.Collection, write.Id);
                if (_records.TryGetValue(slot, out var previous))
                {
                    foreach (var (key, value) in previous.UniqueKeys)
                    {
                        // Only while still ours: an earlier write of this commit may have taken the value over (a swap).
                        _uniqueKeys.TryRemove(KeyValuePair.Create((write.Collection, key, value), write.Id));
                    }
                }
                else
                {
                    var indexSlot = (write.Collection, write.TenantId);
                    if (!_tenantIndex.TryGetValue(indexSlot, out var ids))
                    {
                        _tenantIndex[indexSlot] = ids = new SortedSet<Guid>(GuidOrder.Instance);
                    }

                    ids.Add(write.Id);
                }

                foreach (var (key, value) in write.UniqueKeys)
                {
                    _uniqueKeys[(write.Collection, key, value)] = write.Id;
                }

                _records[slot] = new Entry(write.Record, write.NewVersion, write.TenantId, write.UniqueKeys);
            }
        }
    }

    private void Validate(IReadOnlyList<PendingWrite> writes)
    {
        var claimed = new Dictionary<(string, string, string), Guid>();
        foreach (var write in writes)
        {
            var exists = _records.TryGetValue((write.Collection, write.Id), out var current);
            if (write.IsInsert && exists)
            {
                throw BufferedUnitOfWork.DuplicateId(write.Collection, write.Id);
            }

            if (!write.IsInsert && (!exists || current!.Version != write.ExpectedVersion || current.TenantId != write.TenantId))
            {
                throw BufferedUnitOfWork.Conflict(write.Collection, write.Id, write.ExpectedVersion);
            }

            foreach (var (key, value) in write.UniqueKeys)
            {
                var slot = (write.Collection, key, value);
                if ((_uniqueKeys.TryGetValue(slot, out var holder) && holder != write.Id && !Releases(writes, holder, slot))
                    || !claimed.TryAdd(slot, write.Id))
                {
                    throw BufferedUnitOfWork.DuplicateKey(write.Collection, key, value);
                }
            }
        }
    }

    private static bool Releases(IReadOnlyList<PendingWrite> writes, Guid holder, (string Collection, string Key, string Value) slot)
    {
        // The current holder gives the value up in this same commit.
        foreach (var write in writes)
        {
            if (write.Id == holder && write.Collection == slot.Collection)
            {
                return !write.UniqueKeys.Contains(new(slot.Key, slot.Value));
            }
        }

        return false;
    }

    private sealed record Entry(object Record, long Version, Guid TenantId, IReadOnlyList<KeyValuePair<string, string>> UniqueKeys);

    private sealed class UnitOfWork(InMemoryStore store) : BufferedUnitOfWork
    {
        protected override ValueTask<Versioned<T>?> ReadAsync<T>(RecordCollection<T> collection, Guid id, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            lock (store._commitLock)
            {
                return ValueTask.FromResult(
                    store._records.TryGetValue((collection.Name, id), out var entry)
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
                    store._uniqueKeys.TryGetValue((collection.Name, uniqueKey, value), out var id) ? id : (Guid?)null);
            }
        }

        protected override ValueTask<Page<Versioned<T>>> ListCommittedAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid? after, int limit, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var items = new List<Versioned<T>>(limit);
            var more = false;
            lock (store._commitLock)
            {
                if (store._tenantIndex.TryGetValue((collection.Name, tenantId), out var ids)
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

                        var entry = store._records[(collection.Name, id)];
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
