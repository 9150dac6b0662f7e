using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Orchestration;

/// <summary>
/// A store in front of another that simulates the process dying at one commit: the first commit writing a record that
/// <see cref="CrashOn"/> matches throws instead of returning, either before anything is written or just after the write
/// (<see cref="AfterCommit"/>), so whatever the service would have done next (a provider call) never happens.
/// </summary>
public sealed class CrashingStore(IPaymentsStore inner) : IPaymentsStore
{
    private int _armed;

    /// <summary>Which written record makes its commit crash; disarmed once it has.</summary>
    public Func<object, bool>? CrashOn
    {
        get;
        set
        {
            field = value;
            Volatile.Write(ref _armed, value is null ? 0 : 1);
        }
    }

    /// <summary>Whether the crashing commit's writes land before the crash.</summary>
    public bool AfterCommit { get; set; }

    public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
        new Unit(this, await inner.BeginAsync(cancellationToken));

    private bool Matches(object record) => Volatile.Read(ref _armed) == 1 && CrashOn is { } crashOn && crashOn(record);

    private sealed class Unit(CrashingStore owner, IUnitOfWork unit) : IUnitOfWork
    {
        private bool _crashes;

        public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
            where T : class => unit.GetAsync(collection, tenantId, id, cancellationToken);

        public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
            where T : class => unit.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

        public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
            where T : class => unit.ListAsync(collection, tenantId, cursor, limit, cancellationToken);

        public void Insert<T>(RecordCollection<T> collection, T record)
            where T : class
        {
            _crashes |= owner.Matches(record);
            unit.Insert(collection, record);
        }

        public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
            where T : class
        {
            _crashes |= owner.Matches(record);
            unit.Update(collection, record, expectedVersion);
        }

        public void Remove<T>(RecordCollection<T> collection, Guid tenantId, Guid id)
            where T : class => unit.Remove(collection, tenantId, id);

        public async ValueTask CommitAsync(CancellationToken cancellationToken = default)
        {
            var crashes = _crashes && Interlocked.Exchange(ref owner._armed, 0) == 1;
            if (crashes && !owner.AfterCommit)
            {
                throw new InvalidOperationException("Simulated crash before the commit.");
            }

            await unit.CommitAsync(cancellationToken);
            if (crashes)
            {
                throw new InvalidOperationException("Simulated crash after the commit.");
            }
        }

        public ValueTask DisposeAsync() => unit.DisposeAsync();
    }
}
