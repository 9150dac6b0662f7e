using NodaTime;
using PaymentsKit.Payouts;

namespace PaymentsKit.Tests.Payouts;

public abstract partial class DistributionSpecification
{
    [Fact]
    public async Task GetDue_Returns_Pending_Scheduled_And_Recurring_Distributions_Once_Due_Oldest_First()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var otherAsset = await AssetAsync(service, tenant: OtherTenant);
        var march = await service.CreateDistributionAsync(
            Tenant, Fixed(asset, 5m, DistributionExecution.Scheduled) with { ScheduledTime = new LocalDateTime(2026, 3, 1, 9, 0), TimeZone = "Europe/Madrid" });
        var february = await service.CreateDistributionAsync(
            OtherTenant,
            Fixed(otherAsset, 5m, DistributionExecution.Recurring) with { StartTime = new LocalDateTime(2026, 2, 1, 0, 0), Frequency = DistributionFrequency.Weekly });
        var manual = await service.CreateDistributionAsync(Tenant, Fixed(asset, 5m));
        var automatic = await service.CreateDistributionAsync(Tenant, Fixed(asset, 5m, DistributionExecution.Automatic) with { TriggerCondition = "coupon date" });

        async Task<List<DistributionId>> DueAsync(Instant now) =>
            [.. (await service.GetDueAsync(now, 1000)).Where(d => d.TenantId == Tenant || d.TenantId == OtherTenant).Select(d => d.Id)];

        Assert.Empty(await DueAsync(Instant.FromUtc(2026, 1, 31, 23, 59)));
        Assert.Equal([february.Id], await DueAsync(Instant.FromUtc(2026, 2, 1, 0, 0)));

        // 09:00 in Madrid is 08:00 UTC in winter.
        Assert.Equal([february.Id], await DueAsync(Instant.FromUtc(2026, 3, 1, 7, 59)));
        Assert.Equal([february.Id, march.Id], await DueAsync(Instant.FromUtc(2026, 3, 1, 8, 0)));
        Assert.DoesNotContain(manual.Id, await DueAsync(Instant.FromUtc(2030, 1, 1, 0, 0)));
        Assert.DoesNotContain(automatic.Id, await DueAsync(Instant.FromUtc(2030, 1, 1, 0, 0)));

