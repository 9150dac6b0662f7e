using PaymentsKit.Routing;

namespace PaymentsKit.Core.Tests.Routing;

public class PaymentIntentLifecycleTests
{
    private static readonly StateMachine<PaymentIntentStatus> Machine = PaymentIntentLifecycle.Machine;

    [Fact]
    public void The_seed_statuses_round_trip_through_their_wire_names()
    {
        string[] seed =
        [
            "created", "quoted", "route_selected", "broadcasting", "broadcasted", "pending_confirmation",
            "settled", "failed", "manual_review", "retrying", "expired", "cancelled",
        ];

        Assert.Equal(seed, Enum.GetValues<PaymentIntentStatus>().Select(s => s.ToWireName()));
        Assert.All(seed, name => Assert.Equal(name, PaymentIntentLifecycle.ParseWireName(name).ToWireName()));
        Assert.False(PaymentIntentLifecycle.TryParseWireName("Settled", out _));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => PaymentIntentLifecycle.ParseWireName("paid")).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => ((PaymentIntentStatus)99).ToWireName()).Code);
    }

    [Fact]
    public void Settled_failed_expired_and_cancelled_are_the_terminal_states()
    {
        Assert.Equal(
            [PaymentIntentStatus.Settled, PaymentIntentStatus.Failed, PaymentIntentStatus.Expired, PaymentIntentStatus.Cancelled],
            Machine.TerminalStates.Order());
    }

    [Fact]
    public void Every_state_is_reachable_from_created_and_every_non_terminal_state_can_still_end()
    {
        var reachable = new HashSet<PaymentIntentStatus> { PaymentIntentStatus.Created };
        var frontier = new Queue<PaymentIntentStatus>(reachable);
        while (frontier.TryDequeue(out var state))
        {
            foreach (var t in Machine.Transitions.Where(t => t.From == state && reachable.Add(t.To)))
            {
                frontier.Enqueue(t.To);
            }
        }

        Assert.Equal(Enum.GetValues<PaymentIntentStatus>().Length, reachable.Count);
        foreach (var state in Enum.GetValues<PaymentIntentStatus>().Where(s => !Machine.IsTerminal(s)))
        {
            Assert.True(CanReachTerminal(state, []), $"{state} cannot reach a terminal state");
        }
    }

    [Theory]
    [InlineData(PaymentIntentStatus.Broadcasting, PaymentIntentStatus.Cancelled)]
    [InlineData(PaymentIntentStatus.Broadcasted, PaymentIntentStatus.Cancelled)]
    [InlineData(PaymentIntentStatus.PendingConfirmation, PaymentIntentStatus.Expired)]
    [InlineData(PaymentIntentStatus.Retrying, PaymentIntentStatus.Cancelled)]
    [InlineData(PaymentIntentStatus.ManualReview, PaymentIntentStatus.Cancelled)]
    [InlineData(PaymentIntentStatus.Settled, PaymentIntentStatus.Failed)]
    [InlineData(PaymentIntentStatus.Failed, PaymentIntentStatus.Retrying)]
    [InlineData(PaymentIntentStatus.Expired, PaymentIntentStatus.Quoted)]
    [InlineData(PaymentIntentStatus.Cancelled, PaymentIntentStatus.Created)]
    [InlineData(PaymentIntentStatus.Created, PaymentIntentStatus.Settled)]
    [InlineData(PaymentIntentStatus.Quoted, PaymentIntentStatus.Broadcasting)]
    public void Once_money_may_have_moved_an_intent_cannot_be_cancelled_or_expired_and_terminal_states_stay(PaymentIntentStatus from, PaymentIntentStatus to)
    {
        var ex = Assert.Throws<PaymentsKitException>(() => Machine.Transition(from, to));
        Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, ex.Code);
    }

    [Fact]
    public void Cancellation_and_expiry_are_possible_exactly_before_broadcast()
    {
        PaymentIntentStatus[] beforeBroadcast = [PaymentIntentStatus.Created, PaymentIntentStatus.Quoted, PaymentIntentStatus.RouteSelected];
        foreach (var state in Enum.GetValues<PaymentIntentStatus>())
        {
            Assert.Equal(beforeBroadcast.Contains(state), Machine.CanTransition(state, PaymentIntentStatus.Cancelled));
            Assert.Equal(beforeBroadcast.Contains(state), Machine.CanTransition(state, PaymentIntentStatus.Expired));
        }
    }

    [Fact]
    public void The_happy_paths_are_legal()
    {
        PaymentIntentStatus[][] paths =
        [
            [PaymentIntentStatus.Created, PaymentIntentStatus.Quoted, PaymentIntentStatus.RouteSelected, PaymentIntentStatus.Broadcasting,
                PaymentIntentStatus.Broadcasted, PaymentIntentStatus.PendingConfirmation, PaymentIntentStatus.Settled],
            [PaymentIntentStatus.Created, PaymentIntentStatus.RouteSelected, PaymentIntentStatus.Broadcasting, PaymentIntentStatus.Broadcasted, PaymentIntentStatus.Settled],
            [PaymentIntentStatus.RouteSelected, PaymentIntentStatus.Broadcasting, PaymentIntentStatus.Retrying, PaymentIntentStatus.RouteSelected,
                PaymentIntentStatus.Broadcasting, PaymentIntentStatus.Broadcasted, PaymentIntentStatus.PendingConfirmation, PaymentIntentStatus.ManualReview,
                PaymentIntentStatus.Settled],
        ];
        foreach (var path in paths)
        {
            for (var i = 1; i < path.Length; i++)
            {
                Assert.Equal(path[i], Machine.Transition(path[i - 1], path[i]));
            }
        }
    }

    private static bool CanReachTerminal(PaymentIntentStatus state, HashSet<PaymentIntentStatus> seen) =>
        Machine.IsTerminal(state)
        || (seen.Add(state) && Machine.Transitions.Where(t => t.From == state).Any(t => CanReachTerminal(t.To, seen)));
}
