using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Storage;

/// <summary>
/// A store in front of another that provokes the reruns a concurrent commit would: it reports a unit's reads stale while
/// <see cref="StaleReadsToReport"/> lasts, and refuses the next commit as a taken key the store judged first.
/// </summary>
public sealed class RerunningStore(IPaymentsStore inner) : IPaymentsStore
{
    public int StaleReadsToReport { get; set; }

    public bool RefuseNextCommit { get; set; }

    public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
        new Unit(this, await inner.BeginAsync(cancellationToken));

    private sealed class Unit(RerunningStore owner, IUnitOfWork unit) : IUnitOfWork
    {
        public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
            where T : class => unit.GetAsync(collection, tenantId, id, cancellationToken);

        public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
            where T : class => unit.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

        public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
            where T : class => unit.ListAsync(collection, tenantId, cursor, limit, cancellationToken);

        public ValueTask PrefetchAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken = default) =>
            unit.PrefetchAsync(records, cancellationToken);

        public async ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default)
        {
            if (owner.StaleReadsToReport > 0)
            {
                owner.StaleReadsToReport--;
                return true;
            }

            return await unit.HasStaleReadsAsync(cancellationToken);
        }

        public void Insert<T>(RecordCollection<T> collection, T record)
            where T : class => unit.Insert(collection, record);

        public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
            where T : class => unit.Update(collection, record, expectedVersion);

        public ValueTask CommitAsync(CancellationToken cancellationToken = default)
        {
            if (owner.RefuseNextCommit)
            {
                owner.RefuseNextCommit = false;
                throw new PaymentsKitException(PaymentsKitErrorCodes.DuplicateKey, "Simulated taken key beside a stale update.");
            }

            return unit.CommitAsync(cancellationToken);
        }

        public ValueTask DisposeAsync() => unit.DisposeAsync();
    }
}
