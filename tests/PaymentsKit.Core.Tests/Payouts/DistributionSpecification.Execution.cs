using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;

namespace PaymentsKit.Tests.Payouts;

public abstract partial class DistributionSpecification
{
    [Fact]
    public async Task The_Snapshot_Fixes_Each_Holders_Amount_Exactly_Before_Any_Batch_Runs()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var hundred = await service.CreateDistributionAsync(Tenant, Fixed(asset, 0.0001m));
        var progress = new List<HolderImportProgress>();

        var info = await service.ImportHolderSnapshotAsync(Tenant, hundred.Id, Holders(1, 2, 3), new SyncProgress<HolderImportProgress>(progress.Add));

        Assert.Equal(new HolderSnapshotInfo(3, 3, 6, Usd6(0.0001m), Clock.GetCurrentInstant()), info);
        Assert.Equal([17L, 33L, 50L], (await AllHoldersAsync(service, Tenant, hundred.Id)).Select(h => h.Amount));
        Assert.All(await AllHoldersAsync(service, Tenant, hundred.Id), h => Assert.Equal(HolderPaymentState.Pending, h.State));
        Assert.Equal(new HolderImportProgress(3, 3), progress[^1]);
        Assert.Equal(info, (await service.GetDistributionAsync(Tenant, hundred.Id)).Snapshot);

        var tie = await service.CreateDistributionAsync(Tenant, Fixed(asset, 0.001003m));
        await service.ImportHolderSnapshotAsync(Tenant, tie.Id, [new HolderBalance("0.0.1002", 50), new HolderBalance("0.0.1001", 50)]);
        Assert.Equal([("0.0.1001", 502L), ("0.0.1002", 501L)], (await AllHoldersAsync(service, Tenant, tie.Id)).Select(h => (h.AccountId, h.Amount)));

