using PaymentsKit.Chains;
using PaymentsKit.Routing;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Routing;

/// <summary>
/// The group commit of wallet turns, driven deterministically: a first step holds the turn (it runs alone, blocked)
/// while the others queue behind it, so the holder's next group is exactly the queued steps.
/// </summary>
public sealed class WalletTurnsTests
{
    private static readonly RecordCollection<Note> Notes = new("test_wallet_turn_note", n => n.Id, n => n.Tenant);

    private readonly CountingStore _store = new(new InMemoryStore());
    private readonly Guid _tenant = Guid.CreateVersion7();

    [Fact]
    public async Task Steps_Queued_Behind_The_Turn_Commit_Together_In_One_Unit_Of_Work()
    {
        var turns = new WalletTurns(_store);
        var (holder, release) = await HoldTurnAsync(turns);
        var queued = Enumerable.Range(0, 10).Select(i => turns.RunAsync(ChainId.Ethereum, Writing(i), CancellationToken.None).AsTask()).ToList();
        var begunBefore = _store.Begun;

        release.SetResult();
        var results = await Task.WhenAll(queued);
        await holder;

        Assert.Equal(Enumerable.Range(0, 10), results);
        Assert.Equal(1, _store.Begun - begunBefore);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"note {i}"), await StoredAsync());
    }

    [Fact]
    public async Task A_Step_That_Refuses_In_The_Group_Runs_Alone_And_Leaves_Nothing_Of_Its_Group_Attempt()
    {
        var turns = new WalletTurns(_store);
        var (holder, release) = await HoldTurnAsync(turns);
        var refusedAlone = 0;
        var refusing = new WalletTurns.Step<int>(
            (_, _) => ValueTask.FromResult<IReadOnlyList<RecordRef>>([]),
            (unit, _) =>
            {
                // Half done when it refuses: the group must not commit this write.
                unit.Insert(Notes, new Note(Guid.CreateVersion7(), _tenant, "half-done refusal"));
                throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidTransition, "refused in the group");
            },
            _ =>
            {
                Interlocked.Increment(ref refusedAlone);
                throw new PaymentsKitException(PaymentsKitErrorCodes.InsufficientFunds, "refused alone");
            },
            CancellationToken.None);
        var before = Enumerable.Range(0, 3).Select(i => turns.RunAsync(ChainId.Ethereum, Writing(i), CancellationToken.None).AsTask()).ToList();
        var refused = turns.RunAsync(ChainId.Ethereum, refusing, CancellationToken.None).AsTask();
        var after = Enumerable.Range(3, 3).Select(i => turns.RunAsync(ChainId.Ethereum, Writing(i), CancellationToken.None).AsTask()).ToList();
        var begunBefore = _store.Begun;

        release.SetResult();
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(() => refused);
        await holder;

        // Its own outcome alone, not the group's; the others committed together.
        Assert.Equal(PaymentsKitErrorCodes.InsufficientFunds, ex.Code);
        Assert.Equal(1, refusedAlone);
        Assert.Equal(2, _store.Begun - begunBefore);
        Assert.Equal(Enumerable.Range(0, 6), await Task.WhenAll(before.Concat(after)));
        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"note {i}"), await StoredAsync());
    }

    [Fact]
    public async Task When_The_Group_Commit_Fails_Every_Step_Runs_Alone_And_Nothing_Of_The_Group_Is_Written()
    {
        var turns = new WalletTurns(_store);
        var (holder, release) = await HoldTurnAsync(turns);
        var alone = 0;
        WalletTurns.Step<int> Step(int i, bool stale) => new(
            (_, _) => ValueTask.FromResult<IReadOnlyList<RecordRef>>([]),
            (unit, _) =>
            {
                unit.Insert(Notes, new Note(Guid.CreateVersion7(), _tenant, $"group {i}"));
                if (stale)
                {
                    // A record another process changed since it was read: only the commit finds out.
                    unit.Update(Notes, new Note(Guid.CreateVersion7(), _tenant, "stale"), 3);
                }

                return ValueTask.FromResult(-1);
            },
            async ct =>
            {
                Interlocked.Increment(ref alone);
                await _store.ExecuteAsync(
                    (unit, _) =>
                    {
                        unit.Insert(Notes, new Note(Guid.CreateVersion7(), _tenant, $"alone {i}"));
                        return ValueTask.FromResult(0);
                    },
                    ct);
                return i;
            },
            CancellationToken.None);
        var queued = Enumerable.Range(0, 4).Select(i => turns.RunAsync(ChainId.Ethereum, Step(i, stale: i == 2), CancellationToken.None).AsTask()).ToList();

        release.SetResult();
        Assert.Equal(Enumerable.Range(0, 4), await Task.WhenAll(queued));
        await holder;

        Assert.Equal(4, alone);
        Assert.Equal(Enumerable.Range(0, 4).Select(i => $"alone {i}"), await StoredAsync());
    }

    [Fact]
    public async Task A_Group_That_Committed_Is_Never_Run_Again_When_Telling_Of_Its_Commit_Fails()
    {
        // Told of the commit (to log its transitions) after it happened: a failure there is not a failed commit, and
        // running the group's steps alone again would apply them twice.
        var told = 0;
        var turns = new WalletTurns(_store, _ =>
        {
            told++;
            throw new InvalidOperationException("a logging provider failed");
        });
        var (holder, release) = await HoldTurnAsync(turns);
        var queued = Enumerable.Range(0, 3).Select(i => turns.RunAsync(ChainId.Ethereum, Writing(i), CancellationToken.None).AsTask()).ToList();

        release.SetResult();
        var results = await Task.WhenAll(queued);
        await holder;

        Assert.Equal(Enumerable.Range(0, 3), results);
        Assert.Equal(1, told);
        Assert.Equal(Enumerable.Range(0, 3).Select(i => $"note {i}"), await StoredAsync());
    }

    [Fact]
    public async Task A_Caller_That_Gives_Up_Before_Its_Step_Is_Taken_Drops_It()
    {
        var turns = new WalletTurns(_store);
        var (holder, release) = await HoldTurnAsync(turns);
        using var cancel = new CancellationTokenSource();
        var dropped = turns.RunAsync(ChainId.Ethereum, Writing(7), cancel.Token).AsTask();
        var kept = turns.RunAsync(ChainId.Ethereum, Writing(8), CancellationToken.None).AsTask();

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dropped);
        release.SetResult();
        Assert.Equal(8, await kept);
        await holder;

        Assert.Equal(["note 8"], await StoredAsync());
    }

    [Fact]
    public async Task Each_Chain_Takes_Turns_Of_Its_Own()
    {
        var turns = new WalletTurns(_store);
        var (holder, release) = await HoldTurnAsync(turns);

        // Ethereum's turn is held; Solana's is free.
        Assert.Equal(5, await turns.RunAsync(ChainId.Solana, Writing(5), CancellationToken.None));
        release.SetResult();
        await holder;
    }

    /// <summary>Starts a step on Ethereum that holds the turn until released (it runs alone, being the only one queued).</summary>
    private static async Task<(Task Holder, TaskCompletionSource Release)> HoldTurnAsync(WalletTurns turns)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var step = new WalletTurns.Step<int>(
            (_, _) => throw new InvalidOperationException("a lone step is never grouped"),
            (_, _) => throw new InvalidOperationException("a lone step is never grouped"),
            async _ =>
            {
                holding.SetResult();
                await release.Task;
                return -1;
            },
            CancellationToken.None);
        var holder = turns.RunAsync(ChainId.Ethereum, step, CancellationToken.None).AsTask();
        await holding.Task;
        return (holder, release);
    }

    /// <summary>A step that inserts one note in its group's unit of work (and never runs alone here).</summary>
    private WalletTurns.Step<int> Writing(int i) => new(
        (_, _) => ValueTask.FromResult<IReadOnlyList<RecordRef>>([Notes.Ref(Guid.CreateVersion7())]),
        (unit, _) =>
        {
            unit.Insert(Notes, new Note(Guid.CreateVersion7(), _tenant, $"note {i}"));
            return ValueTask.FromResult(i);
        },
        async ct => await _store.ExecuteAsync(
            (unit, _) =>
            {
                unit.Insert(Notes, new Note(Guid.CreateVersion7(), _tenant, $"note {i}"));
                return ValueTask.FromResult(i);
            },
            ct),
        CancellationToken.None);

    private async Task<List<string>> StoredAsync()
    {
        await using var unit = await _store.BeginAsync();
        return [.. (await unit.ListAsync(Notes, _tenant, null, 100)).Items.Select(n => n.Value.Text).Order(StringComparer.Ordinal)];
    }

    private sealed record Note(Guid Id, Guid Tenant, string Text);

    /// <summary>Counts the units of work begun on a store.</summary>
    private sealed class CountingStore(IPaymentsStore inner) : IPaymentsStore
    {
        private int _begun;

        public int Begun => Volatile.Read(ref _begun);

        public ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _begun);
            return inner.BeginAsync(cancellationToken);
        }
    }
}
