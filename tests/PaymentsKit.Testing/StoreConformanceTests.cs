using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Testing;

/// <summary>
/// The storage contract, as tests every <see cref="IPaymentsStore"/> must pass: a store's test
/// project derives from this class and supplies the store. Every test uses fresh tenants, ids and
/// key values, so the tests of one class may share a database.
/// </summary>
public abstract class StoreConformanceTests : IAsyncLifetime
{
    /// <summary>How many tasks race in the concurrency tests.</summary>
    protected const int Racers = 32;

    private static readonly TimeSpan RaceTimeout = TimeSpan.FromSeconds(30);
    private static readonly IReadOnlyDictionary<string, string> NoAttributes = new Dictionary<string, string>();
    private readonly ManualClock _clock = new();
    private IPaymentsStore? _store;

    /// <summary>The store under test.</summary>
    protected IPaymentsStore Store => _store ?? throw new InvalidOperationException("The store is created in InitializeAsync.");

    private static RecordCollection<Widget> Widgets => ConformanceCollections.Widgets;

    /// <inheritdoc />
    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await ReleaseStoreAsync(_store);
        }
    }

    /// <summary>Creates (or hands out a shared) store for the next test (called before each test).</summary>
    protected abstract Task<IPaymentsStore> CreateStoreAsync();

    /// <summary>Called after each test with its store; disposes it unless a subclass shares stores between tests.</summary>
    protected virtual async Task ReleaseStoreAsync(IPaymentsStore store)
    {
        switch (store)
        {
            case IAsyncDisposable asyncDisposable:
                await asyncDisposable.DisposeAsync();
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }
    }

    [Fact]
    public async Task Insert_Then_Get_Returns_The_Record_At_Version_1()
    {
        var widget = NewWidget(NewTenant(), NewSku());
        await InsertAsync(widget);

        var stored = await GetAsync(widget);

        Assert.NotNull(stored);
        Assert.Equal(1, stored.Version);
        AssertSameWidget(widget, stored.Value);
    }

    [Fact]
    public async Task Get_Of_An_Unknown_Id_Returns_Null()
    {
        await InsertAsync(NewWidget(NewTenant()));

        await using var unit = await Store.BeginAsync();
        Assert.Null(await unit.GetAsync(Widgets, NewTenant().Value, NewId().Value));
    }

    [Fact]
    public async Task Another_Tenant_Gets_Null_By_Id_And_By_Unique_Key()
    {
        var owner = NewTenant();
        var widget = NewWidget(owner, NewSku());
        await InsertAsync(widget);
        var stranger = NewTenant();

        await using var unit = await Store.BeginAsync();
        Assert.Null(await unit.GetAsync(Widgets, stranger.Value, widget.Id.Value));
        Assert.Null(await unit.FindAsync(Widgets, stranger.Value, "sku", widget.Sku!));
        Assert.NotNull(await unit.GetAsync(Widgets, owner.Value, widget.Id.Value));
        Assert.Equal(widget.Id, (await unit.FindAsync(Widgets, owner.Value, "sku", widget.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task Remove_Takes_The_Record_With_Its_Unique_Key_Values_At_Commit()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        var kept = NewWidget(tenant, NewSku());
        await InsertAsync(widget, kept);

        await using (var unit = await Store.BeginAsync())
        {
            unit.Remove(Widgets, tenant.Value, widget.Id.Value);
            Assert.Null(await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value));
            Assert.Null(await unit.FindAsync(Widgets, tenant.Value, "sku", widget.Sku!));
            await unit.CommitAsync();
        }

        Assert.Null(await GetAsync(widget));
        Assert.NotNull(await GetAsync(kept));
        await using (var unit = await Store.BeginAsync())
        {
            Assert.Null(await unit.FindAsync(Widgets, tenant.Value, "sku", widget.Sku!));
            Assert.Equal([kept.Id], (await unit.ListAsync(Widgets, tenant.Value, null, 10)).Items.Select(w => w.Value.Id));
        }

        // The value is free again.
        await InsertAsync(NewWidget(tenant, widget.Sku));
    }

    [Fact]
    public async Task Remove_Of_An_Absent_Record_Or_Another_Tenants_Removes_Nothing()
    {
        var widget = NewWidget(NewTenant(), NewSku());
        await InsertAsync(widget);

        await using (var unit = await Store.BeginAsync())
        {
            unit.Remove(Widgets, NewTenant().Value, widget.Id.Value);
            unit.Remove(Widgets, widget.MerchantId.Value, NewId().Value);
            await unit.CommitAsync();
        }

        Assert.Equal(1, (await GetAsync(widget))?.Version);
        await using var check = await Store.BeginAsync();
        Assert.Equal(widget.Id, (await check.FindAsync(Widgets, widget.MerchantId.Value, "sku", widget.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task Removing_A_Ledger_Record_Is_Refused_And_Writes_Nothing()
    {
        var tenant = NewTenant();
        var ledger = new PaymentsKit.Ledger.LedgerService(Store, _clock, new AssetRegistry());
        var account = await ledger.CreateAccountAsync(tenant, new PaymentsKit.Ledger.CreateLedgerAccountRequest("kept", "Kept", AssetRegistry.Usdc, PaymentsKit.Ledger.LedgerSide.Debit));
        var widget = NewWidget(tenant);

        await using (var unit = await Store.BeginAsync())
        {
            unit.Insert(Widgets, widget);
            unit.Remove(PaymentsKit.Ledger.LedgerCollections.Accounts, tenant.Value, account.Id.Value);
            Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => unit.CommitAsync().AsTask())).Code);
        }

        Assert.Null(await GetAsync(widget));
        await using var check = await Store.BeginAsync();
        Assert.NotNull(await check.GetAsync(PaymentsKit.Ledger.LedgerCollections.Accounts, tenant.Value, account.Id.Value));
    }

    [Fact]
    public async Task A_Unit_Cannot_Both_Write_And_Remove_One_Record()
    {
        var tenant = NewTenant();
        var written = NewWidget(tenant);
        var removed = NewWidget(tenant);
        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, written);
        unit.Remove(Widgets, tenant.Value, removed.Id.Value);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => unit.Remove(Widgets, tenant.Value, written.Id.Value)).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => unit.Insert(Widgets, removed)).Code);
    }

    [Fact]
    public async Task Another_Tenant_Lists_None_Of_A_Tenants_Records()
    {
        var owner = NewTenant();
        await InsertAsync(NewWidget(owner), NewWidget(owner));

        await using var unit = await Store.BeginAsync();
        var page = await unit.ListAsync(Widgets, NewTenant().Value, null, 10);

        Assert.Empty(page.Items);
        Assert.Null(page.NextCursor);
    }

    [Fact]
    public async Task Find_Of_An_Unknown_Key_Value_Returns_Null()
    {
        var tenant = NewTenant();
        await InsertAsync(NewWidget(tenant, NewSku()));

        await using var unit = await Store.BeginAsync();
        Assert.Null(await unit.FindAsync(Widgets, tenant.Value, "sku", NewSku()));
    }

    [Fact]
    public async Task The_Same_Id_And_Key_Value_In_Two_Collections_Are_Separate_Records()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        var gadget = widget with { Name = "gadget" };
        await using (var unit = await Store.BeginAsync())
        {
            unit.Insert(Widgets, widget);
            unit.Insert(ConformanceCollections.Gadgets, gadget);
            await unit.CommitAsync();
        }

        await using var reader = await Store.BeginAsync();
        Assert.Equal("gadget", (await reader.GetAsync(ConformanceCollections.Gadgets, tenant.Value, widget.Id.Value))?.Value.Name);
        Assert.Equal(widget.Name, (await reader.GetAsync(Widgets, tenant.Value, widget.Id.Value))?.Value.Name);
        Assert.Equal("gadget", (await reader.FindAsync(ConformanceCollections.Gadgets, tenant.Value, "sku", widget.Sku!))?.Value.Name);
    }

    [Fact]
    public async Task Readers_Never_See_Half_A_Commit_While_Commits_Run()
    {
        // The shape of a counter and the records it counts (a transaction and its refunds): each commit
        // raises the counter on the parent, keeping its key, and inserts child number n under key "<parent sku>:n".
        var tenant = NewTenant();
        var parent = NewWidget(tenant, NewSku());
        await InsertAsync(parent);
        const int Commits = 150;
        var writer = Task.Run(async () =>
        {
            for (var n = 1; n <= Commits; n++)
            {
                await using var unit = await Store.BeginAsync();
                var current = (await unit.GetAsync(Widgets, tenant.Value, parent.Id.Value))!;
                unit.Update(Widgets, current.Value with { Counter = n }, current.Version);
                unit.Insert(Widgets, NewWidget(tenant, parent.Sku + ":" + n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                await unit.CommitAsync();
            }
        });

        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            var counter = 0L;
            while (counter < Commits)
            {
                await using var unit = await Store.BeginAsync();
                var byKey = await unit.FindAsync(Widgets, tenant.Value, "sku", parent.Sku!);
                Assert.NotNull(byKey);
                counter = byKey.Value.Counter;
                if (counter > 0)
                {
                    var child = await unit.FindAsync(Widgets, tenant.Value, "sku", parent.Sku + ":" + counter.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    Assert.NotNull(child);
                }
            }
        })).ToList();

        await writer.WaitAsync(RaceTimeout * 4);
        await Task.WhenAll(readers).WaitAsync(RaceTimeout * 4);
    }

    [Fact]
    public async Task A_Unit_Reads_Its_Own_Pending_Writes_And_Others_Do_Not()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, widget);

        Assert.Equal(1, (await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value))?.Version);
        Assert.Equal(widget.Id, (await unit.FindAsync(Widgets, tenant.Value, "sku", widget.Sku!))?.Value.Id);
        Assert.Null(await unit.GetAsync(Widgets, NewTenant().Value, widget.Id.Value));

        var renamed = widget with { Sku = NewSku(), Counter = 5 };
        unit.Update(Widgets, renamed, 1);

        // An update of the unit's own insert is still the insert: version 1 until committed and updated.
        var pending = await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value);
        Assert.Equal(1, pending?.Version);
        Assert.Equal(5, pending?.Value.Counter);
        Assert.Null(await unit.FindAsync(Widgets, tenant.Value, "sku", widget.Sku!));
        Assert.Equal(widget.Id, (await unit.FindAsync(Widgets, tenant.Value, "sku", renamed.Sku!))?.Value.Id);

        await using (var other = await Store.BeginAsync())
        {
            Assert.Null(await other.GetAsync(Widgets, tenant.Value, widget.Id.Value));
            Assert.Null(await other.FindAsync(Widgets, tenant.Value, "sku", renamed.Sku!));
        }

        await unit.CommitAsync();
        var committed = await GetAsync(widget);
        Assert.Equal(1, committed?.Version);
        Assert.Equal(5, committed?.Value.Counter);
    }

    [Fact]
    public async Task A_Unit_Sees_Its_Own_Update_Of_A_Committed_Record()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        await InsertAsync(widget);

        await using var unit = await Store.BeginAsync();
        var read = await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value);
        unit.Update(Widgets, read!.Value with { Sku = null, Counter = 1 }, read.Version);

        Assert.Equal(2, (await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value))?.Version);
        Assert.Null(await unit.FindAsync(Widgets, tenant.Value, "sku", widget.Sku!));
    }

    [Fact]
    public async Task Update_With_The_Read_Version_Stores_The_New_Record_At_The_Next_Version()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        await InsertAsync(widget);

        var changed = widget with { Name = "renamed", Status = WidgetStatus.SoldOut, ShippedAt = Instant.FromUtc(2026, 3, 1, 12, 0), Counter = 7 };
        await UpdateAsync(changed, 1);
        var again = changed with { Counter = 8 };
        await UpdateAsync(again, 2);

        var stored = await GetAsync(widget);
        Assert.Equal(3, stored?.Version);
        AssertSameWidget(again, stored!.Value);
        Assert.Equal(widget.Id, (await FindAsync(tenant, widget.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task Update_With_A_Stale_Version_Is_A_Transient_Concurrency_Conflict_And_Writes_Nothing()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        await InsertAsync(widget);
        await UpdateAsync(widget with { Counter = 1 }, 1);

        await using var unit = await Store.BeginAsync();
        unit.Update(Widgets, widget with { Counter = 99, Sku = NewSku() }, 1);
        var error = await CommitFailsAsync(unit, PaymentsKitErrorCodes.ConcurrencyConflict);

        Assert.True(error.IsTransient);
        Assert.Equal(Widgets.Name, error.Context["collection"]);
        Assert.Equal(widget.Id.Value, error.Context["id"]);
        Assert.Equal(1L, error.Context["expectedVersion"]);
        var stored = await GetAsync(widget);
        Assert.Equal(2, stored?.Version);
        Assert.Equal(1, stored?.Value.Counter);
        Assert.Equal(widget.Id, (await FindAsync(tenant, widget.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task Update_With_A_Version_Ahead_Of_The_Store_Is_A_Concurrency_Conflict()
    {
        var widget = NewWidget(NewTenant());
        await InsertAsync(widget);

        await using var unit = await Store.BeginAsync();
        unit.Update(Widgets, widget with { Counter = 1 }, 2);
        await CommitFailsAsync(unit, PaymentsKitErrorCodes.ConcurrencyConflict);
        Assert.Equal(1, (await GetAsync(widget))?.Version);
    }

    [Fact]
    public async Task Update_Of_A_Missing_Record_Is_A_Concurrency_Conflict()
    {
        var widget = NewWidget(NewTenant());

        await using var unit = await Store.BeginAsync();
        unit.Update(Widgets, widget, 1);
        await CommitFailsAsync(unit, PaymentsKitErrorCodes.ConcurrencyConflict);
        Assert.Null(await GetAsync(widget));
    }

    [Fact]
    public async Task Update_That_Moves_A_Record_To_Another_Tenant_Is_A_Concurrency_Conflict()
    {
        var owner = NewTenant();
        var widget = NewWidget(owner);
        await InsertAsync(widget);
        var thief = NewTenant();

        await using var unit = await Store.BeginAsync();
        unit.Update(Widgets, widget with { MerchantId = thief }, 1);
        await CommitFailsAsync(unit, PaymentsKitErrorCodes.ConcurrencyConflict);

        var stored = await GetAsync(widget);
        Assert.Equal(1, stored?.Version);
        Assert.Equal(owner, stored?.Value.MerchantId);
    }

    [Fact]
    public async Task Insert_Of_A_Taken_Id_Is_Duplicate_Key_And_Rejects_The_Whole_Commit()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant);
        await InsertAsync(widget);
        var bystander = NewWidget(tenant, NewSku());

        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, bystander);
        unit.Insert(Widgets, widget with { Name = "impostor" });
        var error = await CommitFailsAsync(unit, PaymentsKitErrorCodes.DuplicateKey);

        Assert.False(error.IsTransient);
        Assert.Equal(Widgets.Name, error.Context["collection"]);
        Assert.Equal("id", error.Context["key"]);
        Assert.Equal(widget.Id.Value, error.Context["value"]);
        Assert.Equal(widget.Name, (await GetAsync(widget))?.Value.Name);
        Assert.Null(await GetAsync(bystander));
        Assert.Null(await FindAsync(tenant, bystander.Sku!));
    }

    [Fact]
    public async Task Inserting_One_Id_Twice_In_A_Unit_Is_Duplicate_Key()
    {
        var widget = NewWidget(NewTenant());
        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, widget);

        var error = Assert.Throws<PaymentsKitException>(() => unit.Insert(Widgets, widget with { Name = "again" }));
        Assert.Equal(PaymentsKitErrorCodes.DuplicateKey, error.Code);
    }

    [Fact]
    public async Task Insert_Of_A_Taken_Unique_Key_Is_Duplicate_Key_And_Rejects_The_Whole_Commit()
    {
        var tenant = NewTenant();
        var holder = NewWidget(tenant, NewSku());
        var existing = NewWidget(tenant);
        await InsertAsync(holder, existing);
        var bystander = NewWidget(tenant, NewSku());

        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, bystander);
        unit.Update(Widgets, existing with { Counter = 1 }, 1);
        var copycat = NewWidget(tenant, holder.Sku);
        unit.Insert(Widgets, copycat);
        var error = await CommitFailsAsync(unit, PaymentsKitErrorCodes.DuplicateKey);

        Assert.Equal(Widgets.Name, error.Context["collection"]);
        Assert.Equal("sku", error.Context["key"]);
        Assert.Equal(holder.Sku, error.Context["value"]);
        Assert.Contains(holder.Sku!, error.Message, StringComparison.Ordinal);
        Assert.Null(await GetAsync(copycat));
        Assert.Null(await GetAsync(bystander));
        Assert.Null(await FindAsync(tenant, bystander.Sku!));
        Assert.Equal(1, (await GetAsync(existing))?.Version);
        Assert.Equal(holder.Id, (await FindAsync(tenant, holder.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task A_Unique_Key_Held_By_Another_Tenant_Is_Still_Taken()
    {
        var holder = NewWidget(NewTenant(), NewSku());
        await InsertAsync(holder);
        var other = NewTenant();

        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, NewWidget(other, holder.Sku));
        await CommitFailsAsync(unit, PaymentsKitErrorCodes.DuplicateKey);
    }

    [Fact]
    public async Task Two_Records_Claiming_One_Key_Value_In_A_Commit_Is_Duplicate_Key()
    {
        var tenant = NewTenant();
        var sku = NewSku();
        var first = NewWidget(tenant, sku);
        var second = NewWidget(tenant, sku);

        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, first);
        unit.Insert(Widgets, second);
        var error = await CommitFailsAsync(unit, PaymentsKitErrorCodes.DuplicateKey);

        Assert.Equal(sku, error.Context["value"]);
        Assert.Null(await GetAsync(first));
        Assert.Null(await GetAsync(second));
        Assert.Null(await FindAsync(tenant, sku));
    }

    [Fact]
    public async Task Update_Claiming_A_Key_Held_By_Another_Record_Is_Duplicate_Key()
    {
        var tenant = NewTenant();
        var holder = NewWidget(tenant, NewSku());
        var claimant = NewWidget(tenant, NewSku());
        await InsertAsync(holder, claimant);

        await using var unit = await Store.BeginAsync();
        unit.Update(Widgets, claimant with { Sku = holder.Sku }, 1);
        var error = await CommitFailsAsync(unit, PaymentsKitErrorCodes.DuplicateKey);

        Assert.Equal(holder.Sku, error.Context["value"]);
        Assert.Equal(1, (await GetAsync(claimant))?.Version);
        Assert.Equal(claimant.Id, (await FindAsync(tenant, claimant.Sku!))?.Value.Id);
        Assert.Equal(holder.Id, (await FindAsync(tenant, holder.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task A_Unique_Key_Released_And_Retaken_In_One_Commit_Moves_To_The_New_Holder()
    {
        var tenant = NewTenant();
        var sku = NewSku();
        var old = NewWidget(tenant, sku);
        var swapper = NewWidget(tenant, NewSku());
        await InsertAsync(old, swapper);
        var newcomer = NewWidget(tenant, sku);
        var replacement = NewSku();

        await using (var unit = await Store.BeginAsync())
        {
            // The new holder is written first: the release must still count.
            unit.Insert(Widgets, newcomer);
            unit.Update(Widgets, old with { Sku = replacement }, 1);
            await unit.CommitAsync();
        }

        Assert.Equal(newcomer.Id, (await FindAsync(tenant, sku))?.Value.Id);
        Assert.Equal(old.Id, (await FindAsync(tenant, replacement))?.Value.Id);

        // Two records may also swap values in one commit.
        await using (var unit = await Store.BeginAsync())
        {
            unit.Update(Widgets, newcomer with { Sku = swapper.Sku }, 1);
            unit.Update(Widgets, swapper with { Sku = sku }, 1);
            await unit.CommitAsync();
        }

        Assert.Equal(swapper.Id, (await FindAsync(tenant, sku))?.Value.Id);
        Assert.Equal(newcomer.Id, (await FindAsync(tenant, swapper.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task A_Unique_Key_Released_By_An_Update_Can_Be_Taken_Later()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        await InsertAsync(widget);
        await UpdateAsync(widget with { Sku = null }, 1);

        Assert.Null(await FindAsync(tenant, widget.Sku!));
        var successor = NewWidget(tenant, widget.Sku);
        await InsertAsync(successor);
        Assert.Equal(successor.Id, (await FindAsync(tenant, widget.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task An_Update_Keeping_The_Key_It_Was_Read_With_Still_Holds_It()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        await InsertAsync(widget);
        await using (var unit = await Store.BeginAsync())
        {
            var read = await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value);
            unit.Update(Widgets, read!.Value with { Counter = 3 }, read.Version);
            await unit.CommitAsync();
        }

        Assert.Equal(widget.Id, (await FindAsync(tenant, widget.Sku!))?.Value.Id);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => InsertAsync(NewWidget(tenant, widget.Sku)));
        Assert.Equal(PaymentsKitErrorCodes.DuplicateKey, error.Code);
    }

    [Fact]
    public async Task An_Update_Of_A_Read_From_An_Earlier_Unit_Keeps_Or_Moves_Its_Key()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        await InsertAsync(widget);
        var read = await GetAsync(widget);

        await using (var unit = await Store.BeginAsync())
        {
            unit.Update(Widgets, read!.Value with { Counter = 3 }, read);
            await unit.CommitAsync();
        }

        Assert.Equal(widget.Id, (await FindAsync(tenant, widget.Sku!))?.Value.Id);
        var taken = await Assert.ThrowsAsync<PaymentsKitException>(() => InsertAsync(NewWidget(tenant, widget.Sku)));
        Assert.Equal(PaymentsKitErrorCodes.DuplicateKey, taken.Code);

        var kept = await GetAsync(widget);
        var replacement = NewSku();
        await using (var unit = await Store.BeginAsync())
        {
            unit.Update(Widgets, kept!.Value with { Sku = replacement }, kept);
            await unit.CommitAsync();
        }

        Assert.Null(await FindAsync(tenant, widget.Sku!));
        Assert.Equal(widget.Id, (await FindAsync(tenant, replacement))?.Value.Id);
    }

    [Fact]
    public async Task An_Update_Of_A_Stale_Read_From_An_Earlier_Unit_Is_A_Concurrency_Conflict_And_Leaves_The_Keys()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        await InsertAsync(widget);
        var stale = await GetAsync(widget);
        var replacement = NewSku();
        await UpdateAsync(widget with { Sku = replacement }, 1);

        await using (var unit = await Store.BeginAsync())
        {
            unit.Update(Widgets, stale!.Value with { Counter = 3 }, stale);
            await CommitFailsAsync(unit, PaymentsKitErrorCodes.ConcurrencyConflict);
        }

        Assert.Null(await FindAsync(tenant, widget.Sku!));
        Assert.Equal(widget.Id, (await FindAsync(tenant, replacement))?.Value.Id);
    }

    [Fact]
    public async Task Prefetched_Records_Read_As_Stored_Absent_And_Foreign_Ones_As_Null()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant, NewSku());
        var foreign = NewWidget(NewTenant());
        await InsertAsync(widget, foreign);
        await UpdateAsync(widget with { Counter = 4 }, 1);
        var missing = NewId().Value;

        await using var unit = await Store.BeginAsync();
        await unit.PrefetchAsync([Widgets.Ref(widget.Id.Value), Widgets.Ref(foreign.Id.Value), Widgets.Ref(missing), Widgets.Ref(widget.Id.Value)]);

        var read = await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value);
        Assert.Equal(2, read?.Version);
        Assert.Equal(4, read?.Value.Counter);
        Assert.Null(await unit.GetAsync(Widgets, tenant.Value, foreign.Id.Value));
        Assert.Null(await unit.GetAsync(Widgets, tenant.Value, missing));
        unit.Update(Widgets, read!.Value with { Counter = 5 }, read.Version);
        await unit.CommitAsync();
        Assert.Equal(3, (await GetAsync(widget))?.Version);
        Assert.Equal(widget.Id, (await FindAsync(tenant, widget.Sku!))?.Value.Id);
    }

    [Fact]
    public async Task A_Prefetch_Of_Many_Records_Of_One_Collection_Reads_Each_As_Stored()
    {
        // More records of one collection than one read statement of the PostgreSQL store takes (8).
        var tenant = NewTenant();
        var widgets = Enumerable.Range(0, 11).Select(_ => NewWidget(tenant)).ToArray();
        await InsertAsync(widgets);
        await UpdateAsync(widgets[9] with { Counter = 7 }, 1);
        var missing = NewId().Value;

        await using var unit = await Store.BeginAsync();
        await unit.PrefetchAsync([.. widgets.Select(w => Widgets.Ref(w.Id.Value)).Reverse(), Widgets.Ref(missing)]);

        for (var i = 0; i < widgets.Length; i++)
        {
            var read = await unit.GetAsync(Widgets, tenant.Value, widgets[i].Id.Value);
            Assert.Equal(widgets[i].Id, read?.Value.Id);
            Assert.Equal(i == 9 ? 2 : 1, read?.Version);
            Assert.Equal(i == 9 ? 7 : widgets[i].Counter, read?.Value.Counter);
        }

        Assert.Null(await unit.GetAsync(Widgets, tenant.Value, missing));
    }

    [Fact]
    public async Task A_Failed_Commit_Is_All_Or_Nothing_Across_Records()
    {
        var tenant = NewTenant();
        var a = NewWidget(tenant, NewSku());
        var b = NewWidget(tenant, NewSku());
        await InsertAsync(a, b);
        await UpdateAsync(b with { Counter = 1 }, 1);
        var c = NewWidget(tenant, NewSku());

        await using (var unit = await Store.BeginAsync())
        {
            unit.Update(Widgets, a with { Counter = 10, Sku = NewSku() }, 1);
            unit.Insert(Widgets, c);
            unit.Update(Widgets, b with { Counter = 10 }, 1);
            await CommitFailsAsync(unit, PaymentsKitErrorCodes.ConcurrencyConflict);
        }

        var storedA = await GetAsync(a);
        Assert.Equal(1, storedA?.Version);
        Assert.Equal(0, storedA?.Value.Counter);
        Assert.Equal(a.Id, (await FindAsync(tenant, a.Sku!))?.Value.Id);
        Assert.Equal(2, (await GetAsync(b))?.Version);
        Assert.Null(await GetAsync(c));
        Assert.Null(await FindAsync(tenant, c.Sku!));
    }

    [Fact]
    public async Task Disposing_A_Unit_Without_Commit_Writes_Nothing()
    {
        var tenant = NewTenant();
        var existing = NewWidget(tenant);
        await InsertAsync(existing);
        var widget = NewWidget(tenant, NewSku());

        await using (var unit = await Store.BeginAsync())
        {
            unit.Insert(Widgets, widget);
            unit.Update(Widgets, existing with { Counter = 3 }, 1);
        }

        Assert.Null(await GetAsync(widget));
        Assert.Null(await FindAsync(tenant, widget.Sku!));
        Assert.Equal(1, (await GetAsync(existing))?.Version);
    }

    [Fact]
    public async Task An_Empty_Commit_Succeeds()
    {
        await using var unit = await Store.BeginAsync();
        await unit.CommitAsync();
    }

    [Fact]
    public async Task A_Committed_Unit_Is_Closed()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant);
        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, widget);
        await unit.CommitAsync();

        await AssertClosedAsync(unit, widget);
    }

    [Fact]
    public async Task A_Unit_Whose_Commit_Failed_Is_Closed()
    {
        var widget = NewWidget(NewTenant());
        await using var unit = await Store.BeginAsync();
        unit.Update(Widgets, widget, 1);
        await CommitFailsAsync(unit, PaymentsKitErrorCodes.ConcurrencyConflict);

        await AssertClosedAsync(unit, widget);
    }

    [Fact]
    public async Task A_Disposed_Unit_Is_Closed()
    {
        var widget = NewWidget(NewTenant());
        var unit = await Store.BeginAsync();
        await unit.DisposeAsync();

        await AssertClosedAsync(unit, widget);
    }

    [Fact]
    public async Task Insert_Of_An_Empty_Id_Is_Invalid_Argument()
    {
        await using var unit = await Store.BeginAsync();
        var error = Assert.Throws<PaymentsKitException>(() => unit.Insert(Widgets, NewWidget(NewTenant()) with { Id = default }));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task Update_With_A_Version_Below_1_Is_Invalid_Argument(long version)
    {
        await using var unit = await Store.BeginAsync();
        var error = Assert.Throws<PaymentsKitException>(() => unit.Update(Widgets, NewWidget(NewTenant()), version));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Equal("expectedVersion", error.Context["field"]);
    }

    [Fact]
    public async Task List_Pages_Through_A_Tenants_Records_In_Id_Order()
    {
        var tenant = NewTenant();
        var neighbour = NewTenant();
        var mine = new List<Widget>();
        await using (var unit = await Store.BeginAsync())
        {
            for (var i = 0; i < 25; i++)
            {
                var widget = NewWidget(tenant) with { Counter = i };
                mine.Add(widget);
                unit.Insert(Widgets, widget);
                if (i % 5 == 0)
                {
                    unit.Insert(Widgets, NewWidget(neighbour));
                }
            }

            await unit.CommitAsync();
        }

        await UpdateAsync(mine[3] with { Counter = 300 }, 1);
        var seen = new List<Versioned<Widget>>();
        var pageSizes = new List<int>();
        string? cursor = null;
        do
        {
            await using var unit = await Store.BeginAsync();
            var page = await unit.ListAsync(Widgets, tenant.Value, cursor, 10);
            pageSizes.Add(page.Items.Count);
            seen.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        Assert.Equal([10, 10, 5], pageSizes);
        Assert.Equal(mine.Select(w => w.Id), seen.Select(v => v.Value.Id));
        Assert.Equal(mine.Select(w => w.Id.Value).Order(GuidOrder.Instance), seen.Select(v => v.Value.Id.Value));
        Assert.Equal(2, seen[3].Version);
        Assert.Equal(300, seen[3].Value.Counter);
        Assert.All(seen.Where((_, i) => i != 3), v => Assert.Equal(1, v.Version));
    }

    [Fact]
    public async Task List_Of_Exactly_Full_Pages_Ends_Without_A_Cursor()
    {
        var tenant = NewTenant();
        await InsertAsync([.. Enumerable.Range(0, 6).Select(_ => NewWidget(tenant))]);

        await using var unit = await Store.BeginAsync();
        var first = await unit.ListAsync(Widgets, tenant.Value, null, 3);
        var second = await unit.ListAsync(Widgets, tenant.Value, first.NextCursor, 3);

        Assert.Equal(3, first.Items.Count);
        Assert.NotNull(first.NextCursor);
        Assert.Equal(3, second.Items.Count);
        Assert.Null(second.NextCursor);
        Assert.Empty(second.Items.Select(v => v.Value.Id).Intersect(first.Items.Select(v => v.Value.Id)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(1001)]
    public async Task List_With_A_Limit_Outside_1_To_1000_Is_Invalid_Argument(int limit)
    {
        await using var unit = await Store.BeginAsync();
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => unit.ListAsync(Widgets, NewTenant().Value, null, limit).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Equal("limit", error.Context["field"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-cursor")]
    [InlineData("wid_01jd8x6w2qf3y9k7m5n4p0r8st")]
    [InlineData("0123456789abcdef0123456789abcdeg")]
    public async Task List_With_A_Cursor_Not_From_A_Page_Is_Invalid_Argument(string cursor)
    {
        await using var unit = await Store.BeginAsync();
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => unit.ListAsync(Widgets, NewTenant().Value, cursor, 10).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Equal("cursor", error.Context["field"]);
    }

    [Fact]
    public async Task A_Record_Round_Trips_With_Money_Ids_Instants_Enums_Nullables_And_A_Dictionary()
    {
        var tenant = NewTenant();
        var full = NewWidget(tenant, NewSku()) with
        {
            Name = "Ünïcödé \"quoted\" \\ widget",
            Price = Money.Of(1.000000000000000001m, AssetRegistry.Eth),
            Discount = Money.Of(12.50m, AssetRegistry.Usd),
            CreatedAt = Instant.FromUtc(2026, 2, 3, 4, 5, 6) + Duration.FromNanoseconds(123_456_789),
            ShippedAt = Instant.FromUtc(2026, 2, 4, 0, 0),
            Status = WidgetStatus.InStock,
            Attributes = new Dictionary<string, string> { ["Colour"] = "red", ["size_cm"] = "12.5", ["empty"] = string.Empty },
            Counter = long.MaxValue,
        };
        var sparse = NewWidget(tenant) with
        {
            Price = Money.Of(1500m, AssetRegistry.Jpy),
            Discount = null,
            ShippedAt = null,
            Sku = null,
            Status = WidgetStatus.SoldOut,
        };
        await InsertAsync(full, sparse);

        AssertSameWidget(full, (await GetAsync(full))!.Value);
        AssertSameWidget(sparse, (await GetAsync(sparse))!.Value);
        AssertSameWidget(full, (await FindAsync(tenant, full.Sku!))!.Value);
        await using var unit = await Store.BeginAsync();
        var listed = await unit.ListAsync(Widgets, tenant.Value, null, 10);
        Assert.Equal(2, listed.Items.Count);
        AssertSameWidget(full, listed.Items[0].Value);
        AssertSameWidget(sparse, listed.Items[1].Value);
    }

    [Fact]
    public async Task Racing_Updates_Of_One_Record_Let_Exactly_One_Win_Per_Round_And_Lose_No_Update()
    {
        var tenant = NewTenant();
        var counter = NewWidget(tenant);
        await InsertAsync(counter);
        var contenders = Enumerable.Range(0, Racers).ToList();
        var conflicts = 0;

        // Every round, each remaining task reads the counter, waits until all have read, then writes
        // the increment against the version it read: the first commit wins, all others must conflict.
        for (var round = 1; round <= Racers; round++)
        {
            var barrier = new AsyncBarrier(contenders.Count);
            var outcomes = await Task.WhenAll(contenders.Select(_ => Task.Run(() => TryIncrementAsync(counter, barrier))));
            var winners = contenders.Where((_, i) => outcomes[i]).ToList();
            Assert.Single(winners);
            conflicts += outcomes.Count(won => !won);
            contenders.Remove(winners[0]);
        }

        var final = await GetAsync(counter);
        Assert.Equal(Racers, final?.Value.Counter);
        Assert.Equal(Racers + 1, final?.Version);
        Assert.Equal(Racers * (Racers - 1) / 2, conflicts);
    }

    [Fact]
    public async Task Racing_Increments_Retried_On_Conflict_Lose_No_Update()
    {
        var tenant = NewTenant();
        var counter = NewWidget(tenant);
        await InsertAsync(counter);
        var start = new AsyncBarrier(Racers);

        await Task.WhenAll(Enumerable.Range(0, Racers).Select(_ => Task.Run(async () =>
        {
            await start.SignalAndWaitAsync(RaceTimeout);

            // ExecuteAsync retries a bounded number of times; with 32 racers a task may exhaust them, so retry again.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await Store.ExecuteAsync(async (unit, ct) =>
                    {
                        var current = await unit.GetAsync(Widgets, tenant.Value, counter.Id.Value, ct);
                        unit.Update(Widgets, current!.Value with { Counter = current.Value.Counter + 1 }, current.Version);
                        return current.Version;
                    });
                    return;
                }
                catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ConcurrencyConflict && attempt < 100)
                {
                    // Lost too many races in a row; go again.
                }
            }
        })));

        var final = await GetAsync(counter);
        Assert.Equal(Racers, final?.Value.Counter);
        Assert.Equal(Racers + 1, final?.Version);
    }

    [Fact]
    public async Task A_Refusal_Decided_On_Reads_Another_Commit_Changed_Meanwhile_Is_Retried_On_Fresh_Reads()
    {
        // The pair is always committed together, so seeing them at different counts means a commit landed between the reads.
        var tenant = NewTenant();
        var (first, second) = (NewWidget(tenant), NewWidget(tenant));
        await InsertAsync(first, second);
        var runs = 0;

        var counted = await Store.ExecuteAsync(async (unit, ct) =>
        {
            runs++;
            var one = (await unit.GetAsync(Widgets, tenant.Value, first.Id.Value, ct))!;
            if (runs == 1)
            {
                await IncrementTogetherAsync(tenant, first, second);
            }

            var two = (await unit.GetAsync(Widgets, tenant.Value, second.Id.Value, ct))!;
            return one.Value.Counter == two.Value.Counter ? one.Value.Counter : throw TornPair(one, two);
        });

        Assert.Equal((1, 2), (counted, runs));
    }

    [Fact]
    public async Task A_Refusal_Decided_On_A_Record_Inserted_Meanwhile_Is_Retried_On_Fresh_Reads()
    {
        var tenant = NewTenant();
        var widget = NewWidget(tenant);
        var runs = 0;

        var found = await Store.ExecuteAsync(async (unit, ct) =>
        {
            runs++;
            var read = await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value, ct);
            if (runs == 1)
            {
                await InsertAsync(widget);
            }

            return read?.Value.Id ?? throw new PaymentsKitException(PaymentsKitErrorCodes.NotFound, "No such widget.");
        });

        Assert.Equal((widget.Id, 2), (found, runs));
    }

    [Fact]
    public async Task A_Refusal_Decided_On_A_Ledger_Account_Read_As_Another_Tenant_That_Changed_Meanwhile_Is_Retried()
    {
        // The ledger's accounts are typed rows behind a view on PostgreSQL; a read as the wrong tenant answers null but
        // still rests on the record as it was, so its change makes the refusal stale too.
        var ledger = new PaymentsKit.Ledger.LedgerService(Store, _clock, new AssetRegistry());
        var tenant = NewTenant();
        var payer = await ledger.CreateAccountAsync(tenant, new PaymentsKit.Ledger.CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, PaymentsKit.Ledger.LedgerSide.Debit));
        var payee = await ledger.CreateAccountAsync(tenant, new PaymentsKit.Ledger.CreateLedgerAccountRequest("payee", "Payee", AssetRegistry.Usdc, PaymentsKit.Ledger.LedgerSide.Credit));
        var runs = 0;

        var refused = await Assert.ThrowsAsync<PaymentsKitException>(() => Store.ExecuteAsync<int>(async (unit, ct) =>
        {
            runs++;
            Assert.NotNull(await unit.GetAsync(PaymentsKit.Ledger.LedgerCollections.Accounts, tenant.Value, payer.Id.Value, ct));
            Assert.Null(await unit.GetAsync(PaymentsKit.Ledger.LedgerCollections.Accounts, NewTenant().Value, payee.Id.Value, ct));
            if (runs == 1)
            {
                await ledger.ReserveAsync(tenant, new PaymentsKit.Ledger.ReserveLedgerTransferRequest(payer.Id, payee.Id, Money.Of(1, AssetRegistry.Usdc)), ct);
            }

            throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidTransition, "Refused.");
        }).AsTask());

        Assert.Equal((PaymentsKitErrorCodes.InvalidTransition, 2), (refused.Code, runs));
    }

    [Fact]
    public async Task A_Taken_Key_Refused_At_Commit_Beside_An_Update_Of_A_Stale_Version_Is_Retried_On_Fresh_Reads()
    {
        // The update names a version read in an earlier unit, as a service that read outside its unit does; whichever
        // write the store judges first, the commit lost a race and is decided again.
        var tenant = NewTenant();
        var (widget, holder) = (NewWidget(tenant), NewWidget(tenant, NewSku()));
        await InsertAsync(widget, holder);
        var earlier = (await GetAsync(widget))!;
        var runs = 0;

        var committed = await Store.ExecuteAsync(async (unit, ct) =>
        {
            runs++;
            var read = runs == 1 ? earlier : (await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value, ct))!;
            if (runs == 1)
            {
                await IncrementTogetherAsync(tenant, widget, holder);
            }

            unit.Insert(Widgets, NewWidget(tenant, runs == 1 ? holder.Sku : NewSku()));
            unit.Update(Widgets, read.Value with { Counter = read.Value.Counter + 10 }, read);
            return read.Version;
        });

        Assert.Equal((2L, 2), (committed, runs));
        Assert.Equal(11, (await GetAsync(widget))?.Value.Counter);
    }

    [Fact]
    public async Task A_Taken_Key_Refused_At_Commit_On_Current_Reads_Is_Thrown_Without_A_Retry()
    {
        var tenant = NewTenant();
        var (widget, holder) = (NewWidget(tenant), NewWidget(tenant, NewSku()));
        await InsertAsync(widget, holder);
        var runs = 0;

        var refused = await Assert.ThrowsAsync<PaymentsKitException>(() => Store.ExecuteAsync(async (unit, ct) =>
        {
            runs++;
            var read = (await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value, ct))!;
            unit.Insert(Widgets, NewWidget(tenant, holder.Sku));
            unit.Update(Widgets, read.Value with { Counter = 1 }, read);
            return read.Version;
        }).AsTask());

        Assert.Equal((PaymentsKitErrorCodes.DuplicateKey, 1), (refused.Code, runs));
    }

    [Fact]
    public async Task A_Refusal_Decided_On_Reads_Still_Current_Is_Thrown_Without_A_Retry()
    {
        var tenant = NewTenant();
        var (widget, absent) = (NewWidget(tenant), NewWidget(tenant));
        await InsertAsync(widget);
        var runs = 0;

        var refused = await Assert.ThrowsAsync<PaymentsKitException>(() => Store.ExecuteAsync<int>(async (unit, ct) =>
        {
            runs++;
            Assert.NotNull(await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value, ct));
            Assert.Null(await unit.GetAsync(Widgets, tenant.Value, absent.Id.Value, ct));
            throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidTransition, "Refused on current reads.");
        }).AsTask());

        Assert.Equal((PaymentsKitErrorCodes.InvalidTransition, 1), (refused.Code, runs));
    }

    [Fact]
    public async Task A_Refusal_Whose_Reads_Change_On_Every_Run_Is_Thrown_After_The_Last_Attempt()
    {
        var tenant = NewTenant();
        var (first, second) = (NewWidget(tenant), NewWidget(tenant));
        await InsertAsync(first, second);
        var runs = 0;

        var refused = await Assert.ThrowsAsync<PaymentsKitException>(() => Store.ExecuteAsync<int>(async (unit, ct) =>
        {
            runs++;
            var one = (await unit.GetAsync(Widgets, tenant.Value, first.Id.Value, ct))!;
            await IncrementTogetherAsync(tenant, first, second);
            var two = (await unit.GetAsync(Widgets, tenant.Value, second.Id.Value, ct))!;
            throw TornPair(one, two);
        }).AsTask());

        Assert.Equal((PaymentsKitErrorCodes.InvalidTransition, PaymentsStoreExtensions.MaxAttempts), (refused.Code, runs));
    }

    [Fact]
    public async Task A_Refusal_Of_A_Unit_That_Read_Nothing_Is_Thrown_Without_A_Retry()
    {
        var runs = 0;

        var refused = await Assert.ThrowsAsync<PaymentsKitException>(() => Store.ExecuteAsync<int>((_, _) =>
        {
            runs++;
            throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, "The amount must be positive.");
        }).AsTask());

        Assert.Equal((PaymentsKitErrorCodes.InvalidArgument, 1), (refused.Code, runs));
    }

    [Fact]
    public async Task Racing_Inserts_Of_One_Unique_Key_Let_Exactly_One_Succeed()
    {
        var tenant = NewTenant();
        var sku = NewSku();
        var candidates = Enumerable.Range(0, Racers).Select(_ => NewWidget(tenant, sku)).ToList();
        var barrier = new AsyncBarrier(Racers);

        var outcomes = await Task.WhenAll(candidates.Select(w => Task.Run(() => TryInsertAsync(w, barrier))));

        Assert.Single(outcomes, o => o is null);
        Assert.All(outcomes.OfType<PaymentsKitException>(), e =>
        {
            Assert.Equal(PaymentsKitErrorCodes.DuplicateKey, e.Code);
            Assert.Equal("sku", e.Context["key"]);
            Assert.Equal(sku, e.Context["value"]);
        });
        var winner = candidates[Array.FindIndex(outcomes, o => o is null)];
        Assert.Equal(winner.Id, (await FindAsync(tenant, sku))?.Value.Id);
        await using var unit = await Store.BeginAsync();
        Assert.Single((await unit.ListAsync(Widgets, tenant.Value, null, 100)).Items);
    }

    [Fact]
    public async Task Racing_Inserts_Of_One_Id_Let_Exactly_One_Succeed()
    {
        var tenant = NewTenant();
        var id = NewId();
        var candidates = Enumerable.Range(0, Racers).Select(i => NewWidget(tenant) with { Id = id, Counter = i }).ToList();
        var barrier = new AsyncBarrier(Racers);

        var outcomes = await Task.WhenAll(candidates.Select(w => Task.Run(() => TryInsertAsync(w, barrier))));

        Assert.Single(outcomes, o => o is null);
        Assert.All(outcomes.OfType<PaymentsKitException>(), e =>
        {
            Assert.Equal(PaymentsKitErrorCodes.DuplicateKey, e.Code);
            Assert.Equal("id", e.Context["key"]);
        });
        var winner = candidates[Array.FindIndex(outcomes, o => o is null)];
        Assert.Equal(winner.Counter, (await GetAsync(winner))?.Value.Counter);
    }

    [Fact]
    public void Random_Commit_Sequences_Meet_Specification()
    {
        // A model of the contract (ids, versions, unique keys, all-or-nothing) run side by side with
        // the store: every commit must succeed exactly when the model says, fail with the model's
        // code, and leave the store in the model's state.
        const int Slots = 4;
        var op =
            from insert in Gen.Frequency((1, Gen.Constant(true)), (2, Gen.Constant(false)))
            from skew in Gen.Frequency((6, Gen.Constant(0)), (1, Gen.Elements(-1, 1)))
            from sku in Gen.Frequency((1, Gen.Constant<int?>(null)), (3, Gen.Choose(0, 2).Select(i => (int?)i)))
            select (Insert: insert, Skew: skew, Sku: sku);
        var commit =
            from count in Gen.Choose(1, 3)
            from slots in Gen.Shuffle(Enumerable.Range(0, Slots))
            from ops in Gen.CollectToArray(slots.Take(count), slot => op.Select(o => new ModelOp(slot, o.Insert, o.Skew, o.Sku)))
            select ops;
        var scenario =
            from length in Gen.Choose(1, 8)
            from commits in Gen.ListOf(commit, length)
            select commits.ToArray();

        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(40),
            Prop.ForAll(scenario.ToArbitrary(), commits => Task.Run(() => RunScenarioAsync(Slots, commits)).GetAwaiter().GetResult()));
    }

    /// <summary>A new tenant id.</summary>
    protected static MerchantId NewTenant() => new(Guid.NewGuid());

    /// <summary>A SKU no other test uses.</summary>
    protected static string NewSku() => "sku-" + Guid.NewGuid().ToString("N");

    /// <summary>A new widget id, later in UUIDv7 order than every id made before by this instance.</summary>
    protected WidgetId NewId()
    {
        _clock.Advance(Duration.FromMilliseconds(1));
        return TypedId.New<WidgetId>(_clock);
    }

    /// <summary>A widget of a tenant.</summary>
    protected Widget NewWidget(MerchantId tenant, string? sku = null) =>
        new(NewId(), tenant, "widget", sku, Money.Of(9.99m, AssetRegistry.Usd), null, _clock.GetCurrentInstant(), null, WidgetStatus.Draft, NoAttributes, 0);

    /// <summary>Inserts widgets in one commit.</summary>
    protected async Task InsertAsync(params Widget[] widgets)
    {
        await using var unit = await Store.BeginAsync();
        foreach (var widget in widgets)
        {
            unit.Insert(Widgets, widget);
        }

        await unit.CommitAsync();
    }

    /// <summary>Updates one widget in its own commit.</summary>
    protected async Task UpdateAsync(Widget widget, long expectedVersion)
    {
        await using var unit = await Store.BeginAsync();
        unit.Update(Widgets, widget, expectedVersion);
        await unit.CommitAsync();
    }

    /// <summary>Raises both widgets' counters by one in one commit of its own.</summary>
    private async Task IncrementTogetherAsync(MerchantId tenant, Widget first, Widget second)
    {
        await using var unit = await Store.BeginAsync();
        foreach (var widget in new[] { first, second })
        {
            var read = (await unit.GetAsync(Widgets, tenant.Value, widget.Id.Value))!;
            unit.Update(Widgets, read.Value with { Counter = read.Value.Counter + 1 }, read.Version);
        }

        await unit.CommitAsync();
    }

    private static PaymentsKitException TornPair(Versioned<Widget> one, Versioned<Widget> two) =>
        new(PaymentsKitErrorCodes.InvalidTransition, $"The pair was read at counters {one.Value.Counter} and {two.Value.Counter}.");

    /// <summary>Reads a widget as its own tenant in a fresh unit.</summary>
    protected async Task<Versioned<Widget>?> GetAsync(Widget widget)
    {
        await using var unit = await Store.BeginAsync();
        return await unit.GetAsync(Widgets, widget.MerchantId.Value, widget.Id.Value);
    }

    /// <summary>Finds a widget by SKU in a fresh unit.</summary>
    protected async Task<Versioned<Widget>?> FindAsync(MerchantId tenant, string sku)
    {
        await using var unit = await Store.BeginAsync();
        return await unit.FindAsync(Widgets, tenant.Value, "sku", sku);
    }

    /// <summary>Compares widgets field by field (the dictionary by content).</summary>
    protected static void AssertSameWidget(Widget expected, Widget actual)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        Assert.Equal(expected with { Attributes = NoAttributes }, actual with { Attributes = NoAttributes });
        Assert.Equal(expected.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal), actual.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal));
    }

    private static async Task<PaymentsKitException> CommitFailsAsync(IUnitOfWork unit, string code)
    {
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => unit.CommitAsync().AsTask());
        Assert.Equal(code, error.Code);
        return error;
    }

    private static async Task AssertClosedAsync(IUnitOfWork unit, Widget widget)
    {
        var tenant = widget.MerchantId.Value;
        var errors = new List<PaymentsKitException>
        {
            Assert.Throws<PaymentsKitException>(() => unit.Insert(Widgets, widget)),
            Assert.Throws<PaymentsKitException>(() => unit.Update(Widgets, widget, 1)),
            await Assert.ThrowsAsync<PaymentsKitException>(() => unit.GetAsync(Widgets, tenant, widget.Id.Value).AsTask()),
            await Assert.ThrowsAsync<PaymentsKitException>(() => unit.FindAsync(Widgets, tenant, "sku", "x").AsTask()),
            await Assert.ThrowsAsync<PaymentsKitException>(() => unit.ListAsync(Widgets, tenant, null, 10).AsTask()),
            await Assert.ThrowsAsync<PaymentsKitException>(() => unit.CommitAsync().AsTask()),
        };
        Assert.All(errors, e => Assert.Equal(PaymentsKitErrorCodes.UnitOfWorkClosed, e.Code));
    }

    private async Task RunScenarioAsync(int slots, ModelOp[][] commits)
    {
        var tenant = NewTenant();
        var ids = Enumerable.Range(0, slots).Select(_ => NewId()).ToArray();
        var skuPrefix = NewSku();
        string? Sku(int? value) => value is null ? null : $"{skuPrefix}-{value}";
        var versions = new long[slots];
        var skus = new int?[slots];
        var counters = new long[slots];
        for (var c = 0; c < commits.Length; c++)
        {
            var ops = commits[c];
            var touched = ops.Select(o => o.Slot).ToHashSet();
            var conflict = false;
            var duplicate = false;
            var claimed = new HashSet<int>(Enumerable.Range(0, slots).Where(s => versions[s] > 0 && !touched.Contains(s) && skus[s] is not null).Select(s => skus[s]!.Value));
            await using (var unit = await Store.BeginAsync())
            {
                foreach (var o in ops)
                {
                    var widget = NewWidget(tenant, Sku(o.Sku)) with { Id = ids[o.Slot], Counter = c };
                    duplicate |= o.Sku is { } sku && !claimed.Add(sku);
                    if (o.Insert)
                    {
                        duplicate |= versions[o.Slot] > 0;
                        unit.Insert(Widgets, widget);
                    }
                    else
                    {
                        var expected = Math.Max(1, versions[o.Slot] + o.Skew);
                        conflict |= versions[o.Slot] != expected;
                        unit.Update(Widgets, widget, expected);
                    }
                }

                if (!conflict && !duplicate)
                {
                    await unit.CommitAsync();
                    foreach (var o in ops)
                    {
                        versions[o.Slot] = o.Insert ? 1 : versions[o.Slot] + 1;
                        skus[o.Slot] = o.Sku;
                        counters[o.Slot] = c;
                    }
                }
                else
                {
                    var error = await Assert.ThrowsAsync<PaymentsKitException>(() => unit.CommitAsync().AsTask());
                    string[] allowed = conflict && duplicate
                        ? [PaymentsKitErrorCodes.ConcurrencyConflict, PaymentsKitErrorCodes.DuplicateKey]
                        : [conflict ? PaymentsKitErrorCodes.ConcurrencyConflict : PaymentsKitErrorCodes.DuplicateKey];
                    Assert.Contains(error.Code, allowed);
                }
            }

            await using var check = await Store.BeginAsync();
            var stored = (await check.ListAsync(Widgets, tenant.Value, null, 100)).Items.ToDictionary(v => v.Value.Id);
            for (var s = 0; s < slots; s++)
            {
                if (versions[s] == 0)
                {
                    Assert.False(stored.ContainsKey(ids[s]));
                    continue;
                }

                var record = stored[ids[s]];
                Assert.Equal(versions[s], record.Version);
                Assert.Equal(Sku(skus[s]), record.Value.Sku);
                Assert.Equal(counters[s], record.Value.Counter);
            }

            Assert.Equal(versions.Count(v => v > 0), stored.Count);
            for (var value = 0; value <= 2; value++)
            {
                var holder = Array.FindIndex(skus, k => k == value);
                var found = await check.FindAsync(Widgets, tenant.Value, "sku", Sku(value)!);
                Assert.Equal(holder < 0 || versions[holder] == 0 ? null : ids[holder], found?.Value.Id);
            }
        }
    }

    private async Task<bool> TryIncrementAsync(Widget counter, AsyncBarrier barrier)
    {
        await using var unit = await Store.BeginAsync();
        var current = await unit.GetAsync(Widgets, counter.MerchantId.Value, counter.Id.Value)
            ?? throw new InvalidOperationException("The counter vanished.");
        await barrier.SignalAndWaitAsync(RaceTimeout);
        unit.Update(Widgets, current.Value with { Counter = current.Value.Counter + 1 }, current.Version);
        try
        {
            await unit.CommitAsync();
            return true;
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ConcurrencyConflict)
        {
            Assert.True(ex.IsTransient);
            return false;
        }
    }

    private async Task<PaymentsKitException?> TryInsertAsync(Widget widget, AsyncBarrier barrier)
    {
        await using var unit = await Store.BeginAsync();
        unit.Insert(Widgets, widget);
        await barrier.SignalAndWaitAsync(RaceTimeout);
        try
        {
            await unit.CommitAsync();
            return null;
        }
        catch (PaymentsKitException ex)
        {
            return ex;
        }
    }
}

/// <summary>One write of a generated commit: insert or update (with a version skew) of a slot, with a SKU from a small pool.</summary>
public sealed record ModelOp(int Slot, bool Insert, int Skew, int? Sku);
