using PaymentsKit.Payouts;

namespace PaymentsKit.Core.Tests.Payouts;

public class PayoutBatchPlannerTests
{
    [Fact]
    public void Hedera_batches_hold_nine_credits_and_others_one_hundred()
    {
        Assert.Equal(9, PayoutBatchPlanner.MaxPerBatch(ChainId.Hedera));
        Assert.Equal(100, PayoutBatchPlanner.MaxPerBatch(ChainId.Ethereum));

        var batches = PayoutBatchPlanner.Plan(20, PayoutBatchPlanner.MaxPerBatch(ChainId.Hedera));
        Assert.Equal([new PayoutBatch(1, 0, 9), new PayoutBatch(2, 9, 9), new PayoutBatch(3, 18, 2)], batches);
    }

    [Fact]
    public void No_holders_means_no_batches()
    {
        Assert.Empty(PayoutBatchPlanner.Plan(0, 9));
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => PayoutBatchPlanner.Plan(-1, 9)).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => PayoutBatchPlanner.Plan(10, 0)).Code);
    }

    [Fact]
    public void Distribution_lifecycle_is_pending_processing_then_completed_or_failed()
    {
        var machine = DistributionLifecycle.Machine;
        HashSet<(DistributionStatus, DistributionStatus)> allowed =
        [
            (DistributionStatus.Pending, DistributionStatus.Processing),
            (DistributionStatus.Processing, DistributionStatus.Completed),
            (DistributionStatus.Processing, DistributionStatus.Failed),
        ];
        foreach (var from in Enum.GetValues<DistributionStatus>())
        {
            foreach (var to in Enum.GetValues<DistributionStatus>())
            {
                Assert.Equal(allowed.Contains((from, to)), machine.CanTransition(from, to));
            }
        }

        Assert.Equal([DistributionStatus.Completed, DistributionStatus.Failed], machine.TerminalStates.Order());
        var ex = Assert.Throws<PaymentsKitException>(() => machine.Transition(DistributionStatus.Pending, DistributionStatus.Completed));
        Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, ex.Code);
    }
}
