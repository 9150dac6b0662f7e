using System.Collections.Concurrent;
using PaymentsKit.Chains;
using PaymentsKit.Storage;

namespace PaymentsKit.Routing;

/// <summary>
/// Takes turns on each chain's treasury wallet with group commit. Every route selection and settlement writes its
/// chain's wallet (and in-flight) ledger account, so within a process they can only run one after another; instead
/// of one unit of work per step, the step holding a wallet's turn takes every step queued behind it for that wallet
/// into one unit of work — one prefetch of everything they read, one commit — with the ledger's in-unit overlay
/// chaining their postings, so each step sees the balance the earlier ones left.
/// </summary>
/// <remarks>
/// <para>
/// Each step still succeeds or fails on its own. A step that refuses in the group (throws: an illegal transition, a
/// stale read the ledger rejects …) may have buffered part of its writes, so the group's unit is dropped, the group
/// runs again without it, and the refused step runs alone afterwards, exactly as it would have without grouping. A
/// step that decides not to write (no wallet can cover it) just returns its answer. When the group's commit fails
/// (another process or worker changed one of its records), nothing was written and every step runs alone, each with
/// its own re-reads and bounded retries.
/// </para>
/// <para>
/// Other processes still race on versions, which keeps that safe. A step whose caller gives up while it waits for the
/// turn is dropped if no holder took it yet; once taken it runs to its end.
/// </para>
/// </remarks>
internal sealed class WalletTurns
{
    /// <summary>The most steps one unit of work takes, bounding its commit's size.</summary>
    internal const int MaxGroup = 64;

    private readonly IPaymentsStore _store;
    private readonly Action<IUnitOfWork>? _committed;
    private readonly ConcurrentDictionary<ChainId, Turn> _turns = new();

    /// <summary>Creates the turns over a store.</summary>
    /// <param name="store">Where grouped steps commit.</param>
    /// <param name="committed">Told of each group's unit of work once it committed (a dropped one is never told).</param>
    public WalletTurns(IPaymentsStore store, Action<IUnitOfWork>? committed = null) => (_store, _committed) = (store, committed);

    /// <summary>Runs <paramref name="step"/> on <paramref name="chain"/>'s wallet, grouped with the steps queued with it.</summary>
    /// <param name="chain">The wallet's chain.</param>
    /// <param name="step">The step.</param>
    /// <param name="cancellationToken">Cancels waiting for the turn, and the step itself when it runs alone.</param>
    public async ValueTask<T> RunAsync<T>(ChainId chain, Step<T> step, CancellationToken cancellationToken)
    {
        var turn = _turns.GetOrAdd(chain, static _ => new Turn());
        turn.Queue.Enqueue(step);
        try
        {
            await turn.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!step.TryAbandon())
        {
            // A holder took the step already: its outcome is the answer.
            return await step.Result.ConfigureAwait(false);
        }

        try
        {
            // A holder before us may have run it; otherwise it is queued, and the groups taken from the front reach it.
            while (step.IsQueued)
            {
                await RunGroupAsync(Take(turn.Queue)).ConfigureAwait(false);
            }
        }
        finally
        {
            turn.Gate.Release();
        }

        return await step.Result.ConfigureAwait(false);
    }

    private static List<Step> Take(ConcurrentQueue<Step> queue)
    {
        var group = new List<Step>();
        while (group.Count < MaxGroup && queue.TryDequeue(out var next))
        {
            if (next.TryTake())
            {
                group.Add(next);
            }
        }

        return group;
    }

