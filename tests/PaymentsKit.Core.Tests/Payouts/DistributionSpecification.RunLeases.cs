using System.Collections.Concurrent;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Payouts;

/// <summary>One run executes a distribution at a time: a run holds a lease on it, renewed while it runs.</summary>
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
