using System.Globalization;

namespace PaymentsKit.Storage;

/// <summary>
/// The part of a unit of work every store shares: argument checks, the write buffer, and the overlay
/// that lets reads see this unit's own pending writes. A store supplies the committed reads and the
/// atomic apply.
/// </summary>
public abstract class BufferedUnitOfWork : IUnitOfWork
{
    /// <summary>The largest page <see cref="ListAsync{T}"/> returns.</summary>
    public const int MaxPageSize = 1000;

    private readonly Dictionary<(string Collection, Guid Id), PendingWrite> _writes = [];
    private readonly List<PendingWrite> _order = [];
    private readonly Dictionary<(string Collection, Guid Id), PendingRemoval> _removals = [];
    private readonly Dictionary<(string Collection, Guid Id), (long Version, IReadOnlyList<KeyValuePair<string, string>> Keys)> _readKeys = [];
    private Dictionary<(string Collection, Guid Id), Versioned<object>?>? _prefetched;

    // Every committed record read by id with the version read (0: absent), for HasStaleReadsAsync: appended, never looked
    // up, so a read costs no hashing; a record read twice is checked at both versions.
    private List<(RecordRef Record, long Version)>? _readVersions;
    private bool _closed;

    /// <summary>The buffered writes in the order they were first made.</summary>
    protected IReadOnlyList<PendingWrite> Writes => _order;

    /// <inheritdoc />
    public async ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        ThrowIfClosed();
        if (_writes.TryGetValue((collection.Name, id), out var pending))
        {
            return pending.TenantId == tenantId ? new Versioned<T>((T)pending.Record, pending.NewVersion) : null;
        }

        if (_removals.TryGetValue((collection.Name, id), out var removal) && removal.TenantId == tenantId)
        {
            return null;
        }

        var stored = _prefetched is not null && _prefetched.TryGetValue((collection.Name, id), out var fetched)
            ? fetched is null ? null : new Versioned<T>((T)fetched.Value, fetched.Version)
            : await ReadAsync(collection, id, cancellationToken).ConfigureAwait(false);
        (_readVersions ??= []).Add((collection.Ref(id), stored?.Version ?? 0));
        if (stored is null || collection.TenantOf(stored.Value) != tenantId)
        {
            return null;
        }

        if (collection.UniqueKeys.Count > 0)
        {
            _readKeys[(collection.Name, id)] = (stored.Version, KeysOf(collection, stored.Value));
        }

