using System.Collections.Frozen;

namespace PaymentsKit;

/// <summary>One allowed move of a lifecycle: from a state to another.</summary>
/// <typeparam name="TState">The lifecycle's state enum.</typeparam>
/// <param name="From">The state before.</param>
/// <param name="To">The state after.</param>
public readonly record struct StateTransition<TState>(TState From, TState To)
    where TState : struct, Enum;

/// <summary>
/// An explicit transition table for one lifecycle (invoice, payment intent, stream …). Immutable and
/// thread-safe; build one per lifecycle as a static field. A state with no outgoing transitions is
/// terminal.
/// </summary>
/// <typeparam name="TState">The lifecycle's state enum.</typeparam>
public sealed class StateMachine<TState>
    where TState : struct, Enum
{
    private readonly FrozenSet<StateTransition<TState>> _allowed;

    /// <summary>Creates a machine from its transitions.</summary>
    /// <param name="name">The lifecycle's name, used in error messages (e.g. "invoice").</param>
    /// <param name="transitions">Every allowed transition; self-transitions and duplicates are rejected.</param>
    public StateMachine(string name, IEnumerable<StateTransition<TState>> transitions)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(transitions);
        var list = transitions.ToList();
        if (list.Any(t => EqualityComparer<TState>.Default.Equals(t.From, t.To)))
        {
            throw new ArgumentException("A transition table must not contain self-transitions.", nameof(transitions));
        }

        _allowed = list.ToFrozenSet();
        if (_allowed.Count != list.Count)
        {
            throw new ArgumentException("A transition table must not contain duplicates.", nameof(transitions));
        }

        Name = name;
        Transitions = list;
        States = Enum.GetValues<TState>();
        TerminalStates = [.. States.Where(s => !list.Any(t => EqualityComparer<TState>.Default.Equals(t.From, s)))];
    }

    /// <summary>The lifecycle's name.</summary>
    public string Name { get; }

    /// <summary>Every allowed transition, in declaration order (for docs and tests).</summary>
    public IReadOnlyList<StateTransition<TState>> Transitions { get; }

    /// <summary>Every state of <typeparamref name="TState"/>.</summary>
    public IReadOnlyList<TState> States { get; }

    /// <summary>The states with no way out.</summary>
    public IReadOnlyList<TState> TerminalStates { get; }

    /// <summary>Whether the table allows moving from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public bool CanTransition(TState from, TState to) => _allowed.Contains(new StateTransition<TState>(from, to));

    /// <summary>Whether <paramref name="state"/> has no way out.</summary>
    public bool IsTerminal(TState state) => TerminalStates.Contains(state);

    /// <summary>Checks a transition and returns the new state.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_transition</c> naming the lifecycle, from and to.</exception>
    public TState Transition(TState from, TState to) =>
        CanTransition(from, to)
            ? to
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidTransition,
                $"A {Name} cannot move from {from} to {to}.",
                new Dictionary<string, object?> { ["lifecycle"] = Name, ["from"] = from.ToString(), ["to"] = to.ToString() });
}
