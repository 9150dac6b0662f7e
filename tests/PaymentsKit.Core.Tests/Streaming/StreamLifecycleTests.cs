using PaymentsKit.Streaming;

namespace PaymentsKit.Core.Tests.Streaming;

public class StreamLifecycleTests
{
    private static readonly HashSet<(StreamState, StreamState)> SeedTransitions =
    [
        (StreamState.Active, StreamState.Paused),
        (StreamState.Active, StreamState.Cancelled),
        (StreamState.Active, StreamState.Completed),
        (StreamState.Paused, StreamState.Active),
        (StreamState.Paused, StreamState.Cancelled),
    ];

    [Fact]
    public void Table_allows_exactly_the_seed_transitions()
    {
        foreach (var from in Enum.GetValues<StreamState>())
        {
            foreach (var to in Enum.GetValues<StreamState>())
            {
                Assert.Equal(SeedTransitions.Contains((from, to)), StreamLifecycle.Machine.CanTransition(from, to));
            }
        }
    }

    [Fact]
    public void Cancelled_and_completed_are_the_only_terminal_states()
    {
        Assert.Equal([StreamState.Cancelled, StreamState.Completed], StreamLifecycle.Machine.TerminalStates.Order());
    }

    [Theory]
    [InlineData(StreamState.Cancelled, StreamState.Active)]
    [InlineData(StreamState.Completed, StreamState.Active)]
    [InlineData(StreamState.Completed, StreamState.Cancelled)]
    [InlineData(StreamState.Paused, StreamState.Completed)]
    public void Illegal_transition_is_invalid_transition(StreamState from, StreamState to)
    {
        var ex = Assert.Throws<PaymentsKitException>(() => StreamLifecycle.Machine.Transition(from, to));
        Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, ex.Code);
        Assert.Equal("stream", ex.Context["lifecycle"]);
    }

    [Fact]
    public void Legal_transition_returns_the_new_state()
    {
        Assert.Equal(StreamState.Paused, StreamLifecycle.Machine.Transition(StreamState.Active, StreamState.Paused));
    }
}
