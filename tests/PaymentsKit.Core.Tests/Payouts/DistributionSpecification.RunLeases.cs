using System.Collections.Concurrent;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Payouts;

/// <summary>
/// One run executes a distribution at a time: a run holds a lease on it, renewed while it runs, and a run whose lease lapsed
/// (its host died) is due again, to be resumed exactly once however many hosts try.
/// </summary>
public abstract partial class DistributionSpecification
{
    [Fact]
    public async Task A_Second_Run_While_The_First_Is_Executing_A_Batch_Executes_Nothing_And_Each_Batch_Runs_Once()
    {
        var executor = new GatedExecutor(new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 3 }), blockBatch: 2);
        var here = Service(executor);
        var (distribution, payouts) = await FundedDistributionAsync(here, holders: 12);

        var first = Task.Run(async () => await here.ExecuteAsync(Tenant, distribution.Id));
        await executor.Entered.WaitAsync(TimeSpan.FromSeconds(30));

        // What a host that took over an expired job lease does: run the distribution. Batch 2 is being paid right now.
        var second = await ServiceOn(await CreateOtherHostStoresAsync(), executor).ExecuteAsync(Tenant, distribution.Id);

        Assert.Equal(DistributionStatus.Processing, second.Status);
        Assert.Equal(new Dictionary<int, int> { [1] = 1, [2] = 1 }, executor.CallsByBatch);
        executor.Release();
        var done = await first;
        Assert.Equal(DistributionStatus.Completed, done.Status);
        Assert.All(executor.CallsByBatch.Values, calls => Assert.Equal(1, calls));
        Assert.Equal(0, executor.Overlaps);
        await AssertPaidOnceAsync(executor.Inner, distribution, payouts, holders: 12);
    }

    [Fact]
    public async Task A_Run_Renews_Its_Lease_While_A_Batch_Takes_Longer_Than_The_Lease_So_No_Other_Run_Takes_It_Over()
    {
        var options = new PayoutOptions { RunLease = TimeSpan.FromMinutes(1) };
        var executor = new GatedExecutor(new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 3 }), blockBatch: 1);
        var here = Service(executor, options);
        var (distribution, payouts) = await FundedDistributionAsync(here, holders: 6);

        var first = Task.Run(async () => await here.ExecuteAsync(Tenant, distribution.Id));
        await executor.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        var lease = (await here.GetDistributionAsync(Tenant, distribution.Id)).RunLeaseExpiresAt;
        Assert.Equal(Clock.GetCurrentInstant() + Duration.FromMinutes(1), lease);

        // Two thirds of a lease, twice: past the lease the run took, but the run renewed it while its batch was paying.
        for (var i = 0; i < 2; i++)
        {
            Clock.Advance(Duration.FromSeconds(40));
            lease = await LeaseRenewedAsync(here, distribution.Id, after: lease!.Value);
            Assert.Equal(Clock.GetCurrentInstant() + Duration.FromMinutes(1), lease);
        }

        var there = ServiceOn(await CreateOtherHostStoresAsync(), executor, options);
        Assert.DoesNotContain(await there.GetDueAsync(Clock.GetCurrentInstant(), 1000), d => d.Id == distribution.Id);
        Assert.Equal(DistributionStatus.Processing, (await there.ExecuteAsync(Tenant, distribution.Id)).Status);
        Assert.Equal(new Dictionary<int, int> { [1] = 1 }, executor.CallsByBatch);

        executor.Release();
        Assert.Equal(DistributionStatus.Completed, (await first).Status);
        Assert.All(executor.CallsByBatch.Values, calls => Assert.Equal(1, calls));
        await AssertPaidOnceAsync(executor.Inner, distribution, payouts, holders: 6);
    }

    [Fact]
    public async Task A_Manual_Run_Whose_Host_Died_Is_Due_Once_Its_Lease_Lapses_And_Racing_Hosts_Resume_It_Executing_Each_Batch_Once()
    {
        var options = new PayoutOptions { RunLease = TimeSpan.FromMinutes(1) };
        var simulated = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 3 });

        // The dying host's clock stands still, so it never renews: the lease it took lapses as if it were dead. It is stuck
        // paying batch 2, holding the holders of that batch submitted.
        var dyingExecutor = new GatedExecutor(simulated, blockBatch: 2);
        var dying = ServiceOn(new Stores(Store, HolderStore, DueIndex), dyingExecutor, options, new ManualClock(Clock.GetCurrentInstant()));
        var (distribution, payouts) = await FundedDistributionAsync(dying, holders: 12);
        var abandoned = Task.Run(async () => await dying.ExecuteAsync(Tenant, distribution.Id));
        await dyingExecutor.Entered.WaitAsync(TimeSpan.FromSeconds(30));

        Clock.Advance(Duration.FromSeconds(59));
        Assert.DoesNotContain(await Service(simulated, options).GetDueAsync(Clock.GetCurrentInstant(), 1000), d => d.Id == distribution.Id);
        Clock.Advance(Duration.FromSeconds(1));
        var due = Assert.Single(await Service(simulated, options).GetDueAsync(Clock.GetCurrentInstant(), 1000), d => d.Id == distribution.Id);
        Assert.Equal(DistributionStatus.Processing, due.Status);

        // Every host's worker finds it due at once and runs it: one resumes it, the others find it taken.
        var resumers = new GatedExecutor(simulated, blockBatch: null);
        var other = await CreateOtherHostStoresAsync();
        var runs = await Race.RunAsync(
            Race.Times(3, "here", async () => (await Service(resumers, options).ExecuteAsync(due.TenantId, due.Id)).Status)
                .Concat(Race.Times(3, "there", async () => (await ServiceOn(other, resumers, options).ExecuteAsync(due.TenantId, due.Id)).Status)));

        Assert.All(runs, o => Assert.True(o.Won, o.ToString()));
        Assert.Equal(DistributionStatus.Completed, (await Service(simulated, options).GetDistributionAsync(Tenant, distribution.Id)).Status);
        Assert.Equal(new Dictionary<int, int> { [2] = 1, [3] = 1, [4] = 1 }, resumers.CallsByBatch);
        Assert.Equal(0, resumers.Overlaps);
        Assert.DoesNotContain(await Service(simulated, options).GetDueAsync(Clock.GetCurrentInstant(), 1000), d => d.Id == distribution.Id);

        // The stuck host comes back: batch 2 answers with its first outcome and nothing else is executed.
        dyingExecutor.Release();
        Assert.Equal(DistributionStatus.Completed, (await abandoned).Status);
        Assert.Equal(new Dictionary<int, int> { [1] = 1, [2] = 1 }, dyingExecutor.CallsByBatch);
        await AssertPaidOnceAsync(simulated, distribution, payouts, holders: 12);
    }

    [Fact]
    public async Task A_Run_That_Lost_Its_Lease_To_Another_Run_Stops_Before_Its_Next_Batch()
    {
        var options = new PayoutOptions { RunLease = TimeSpan.FromMinutes(1) };
        var simulated = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 3 });

        // The stalled host's clock stands still while it pays batch 1, so it does not renew and its lease lapses.
        var stalledClock = new ManualClock(Clock.GetCurrentInstant());
        var stalledExecutor = new GatedExecutor(simulated, blockBatch: 1);
        var stalled = ServiceOn(new Stores(Store, HolderStore, DueIndex), stalledExecutor, options, stalledClock);
        var (distribution, payouts) = await FundedDistributionAsync(stalled, holders: 9);
        var first = Task.Run(async () => await stalled.ExecuteAsync(Tenant, distribution.Id));
        await stalledExecutor.Entered.WaitAsync(TimeSpan.FromSeconds(30));

        Clock.Advance(Duration.FromMinutes(1));
        Assert.Equal(DistributionStatus.Completed, (await ServiceOn(await CreateOtherHostStoresAsync(), simulated, options).ExecuteAsync(Tenant, distribution.Id)).Status);

        // Back, it renews, finds the lease gone to the run that took over, and stops instead of claiming another batch.
        stalledClock.Advance(Duration.FromSeconds(30));
        stalledExecutor.Release();
        var lost = await Assert.ThrowsAsync<PaymentsKitException>(() => first);
        Assert.Equal(PaymentsKitErrorCodes.ConcurrencyConflict, lost.Code);
        Assert.Equal(new Dictionary<int, int> { [1] = 1 }, stalledExecutor.CallsByBatch);
        Assert.Equal(DistributionStatus.Completed, (await Service(simulated).GetDistributionAsync(Tenant, distribution.Id)).Status);
        await AssertPaidOnceAsync(simulated, distribution, payouts, holders: 9);
    }

    [Fact]
    public async Task A_Manual_Run_That_Stopped_Is_Due_At_Once_And_One_That_Failed_Never_Is()
    {
        var simulated = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 3, FailingAccounts = { Account(4) } });
        var crashing = new CrashingExecutor(simulated, new HashSet<int>(), new HashSet<int> { 2 });
        var service = Service(crashing);
        var (distribution, _) = await FundedDistributionAsync(service, holders: 9);

        await Assert.ThrowsAsync<SimulatedCrashException>(() => service.ExecuteAsync(Tenant, distribution.Id).AsTask());

        // Its run ended (the executor's outcome is unknown), so the worker resumes it without waiting for a lease to lapse.
        var due = Assert.Single(await service.GetDueAsync(Clock.GetCurrentInstant(), 1000), d => d.Id == distribution.Id);
        Assert.Equal(DistributionStatus.Processing, due.Status);
        var done = await Service(simulated).ExecuteAsync(due.TenantId, due.Id);

        Assert.Equal(DistributionStatus.Failed, done.Status);
        Assert.Equal(8, done.Result!.PaidHolders);
        Assert.DoesNotContain(await service.GetDueAsync(Clock.GetCurrentInstant() + Duration.FromDays(1), 1000), d => d.Id == distribution.Id);
        Assert.Equal(done, await Service(simulated).ExecuteAsync(Tenant, distribution.Id));
    }

    [Fact]
    public async Task Interrupted_Manual_Runs_Page_In_The_Order_Their_Runs_Ended()
    {
        // Far from the other tests' due times, which share the index on PostgreSQL.
        Clock.Set(Instant.FromUtc(2031, 3, 4, 5, 6).PlusNanoseconds(1700));
        var start = Clock.GetCurrentInstant();
        var stopped = new List<DistributionId>();
        var asset = await AssetAsync(Service());
        for (var i = 0; i < 3; i++)
        {
            var service = Service(new CrashingExecutor(new SimulatedPayoutExecutor(Clock), new HashSet<int> { 1 }, new HashSet<int>()));
            var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 2m));
            await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1));
            await Assert.ThrowsAsync<SimulatedCrashException>(() => service.ExecuteAsync(Tenant, distribution.Id).AsTask());
            stopped.Add(distribution.Id);
            Clock.Advance(Duration.FromSeconds(1));
        }

        var paging = Service();
        var now = Clock.GetCurrentInstant();
        var found = new List<DistributionId>();
        DueDistribution? after = new DueDistribution(Tenant, DistributionId.FromGuid(Guid.Empty), start - Duration.FromSeconds(1));
        for (var page = 0; page < 100; page++)
        {
            var due = await paging.GetDuePageAsync(now, 1, after);
            found.AddRange(due.Distributions.Where(d => d.TenantId == Tenant).Select(d => d.Id));
            if (due.Exhausted)
            {
                break;
            }

            after = due.Next;
        }

        Assert.Equal(stopped, found);
    }

    /// <summary>A MANUAL distribution of 1 USDC per holder (the first of balance 1, …), with the treasury funded to pay it all.</summary>
    private async Task<(Distribution Distribution, LedgerAccountId Payouts)> FundedDistributionAsync(DistributionService service, int holders)
    {
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(holders * 10m);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, holders) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders([.. Enumerable.Repeat(1L, holders)]));
        return (distribution, payouts.Id);
    }

    private async Task AssertPaidOnceAsync(SimulatedPayoutExecutor executor, Distribution distribution, LedgerAccountId payouts, int holders)
    {
        Assert.Equal(holders, executor.Payments.Count(p => p.IdempotencyKey.StartsWith(distribution.Id + "/", StringComparison.Ordinal)));
        Assert.Equal(executor.Payments.Count, executor.Payments.Select(p => p.AccountId).Distinct().Count());
        Assert.All(await AllHoldersAsync(Service(executor), Tenant, distribution.Id), h => Assert.True(h.Paid));
        Assert.Equal(Usd6(holders), (await Ledger.GetAccountAsync(Tenant, payouts)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    /// <summary>Waits (by the wall clock, the renewal runs in the background) until the run's lease ends after <paramref name="after"/>.</summary>
    private async Task<Instant> LeaseRenewedAsync(DistributionService service, DistributionId id, Instant after)
    {
        for (var waited = 0; waited < 200; waited++)
        {
            if ((await service.GetDistributionAsync(Tenant, id)).RunLeaseExpiresAt is { } lease && lease > after)
            {
                return lease;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"The run's lease was not renewed past {after}.");
    }

    /// <summary>
    /// Counts executions per batch and overlapping ones (a call while another with the same key is in flight), and holds the
    /// first execution of one batch until released.
    /// </summary>
    protected sealed class GatedExecutor(SimulatedPayoutExecutor inner, int? blockBatch) : IPayoutExecutor
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ConcurrentDictionary<int, int> _calls = new();
        private readonly ConcurrentDictionary<string, int> _inFlight = new(StringComparer.Ordinal);
        private int _overlaps;

        public SimulatedPayoutExecutor Inner => inner;

        public Task Entered => _entered.Task;

        public Dictionary<int, int> CallsByBatch => new(_calls);

        public int Overlaps => Volatile.Read(ref _overlaps);

        public int MaxTransfersPerBatch => inner.MaxTransfersPerBatch;

        public void Release() => _release.TrySetResult();

        public async ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default)
        {
            _calls.AddOrUpdate(request.BatchNumber, 1, (_, n) => n + 1);
            if (_inFlight.AddOrUpdate(request.IdempotencyKey, 1, (_, n) => n + 1) > 1)
            {
                Interlocked.Increment(ref _overlaps);
            }

            try
            {
                if (request.BatchNumber == blockBatch && _entered.TrySetResult())
                {
                    await _release.Task;
                }

                return await inner.ExecuteAsync(request, cancellationToken);
            }
            finally
            {
                _inFlight.AddOrUpdate(request.IdempotencyKey, 0, (_, n) => n - 1);
            }
        }
    }
}
