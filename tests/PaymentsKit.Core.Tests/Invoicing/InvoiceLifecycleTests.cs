using PaymentsKit.Invoicing;
using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Invoicing;

public sealed class InvoiceLifecycleTests
{
    private static readonly HashSet<(InvoiceStatus, InvoiceStatus)> Legal =
    [
        (InvoiceStatus.Pending, InvoiceStatus.Paid),
        (InvoiceStatus.Pending, InvoiceStatus.Expired),
        (InvoiceStatus.Pending, InvoiceStatus.Cancelled),
    ];

    public static TheoryData<InvoiceStatus, InvoiceStatus> AllPairs()
    {
        var data = new TheoryData<InvoiceStatus, InvoiceStatus>();
        foreach (var from in Enum.GetValues<InvoiceStatus>())
        {
            foreach (var to in Enum.GetValues<InvoiceStatus>())
            {
                data.Add(from, to);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void EveryPair_IsLegalExactlyWhenTheSeedAllowsIt(InvoiceStatus from, InvoiceStatus to)
    {
        var machine = InvoiceLifecycle.Machine;
        if (Legal.Contains((from, to)))
        {
            Assert.True(machine.CanTransition(from, to));
            Assert.Equal(to, machine.Transition(from, to));
        }
        else
        {
            Assert.False(machine.CanTransition(from, to));
            var ex = ThrowsCode(PaymentsKitErrorCodes.InvalidTransition, () => machine.Transition(from, to));
            Assert.Equal("invoice", ex.Context["lifecycle"]);
            Assert.Equal(from.ToString(), ex.Context["from"]);
            Assert.Equal(to.ToString(), ex.Context["to"]);
        }
    }

    [Fact]
    public void PaidExpiredAndCancelled_AreTerminal()
    {
        Assert.Equal([InvoiceStatus.Paid, InvoiceStatus.Expired, InvoiceStatus.Cancelled], InvoiceLifecycle.Machine.TerminalStates);
        Assert.False(InvoiceLifecycle.Machine.IsTerminal(InvoiceStatus.Pending));
        Assert.Equal(3, InvoiceLifecycle.Machine.Transitions.Count);
    }
}