        // Once it runs it is no longer due.
        Clock.Set(Instant.FromUtc(2026, 3, 1, 8, 0));
        await service.ImportHolderSnapshotAsync(Tenant, march.Id, Holders(1));
        Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(Tenant, march.Id)).Status);
        Assert.Equal([february.Id], await DueAsync(Instant.FromUtc(2026, 3, 1, 8, 0)));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.GetDueAsync(Clock.GetCurrentInstant(), 0).AsTask());
    }

    [Fact]
    public async Task A_Recurring_Distribution_Schedules_Its_Next_Occurrence_On_The_Anchored_Day_When_It_Finishes()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var first = await service.CreateDistributionAsync(
            Tenant,
            Fixed(asset, 10m, DistributionExecution.Recurring) with { StartTime = new LocalDateTime(2026, 1, 31, 9, 0), Frequency = DistributionFrequency.Monthly });

        async Task<Distribution> RunDueAsync(Instant at)
        {
            Clock.Set(at);
            var due = Assert.Single(await service.GetDueAsync(at, 1000), d => d.TenantId == Tenant);
            await service.ImportHolderSnapshotAsync(Tenant, due.Id, Holders(1, 1));
            var done = await service.ExecuteAsync(Tenant, due.Id);
            Assert.Equal(DistributionStatus.Completed, done.Status);
            return done;
        }

        Clock.Set(Instant.FromUtc(2026, 1, 31, 8, 59));
        Assert.DoesNotContain(await service.GetDueAsync(Clock.GetCurrentInstant(), 1000), d => d.TenantId == Tenant);
        var january = await RunDueAsync(Instant.FromUtc(2026, 1, 31, 9, 0));
        Assert.Equal(first.Id, january.Id);

        // The series is named by its first distribution, the first one included, so every occurrence is found by SeriesId.
        Assert.Equal((0, first.Id), (first.Occurrence, first.SeriesId));
        Assert.Equal(first.Id, (await service.GetDistributionAsync(Tenant, first.Id)).SeriesId);
        var next = (await service.ListDistributionsAsync(Tenant, null, 100)).Items.Single(d => d.Status == DistributionStatus.Pending);
        Assert.Equal(Instant.FromUtc(2026, 2, 28, 9, 0), next.DueAt);
        Assert.Equal((1, first.Id), (next.Occurrence, next.SeriesId));
        Assert.Null(next.Snapshot);
        Assert.Equal(first.Amount, next.Amount);

        var february = await RunDueAsync(Instant.FromUtc(2026, 2, 28, 9, 0));
        Assert.Equal(next.Id, february.Id);

        // March runs late (the worker was down until mid April): the missed occurrence coalesces into April 30.
        var march = await RunDueAsync(Instant.FromUtc(2026, 4, 15, 0, 0));
        Assert.Equal(Instant.FromUtc(2026, 3, 31, 9, 0), march.DueAt);
        var april = (await service.ListDistributionsAsync(Tenant, null, 100)).Items.Single(d => d.Status == DistributionStatus.Pending);
        Assert.Equal(Instant.FromUtc(2026, 4, 30, 9, 0), april.DueAt);
        Assert.Equal((3, first.Id), (april.Occurrence, april.SeriesId));
        Assert.Null((await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m))).SeriesId);
    }

    [Fact]
    public async Task GetDue_Pages_On_With_A_Cursor_Past_The_Due_Distributions_It_Has_Seen()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var second = new LocalDateTime(1999, 12, 31, 23, 59, 59);
        LocalDateTime[] times =
        [
            new(1999, 12, 31, 23, 0), new(1999, 12, 31, 23, 0), new(1999, 12, 31, 23, 0),

            // The first instant a store keeps (DateTime.MinValue, which Npgsql would send as -infinity).
            new(1, 1, 1, 0, 0), new(1, 1, 1, 0, 0),

            // Within one microsecond (the finest time PostgreSQL keeps), and just before its epoch, where a cursor rounded the
            // wrong way would skip the second.
            second.PlusNanoseconds(999_999_500), second.PlusNanoseconds(999_999_000), second.PlusNanoseconds(999_999_500),
        ];
        foreach (var at in times)
        {
            await service.CreateDistributionAsync(Tenant, Fixed(asset, 5m, DistributionExecution.Scheduled) with { ScheduledTime = at, TimeZone = "UTC" });
        }

        var now = Instant.FromUtc(2000, 1, 1, 0, 0);
        var all = (await service.GetDueAsync(now, 1000)).Where(d => d.TenantId == Tenant).Select(d => d.Id).ToList();
        Assert.Equal(times.Length, all.Count);

        // Two at a time (other tests' distributions, due too, come in between): each one once, in the store's order. So too
        // through an index that predates the cursor (the interface's default pages over its oldest-first list).
        DistributionService[] services =
            [service, new(Store, HolderStore, new IndexWithoutCursor(DueIndex), new SimulatedPayoutExecutor(Clock), Ledger, Clock, Assets)];
        foreach (var paging in services)
        {
            var paged = new List<DistributionId>();
            DueDistribution? after = null;
            for (var pages = 0; ; pages++)
            {
                Assert.True(pages < 1000, "the cursor does not move on");
                var page = await paging.GetDueAsync(now, 2, after);
                paged.AddRange(page.Where(d => d.TenantId == Tenant).Select(d => d.Id));
                if (page.Count < 2)
                {
                    break;
                }

                after = new DueDistribution(page[^1].TenantId, page[^1].Id, page[^1].DueAt!.Value);
            }

            Assert.Equal(all, paged);
        }
    }

    [Fact]
    public async Task A_Due_Page_Says_Where_The_Index_Stopped_And_Whether_It_Ran_Out_Even_When_Its_Records_Are_No_Longer_Due()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var due = new List<Distribution>();
        for (var i = 0; i < 4; i++)
        {
            // A microsecond apart and not on one: PostgreSQL's index keeps a coarser due time than the record.
            due.Add(await service.CreateDistributionAsync(
                Tenant,
                Fixed(asset, 5m, DistributionExecution.Scheduled) with { ScheduledTime = new LocalDateTime(1999, 1, 1, 0, 0).PlusNanoseconds((i * 1000) + 700), TimeZone = "UTC" }));
        }

        // The index lags: it still lists the two oldest after another host ran them.
        var now = Instant.FromUtc(2000, 1, 1, 0, 0);
        var lagging = new LaggingIndex([.. (await DueIndex.ListDueAsync(now, 1000)).Where(e => e.TenantId == Tenant)]);
        Assert.Equal(due.Select(d => d.Id), lagging.Entries.Select(e => e.Id));
        Clock.Set(now);
        foreach (var gone in due.Take(2))
        {
            await service.ImportHolderSnapshotAsync(Tenant, gone.Id, Holders(1));
            Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(Tenant, gone.Id)).Status);
        }

        var paging = new DistributionService(Store, HolderStore, lagging, new SimulatedPayoutExecutor(Clock), Ledger, Clock, Assets);

        // Both entries of the first page are gone: the page is empty, yet the index did not run out, and the cursor is its
        // last entry (the index's, not the record's due time).
        var first = await paging.GetDuePageAsync(now, 2, null);
        Assert.Empty(first.Distributions);
        Assert.False(first.Exhausted);
        Assert.Equal(lagging.Entries[1], first.Next);

        var second = await paging.GetDuePageAsync(now, 2, first.Next);
        Assert.Equal(due.Skip(2).Select(d => d.Id), second.Distributions.Select(d => d.Id));
        Assert.False(second.Exhausted);
        Assert.Equal(lagging.Entries[3], second.Next);

        var third = await paging.GetDuePageAsync(now, 2, second.Next);
        Assert.Empty(third.Distributions);
        Assert.True(third.Exhausted);
        Assert.Equal(second.Next, third.Next);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => paging.GetDuePageAsync(now, 0, null).AsTask());

        // The list the page is read from drops the gone ones the same way.
        Assert.Empty(await paging.GetDueAsync(now, 2, null));
    }

    /// <summary>An index that serves the entries it was given, whatever has happened to their distributions since.</summary>
    private sealed class LaggingIndex(IReadOnlyList<DueDistribution> entries) : IDueDistributionIndex
    {
        public IReadOnlyList<DueDistribution> Entries => entries;

        public ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, CancellationToken cancellationToken = default) =>
            ListDueAsync(now, limit, null, cancellationToken);

        public ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<DueDistribution>>([.. DueDistribution.After(entries, e => e, after).Take(limit)]);
    }

    /// <summary>An index written before the cursor: only the oldest-first list.</summary>
    private sealed class IndexWithoutCursor(IDueDistributionIndex inner) : IDueDistributionIndex
    {
        public ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, CancellationToken cancellationToken = default) =>
            inner.ListDueAsync(now, limit, cancellationToken);
    }
}