        return stored;
    }

    /// <inheritdoc />
    public async ValueTask PrefetchAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        ThrowIfClosed();
        var wanted = records
            .Where(r => !_writes.ContainsKey((r.Collection, r.Id)) && _prefetched?.ContainsKey((r.Collection, r.Id)) != true)
            .Distinct()
            .ToList();
        if (wanted.Count == 0 || await ReadManyAsync(wanted, cancellationToken).ConfigureAwait(false) is not { } read)
        {
            return;
        }

        _prefetched ??= [];
        for (var i = 0; i < wanted.Count; i++)
        {
            _prefetched[(wanted[i].Collection, wanted[i].Id)] = read[i];
        }
    }

    /// <inheritdoc />
    public async ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        ArgumentNullException.ThrowIfNull(value);
        ThrowIfClosed();
        collection.Key(uniqueKey);
        foreach (var pending in _order)
        {
            if (pending.Collection == collection.Name && pending.UniqueKeys.Contains(new(uniqueKey, value)))
            {
                return pending.TenantId == tenantId ? new Versioned<T>((T)pending.Record, pending.NewVersion) : null;
            }
        }

        var id = await FindIdAsync(collection, uniqueKey, value, cancellationToken).ConfigureAwait(false);
        if (id is null || _writes.ContainsKey((collection.Name, id.Value)))
        {
            // A record this unit rewrote no longer carries the value (the loop above would have found it).
            return null;
        }

        return await GetAsync(collection, tenantId, id.Value, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        ThrowIfClosed();
        CheckLimit(limit);
        return ListCommittedAsync(collection, tenantId, After(cursor), limit, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<Page<Versioned<T>>> ListByAsync<T>(
        RecordCollection<T> collection, Guid tenantId, string index, Guid value, string? cursor, int limit, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        ThrowIfClosed();
        collection.Index(index);
        CheckLimit(limit);
        return ListIndexedCommittedAsync(collection, tenantId, index, value, After(cursor), limit, cancellationToken);
    }

    /// <summary>Refuses a page size outside 1–<see cref="MaxPageSize"/> with <c>invalid_argument</c>.</summary>
    internal static void CheckLimit(int limit)
    {
        if (limit is < 1 or > MaxPageSize)
        {
            throw PaymentsKitException.InvalidArgument(
                "limit", limit, string.Create(CultureInfo.InvariantCulture, $"must be between 1 and {MaxPageSize}"));
        }
    }

    /// <summary>The id a <see cref="CursorAfter"/> cursor continues after; null for the first page.</summary>
    private static Guid? After(string? cursor) =>
        cursor is null ? null
        : Guid.TryParseExact(cursor, "N", out var parsed) ? parsed
        : throw PaymentsKitException.InvalidArgument("cursor", cursor, "is not a cursor returned by a previous page");

    /// <inheritdoc />
    public void Insert<T>(RecordCollection<T> collection, T record)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        ArgumentNullException.ThrowIfNull(record);
        ThrowIfClosed();
        var id = collection.IdOf(record);
        if (id == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument($"{collection.Name}.id", id, "must not be empty");
        }

        if (_writes.ContainsKey((collection.Name, id)))
        {
            throw DuplicateId(collection.Name, id);
        }

        ThrowIfRemoved(collection.Name, id);
        Buffer(collection, record, id, 0);
    }

    /// <inheritdoc />
    public void Update<T>(RecordCollection<T> collection, T record, Versioned<T> read)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        ArgumentNullException.ThrowIfNull(read);
        ThrowIfClosed();

        // A version is written once, so the read's keys are the stored record's whenever the version check passes.
        // A key set this unit read itself is kept: it is at least as fresh.
        if (collection.UniqueKeys.Count > 0)
        {
            _readKeys.TryAdd((collection.Name, collection.IdOf(read.Value)), (read.Version, KeysOf(collection, read.Value)));
        }

        Update(collection, record, read.Version);
    }

    /// <inheritdoc />
    public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        ArgumentNullException.ThrowIfNull(record);
        ThrowIfClosed();
        if (expectedVersion < 1)
        {
            throw PaymentsKitException.InvalidArgument("expectedVersion", expectedVersion, "must be at least 1");
        }

        var id = collection.IdOf(record);
        ThrowIfRemoved(collection.Name, id);
        if (_writes.TryGetValue((collection.Name, id), out var pending))
        {
            if (pending.NewVersion != expectedVersion)
            {
                throw Conflict(collection.Name, id, expectedVersion);
            }

            if (pending.TenantId != collection.TenantOf(record))
            {
                throw PaymentsKitException.InvalidArgument($"{collection.Name}.tenant", collection.TenantOf(record), "cannot change");
            }

            // Two writes of one record in one unit collapse into one, still checked against the first read.
            Buffer(collection, record, id, pending.ExpectedVersion);
            return;
        }

        Buffer(collection, record, id, expectedVersion);
    }

    /// <inheritdoc />
    /// <remarks>A record this unit writes cannot be removed by it, nor written once removed: <c>invalid_argument</c>.</remarks>
    public void Remove<T>(RecordCollection<T> collection, Guid tenantId, Guid id)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(collection);
        ThrowIfClosed();
        if (_writes.ContainsKey((collection.Name, id)))
        {
            throw PaymentsKitException.InvalidArgument($"{collection.Name}.id", id, "is written by this unit of work, so it cannot also remove it");
        }

        _removals[(collection.Name, id)] = new PendingRemoval(collection.Name, collection.Table, id, tenantId, collection.UniqueKeys.Count > 0);
    }

    /// <inheritdoc />
    public async ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default)
    {
        // An update's expected version is a read too, possibly made in an earlier unit. Any version seen that is no longer
        // the record's means it changed since.
        List<(RecordRef Record, long Version)> seen = [.. _readVersions ?? []];
        foreach (var write in _order)
        {
            if (write.ExpectedVersion > 0)
            {
                seen.Add((new RecordRef(write.Collection, write.Table, write.RecordType, write.Id), write.ExpectedVersion));
            }
        }

        if (seen.Count == 0)
        {
            return false;
        }

        var records = seen.Select(s => s.Record).Distinct().ToList();
        if (await ReadVersionsAsync(records, cancellationToken).ConfigureAwait(false) is not { } versions)
        {
            return false;
        }

        var current = new Dictionary<RecordRef, long>(records.Count);
        for (var i = 0; i < records.Count; i++)
        {
            current[records[i]] = versions[i];
        }

        foreach (var (record, version) in seen)
        {
            if (current[record] != version)
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc />
    public async ValueTask CommitAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        _closed = true;
        if (_order.Count > 0 || _removals.Count > 0)
        {
            await ApplyAsync(_order, [.. _removals.Values], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _closed = true;
        await DisposeCoreAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Reads one committed record by id, whatever its tenant.</summary>
    protected abstract ValueTask<Versioned<T>?> ReadAsync<T>(RecordCollection<T> collection, Guid id, CancellationToken cancellationToken)
        where T : class;

    /// <summary>
    /// Reads committed records, whatever their tenant, in one go: one result per ref, in order, null when absent; or
    /// null when the store does not read in batches (the default), and each record is read when it is asked for.
    /// </summary>
    protected virtual ValueTask<IReadOnlyList<Versioned<object>?>?> ReadManyAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<Versioned<object>?>?>(null);

    /// <summary>
    /// The committed versions of records, whatever their tenant: one per ref, in order, 0 when absent; or null when the
    /// store cannot tell (the default, so stores written before it keep building), and <see cref="HasStaleReadsAsync"/>
    /// answers false: refusals are final, as <see cref="IUnitOfWork.HasStaleReadsAsync"/>'s own default makes them.
    /// </summary>
    protected virtual ValueTask<IReadOnlyList<long>?> ReadVersionsAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<long>?>(null);

    /// <summary>Finds the id of the committed record holding a unique key value.</summary>
    protected abstract ValueTask<Guid?> FindIdAsync<T>(RecordCollection<T> collection, string uniqueKey, string value, CancellationToken cancellationToken)
        where T : class;

    /// <summary>Lists a tenant's committed records with ids after <paramref name="after"/> in <see cref="GuidOrder"/>.</summary>
    protected abstract ValueTask<Page<Versioned<T>>> ListCommittedAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid? after, int limit, CancellationToken cancellationToken)
        where T : class;

    /// <summary>
    /// Lists a tenant's committed records whose <paramref name="index"/> holds <paramref name="value"/>, with ids after
    /// <paramref name="after"/> in <see cref="GuidOrder"/>, reading no others.
    /// </summary>
    protected abstract ValueTask<Page<Versioned<T>>> ListIndexedCommittedAsync<T>(
        RecordCollection<T> collection, Guid tenantId, string index, Guid value, Guid? after, int limit, CancellationToken cancellationToken)
        where T : class;

    /// <summary>Applies the writes atomically or throws with nothing written.</summary>
    protected abstract ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, CancellationToken cancellationToken);

    /// <summary>
    /// Applies the writes and then the removals atomically, or throws with nothing written. This default, for stores that
    /// cannot remove records, applies the writes and keeps the records (as <see cref="IUnitOfWork.Remove{T}"/> allows).
    /// </summary>
    protected virtual ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, IReadOnlyList<PendingRemoval> removals, CancellationToken cancellationToken) =>
        writes.Count > 0 ? ApplyAsync(writes, cancellationToken) : ValueTask.CompletedTask;

    /// <summary>Releases store resources.</summary>
    protected virtual ValueTask DisposeCoreAsync() => ValueTask.CompletedTask;

    /// <summary>The page cursor that continues after <paramref name="lastId"/>.</summary>
    protected static string CursorAfter(Guid lastId) => lastId.ToString("N", CultureInfo.InvariantCulture);

    /// <summary>The error for a lost optimistic-concurrency race.</summary>
    public static PaymentsKitException Conflict(string collection, Guid id, long expectedVersion) =>
        new(PaymentsKitErrorCodes.ConcurrencyConflict,
            $"The {collection} record {id} changed since version {expectedVersion} was read; re-read and retry.",
            new Dictionary<string, object?> { ["collection"] = collection, ["id"] = id, ["expectedVersion"] = expectedVersion },
            isTransient: true);

    /// <summary>The error for an id that is already taken.</summary>
    public static PaymentsKitException DuplicateId(string collection, Guid id) =>
        new(PaymentsKitErrorCodes.DuplicateKey,
            $"A {collection} record with id {id} already exists.",
            new Dictionary<string, object?> { ["collection"] = collection, ["key"] = "id", ["value"] = id });

    /// <summary>The error for a unique key value that is already taken.</summary>
    public static PaymentsKitException DuplicateKey(string collection, string key, string value) =>
        new(PaymentsKitErrorCodes.DuplicateKey,
            $"A {collection} record with {key} '{value}' already exists.",
            new Dictionary<string, object?> { ["collection"] = collection, ["key"] = key, ["value"] = value });

    /// <summary>The error for a removal from a collection whose records are never removed (the ledger's).</summary>
    public static PaymentsKitException Unremovable(string collection) =>
        PaymentsKitException.InvalidArgument("collection", collection, "keeps its records for ever; none can be removed");

    private void Buffer<T>(RecordCollection<T> collection, T record, Guid id, long expectedVersion)
        where T : class
    {
        var keys = KeysOf(collection, record);
        var slot = (collection.Name, id);

        // An update keeping the key values the record had at the version read leaves its key rows as they are.
        var unchanged = expectedVersion > 0
            && (collection.UniqueKeys.Count == 0
                || (_readKeys.TryGetValue(slot, out var read) && read.Version == expectedVersion && read.Keys.SequenceEqual(keys)));
        var write = new PendingWrite(collection.Name, collection.Table, id, collection.TenantOf(record), record, typeof(T), expectedVersion, keys)
        {
            KeysUnchanged = unchanged,
            Indexes = IndexesOf(collection, record),
        };
        if (_writes.TryGetValue(slot, out var previous))
        {
            _order[_order.IndexOf(previous)] = write;
        }
        else
        {
            _order.Add(write);
        }

        _writes[slot] = write;
    }

    /// <summary>A record's unique key values (key name → value), nulls omitted.</summary>
    internal static IReadOnlyList<KeyValuePair<string, string>> KeysOf<T>(RecordCollection<T> collection, T record)
        where T : class
    {
        List<KeyValuePair<string, string>>? keys = null;
        foreach (var key in collection.UniqueKeys)
        {
            if (key.ValueOf(record) is { } value)
            {
                (keys ??= new(collection.UniqueKeys.Count)).Add(new(key.Name, value));
            }
        }

        return keys ?? (IReadOnlyList<KeyValuePair<string, string>>)[];
    }

    /// <summary>A record's index values (index name → value), nulls omitted.</summary>
    private static IReadOnlyList<KeyValuePair<string, Guid>> IndexesOf<T>(RecordCollection<T> collection, T record)
        where T : class
    {
        List<KeyValuePair<string, Guid>>? indexes = null;
        foreach (var index in collection.Indexes)
        {
            if (index.ValueOf(record) is { } value)
            {
                (indexes ??= new(collection.Indexes.Count)).Add(new(index.Name, value));
            }
        }

        return indexes ?? (IReadOnlyList<KeyValuePair<string, Guid>>)[];
    }

    private void ThrowIfRemoved(string collection, Guid id)
    {
        if (_removals.ContainsKey((collection, id)))
        {
            throw PaymentsKitException.InvalidArgument($"{collection}.id", id, "is removed by this unit of work, so it cannot also write it");
        }
    }

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnitOfWorkClosed,
                "This unit of work was already committed or disposed; begin a new one.");
        }
    }
}