        // Per share: 0.0125 USDC per whole share of a 2-decimal token; truncation stays with the payer.
        var perShare = await service.CreateDistributionAsync(
            Tenant, new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Manual) { Payout = DistributionPayout.PerShare, AmountPerShare = 0.0125m });
        var perShareInfo = await service.ImportHolderSnapshotAsync(Tenant, perShare.Id, Holders(150, 0, 1));
        Assert.Equal([18_750L, 0L, 125L], (await AllHoldersAsync(service, Tenant, perShare.Id)).Select(h => h.Amount));
        Assert.Equal(2, perShareInfo.PayableHolders);
        Assert.Equal(Usd6(0.018875m), perShareInfo.Allocated);

        // Percentage: 2.5 % of a 200 USDC pool, pro rata.
        var percentage = await service.CreateDistributionAsync(
            Tenant, new CreateDistributionRequest(asset.Id, DistributionType.Coupon, DistributionExecution.Manual) { Payout = DistributionPayout.Percentage, Amount = Usd6(200m), Percentage = 2.5m });
        await service.ImportHolderSnapshotAsync(Tenant, percentage.Id, ToAsync(Holders(1, 1, 2)));
        Assert.Equal([1_250_000L, 1_250_000L, 2_500_000L], (await AllHoldersAsync(service, Tenant, percentage.Id)).Select(h => h.Amount));
    }

    [Fact]
    public async Task Bad_Snapshots_Are_Refused_And_A_Distribution_Takes_Exactly_One()
    {
        var service = Service();
        var asset = await AssetAsync(service, supply: 1_000);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m));

        async Task Refused(string code, params HolderBalance[] holders) =>
            await FailsAsync(code, () => service.ImportHolderSnapshotAsync(Tenant, distribution.Id, holders).AsTask());

        await Refused(PaymentsKitErrorCodes.InvalidArgument, new HolderBalance("0.0.1", 5), new HolderBalance("0.0.1", 6));
        await Refused(PaymentsKitErrorCodes.InvalidArgument, new HolderBalance(" ", 5));
        await Refused(PaymentsKitErrorCodes.InvalidArgument, new HolderBalance("0.0.1 ", 5));
        await Refused(PaymentsKitErrorCodes.InvalidArgument, new HolderBalance("0.0.é", 5));
        await Refused(PaymentsKitErrorCodes.InvalidArgument, new HolderBalance("0.0." + new string('9', 130), 5));
        await Refused(PaymentsKitErrorCodes.InvalidArgument, new HolderBalance("0.0.1", -5));
        await Refused(PaymentsKitErrorCodes.InvalidArgument, new HolderBalance("0.0.1", 600), new HolderBalance("0.0.2", 401));
        await Refused(PaymentsKitErrorCodes.InvalidArgument, new HolderBalance("0.0.1", 0));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.ImportHolderSnapshotAsync(Tenant, distribution.Id, (IEnumerable<HolderBalance>)null!).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => service.ImportHolderSnapshotAsync(OtherTenant, distribution.Id, Holders(1)).AsTask());
        Assert.Null((await service.GetDistributionAsync(Tenant, distribution.Id)).Snapshot);
        Assert.Empty(await AllHoldersAsync(service, Tenant, distribution.Id));

        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(400, 600));
        await Refused(PaymentsKitErrorCodes.DuplicateKey, Holders(1, 2));
        Assert.Equal([4_000_000L, 6_000_000L], (await AllHoldersAsync(service, Tenant, distribution.Id)).Select(h => h.Amount));

        await service.ExecuteAsync(Tenant, distribution.Id);
        var late = await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m));
        await service.ImportHolderSnapshotAsync(Tenant, late.Id, Holders(1));
        await service.ExecuteAsync(Tenant, late.Id);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => service.ImportHolderSnapshotAsync(Tenant, late.Id, Holders(1)).AsTask());
        var fresh = await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m));
        await FailsAsync(PaymentsKitErrorCodes.SnapshotRequired, () => service.ExecuteAsync(Tenant, fresh.Id).AsTask());
    }

    [Fact]
    public async Task A_Run_Pays_Every_Holder_Once_In_Batches_Within_The_Chain_Limit_And_Posts_To_The_Ledger()
    {
        var executor = new SimulatedPayoutExecutor(Clock);
        var service = Service(executor);
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(5_000m);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 1_234.567891m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        var balances = Enumerable.Range(1, 20).Select(i => (long)(i * 37 % 11)).ToArray();
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(balances));
        var allocated = (await AllHoldersAsync(service, Tenant, distribution.Id)).ToDictionary(h => h.AccountId, h => h.Amount);
        var payable = allocated.Where(a => a.Value > 0).Select(a => a.Key).Order(StringComparer.Ordinal).ToList();

        var plan = await service.PlanBatchesAsync(Tenant, distribution.Id);
        Assert.Equal(PayoutBatchPlanner.Plan(payable.Count, 9), plan);

        var progress = new List<PayoutProgress>();
        var done = await service.ExecuteAsync(Tenant, distribution.Id, new SyncProgress<PayoutProgress>(progress.Add));

        Assert.Equal(DistributionStatus.Completed, done.Status);
        Assert.Equal([DistributionStatus.Processing, DistributionStatus.Completed], done.Transitions.Select(t => t.To));
        Assert.Equal(new DistributionResult(payable.Count, 0, Usd6(1_234.567891m), Usd6(0m), plan.Count), done.Result);
        Assert.Equal(Clock.GetCurrentInstant(), done.ExecutedAt);

        // Each batch is one executor call of at most nine holders, in account order, as planned.
        var batches = executor.Payments.GroupBy(p => p.IdempotencyKey).ToList();
        Assert.Equal(plan.Select(b => b.Count), batches.Select(b => b.Count()));
        Assert.Equal(payable, executor.Payments.Select(p => p.AccountId));
        Assert.All(executor.Payments, p => Assert.Equal(allocated[p.AccountId], p.Amount));
        Assert.All(await AllHoldersAsync(service, Tenant, distribution.Id), h => Assert.Equal(h.Amount > 0 ? HolderPaymentState.Paid : HolderPaymentState.Pending, h.State));

        var records = await service.ListBatchesAsync(Tenant, distribution.Id);
        Assert.Equal(plan.Select(b => (b.BatchNumber, b.Count)), records.Select(r => (r.BatchNumber, r.SuccessfulPayments)));
        Assert.All(records, r => Assert.Equal(DistributionStatus.Completed, r.Status));
        Assert.All(records, r => Assert.NotNull(r.LedgerTransactionId));
        Assert.Equal(batches.Select(b => b.First().TransactionId), records.Select(r => r.TransactionId));
        Assert.Equal(plan.Count, progress.Count);
        Assert.Equal(payable.Count, progress[^1].HoldersPaid);

        Assert.Equal(Usd6(1_234.567891m), (await Ledger.GetAccountAsync(Tenant, payouts.Id)).Balance.Posted);
        Assert.Equal(Usd6(5_000m - 1_234.567891m), (await Ledger.GetAccountAsync(Tenant, treasury.Id)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);

        // Running it again changes nothing.
        Assert.Equal(done, await service.ExecuteAsync(Tenant, distribution.Id));
        Assert.Equal(payable.Count, executor.Payments.Count);
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => service.ExecuteAsync(OtherTenant, distribution.Id).AsTask());
    }

    [Fact]
    public async Task Failed_Holders_Are_Retried_One_Per_Batch_And_A_Permanent_Failure_Fails_The_Distribution()
    {
        var options = new SimulatedPayoutExecutorOptions { AtomicBatches = true, MaxTransfersPerBatch = 4 };
        options.FailingAccounts.Add(Account(2));
        var executor = new SimulatedPayoutExecutor(Clock, options);
        var service = Service(executor, new PayoutOptions { MaxAttemptsPerHolder = 3 });
        var asset = await AssetAsync(service);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 60m));
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1, 1, 1, 1, 1));

        var done = await service.ExecuteAsync(Tenant, distribution.Id);

        // Batch 1 (holders 0–3) fails as a whole on holder 2; batch 2 (4–5) pays; retries go one holder at a time.
        Assert.Equal(DistributionStatus.Failed, done.Status);
        Assert.Equal(new DistributionResult(5, 1, Usd6(50m), Usd6(10m), 2 + 4 + 1), done.Result);
        var holders = await AllHoldersAsync(service, Tenant, distribution.Id);
        var failed = Assert.Single(holders, h => h.State == HolderPaymentState.Failed);
        Assert.Equal(Account(2), failed.AccountId);
        Assert.Equal(3, failed.Attempts);
        Assert.Equal($"batch rejected: TOKEN_NOT_ASSOCIATED_TO_ACCOUNT for {Account(2)}", failed.Error);
        Assert.All(holders.Where(h => h.AccountId != Account(2)), h => Assert.True(h.Paid));
        Assert.Equal(5, executor.Payments.Count);
        Assert.Equal(5, executor.Payments.Select(p => p.AccountId).Distinct().Count());

        var records = await service.ListBatchesAsync(Tenant, distribution.Id);
        Assert.Equal(DistributionStatus.Failed, records[0].Status);
        Assert.Equal((0, 4), (records[0].SuccessfulPayments, records[0].FailedPayments));
        Assert.Contains("TOKEN_NOT_ASSOCIATED_TO_ACCOUNT", records[0].ErrorMessage, StringComparison.Ordinal);
        Assert.All(records.Skip(2), r => Assert.Equal(1, r.TotalHolders));
        Assert.Empty(await service.PlanBatchesAsync(Tenant, distribution.Id));
    }

    [Fact]
    public async Task A_Run_Refuses_To_Start_Early_Or_Without_Funds()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(99m);
        var underfunded = await service.CreateDistributionAsync(Tenant, Fixed(asset, 100m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await service.ImportHolderSnapshotAsync(Tenant, underfunded.Id, Holders(1, 3));
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => service.ExecuteAsync(Tenant, underfunded.Id).AsTask());
        Assert.Equal(DistributionStatus.Pending, (await service.GetDistributionAsync(Tenant, underfunded.Id)).Status);

        var scheduled = await service.CreateDistributionAsync(
            Tenant, Fixed(asset, 1m, DistributionExecution.Scheduled) with { ScheduledTime = new LocalDateTime(2026, 6, 1, 12, 0) });
        await service.ImportHolderSnapshotAsync(Tenant, scheduled.Id, Holders(1));
        await FailsAsync(PaymentsKitErrorCodes.NotDue, () => service.ExecuteAsync(Tenant, scheduled.Id).AsTask());
    }

    [Fact]
    public async Task The_Plan_Of_An_Interrupted_Run_Is_The_Batches_Its_Resumption_Executes()
    {
        var (service, distribution) = await InterruptedAfterAFailedBatchAsync();

        var plan = await service.PlanBatchesAsync(Tenant, distribution.Id);
        await service.ExecuteAsync(Tenant, distribution.Id);

        // Batch 2 again with its four holders, then each failed holder on its own: every retry succeeds but holder 0's.
        Assert.Equal([(2, 4), (3, 1), (4, 1), (5, 1), (6, 1)], plan.Select(b => (b.BatchNumber, b.Count)));
        Assert.Equal(plan.Select(b => (b.BatchNumber, b.Count)), (await service.ListBatchesAsync(Tenant, distribution.Id)).Skip(1).Select(r => (r.BatchNumber, r.TotalHolders)));
        Assert.Equal(Enumerable.Range(0, 8), plan.SelectMany(b => Enumerable.Range(b.Offset, b.Count)));
    }

    [Fact]
    public async Task A_Finished_Distribution_Plans_No_Batches_Even_When_More_Attempts_Are_Allowed_Now()
    {
        var options = new SimulatedPayoutExecutorOptions();
        options.FailingAccounts.Add(Account(0));
        var executor = new SimulatedPayoutExecutor(Clock, options);
        var asset = await AssetAsync(Service(executor));
        var distribution = await Service(executor).CreateDistributionAsync(Tenant, Fixed(asset, 2m));
        await Service(executor).ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1));
        Assert.Equal(DistributionStatus.Failed, (await Service(executor, new PayoutOptions { MaxAttemptsPerHolder = 1 }).ExecuteAsync(Tenant, distribution.Id)).Status);

        // A host that later allows more attempts cannot run a FAILED distribution again: there is nothing to plan.
        var patient = Service(executor, new PayoutOptions { MaxAttemptsPerHolder = 3 });
        Assert.Empty(await patient.PlanBatchesAsync(Tenant, distribution.Id));
        Assert.Equal(DistributionStatus.Failed, (await patient.ExecuteAsync(Tenant, distribution.Id)).Status);
        Assert.Single(await patient.ListBatchesAsync(Tenant, distribution.Id));
    }

    [Fact]
    public async Task A_Snapshot_Comes_From_The_Source_Or_Is_Adopted_From_The_Holder_Store()
    {
        var source = new FixedSource(Holders(5, 15));
        var service = Service(source: source);
        var asset = await AssetAsync(service);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 8m));
        var done = await service.ExecuteAsync(Tenant, distribution.Id);
        Assert.Equal(DistributionStatus.Completed, done.Status);
        Assert.Equal(2, done.Snapshot!.Holders);
        Assert.Equal([2_000_000L, 6_000_000L], (await AllHoldersAsync(service, Tenant, distribution.Id)).Select(h => h.Amount));

        // Holders written by an import that died before noting them on the distribution.
        var orphan = await service.CreateDistributionAsync(Tenant, Fixed(asset, 3m));
        await HolderStore.ImportAsync(new HolderSnapshotKey(Tenant, asset.Id, orphan.Id), Holders(1, 2), new long[] { 1_000_000, 2_000_000 }, Clock.GetCurrentInstant(), null);
        await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => service.ImportHolderSnapshotAsync(Tenant, orphan.Id, Holders(7)).AsTask());
        var adopted = await service.ExecuteAsync(Tenant, orphan.Id);
        Assert.Equal(DistributionStatus.Completed, adopted.Status);
        Assert.Equal(Usd6(3m), adopted.Snapshot!.Allocated);
        Assert.Equal(Usd6(3m), adopted.Result!.Paid);
    }

    [Fact]
    public async Task A_Scheduled_Distribution_Run_Late_Reads_Its_Holders_As_Of_Its_Due_Time_And_A_Manual_One_As_Of_Now()
    {
        var source = new FixedSource(Holders(5, 15));
        var service = Service(source: source);
        var asset = await AssetAsync(service);
        var start = Clock.GetCurrentInstant();
        var dueAt = start + Duration.FromHours(1);
        var scheduled = await service.CreateDistributionAsync(
            Tenant, Fixed(asset, 8m, DistributionExecution.Scheduled) with { ScheduledTime = dueAt.InUtc().LocalDateTime, TimeZone = "UTC" });
        var recurring = await service.CreateDistributionAsync(
            Tenant, Fixed(asset, 8m, DistributionExecution.Recurring) with { StartTime = dueAt.InUtc().LocalDateTime, Frequency = DistributionFrequency.Daily, TimeZone = "UTC" });
        var manual = await service.CreateDistributionAsync(Tenant, Fixed(asset, 8m));

        // The worker was down: both run three hours after their record date. Who held the token then is entitled, not who holds it now.
        Clock.Set(dueAt + Duration.FromHours(3));
        Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(Tenant, scheduled.Id)).Status);
        Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(Tenant, recurring.Id)).Status);
        Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(Tenant, manual.Id)).Status);

        Assert.Equal([dueAt, dueAt, Clock.GetCurrentInstant()], source.AsOf);
    }

    [Fact]
    public async Task Concurrent_Runners_Of_One_Distribution_Pay_Each_Holder_Once()
    {
        var executor = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 3, TransientFailurePercent = 20 });
        var asset = await AssetAsync(Service(executor));
        var (treasury, payouts) = await LedgerAccountsAsync(100m);
        var distribution = await Service(executor).CreateDistributionAsync(Tenant, Fixed(asset, 50m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await Service(executor).ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders([.. Enumerable.Range(1, 40).Select(i => (long)i)]));

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runners = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            await gate.Task;
            return await Service(executor).ExecuteAsync(Tenant, distribution.Id);
        })).ToArray();
        gate.SetResult();
        await Task.WhenAll(runners);

        var done = await Service(executor).GetDistributionAsync(Tenant, distribution.Id);
        Assert.True(DistributionLifecycle.Machine.IsTerminal(done.Status));
        Assert.Equal(executor.Payments.Count, executor.Payments.Select(p => p.AccountId).Distinct().Count());
        var rows = await AllHoldersAsync(Service(executor), Tenant, distribution.Id);
        Assert.Equal(rows.Where(r => r.Paid).Select(r => r.AccountId).Order(StringComparer.Ordinal), executor.Payments.Select(p => p.AccountId).Order(StringComparer.Ordinal));
        Assert.Equal(done.Result!.Paid, (await Ledger.GetAccountAsync(Tenant, payouts.Id)).Balance.Posted);
        Assert.Equal(Money.FromMinorUnits(executor.Payments.Sum(p => p.Amount), Usdc), done.Result.Paid);
    }

    private static async IAsyncEnumerable<HolderBalance> ToAsync(IEnumerable<HolderBalance> holders)
    {
        foreach (var holder in holders)
        {
            await Task.Yield();
            yield return holder;
        }
    }

    /// <summary>Reports synchronously, unlike <see cref="Progress{T}"/>, so a test sees every report at once.</summary>
    protected sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    private sealed class FixedSource(HolderBalance[] holders) : IHolderSnapshotSource
    {
        /// <summary>The instant of every read, in order.</summary>
        public List<Instant> AsOf { get; } = [];

        public async IAsyncEnumerable<HolderBalance> ReadHoldersAsync(TokenAsset asset, Instant asOf, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            AsOf.Add(asOf);
            foreach (var holder in holders)
            {
                await Task.Yield();
                yield return holder;
            }
        }
    }
}
