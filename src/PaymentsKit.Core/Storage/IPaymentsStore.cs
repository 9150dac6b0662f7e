namespace PaymentsKit.Storage;

/// <summary>
/// A place PaymentsKit keeps its records: the embedded in-memory store by default, PostgreSQL with
/// <c>UsePostgreSql</c>. A store only persists and enforces ids, versions and unique keys; all
/// business rules live in the services, so every store behaves the same.
/// </summary>
public interface IPaymentsStore
{
    /// <summary>Starts a unit of work. Dispose it; without <see cref="IUnitOfWork.CommitAsync"/> nothing is written.</summary>
    ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// One business operation's reads and writes. Reads see the committed state plus this unit's own
/// pending writes; writes are buffered and applied together, all or nothing, by
/// <see cref="CommitAsync"/>, which fails with <see cref="PaymentsKitErrorCodes.ConcurrencyConflict"/>
/// when a record changed since it was read (a lost update is impossible) and with
/// <see cref="PaymentsKitErrorCodes.DuplicateKey"/> when an id or unique key is taken.
/// </summary>
/// <remarks>
/// Reads of records that are not written are not locked: write every record whose state a
/// decision depends on (bump its version) when a concurrent change to it must abort the operation.
/// A refusal needs no such write: <see cref="HasStaleReadsAsync"/> tells whether it was decided on reads since changed.
/// </remarks>
public interface IUnitOfWork : IAsyncDisposable
{
    /// <summary>Reads a record of a tenant by id; null if absent or owned by another tenant.</summary>
    ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>Reads the record holding a unique key value; null if none, or if it belongs to another tenant.</summary>
    ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>Lists a tenant's records in id order (creation order for UUIDv7 ids), a page at a time.</summary>
    /// <param name="collection">The collection.</param>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>, or null for the first page.</param>
    /// <param name="limit">1–1000 items.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>
    /// Lists those of a tenant's records whose <paramref name="index"/> (one of <see cref="RecordCollection{T}.Indexes"/>) holds
    /// <paramref name="value"/>, in id order, a page at a time, with the cursors and limits of <see cref="ListAsync{T}"/>. The
    /// PaymentsKit stores read only those records; this default, for other units of work, walks all the tenant's records.
    /// </summary>
    /// <param name="collection">The collection.</param>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="index">The index's name.</param>
    /// <param name="value">The value the listed records hold.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>, or null for the first page.</param>
    /// <param name="limit">1–1000 items.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<Page<Versioned<T>>> ListByAsync<T>(
        RecordCollection<T> collection, Guid tenantId, string index, Guid value, string? cursor, int limit, CancellationToken cancellationToken = default)
        where T : class =>
        IndexWalk.ListAsync(this, collection, tenantId, index, value, cursor, limit, cancellationToken);

    /// <summary>
    /// Reads several records at once (one round trip where the store can), so the unit's later
    /// <see cref="GetAsync{T}"/> of any of them is answered without another read. Absent records are remembered
    /// as absent. A store that reads cheaply one at a time may ignore it.
    /// </summary>
    /// <param name="records">The records the operation is about to read.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask PrefetchAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <summary>
    /// Whether a record this unit read (by id with <see cref="GetAsync{T}"/>, prefetched or not, or found by a unique key with
    /// <see cref="FindAsync{T}"/>), or updates from a version it was given, has been written, inserted or removed in the
    /// store since. A key found absent and the records of a list are not checked. Reads are not a
    /// snapshot, so an operation that refuses on such reads, or a commit refused for a taken key beside a stale update, may
    /// answer a state that never existed: <see cref="PaymentsStoreExtensions.ExecuteAsync{TResult}"/> then runs it again.
    /// A store that cannot tell answers false (the default), and refusals are final.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(false);

    /// <summary>Buffers the insert of a new record (version 1).</summary>
    void Insert<T>(RecordCollection<T> collection, T record)
        where T : class;

    /// <summary>Buffers the replacement of a record that must still be at <paramref name="expectedVersion"/>.</summary>
    void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
        where T : class;

    /// <summary>
    /// Buffers the replacement of <paramref name="read"/>, the record as committed at its version (read in this unit
    /// or an earlier one), which must still be at that version. Unlike a bare version, the read tells the store the
    /// unique key values the record holds, so an update that keeps them need not rewrite its key rows.
    /// </summary>
    void Update<T>(RecordCollection<T> collection, T record, Versioned<T> read)
        where T : class =>
        Update(collection, record, (read ?? throw new ArgumentNullException(nameof(read))).Version);

    /// <summary>
    /// Buffers the removal of a tenant's record, applied at <see cref="CommitAsync"/> with the unit's writes if the record is
    /// there then (whatever its version; nothing if it is absent or another tenant's). It is for records kept only while they
    /// can still matter, which the unit neither reads back nor writes. A store that cannot remove records keeps them (this
    /// default), so a caller must not depend on the record being gone.
    /// </summary>
    /// <param name="collection">The collection.</param>
    /// <param name="tenantId">The record's tenant.</param>
    /// <param name="id">The record's id.</param>
    void Remove<T>(RecordCollection<T> collection, Guid tenantId, Guid id)
        where T : class
    {
    }

    /// <summary>Applies every buffered write atomically.</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>concurrency_conflict</c> (transient: re-read and retry), <c>duplicate_key</c>, or
    /// <c>storage_failure</c>; nothing is written in any of these cases.
    /// </exception>
    ValueTask CommitAsync(CancellationToken cancellationToken = default);
}
