using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Primitives;

public sealed class StateMachineTests
{
    public enum Door
    {
        Closed,
        Open,
        Locked,
        Removed,
    }

    private static readonly StateMachine<Door> Machine = new("door",
    [
        new(Door.Closed, Door.Open),
        new(Door.Open, Door.Closed),
        new(Door.Closed, Door.Locked),
        new(Door.Locked, Door.Closed),
        new(Door.Closed, Door.Removed),
    ]);

    public static TheoryData<Door, Door> AllPairs()
    {
        var data = new TheoryData<Door, Door>();
        foreach (var from in Enum.GetValues<Door>())
        {
            foreach (var to in Enum.GetValues<Door>())
            {
                data.Add(from, to);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void EveryPair_IsAllowedExactlyWhenListed(Door from, Door to)
    {
        var listed = Machine.Transitions.Contains(new StateTransition<Door>(from, to));
        Assert.Equal(listed, Machine.CanTransition(from, to));
        if (listed)
        {
            Assert.Equal(to, Machine.Transition(from, to));
        }
        else
        {
            var ex = ThrowsCode(PaymentsKitErrorCodes.InvalidTransition, () => Machine.Transition(from, to));
            Assert.Equal(from.ToString(), ex.Context["from"]);
            Assert.Equal(to.ToString(), ex.Context["to"]);
            Assert.Equal("door", ex.Context["lifecycle"]);
            Assert.Contains($"from {from} to {to}", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TerminalStates_AreThoseWithNoWayOut()
    {
        Assert.Equal([Door.Removed], Machine.TerminalStates);
        Assert.True(Machine.IsTerminal(Door.Removed));
        Assert.False(Machine.IsTerminal(Door.Locked));
        Assert.Equal(4, Machine.States.Count);
    }

    [Fact]
    public void Construction_RejectsSelfTransitionsAndDuplicates()
    {
        Assert.Throws<ArgumentException>(() => new StateMachine<Door>("door", [new(Door.Open, Door.Open)]));
        Assert.Throws<ArgumentException>(() => new StateMachine<Door>("door", [new(Door.Open, Door.Closed), new(Door.Open, Door.Closed)]));
        Assert.Throws<ArgumentException>(() => new StateMachine<Door>(" ", []));
    }
}
