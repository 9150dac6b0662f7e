using PaymentsKit.Ledger;
using PaymentsKit.Payouts;

namespace PaymentsKit.Tests.Payouts;

/// <summary>
/// Once the executor says a batch was paid, its payment is recorded whatever is refused afterwards: otherwise every
/// re-execution would hit the same refusal and the distribution would hold paid holders it has no record of.
/// </summary>
public abstract partial class DistributionSpecification
{
    [Fact]
    public async Task A_Batch_Whose_Ledger_Posting_Is_Refused_After_Paying_Is_Recorded_Paid_And_Never_Paid_Again()
    {
        var (treasury, payouts) = await LedgerAccountsAsync(8m);
        var elsewhere = await Ledger.CreateAccountAsync(Tenant, new CreateLedgerAccountRequest("elsewhere", "Elsewhere", Usdc, LedgerSide.Debit));
        var inner = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 2 });

        // Something else drains the treasury while batch 1 is being paid, after the run's funding check.
        var executor = new AfterFirstCallExecutor(
            inner, () => Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(elsewhere.Id, Usd6(8m)), LedgerPosting.Credit(treasury.Id, Usd6(8m))])).AsTask());
        var service = Service(executor);
        var asset = await AssetAsync(service);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 8m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1, 1, 1));

        var refused = await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => service.ExecuteAsync(Tenant, distribution.Id).AsTask());
        Assert.Equal(1, refused.Context["batch"]);

        // Batch 1's payment is recorded, its posting outstanding where an operator sees it; the run stopped before batch 2.
        var holders = await AllHoldersAsync(service, Tenant, distribution.Id);
        Assert.Equal(
            [HolderPaymentState.Paid, HolderPaymentState.Paid, HolderPaymentState.Pending, HolderPaymentState.Pending],
            holders.Select(h => h.State));
        var record = Assert.Single(await service.ListBatchesAsync(Tenant, distribution.Id));
        Assert.Equal((DistributionStatus.Completed, 2, inner.Payments[0].TransactionId), (record.Status, record.SuccessfulPayments, record.TransactionId));
        Assert.Null(record.LedgerTransactionId);
        Assert.StartsWith("insufficient_funds: ", record.PostingError, StringComparison.Ordinal);
        var stopped = await service.GetDistributionAsync(Tenant, distribution.Id);
        Assert.Equal((DistributionStatus.Processing, 1), (stopped.Status, stopped.UnpostedBatches));

        // Still unfunded: the next run pays nobody (batch 1 is not even re-executed) and says why.
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => service.ExecuteAsync(Tenant, distribution.Id).AsTask());
        Assert.Equal(1, executor.Calls);

        // Funded again: the next run posts batch 1, then pays batch 2; each holder is paid and posted once.
        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(treasury.Id, Usd6(8m)), LedgerPosting.Credit(elsewhere.Id, Usd6(8m))]));
        var done = await service.ExecuteAsync(Tenant, distribution.Id);

        Assert.Equal((DistributionStatus.Completed, 0), (done.Status, done.UnpostedBatches));
        Assert.Equal(2, executor.Calls);
        Assert.Equal(holders.Select(h => h.AccountId), inner.Payments.Select(p => p.AccountId));
        Assert.All(await service.ListBatchesAsync(Tenant, distribution.Id), r => Assert.Equal((true, null), (r.LedgerTransactionId is not null, r.PostingError)));
        Assert.Equal(Usd6(8m), (await Ledger.GetAccountAsync(Tenant, payouts.Id)).Balance.Posted);
        Assert.Equal(Usd6(0m), (await Ledger.GetAccountAsync(Tenant, treasury.Id)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task An_Executor_Verdict_Naming_Accounts_Not_In_The_Batch_Is_Recorded_For_The_Batchs_Own_Holders()
    {
        var executor = new StrangerExecutor(Account(1));
        var service = Service(executor);
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(10m);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 3m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1, 1));

        var done = await service.ExecuteAsync(Tenant, distribution.Id);

        // Holder 1 failed each of its three attempts; holders 0 and 2 were paid by batch 1, and that is recorded.
        Assert.Equal(DistributionStatus.Failed, done.Status);
        Assert.Equal(new DistributionResult(2, 1, Usd6(2m), Usd6(1m), 3), done.Result);
        var holders = await AllHoldersAsync(service, Tenant, distribution.Id);
        Assert.Equal(
            [(HolderPaymentState.Paid, "0.0.1@1"), (HolderPaymentState.Failed, "0.0.1@3"), (HolderPaymentState.Paid, "0.0.1@1")],
            holders.Select(h => (h.State, h.TransactionId)));
        Assert.Equal(3, executor.Calls);

        // The accounts the executor named that no batch pays are on the batch records for an operator to see.
        var records = await service.ListBatchesAsync(Tenant, distribution.Id);
        Assert.Equal((DistributionStatus.Failed, 2, 1), (records[0].Status, records[0].SuccessfulPayments, records[0].FailedPayments));
        Assert.All(records, r => Assert.Contains("'0.0.999999999': never in the batch", r.ErrorMessage, StringComparison.Ordinal));
        Assert.Contains($"{Account(1)}: INVALID_ACCOUNT", records[0].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(Usd6(2m), (await Ledger.GetAccountAsync(Tenant, payouts.Id)).Balance.Posted);

        // Running it again changes nothing.
        Assert.Equal(done, await service.ExecuteAsync(Tenant, distribution.Id));
        Assert.Equal(3, executor.Calls);
    }

    [Fact]
    public async Task A_Resumed_Run_Checks_The_Funding_Account_Before_It_Pays_Anyone()
    {
        var (treasury, payouts) = await LedgerAccountsAsync(8m);
        var elsewhere = await Ledger.CreateAccountAsync(Tenant, new CreateLedgerAccountRequest("elsewhere", "Elsewhere", Usdc, LedgerSide.Debit));
        var inner = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 2 });
        var service = Service(new CrashingExecutor(inner, new HashSet<int> { 2 }, new HashSet<int>()));
        var asset = await AssetAsync(service);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 8m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(1, 1, 1, 1));
        await Assert.ThrowsAsync<SimulatedCrashException>(() => service.ExecuteAsync(Tenant, distribution.Id).AsTask());

        // Batch 1 paid and posted 4; the treasury then gives 3 of its last 4 to something else.
        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(elsewhere.Id, Usd6(3m)), LedgerPosting.Credit(treasury.Id, Usd6(3m))]));
        var refused = await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => service.ExecuteAsync(Tenant, distribution.Id).AsTask());

        Assert.Equal("funding_account_id", refused.Context["field"]);
        Assert.Equal(2, inner.Payments.Count);
        Assert.Equal(DistributionStatus.Completed, (await service.ListBatchesAsync(Tenant, distribution.Id))[0].Status);
    }

    /// <summary>Runs <c>afterFirstCall</c> once the first batch was paid, before the executor answers.</summary>
    private sealed class AfterFirstCallExecutor(IPayoutExecutor inner, Func<Task> afterFirstCall) : IPayoutExecutor
    {
        public int MaxTransfersPerBatch => inner.MaxTransfersPerBatch;

        public int Calls { get; private set; }

        public async ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default)
        {
            var result = await inner.ExecuteAsync(request, cancellationToken);
            if (++Calls == 1)
            {
                await afterFirstCall();
            }

            return result;
        }
    }

    /// <summary>Fails <c>failing</c> and, with it, names an account no batch pays; numbers its transactions by call.</summary>
    private sealed class StrangerExecutor(string failing) : IPayoutExecutor
    {
        public int MaxTransfersPerBatch => 9;

        public int Calls { get; private set; }

        public ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default)
        {
            Calls++;
            var failed = new Dictionary<string, string>(StringComparer.Ordinal) { ["0.0.999999999"] = "never in the batch" };
            if (request.Transfers.Any(t => t.AccountId == failing))
            {
                failed[failing] = "INVALID_ACCOUNT";
            }

            return ValueTask.FromResult(new PayoutBatchResult("0.0.1@" + Calls, failed));
        }
    }
}