    /// <summary>Runs a group; every step in it ends with its result set, whatever happens.</summary>
    private async ValueTask RunGroupAsync(List<Step> group)
    {
        List<Step> alone = [];
        if (group.Count == 1)
        {
            alone.Add(group[0]);
        }
        else if (group.Count > 1)
        {
            try
            {
                await CommitTogetherAsync(group, alone).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The group's commit failed (or a store error broke it), so nothing of it was written: each of its steps
                // runs alone, and reports its own failure if it fails again.
                alone.AddRange(group);
            }
        }

        foreach (var step in alone)
        {
            await step.RunAloneAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Applies the group's steps in one unit of work and commits it, setting their results; the steps that refused in
    /// it are moved to <paramref name="alone"/> (and out of <paramref name="group"/>) and the rest tried again without
    /// them. Shared work, so it is not cancelled by any one caller.
    /// </summary>
    private async ValueTask CommitTogetherAsync(List<Step> group, List<Step> alone)
    {
        while (group.Count > 1)
        {
            var unit = await _store.BeginAsync(CancellationToken.None).ConfigureAwait(false);
            await using (unit.ConfigureAwait(false))
            {
                var refused = await ApplyAllAsync(unit, group).ConfigureAwait(false);
                if (refused is not null)
                {
                    group.Remove(refused);
                    alone.Add(refused);
                    continue;
                }

                await unit.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            }

            foreach (var step in group)
            {
                step.Complete();
            }

            group.Clear();

            // Told only once the steps have their answers: were telling to fail (a logging provider that throws), the
            // caller would take it for a failed commit and run the committed steps alone again, applying them twice.
            _committed?.Invoke(unit);
        }

        alone.AddRange(group);
        group.Clear();
    }

    /// <summary>Prefetches what every step reads in one go, then applies them in order; the first step that refused, or null.</summary>
    private static async ValueTask<Step?> ApplyAllAsync(IUnitOfWork unit, List<Step> group)
    {
        var reads = new List<RecordRef>();
        foreach (var step in group)
        {
            try
            {
                reads.AddRange(await step.ReadsAsync(unit, CancellationToken.None).ConfigureAwait(false));
            }
            catch (Exception)
            {
                return step;
            }
        }

        await unit.PrefetchAsync(reads, CancellationToken.None).ConfigureAwait(false);
        foreach (var step in group)
        {
            try
            {
                await step.ApplyAsync(unit, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception)
            {
                return step;
            }
        }

        return null;
    }

    /// <summary>One step waiting for, or taken by, a wallet's turn.</summary>
    internal abstract class Step
    {
        private const int Queued = 0;
        private const int Taken = 1;
        private const int Abandoned = 2;

        private int _state;

        /// <summary>Whether no holder took the step yet (and its caller did not give up).</summary>
        public bool IsQueued => Volatile.Read(ref _state) == Queued;

        /// <summary>Claims the step for a group; false if it was claimed or abandoned already.</summary>
        public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Queued) == Queued;

        /// <summary>Gives the step up before any holder took it; false if one did.</summary>
        public bool TryAbandon() => Interlocked.CompareExchange(ref _state, Abandoned, Queued) == Queued;

        /// <summary>The records the step will read in a group's unit of work, for its one prefetch.</summary>
        public abstract ValueTask<IReadOnlyList<RecordRef>> ReadsAsync(IUnitOfWork unit, CancellationToken cancellationToken);

        /// <summary>Buffers the step's writes in a group's unit of work, keeping its answer for <see cref="Complete"/>.</summary>
        public abstract ValueTask ApplyAsync(IUnitOfWork unit, CancellationToken cancellationToken);

        /// <summary>Hands the answer kept by <see cref="ApplyAsync"/> to the caller, once the group committed.</summary>
        public abstract void Complete();

        /// <summary>Runs the step in units of work of its own, handing the caller its answer or its failure.</summary>
        public abstract ValueTask RunAloneAsync();
    }

    /// <summary>A step with an answer of type <typeparamref name="T"/>.</summary>
    /// <param name="reads">The records it reads in a group's unit (nothing read elsewhere is prefetched).</param>
    /// <param name="apply">Its writes in a group's unit, on the state its caller read; it throws to refuse.</param>
    /// <param name="alone">The step on its own, with its retries.</param>
    /// <param name="cancellationToken">Cancels the step when it runs alone.</param>
    internal sealed class Step<T>(
        Func<IUnitOfWork, CancellationToken, ValueTask<IReadOnlyList<RecordRef>>> reads,
        Func<IUnitOfWork, CancellationToken, ValueTask<T>> apply,
        Func<CancellationToken, ValueTask<T>> alone,
        CancellationToken cancellationToken) : Step
    {
        private readonly TaskCompletionSource<T> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _applied;

        /// <summary>The step's answer.</summary>
        public Task<T> Result => _result.Task;

        /// <inheritdoc />
        public override ValueTask<IReadOnlyList<RecordRef>> ReadsAsync(IUnitOfWork unit, CancellationToken cancellationToken) => reads(unit, cancellationToken);

        /// <inheritdoc />
        public override async ValueTask ApplyAsync(IUnitOfWork unit, CancellationToken cancellationToken) =>
            _applied = await apply(unit, cancellationToken).ConfigureAwait(false);

        /// <inheritdoc />
        public override void Complete() => _result.TrySetResult(_applied!);

        /// <inheritdoc />
        public override async ValueTask RunAloneAsync()
        {
            try
            {
                _result.TrySetResult(await alone(cancellationToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException ex)
            {
                _result.TrySetCanceled(ex.CancellationToken);
            }
            catch (Exception ex)
            {
                // Handed over, not swallowed: the caller awaiting the step rethrows it.
                _result.TrySetException(ex);
            }
        }
    }

    private sealed class Turn
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public ConcurrentQueue<Step> Queue { get; } = new();
    }
}
