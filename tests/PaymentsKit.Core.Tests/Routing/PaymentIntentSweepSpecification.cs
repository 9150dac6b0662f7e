using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Routing;

/// <summary>
/// The due-intent sweep (<see cref="IPaymentIntentService.AdvanceDueAsync"/>), written once: each store derives a
/// class that supplies a fresh store per test (the sweep reads across all merchants) and its due queue.
/// </summary>
public abstract class PaymentIntentSweepSpecification : IAsyncLifetime
{
    private const int Sweepers = 4;

    private RoutingHarness? _router;

    protected ManualClock Clock { get; } = new(Instant.FromUtc(2026, 6, 1, 0, 0));

    protected RoutingHarness Router => _router ?? throw new InvalidOperationException("The router is created in InitializeAsync.");

    public async Task InitializeAsync()
    {
        var store = await CreateStoreAsync();
        _router = new RoutingHarness(store, Clock, due: CreateDueQueue(store));
        await _router.SampleAsync();
        await _router.OpenAndFundAsync(1000m, 1000m);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A store no other test writes to.</summary>
    protected abstract Task<IPaymentsStore> CreateStoreAsync();

    /// <summary>The due queue of one sweeper (host) on <paramref name="store"/>.</summary>
    protected abstract IDuePaymentIntentQueue CreateDueQueue(IPaymentsStore store);

    /// <summary>The ids of the intents whose lease <paramref name="queue"/> still keeps (entries or rows), in order.</summary>
    protected abstract Task<IReadOnlyList<Guid>> HeldLeasesAsync(IDuePaymentIntentQueue queue);

    [Fact]
    public async Task Leases_Of_Intents_Resolved_Outside_The_Queue_Are_Dropped_By_Later_Claims()
    {
        var merchant = await Router.MerchantAsync();
        var routed = new List<PaymentIntent>();
        for (var i = 0; i < 3; i++)
        {
            routed.Add(await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 2m + i, RoutingHarness.Ethereum)).Id));
        }

        // A sweeper claims all three, defers two (one stays due, one is cancelled while deferred) and dies holding the third.
        var queue = CreateDueQueue(Router.Store);
        var now = Clock.GetCurrentInstant();
        var claims = await queue.ClaimDueAsync(now, Duration.FromMinutes(1), 100);
        Assert.Equal(3, claims.Count);
        var (stillDue, cancelledWhileDeferred, cancelledWhileLeased) = (routed[0].Id.Value, routed[1].Id.Value, routed[2].Id.Value);
        await queue.DeferAsync(claims.Where(c => c.Id.Value != cancelledWhileLeased).ToList(), now + Duration.FromMinutes(10));
        await Router.Intents.CancelAsync(merchant, routed[1].Id);
        await Router.Intents.CancelAsync(merchant, routed[2].Id);

        // Once its lease ran out, the next claim lets go of the cancelled intent's lease; the deferrals still hold.
        Assert.Empty(await queue.ClaimDueAsync(now + Duration.FromMinutes(2), Duration.FromMinutes(1), 100));
        Assert.Equal(new[] { stillDue, cancelledWhileDeferred }.Order(), await HeldLeasesAsync(queue));

        // Once the deferral is over, the intent still due is claimed and the cancelled one's lease goes.
        var later = await queue.ClaimDueAsync(now + Duration.FromMinutes(10), Duration.FromMinutes(1), 100);
        Assert.Equal(stillDue, Assert.Single(later).Id.Value);
        Assert.Equal([stillDue], await HeldLeasesAsync(queue));
    }

    [Fact]
    public async Task The_Sweep_Carries_Routed_Intents_To_Settlement()
    {
        var merchant = await Router.MerchantAsync();
        var intents = await RoutedAsync(merchant, 3);

        await SweepUntilFinalAsync([Router.Intents], intents);

        foreach (var intent in intents)
        {
            var settled = await Router.Intents.GetAsync(merchant, intent.Id);
            Assert.Equal(PaymentIntentStatus.Settled, settled.Status);
            Assert.Null(settled.DueAt);
        }

        Assert.Equal(new PaymentIntentSweepResult(0, 0, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Waiting_Intent_Is_Not_Routed_By_The_Sweep_But_Expires_With_Its_Quote()
    {
        var merchant = await Router.MerchantAsync();
        var waiting = await Router.IntentAsync(merchant, 5m);
        Assert.Equal(waiting.CreatedAt + Router.Options.QuoteTtl, waiting.DueAt);

        Assert.Equal(new PaymentIntentSweepResult(0, 0, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
        Assert.Equal(PaymentIntentStatus.Created, (await Router.Intents.GetAsync(merchant, waiting.Id)).Status);

        Clock.Advance(Router.Options.QuoteTtl);
        Assert.Equal(new PaymentIntentSweepResult(1, 1, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
        var expired = await Router.Intents.GetAsync(merchant, waiting.Id);
        Assert.Equal(PaymentIntentStatus.Expired, expired.Status);
        Assert.Null(expired.DueAt);
    }

    [Fact]
    public async Task A_Broadcast_Intent_Is_Due_At_Once_And_Polled_Again_After_The_Poll_Interval()
    {
        var merchant = await Router.MerchantAsync();
        var routed = (await RoutedAsync(merchant, 1))[0];
        Assert.Equal(routed.UpdatedAt, routed.DueAt);

        // One sweep broadcasts it; the broadcast intent is due again at once, for confirmation polling.
        Assert.Equal(new PaymentIntentSweepResult(1, 1, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
        var broadcast = await Router.Intents.GetAsync(merchant, routed.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, broadcast.Status);
        Assert.Equal(broadcast.UpdatedAt, broadcast.DueAt);

        // Polled and still unconfirmed: left alone for the poll interval, so a sweep never spins on it.
        var now = Clock.GetCurrentInstant();
        Assert.Equal(new PaymentIntentSweepResult(1, 0, 0), await Router.Intents.AdvanceDueAsync(now));
        Assert.Equal(new PaymentIntentSweepResult(0, 0, 0), await Router.Intents.AdvanceDueAsync(now));
        Assert.Equal(1, (await Router.Intents.AdvanceDueAsync(now + Router.Options.SweepPollInterval)).Claimed);

        var limit = await Assert.ThrowsAsync<PaymentsKitException>(() => Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant(), 0).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, limit.Code);
    }

    [Fact]
    public async Task The_Sweep_Books_A_Revert_On_The_Chain_A_Settled_Intent_Left_Then_Lets_The_Intent_Go()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m)).Id);
        Assert.Equal(RoutingHarness.Solana, intent.SelectedChain);

        // The Solana send's RPC call fails and Solana turns unhealthy: re-routed to Ethereum, where it settles.
        Router.SolanaChain.FailNextRpcCalls(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        var health = (await Router.Health.GetLatestAsync(RoutingHarness.Solana))!;
        await Router.Health.RecordAsync(health.ToSample() with { MeasuredAt = Clock.GetCurrentInstant(), Status = ChainHealthStatus.Unhealthy });
        Clock.Advance(Router.Options.DropTimeout);
        intent = await Router.RunToEndAsync(await Router.Intents.AdvanceAsync(intent.Id));
        Assert.Equal((PaymentIntentStatus.Settled, RoutingHarness.Ethereum), (intent.Status, intent.SelectedChain));

        // The Solana transaction is relayed to Solana after all and reverts there.
        var left = Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == RoutingHarness.Solana);
        Router.SolanaChain.FailNextBroadcast();
        await Router.SolanaChain.BroadcastAsync(new SignedTransaction(RoutingHarness.Solana, Convert.FromBase64String(left.SignedTransaction), left.TxId));
        Clock.Advance(Duration.FromMinutes(1));

        Assert.Equal(new PaymentIntentSweepResult(1, 0, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));

        Assert.Null((await Router.Intents.GetAsync(merchant, intent.Id)).DueAt);
        var reverted = Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == RoutingHarness.Solana);
        Assert.Equal(AttemptFailure.Reverted, reverted.Failure);
        var solana = await Router.Treasury.GetBookAsync(RoutingHarness.Solana);
        Assert.True(solana.Balances);
        Assert.Equal((reverted.ActualFee!.Value, RoutingHarness.Usdc(0m)), (solana.Fees, solana.Reserved));
        Assert.Equal(new PaymentIntentSweepResult(0, 0, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant() + Router.Options.SweepPollInterval));
    }

    [Fact]
    public async Task The_Poll_Interval_Of_An_Intent_Left_Unconfirmed_Counts_From_The_End_Of_A_Pass_That_Outlasted_It()
    {
        var merchant = await Router.MerchantAsync();
        var routed = (await RoutedAsync(merchant, 1))[0];
        Assert.Equal(RoutingHarness.Ethereum, routed.SelectedChain);

        // The transaction stays in the mempool, so every poll finds it pending and the intent has nothing to do yet.
        Router.EthereumPrimary.HoldBroadcasts(1);
        Assert.Equal(new PaymentIntentSweepResult(1, 1, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
        Assert.Equal(PaymentIntentStatus.Broadcasted, (await Router.Intents.GetAsync(merchant, routed.Id)).Status);

        // The node is slow: the pass ends 30 s after it started, long past its start plus the poll interval.
        var interval = Router.Options.SweepPollInterval;
        Router.EthereumPrimary.OnRead = () => Clock.Advance(Duration.FromSeconds(30));
        Assert.Equal(new PaymentIntentSweepResult(1, 0, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
        Router.EthereumPrimary.OnRead = null;

        Assert.Equal(new PaymentIntentSweepResult(0, 0, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
        Clock.Advance(interval - Duration.FromSeconds(1));
        Assert.Equal(new PaymentIntentSweepResult(0, 0, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
        Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(new PaymentIntentSweepResult(1, 0, 0), await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task Concurrent_Claims_Hand_Each_Due_Intent_To_One_Sweeper()
    {
        var merchant = await Router.MerchantAsync();
        var intents = await RoutedAsync(merchant, 12);
        var queues = Enumerable.Range(0, Sweepers).Select(_ => CreateDueQueue(Router.Store)).ToList();
        var now = Clock.GetCurrentInstant();
        var barrier = new AsyncBarrier(Sweepers);

        var claims = await Task.WhenAll(queues.Select(q => Task.Run(async () =>
        {
            await barrier.SignalAndWaitAsync(TimeSpan.FromSeconds(30));
            return await q.ClaimDueAsync(now, Duration.FromMinutes(1), 100);
        })));

        var claimed = claims.SelectMany(c => c).Select(c => c.Id.Value).ToList();
        Assert.Equal(claimed.Count, claimed.Distinct().Count());
        Assert.Equal(intents.Select(i => i.Id.Value).Order(), claimed.Order());

        // Held intents are not handed out again while leased; once a lease runs out, another sweeper takes the intent over.
        Assert.Empty(await queues[0].ClaimDueAsync(now, Duration.FromMinutes(1), 100));
        var later = now + Duration.FromMinutes(2);
        var takenOver = await queues[1].ClaimDueAsync(later, Duration.FromMinutes(1), 100);
        Assert.Equal(intents.Count, takenOver.Count);

        // The first claims' releases come too late and leave the new leases alone; releasing those frees the intents.
        foreach (var (queue, held) in queues.Zip(claims))
        {
            await queue.ReleaseAsync(held);
        }

        Assert.Empty(await queues[2].ClaimDueAsync(later, Duration.FromMinutes(1), 100));
        await queues[1].ReleaseAsync(takenOver);
        Assert.Equal(intents.Count, (await queues[2].ClaimDueAsync(later, Duration.FromMinutes(1), 100)).Count);
    }

    [Fact]
    public async Task Concurrent_Sweepers_Advance_Each_Intent_Exactly_Once_Per_Step()
    {
        var merchant = await Router.MerchantAsync();
        var intents = await RoutedAsync(merchant, 10);
        var sweepers = Enumerable.Range(0, Sweepers).Select(_ => Router.Sweeper(CreateDueQueue(Router.Store))).ToList();

        await SweepUntilFinalAsync(sweepers, intents);

        string[] steps = ["created", "route_selected", "broadcasting", "broadcasted", "pending_confirmation", "settled"];
        foreach (var intent in intents)
        {
            // Each step once, in order (a chain that is final by the first poll skips pending_confirmation).
            var events = (await Router.EventsAsync(merchant, intent.Id)).Select(e => e.EventType).ToList();
            Assert.Equal(steps.Select(s => "payment_intent." + s).Where(events.Contains), events);
            Assert.Equal("payment_intent.settled", events[^1]);
            Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        }

        foreach (var chain in new[] { RoutingHarness.Ethereum, RoutingHarness.Solana })
        {
            var book = await Router.Treasury.GetBookAsync(chain);
            Assert.True(book.Balances);
            Assert.Equal(Money.Zero(book.Reserved.Asset), book.Reserved);
        }
    }

    [Fact]
    public async Task An_Intent_Whose_Step_Throws_Any_Exception_Is_Counted_And_The_Pass_Goes_On()
    {
        var merchant = await Router.MerchantAsync();
        var intents = await RoutedAsync(merchant, 4);

        // The host's signer fails with its own exception type (an HSM timeout) for one intent.
        var sweeper = new PaymentIntentService(
            Router.Store,
            Clock,
            Router.Treasury,
            Router.Providers,
            Router.Outbox,
            Microsoft.Extensions.Options.Options.Create(Router.Options),
            new FailingSigner(Router.Signer, intents[0].Id.ToString()),
            null,
            CreateDueQueue(Router.Store));

        Assert.Equal(new PaymentIntentSweepResult(4, 3, 1), await sweeper.AdvanceDueAsync(Clock.GetCurrentInstant()));
        Assert.Equal(PaymentIntentStatus.RouteSelected, (await Router.Intents.GetAsync(merchant, intents[0].Id)).Status);
        foreach (var advanced in intents.Skip(1))
        {
            Assert.NotEqual(PaymentIntentStatus.RouteSelected, (await Router.Intents.GetAsync(merchant, advanced.Id)).Status);
        }
    }

    [Fact]
    public async Task Intents_Whose_Steps_Keep_Throwing_Wait_The_Poll_Interval_So_They_Cannot_Starve_The_Others()
    {
        var merchant = await Router.MerchantAsync();
        var intents = new List<PaymentIntent>();
        for (var i = 0; i < 3; i++)
        {
            // Due one after another, so the two that fail are the oldest due.
            intents.Add(await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 2m + i, RoutingHarness.Solana)).Id));
            Clock.Advance(Duration.FromSeconds(1));
        }

        var sweeper = new PaymentIntentService(
            Router.Store,
            Clock,
            Router.Treasury,
            Router.Providers,
            Router.Outbox,
            Microsoft.Extensions.Options.Options.Create(Router.Options),
            new FailingSigner(Router.Signer, intents[0].Id.ToString(), intents[1].Id.ToString()),
            null,
            CreateDueQueue(Router.Store));

        Assert.Equal(new PaymentIntentSweepResult(2, 0, 2), await sweeper.AdvanceDueAsync(Clock.GetCurrentInstant(), limit: 2));
        Assert.Equal(new PaymentIntentSweepResult(1, 1, 0), await sweeper.AdvanceDueAsync(Clock.GetCurrentInstant(), limit: 2));
        Assert.Equal(PaymentIntentStatus.Broadcasted, (await Router.Intents.GetAsync(merchant, intents[2].Id)).Status);

        // They stay due, and are tried again once the poll interval has passed.
        Clock.Advance(Router.Options.SweepPollInterval);
        var again = await sweeper.AdvanceDueAsync(Clock.GetCurrentInstant(), limit: 2);
        Assert.Equal(2, again.Claimed);
        Assert.Equal(2, again.Failed);
    }

    private async Task<List<PaymentIntent>> RoutedAsync(MerchantId merchant, int count)
    {
        var routed = new List<PaymentIntent>();
        for (var i = 0; i < count; i++)
        {
            var intent = await Router.IntentAsync(merchant, 2m + i, i % 2 == 0 ? RoutingHarness.Ethereum : RoutingHarness.Solana);
            routed.Add(await Router.Intents.SelectRouteAsync(merchant, intent.Id));
        }

        return routed;
    }

    private async Task SweepUntilFinalAsync(IReadOnlyList<PaymentIntentService> sweepers, IReadOnlyList<PaymentIntent> intents)
    {
        for (var round = 0; round < 60; round++)
        {
            var now = Clock.GetCurrentInstant();
            var results = await Task.WhenAll(sweepers.Select(s => Task.Run(async () => await s.AdvanceDueAsync(now))));
            Assert.All(results, r => Assert.Equal(0, r.Failed));
            var states = await Task.WhenAll(intents.Select(i => Router.Intents.GetAsync(i.MerchantId, i.Id).AsTask()));
            if (states.All(s => s.Status == PaymentIntentStatus.Settled))
            {
                return;
            }

            Clock.Advance(Duration.FromSeconds(5));
        }

        throw new InvalidOperationException("The sweep did not settle every intent in 60 rounds.");
    }

    /// <summary>A signer that throws <see cref="TimeoutException"/> for the transfers of some intents.</summary>
    private sealed class FailingSigner(PaymentsKit.Chains.ITransactionSigner inner, params string[] memos) : PaymentsKit.Chains.ITransactionSigner
    {
        public ValueTask<PaymentsKit.Chains.SignedTransaction> SignAsync(PaymentsKit.Chains.TransferRequest request, CancellationToken cancellationToken = default) =>
            memos.Contains(request.Memo) ? throw new TimeoutException("the HSM did not answer") : inner.SignAsync(request, cancellationToken);
    }
}
