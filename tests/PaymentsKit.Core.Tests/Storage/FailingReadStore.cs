using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Storage;

/// <summary>
/// A store in front of another that fails every read of the records named in <see cref="FailingIds"/>, as a record the
/// code cannot handle (or a store that keeps refusing it) would, until the test takes the id out again.
/// </summary>
public sealed class FailingReadStore(IPaymentsStore inner) : IPaymentsStore
{
    public HashSet<Guid> FailingIds { get; } = [];

    /// <summary>When set, a failing read cancels it and fails as cancelled, as a host shutting down mid-sweep would.</summary>
    public CancellationTokenSource? CancelOnFailingRead { get; set; }

    private Exception Failure(Guid id)
    {
        if (CancelOnFailingRead is { } cancel)
        {
            cancel.Cancel();
            return new OperationCanceledException(cancel.Token);
        }

        return new InvalidOperationException($"Simulated failure reading record {id}.");
    }

    public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
        new Unit(this, await inner.BeginAsync(cancellationToken));

    private sealed class Unit(FailingReadStore owner, IUnitOfWork unit) : IUnitOfWork
    {
        public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
            where T : class => owner.FailingIds.Contains(id)
                ? throw owner.Failure(id)
                : unit.GetAsync(collection, tenantId, id, cancellationToken);

        public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
            where T : class => unit.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

        public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
            where T : class => unit.ListAsync(collection, tenantId, cursor, limit, cancellationToken);

        public ValueTask PrefetchAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken = default) =>
            unit.PrefetchAsync(records, cancellationToken);

        public ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default) => unit.HasStaleReadsAsync(cancellationToken);

        public void Insert<T>(RecordCollection<T> collection, T record)
            where T : class => unit.Insert(collection, record);

        public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
            where T : class => unit.Update(collection, record, expectedVersion);

        public ValueTask CommitAsync(CancellationToken cancellationToken = default) => unit.CommitAsync(cancellationToken);

        public ValueTask DisposeAsync() => unit.DisposeAsync();
    }
}
