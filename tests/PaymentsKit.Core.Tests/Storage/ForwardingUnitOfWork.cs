using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Storage;

/// <summary>
/// A unit of work that passes every call to another, for test stores that change one behaviour of a real store's units
/// (a read that fails, a stale-read answer, a refused commit) and keep the rest exactly as the store does.
/// </summary>
/// <param name="inner">The store's own unit of work.</param>
public abstract class ForwardingUnitOfWork(IUnitOfWork inner) : IUnitOfWork
{
    public virtual ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
        where T : class => inner.GetAsync(collection, tenantId, id, cancellationToken);

    public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
        where T : class => inner.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

    public virtual ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
        where T : class => inner.ListAsync(collection, tenantId, cursor, limit, cancellationToken);

    public virtual ValueTask<Page<Versioned<T>>> ListByAsync<T>(
        RecordCollection<T> collection, Guid tenantId, string index, Guid value, string? cursor, int limit, CancellationToken cancellationToken = default)
        where T : class => inner.ListByAsync(collection, tenantId, index, value, cursor, limit, cancellationToken);

    public ValueTask PrefetchAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken = default) =>
        inner.PrefetchAsync(records, cancellationToken);

    public virtual ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default) => inner.HasStaleReadsAsync(cancellationToken);

    public void Insert<T>(RecordCollection<T> collection, T record)
        where T : class => inner.Insert(collection, record);

    public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
        where T : class => inner.Update(collection, record, expectedVersion);

    public void Update<T>(RecordCollection<T> collection, T record, Versioned<T> read)
        where T : class => inner.Update(collection, record, read);

    public void Remove<T>(RecordCollection<T> collection, Guid tenantId, Guid id)
        where T : class => inner.Remove(collection, tenantId, id);

    public virtual ValueTask CommitAsync(CancellationToken cancellationToken = default) => inner.CommitAsync(cancellationToken);

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return inner.DisposeAsync();
    }
}
