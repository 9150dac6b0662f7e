using PaymentsKit.Orchestration;
using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Orchestration;

public sealed class LifecycleTests
{
    private static readonly HashSet<(TransactionStatus, TransactionStatus)> LegalTransactionMoves =
    [
        (TransactionStatus.Pending, TransactionStatus.Processing),
        (TransactionStatus.Pending, TransactionStatus.Cancelled),
        (TransactionStatus.Processing, TransactionStatus.Completed),
        (TransactionStatus.Processing, TransactionStatus.Failed),
        (TransactionStatus.Processing, TransactionStatus.Cancelled),
        (TransactionStatus.Completed, TransactionStatus.PartiallyRefunded),
        (TransactionStatus.Completed, TransactionStatus.Refunded),
        (TransactionStatus.PartiallyRefunded, TransactionStatus.Refunded),
    ];

    private static readonly HashSet<(RefundStatus, RefundStatus)> LegalRefundMoves =
    [
        (RefundStatus.Pending, RefundStatus.Processing),
        (RefundStatus.Pending, RefundStatus.Completed),
        (RefundStatus.Pending, RefundStatus.Failed),
        (RefundStatus.Processing, RefundStatus.Completed),
        (RefundStatus.Processing, RefundStatus.Failed),
    ];

    public static TheoryData<TransactionStatus, TransactionStatus> AllTransactionPairs()
    {
        var data = new TheoryData<TransactionStatus, TransactionStatus>();
        foreach (var from in Enum.GetValues<TransactionStatus>())
        {
            foreach (var to in Enum.GetValues<TransactionStatus>())
            {
                data.Add(from, to);
            }
        }

        return data;
    }

    public static TheoryData<RefundStatus, RefundStatus> AllRefundPairs()
    {
        var data = new TheoryData<RefundStatus, RefundStatus>();
        foreach (var from in Enum.GetValues<RefundStatus>())
        {
            foreach (var to in Enum.GetValues<RefundStatus>())
            {
                data.Add(from, to);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllTransactionPairs))]
    public void TransactionTable_AllowsExactlyTheSeedsMoves(TransactionStatus from, TransactionStatus to)
    {
        var machine = TransactionLifecycle.Machine;
        if (LegalTransactionMoves.Contains((from, to)))
        {
            Assert.True(machine.CanTransition(from, to));
            Assert.Equal(to, machine.Transition(from, to));
        }
        else
        {
            Assert.False(machine.CanTransition(from, to));
            var ex = ThrowsCode(PaymentsKitErrorCodes.InvalidTransition, () => machine.Transition(from, to));
            Assert.Equal(from.ToString(), ex.Context["from"]);
            Assert.Equal(to.ToString(), ex.Context["to"]);
        }
    }

    [Theory]
    [MemberData(nameof(AllRefundPairs))]
    public void RefundTable_AllowsExactlyTheSeedsMoves(RefundStatus from, RefundStatus to)
    {
        if (LegalRefundMoves.Contains((from, to)))
        {
            Assert.Equal(to, RefundLifecycle.Machine.Transition(from, to));
        }
        else
        {
            ThrowsCode(PaymentsKitErrorCodes.InvalidTransition, () => RefundLifecycle.Machine.Transition(from, to));
        }
    }

    [Fact]
    public void TerminalStates_AreFailedCancelledRefunded()
    {
        Assert.Equal(
            [TransactionStatus.Failed, TransactionStatus.Cancelled, TransactionStatus.Refunded],
            TransactionLifecycle.Machine.TerminalStates);
        Assert.Equal([RefundStatus.Completed, RefundStatus.Failed], RefundLifecycle.Machine.TerminalStates);
        Assert.Equal(LegalTransactionMoves.Count, TransactionLifecycle.Machine.Transitions.Count);
    }
}
