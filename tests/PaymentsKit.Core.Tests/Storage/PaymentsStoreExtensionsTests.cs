using PaymentsKit.Storage;

using PaymentsKit.Tests.Storage;

namespace PaymentsKit.Core.Tests.Storage;

/// <summary>
/// The limits of <see cref="PaymentsStoreExtensions.ExecuteAsync{TResult}"/>'s rerun of refusals on stale reads (decision
/// 0027; the rerun itself is in the store conformance tests): what is not a refusal is never rerun, and a store that
/// cannot be asked leaves the refusal as decided.
/// </summary>
public sealed class PaymentsStoreExtensionsTests
{
    private static readonly RecordCollection<Note> Notes = new("note", n => n.Id, n => n.Tenant);

    private readonly InMemoryStore _store = new();

    [Fact]
    public async Task A_Storage_Failure_After_Reads_Another_Commit_Changed_Is_Thrown_Without_A_Rerun()
    {
        var note = await InsertAsync();
        var runs = 0;

        var thrown = await Assert.ThrowsAsync<PaymentsKitException>(() => _store.ExecuteAsync<int>(async (unit, ct) =>
        {
            runs++;
            await unit.GetAsync(Notes, note.Tenant, note.Id, ct);
            await BumpAsync(note);
            throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, "The store failed.");
        }).AsTask());

        Assert.Equal((PaymentsKitErrorCodes.StorageFailure, 1), (thrown.Code, runs));
    }

    [Fact]
    public async Task A_Refusal_Stands_As_Decided_When_The_Store_Fails_To_Say_Whether_Its_Reads_Are_Stale()
    {
        var note = await InsertAsync();
        var store = new UnableToTell(_store);
        var runs = 0;

        var thrown = await Assert.ThrowsAsync<PaymentsKitException>(() => store.ExecuteAsync<int>(async (unit, ct) =>
        {
            runs++;
            await unit.GetAsync(Notes, note.Tenant, note.Id, ct);
            await BumpAsync(note);
            throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidTransition, "Refused.");
        }).AsTask());

        Assert.Equal((PaymentsKitErrorCodes.InvalidTransition, 1), (thrown.Code, runs));
    }

    [Fact]
    public async Task A_Refusal_Is_Thrown_Without_A_Rerun_From_A_Store_Whose_Units_Do_Not_Read_Versions()
    {
        // A store written against 0.1.0 derives BufferedUnitOfWork without ReadVersionsAsync: it still compiles, and its
        // units cannot tell whether their reads are stale, so a refusal on reads since changed stands as decided.
        var store = new ThirdPartyStore();
        var note = new Note(Guid.CreateVersion7(), Guid.CreateVersion7(), 0);
        await using (var unit = await store.BeginAsync())
        {
            unit.Insert(Notes, note);
            await unit.CommitAsync();
        }

        var runs = 0;
        var thrown = await Assert.ThrowsAsync<PaymentsKitException>(() => store.ExecuteAsync<int>(async (unit, ct) =>
        {
            runs++;
            var read = (await unit.GetAsync(Notes, note.Tenant, note.Id, ct))!;
            store.Bump(note.Id);
            Assert.Equal(1, read.Version);
            throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidTransition, "Refused.");
        }).AsTask());

        Assert.Equal((PaymentsKitErrorCodes.InvalidTransition, 1), (thrown.Code, runs));
    }

    private async Task<Note> InsertAsync()
    {
        var note = new Note(Guid.CreateVersion7(), Guid.CreateVersion7(), 0);
        await using var unit = await _store.BeginAsync();
        unit.Insert(Notes, note);
        await unit.CommitAsync();
        return note;
    }

    private async Task BumpAsync(Note note)
    {
        await using var unit = await _store.BeginAsync();
        var read = (await unit.GetAsync(Notes, note.Tenant, note.Id))!;
        unit.Update(Notes, read.Value with { Edits = read.Value.Edits + 1 }, read);
        await unit.CommitAsync();
    }

    private sealed record Note(Guid Id, Guid Tenant, int Edits);

    /// <summary>A store whose units fail when asked whether their reads are stale, as a store that has just gone down does.</summary>
    private sealed class UnableToTell(IPaymentsStore inner) : IPaymentsStore
    {
        public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
            new Unit(await inner.BeginAsync(cancellationToken));

        private sealed class Unit(IUnitOfWork unit) : ForwardingUnitOfWork(unit)
        {
            public override ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default) =>
                throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, "The store is unreachable.", isTransient: true);
        }
    }

    /// <summary>
    /// A third-party store as written against 0.1.0: its unit derives <see cref="BufferedUnitOfWork"/> and supplies only the
    /// members that version had abstract. Records live in one dictionary, whatever their collection.
    /// </summary>
    private sealed class ThirdPartyStore : IPaymentsStore
    {
        private readonly Dictionary<Guid, Versioned<object>> _records = [];

        public ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult<IUnitOfWork>(new Unit(this));

        /// <summary>Another host's commit of the record.</summary>
        public void Bump(Guid id)
        {
            lock (_records)
            {
                _records[id] = _records[id] with { Version = _records[id].Version + 1 };
            }
        }

        private sealed class Unit(ThirdPartyStore store) : BufferedUnitOfWork
        {
            protected override ValueTask<Versioned<T>?> ReadAsync<T>(RecordCollection<T> collection, Guid id, CancellationToken cancellationToken)
                where T : class
            {
                lock (store._records)
                {
                    return ValueTask.FromResult(store._records.TryGetValue(id, out var read) ? new Versioned<T>((T)read.Value, read.Version) : null);
                }
            }

            protected override ValueTask<Guid?> FindIdAsync<T>(RecordCollection<T> collection, string uniqueKey, string value, CancellationToken cancellationToken)
                where T : class => ValueTask.FromResult<Guid?>(null);

            protected override ValueTask<Page<Versioned<T>>> ListCommittedAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid? after, int limit, CancellationToken cancellationToken)
                where T : class => ValueTask.FromResult(new Page<Versioned<T>>([], null));

            protected override ValueTask<Page<Versioned<T>>> ListIndexedCommittedAsync<T>(
                RecordCollection<T> collection, Guid tenantId, string index, Guid value, Guid? after, int limit, CancellationToken cancellationToken)
                where T : class => ValueTask.FromResult(new Page<Versioned<T>>([], null));

            protected override ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, CancellationToken cancellationToken)
            {
                lock (store._records)
                {
                    foreach (var write in writes)
                    {
                        var current = store._records.TryGetValue(write.Id, out var read) ? read.Version : 0;
                        if (current != write.ExpectedVersion)
                        {
                            throw Conflict(write.Collection, write.Id, write.ExpectedVersion);
                        }
                    }

                    foreach (var write in writes)
                    {
                        store._records[write.Id] = new Versioned<object>(write.Record, write.ExpectedVersion + 1);
                    }
                }

                return ValueTask.CompletedTask;
            }
        }
    }
}
