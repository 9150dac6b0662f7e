using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;

namespace PaymentsKit.Tests.Payouts;

/// <summary>Values every store keeps alike: times, amounts and executor texts at the edges.</summary>
public abstract partial class DistributionSpecification
{
    [Theory]
    [InlineData(0, "UTC")]
    [InlineData(-5, "UTC")]
    [InlineData(9999, "America/New_York")]
    public async Task A_Scheduled_Or_Start_Time_Outside_The_Years_1_To_9998_Is_Refused(int year, string zone)
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var local = new LocalDateTime(year, 12, 31, 23, 0);

        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            async () => await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m, DistributionExecution.Scheduled) with { ScheduledTime = local, TimeZone = zone }));
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            async () => await service.CreateDistributionAsync(
                Tenant, Fixed(asset, 10m, DistributionExecution.Recurring) with { StartTime = local, Frequency = DistributionFrequency.Daily, TimeZone = zone }));

        var earliest = await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m, DistributionExecution.Scheduled) with { ScheduledTime = new LocalDateTime(1, 1, 1, 0, 0), TimeZone = "UTC" });
        Assert.Equal(earliest.DueAt, (await service.GetDistributionAsync(Tenant, earliest.Id)).DueAt);
    }

    [Fact]
    public async Task A_Huge_Amount_In_An_18_Decimal_Asset_Is_Amount_Out_Of_Range()
    {
        var service = Service();
        var asset = await service.CreateAssetAsync(
            Tenant, new CreateTokenAssetRequest("0.0." + Random.Shared.Next(1, int.MaxValue), "Big", "BIG", 1_000_000, 0, AssetRegistry.Eth));
        await FailsAsync(
            PaymentsKitErrorCodes.AmountOutOfRange,
            async () => await service.CreateDistributionAsync(
                Tenant,
                new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Manual) { Payout = DistributionPayout.Fixed, Amount = Money.Of(100_000_000_000m, AssetRegistry.Eth) }));
    }

    [Fact]
    public async Task An_Executor_Error_Text_With_A_Nul_Or_A_Lone_Surrogate_Is_Recorded_On_Every_Store()
    {
        var service = Service(new MangledErrorExecutor());
        var asset = await AssetAsync(service);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 2m));
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1));

        var done = await service.ExecuteAsync(Tenant, distribution.Id);

        Assert.Equal(DistributionStatus.Failed, done.Status);
        var holders = await AllHoldersAsync(service, Tenant, distribution.Id);
        Assert.All(holders, h => Assert.Equal(("INVALID\uFFFDACCOUNT\uFFFD", HolderPaymentState.Failed), (h.Error, h.State)));
    }

    [Theory]
    [InlineData(300, false)]
    [InlineData(40, true)]
    public async Task A_Paid_Batch_Whose_Transaction_Id_Is_Too_Long_Or_Unstorable_Is_Still_Recorded_On_Every_Store(int length, bool withNul)
    {
        // The executor has paid by the time it answers: refusing its id would leave the batch unrecorded for ever.
        var id = string.Concat(Enumerable.Repeat("0123456789abcdef", (length / 16) + 1))[..length];
        if (withNul)
        {
            id = id[..10] + "\0" + id[11..];
        }

        var executor = new FixedIdExecutor(id);
        var service = Service(executor);
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(100m);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 3m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1, 1));

        var done = await service.ExecuteAsync(Tenant, distribution.Id);

        Assert.Equal(DistributionStatus.Completed, done.Status);
        var record = Assert.Single(await service.ListBatchesAsync(Tenant, distribution.Id));
        Assert.Equal((DistributionStatus.Completed, 3), (record.Status, record.SuccessfulPayments));
        Assert.NotNull(record.LedgerTransactionId);
        Assert.InRange(record.TransactionId!.Length, 1, 200);
        Assert.StartsWith(id[..10], record.TransactionId, StringComparison.Ordinal);
        Assert.DoesNotContain('\0', record.TransactionId);
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id)));
        Assert.EndsWith("…" + hash, record.TransactionId, StringComparison.Ordinal);
        Assert.Equal(id.Replace('\0', '\uFFFD'), record.FullTransactionId);
        Assert.All(await AllHoldersAsync(service, Tenant, distribution.Id), h => Assert.Equal((HolderPaymentState.Paid, record.TransactionId), (h.State, h.TransactionId)));
        Assert.Equal(1, executor.Calls);
    }

    [Fact]
    public async Task A_Payout_Account_That_Cannot_Take_The_Debit_Is_Refused_Before_Anyone_Is_Paid()
    {
        var executor = new SimulatedPayoutExecutor(Clock);
        var service = Service(executor);
        var asset = await AssetAsync(service);
        var (treasury, _) = await LedgerAccountsAsync(100m);
        var payable = await Ledger.CreateAccountAsync(
            Tenant, new CreateLedgerAccountRequest("dividends-payable", "Dividends payable", Usdc, LedgerSide.Credit) { Flags = LedgerAccountFlags.DebitsMustNotExceedCredits });
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m) with { FundingAccountId = treasury.Id, PayoutAccountId = payable.Id });
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 3));

        var refused = await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => service.ExecuteAsync(Tenant, distribution.Id).AsTask());

        Assert.Equal("payout_account_id", refused.Context["field"]);
        Assert.Empty(executor.Payments);
        Assert.All(await AllHoldersAsync(service, Tenant, distribution.Id), h => Assert.Equal(HolderPaymentState.Pending, h.State));

        // Once the payable holds what is due, the run pays everyone.
        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(treasury.Id, Money.Of(10m, Usdc)), LedgerPosting.Credit(payable.Id, Money.Of(10m, Usdc))]));
        Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(Tenant, distribution.Id)).Status);
    }

    [Fact]
    public async Task A_Due_Distribution_Interrupted_After_It_Started_Stays_Due_And_The_Next_Run_Finishes_It()
    {
        var executor = new CrashingExecutor(new SimulatedPayoutExecutor(Clock), new HashSet<int> { 1 }, new HashSet<int>());
        var service = Service(executor);
        var asset = await AssetAsync(service);
        var at = (Clock.GetCurrentInstant() - Duration.FromHours(1)).InUtc().LocalDateTime;
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m, DistributionExecution.Scheduled) with { ScheduledTime = at, TimeZone = "UTC" });
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 3));

        await Assert.ThrowsAsync<SimulatedCrashException>(() => service.ExecuteAsync(Tenant, distribution.Id).AsTask());

        Assert.Equal(DistributionStatus.Processing, (await service.GetDistributionAsync(Tenant, distribution.Id)).Status);
        var due = Assert.Single(await service.GetDueAsync(Clock.GetCurrentInstant(), 1000), d => d.Id == distribution.Id);
        Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(due.TenantId, due.Id)).Status);
        Assert.DoesNotContain(await service.GetDueAsync(Clock.GetCurrentInstant(), 1000), d => d.Id == distribution.Id);
    }

    [Fact]
    public async Task A_Resumed_Run_Does_Not_Batch_A_Failed_Holder_With_Its_Neighbours_Again()
    {
        var (service, distribution) = await InterruptedAfterAFailedBatchAsync();

        var done = await service.ExecuteAsync(Tenant, distribution.Id);

        // As without the interruption: holders 1–3 are paid on their retry, one per batch; only holder 0 stays unpaid.
        var holders = await AllHoldersAsync(service, Tenant, distribution.Id);
        Assert.Equal([Account(0)], holders.Where(h => h.State == HolderPaymentState.Failed).Select(h => h.AccountId));
        Assert.Equal(7, done.Result!.PaidHolders);
    }

    /// <summary>Pays every holder under one given transaction id.</summary>
    [Fact]
    public async Task An_Executor_Without_A_Batch_Limit_Pays_Every_Holder_In_One_Batch()
    {
        // int.MaxValue is how an executor says "no limit": the plan and the claims must not size anything by it.
        var executor = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { Chain = ChainId.Ethereum, MaxTransfersPerBatch = int.MaxValue });
        var service = Service(executor);
        var asset = await AssetAsync(service);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 6m));
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 2, 3));

        Assert.Equal([new PayoutBatch(1, 0, 3)], await service.PlanBatchesAsync(Tenant, distribution.Id));
        var done = await service.ExecuteAsync(Tenant, distribution.Id);

        Assert.Equal(DistributionStatus.Completed, done.Status);
        Assert.Equal((3, 1), (done.Result!.PaidHolders, done.Result.Batches));
        Assert.Equal(3, Assert.Single(await service.ListBatchesAsync(Tenant, distribution.Id)).SuccessfulPayments);
        Assert.Equal(3, executor.Payments.Count);
    }

    [Theory]
    [InlineData("0.0.1\0")]
    [InlineData("0.0.\uD800")]
    [InlineData("0.0. 1")]
    [InlineData("")]
    [InlineData("long")]
    public async Task A_Holder_Page_Cursor_That_Cannot_Be_An_Account_Id_Is_Invalid_Argument_On_Every_Store(string cursor)
    {
        // PostgreSQL cannot compare text holding NUL or a lone surrogate: such a cursor failed there and listed holders in memory.
        var after = cursor == "long" ? "0.0." + new string('1', 125) : cursor;
        var service = Service();
        var asset = await AssetAsync(service);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 6m));
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 2, 3));

        var refused = await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.ListHoldersAsync(Tenant, distribution.Id, after, 10).AsTask());

        Assert.Equal("after_account", refused.Context["field"]);
        Assert.Equal([Account(1), Account(2)], (await service.ListHoldersAsync(Tenant, distribution.Id, Account(0), 10)).Select(h => h.AccountId));
        Assert.Equal(3, (await service.ListHoldersAsync(Tenant, distribution.Id, null, 10)).Count);
    }

    [Fact]
    public async Task A_Scheduled_Or_Start_Time_In_Another_Calendar_Than_Iso_Is_Refused()
    {
        // The stores keep local times as ISO text: a Julian 2026-01-01 would come back as ISO 2026-01-01, 13 days off the
        // instant it was scheduled for, and a recurring series would then be computed from that other anchor.
        var service = Service();
        var asset = await AssetAsync(service);
        var julian = new LocalDateTime(2026, 1, 1, 9, 0, CalendarSystem.Julian);

        var scheduled = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            async () => await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m, DistributionExecution.Scheduled) with { ScheduledTime = julian }));
        Assert.Equal("scheduled_time", scheduled.Context["field"]);
        var recurring = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            async () => await service.CreateDistributionAsync(
                Tenant, Fixed(asset, 10m, DistributionExecution.Recurring) with { StartTime = julian, Frequency = DistributionFrequency.Monthly }));
        Assert.Equal("start_time", recurring.Context["field"]);

        var iso = julian.WithCalendar(CalendarSystem.Iso);
        var created = await service.CreateDistributionAsync(Tenant, Fixed(asset, 10m, DistributionExecution.Scheduled) with { ScheduledTime = iso });
        Assert.Equal(created, await service.GetDistributionAsync(Tenant, created.Id));
    }

    [Fact]
    public async Task A_Percentage_Of_The_Pool_That_Comes_To_Less_Than_One_Smallest_Unit_Is_Refused()
    {
        // A FIXED total of zero is refused; a percentage that truncates to zero ran and finished COMPLETED having paid nobody.
        var service = Service();
        var asset = await AssetAsync(service);
        var coupon = new CreateDistributionRequest(asset.Id, DistributionType.Coupon, DistributionExecution.Manual) { Payout = DistributionPayout.Percentage, Amount = Usd6(1m) };

        var refused = await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, async () => await service.CreateDistributionAsync(Tenant, coupon with { Percentage = 0.00001m }));

        Assert.Equal("percentage", refused.Context["field"]);
        var smallest = await service.CreateDistributionAsync(Tenant, coupon with { Percentage = 0.0001m });
        Assert.Equal(Usd6(0.000001m), (await service.ImportHolderSnapshotAsync(Tenant, smallest.Id, Holders(1, 1))).Allocated);
    }

    [Fact]
    public async Task An_Empty_Snapshot_Leaves_No_Holders_So_A_Distribution_That_Never_Noted_It_Still_Takes_One_On_Every_Store()
    {
        // PostgreSQL writes no row for an empty snapshot; the in-memory store registered one, so once an empty import was not noted
        // on the distribution (cancelled between the two steps) no snapshot could ever be imported there, and no run could adopt one.
        var service = Service();
        var asset = await AssetAsync(service);
        var dividend = await service.CreateDistributionAsync(
            Tenant, new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Manual) { Payout = DistributionPayout.PerShare, AmountPerShare = 0.5m });
        var key = new HolderSnapshotKey(Tenant, asset.Id, dividend.Id);
        await HolderStore.ImportAsync(key, Array.Empty<HolderBalance>(), Array.Empty<long>(), Clock.GetCurrentInstant(), null);

        Assert.Equal(HolderSnapshotTotals.Empty, await HolderStore.GetTotalsAsync(key, 3));
        var snapshot = await service.ImportHolderSnapshotAsync(Tenant, dividend.Id, Holders(100, 300));

        Assert.Equal((2, Usd6(2m)), (snapshot.Holders, snapshot.Allocated));
        Assert.Equal(DistributionStatus.Completed, (await service.ExecuteAsync(Tenant, dividend.Id)).Status);
    }

    private sealed class FixedIdExecutor(string transactionId) : IPayoutExecutor
    {
        public int MaxTransfersPerBatch => 9;

        public int Calls { get; private set; }

        public ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default)
        {
            Calls++;
            return ValueTask.FromResult(PayoutBatchResult.Succeeded(transactionId));
        }
    }

    /// <summary>Fails every transfer with a text PostgreSQL cannot store as it is.</summary>
    private sealed class MangledErrorExecutor : IPayoutExecutor
    {
        public int MaxTransfersPerBatch => 9;

        public ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new PayoutBatchResult("0.0.1@1.1", request.Transfers.ToDictionary(t => t.AccountId, _ => "INVALID\0ACCOUNT\uD800")));
    }

    /// <summary>
    /// Eight holders in atomic batches of 4, holder 0's account failing and at most 2 attempts each, interrupted: holders 0–3
    /// failed batch 1 together, then batch 2's call (holders 4–7) threw before paying, its outcome unknown.
    /// </summary>
    private async Task<(DistributionService Service, Distribution Distribution)> InterruptedAfterAFailedBatchAsync()
    {
        var options = new SimulatedPayoutExecutorOptions { AtomicBatches = true, MaxTransfersPerBatch = 4 };
        options.FailingAccounts.Add(Account(0));

        var executor = new CrashingExecutor(new SimulatedPayoutExecutor(Clock, options), new HashSet<int> { 2 }, new HashSet<int>());
        var service = Service(executor, new PayoutOptions { MaxAttemptsPerHolder = 2 });
        var asset = await AssetAsync(service);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 80m));
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1, 1, 1, 1, 1, 1, 1));
        await Assert.ThrowsAsync<SimulatedCrashException>(() => service.ExecuteAsync(Tenant, distribution.Id).AsTask());
        return (service, distribution);
    }
}
