using PaymentsKit.Storage;

namespace PaymentsKit.Core.Tests.Storage;

/// <summary>
/// <see cref="IUnitOfWork.ListByAsync{T}"/> on the in-memory store, which keeps an id index per index value, and the walking
/// default other units of work get: both page exactly the tenant's records holding the value, in id order. (PostgreSQL's is
/// run by the invoicing specification through the refunds' index.)
/// </summary>
public sealed class InMemoryStoreIndexTests
{
    private const string Tag = "tag_id";

    private static readonly RecordCollection<Tagged> Items = new("tagged_item", t => t.Id, t => t.Tenant, table: "tagged_items", indexes: [new(Tag, t => t.Tag)]);

    private readonly InMemoryStore _store = new();

    [Fact]
    public async Task Lists_Only_The_Tenants_Records_Holding_The_Value_In_Id_Order_Across_Pages_As_The_Walk_Does()
    {
        var (tenant, other) = (Guid.CreateVersion7(), Guid.CreateVersion7());
        Guid[] tags = [Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7()];
        var written = new List<Tagged>();
        await WriteAsync(unit =>
        {
            for (var i = 0; i < 40; i++)
            {
                var item = new Tagged(Guid.CreateVersion7(), i % 7 == 0 ? other : tenant, i % 5 == 4 ? null : tags[i % 3]);
                written.Add(item);
                unit.Insert(Items, item);
            }
        });

        foreach (var tag in tags)
        {
            var expected = written.Where(t => t.Tenant == tenant && t.Tag == tag).OrderBy(t => t.Id, GuidOrder.Instance).ToList();
            Assert.NotEmpty(expected);
            foreach (var limit in new[] { 1, 2, 3, expected.Count, 1000 })
            {
                Assert.Equal(expected, await ListAsync(tenant, tag, limit, walk: false));
                Assert.Equal(expected, await ListAsync(tenant, tag, limit, walk: true));
            }
        }

        Assert.Empty(await ListAsync(tenant, Guid.CreateVersion7(), 10, walk: false));
    }

    [Fact]
    public async Task An_Update_Moves_A_Record_To_The_Value_It_Holds_Now()
    {
        var tenant = Guid.CreateVersion7();
        var (red, blue) = (Guid.CreateVersion7(), Guid.CreateVersion7());
        var first = new Tagged(Guid.CreateVersion7(), tenant, red);
        var second = new Tagged(Guid.CreateVersion7(), tenant, red);
        await WriteAsync(unit =>
        {
            unit.Insert(Items, first);
            unit.Insert(Items, second);
        });

        await WriteAsync(unit => unit.Update(Items, first with { Tag = blue }, 1));
        Assert.Equal([second], await ListAsync(tenant, red, 10, walk: false));
        Assert.Equal([first with { Tag = blue }], await ListAsync(tenant, blue, 10, walk: false));

        await WriteAsync(unit => unit.Update(Items, second with { Tag = null }, 1));
        Assert.Empty(await ListAsync(tenant, red, 10, walk: false));
    }

    [Fact]
    public async Task A_Bad_Limit_Cursor_Or_Index_Is_Refused()
    {
        await using var unit = await _store.BeginAsync();
        var tenant = Guid.CreateVersion7();
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => unit.ListByAsync(Items, tenant, Tag, tenant, null, 0).AsTask())).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => unit.ListByAsync(Items, tenant, Tag, tenant, null, 1001).AsTask())).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => unit.ListByAsync(Items, tenant, Tag, tenant, "nope", 10).AsTask())).Code);
        await Assert.ThrowsAsync<ArgumentException>(() => unit.ListByAsync(Items, tenant, "colour", tenant, null, 10).AsTask());
        Assert.Throws<ArgumentException>(() => new RecordCollection<Tagged>("shared_tagged", t => t.Id, t => t.Tenant, indexes: [new(Tag, t => t.Tag)]));
    }

    private async Task WriteAsync(Action<IUnitOfWork> write)
    {
        await using var unit = await _store.BeginAsync();
        write(unit);
        await unit.CommitAsync();
    }

    private async Task<List<Tagged>> ListAsync(Guid tenant, Guid tag, int limit, bool walk)
    {
        await using var store = await _store.BeginAsync();
        IUnitOfWork unit = walk ? new Walking(store) : store;
        var listed = new List<Tagged>();
        string? cursor = null;
        do
        {
            var page = await unit.ListByAsync(Items, tenant, Tag, tag, cursor, limit);
            Assert.InRange(page.Items.Count, page.NextCursor is null ? 0 : limit, limit);
            listed.AddRange(page.Items.Select(v => v.Value));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return listed;
    }

    private sealed record Tagged(Guid Id, Guid Tenant, Guid? Tag);

    /// <summary>A unit of work without an index of its own: it gets <see cref="IUnitOfWork.ListByAsync{T}"/>'s walking default.</summary>
    private sealed class Walking(IUnitOfWork unit) : IUnitOfWork
    {
        public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
            where T : class => unit.GetAsync(collection, tenantId, id, cancellationToken);

        public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
            where T : class => unit.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

        public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
            where T : class => unit.ListAsync(collection, tenantId, cursor, limit, cancellationToken);

        public void Insert<T>(RecordCollection<T> collection, T record)
            where T : class => unit.Insert(collection, record);

        public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
            where T : class => unit.Update(collection, record, expectedVersion);

        public ValueTask CommitAsync(CancellationToken cancellationToken = default) => unit.CommitAsync(cancellationToken);

        public ValueTask DisposeAsync() => unit.DisposeAsync();
    }
}
