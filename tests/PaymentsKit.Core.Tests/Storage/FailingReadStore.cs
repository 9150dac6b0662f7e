using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Storage;

/// <summary>
/// A store in front of another that fails every read of the records named in <see cref="FailingIds"/>, as a record the
/// code cannot handle (or a store that keeps refusing it) would, until the test takes the id out again.
/// </summary>
public sealed class FailingReadStore(IPaymentsStore inner) : IPaymentsStore
{
    public HashSet<Guid> FailingIds { get; } = [];

    private readonly Dictionary<string, int> _pagesListed = [];

    /// <summary>How many pages of <paramref name="collection"/> were listed through this store.</summary>
    public int PagesListed(string collection)
    {
        lock (_pagesListed)
        {
            return _pagesListed.GetValueOrDefault(collection);
        }
    }

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

    private sealed class Unit(FailingReadStore owner, IUnitOfWork unit) : ForwardingUnitOfWork(unit)
    {
        public override ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
            where T : class => owner.FailingIds.Contains(id)
                ? throw owner.Failure(id)
                : base.GetAsync(collection, tenantId, id, cancellationToken);

        public override ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
            where T : class
        {
            CountPage(collection.Name);
            return base.ListAsync(collection, tenantId, cursor, limit, cancellationToken);
        }

        public override ValueTask<Page<Versioned<T>>> ListByAsync<T>(
            RecordCollection<T> collection, Guid tenantId, string index, Guid value, string? cursor, int limit, CancellationToken cancellationToken = default)
            where T : class
        {
            CountPage(collection.Name);
            return base.ListByAsync(collection, tenantId, index, value, cursor, limit, cancellationToken);
        }

        private void CountPage(string collection)
        {
            lock (owner._pagesListed)
            {
                owner._pagesListed[collection] = owner._pagesListed.GetValueOrDefault(collection) + 1;
            }
        }
    }
}
